"""Real implementations besides Dovecot, each in a refusing and an accepting configuration and one without TLS at
all: GNU Mailutils imap4d/pop3d and nginx's mail proxy. They disagree with Dovecot in wording and behaviour (no
response codes, BAD to a LOGIN before STARTTLS, a refusal at POP3 USER, fast failures without TLS). The verdict must
be what a known user's password would meet in clear; for nginx the auth backend the test serves records whether a
password ever reached it from a connection without TLS, which is the ground truth.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.certgen import CA, make_ca
from tests.mailservers import MailutilsPair, NginxMailProxy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki() -> Iterator[tuple[CA, Path]]:
    files = Path(tempfile.mkdtemp(prefix="mp-more-servers-"))
    files.chmod(0o755)
    ca = make_ca("mailprobe more-servers CA")
    ca.write(files, "ca")
    try:
        yield ca, files
    finally:
        shutil.rmtree(files, ignore_errors=True)


def leaf(pki: tuple[CA, Path], stem: str) -> tuple[Path, Path]:
    ca, files = pki
    return ca.issue(["mail.example.test"]).write(files, stem)


def scan(address: str, ca_file: Path) -> dict[int, dict]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            address,
            "-p",
            "110,143",
            "--format",
            "json",
            "--no-ptr",
            "--source-address",
            "127.0.0.1",
            "--no-legacy-tls",
            "--ca-file",
            str(ca_file),
            "--timeout",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert done.stdout.strip(), done.stderr
    return {row["port"]: row for row in json.loads(done.stdout)["results"]}


NO_TLS_WORDS = "no TLS (STARTTLS not offered, refused when tried)"


@pytest.mark.parametrize(
    ("mode", "verdict", "starttls"),
    [("required", "refused", "ok"), ("ondemand", "accepted", "ok"), ("false", "accepted", "not_offered")],
)
def test_gnu_mailutils(pki: tuple[CA, Path], mode: str, verdict: str, starttls: str) -> None:
    cert, key = leaf(pki, f"mailutils-{mode}")
    with MailutilsPair(mode, cert, key) as server:
        rows = scan(server.address, pki[1] / "ca.pem")
    for port in (143, 110):
        row = rows[port]
        login = row["plaintext_login"]
        assert (row["state"], row["starttls"]) == ("open", starttls), row.get("error")
        assert login["verdict"] == verdict, (port, login["evidence"])
        ids = {f["id"] for f in row["findings"]}
        assert ("plaintext-login-accepted" in ids) == (verdict == "accepted")
        if mode == "false":
            assert any(NO_TLS_WORDS in line and "crosses in clear" in line for line in login["evidence"])
    # Mailutils' own words are the evidence: no response codes, "Command disabled" before STARTTLS
    if mode == "required":
        assert any("Command disabled" in line for line in rows[143]["plaintext_login"]["evidence"])


@pytest.mark.parametrize(
    ("mode", "verdict", "starttls"),
    [("only", "refused", "ok"), ("on", "accepted", "ok"), ("off", "accepted", "not_offered")],
)
def test_nginx_mail_proxy(pki: tuple[CA, Path], mode: str, verdict: str, starttls: str) -> None:
    cert, key = leaf(pki, f"nginx-{mode}")
    with NginxMailProxy(mode, cert, key) as proxy:
        rows = scan(proxy.address, pki[1] / "ca.pem")
        asked = list(proxy.auth_requests)
    # Ground truth: did a password from a connection without TLS reach the authentication backend?
    clear_passwords = [h for h in asked if h.get("Auth-SSL") != "on" and h.get("Auth-Pass")]
    assert bool(clear_passwords) == (verdict == "accepted"), asked
    for port in (143, 110):
        row = rows[port]
        assert (row["state"], row["starttls"]) == ("open", starttls), row.get("error")
        assert row["plaintext_login"]["verdict"] == verdict, (port, row["plaintext_login"]["evidence"])
    if mode == "only":  # nginx answers BAD / -ERR "invalid command" before STARTTLS, a credential failure after
        assert any("invalid command" in line for line in rows[143]["plaintext_login"]["evidence"])
    if mode == "off":
        assert any(NO_TLS_WORDS in line for line in rows[143]["plaintext_login"]["evidence"])
