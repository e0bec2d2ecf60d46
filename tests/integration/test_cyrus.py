"""Cyrus IMAP (imapd, pop3d) as Debian ships it, in its three set-ups: ``allowplaintext: no``, ``allowplaintext:
yes``, and no TLS at all. The ground truth is checked first with the test account's real password (taken in clear or
not); mailprobe's verdict from its dummy login must agree. Cyrus says "Login only available under a layer" in clear
and pauses 3 s after a failed password check."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.certgen import make_ca
from tests.cyrus_courier import CYRUS_SETUPS, CyrusInstance
from tests.integration.real_logins import imap_login, pop3_login, scan


@pytest.fixture(scope="module")
def pki() -> Iterator[tuple[Path, Path, Path]]:
    files = Path(tempfile.mkdtemp(prefix="mp-cyrus-pki-"))
    files.chmod(0o755)
    ca = make_ca("mailprobe Cyrus test CA")
    ca.write(files, "ca")
    cert, key = ca.issue(["mail.example.test"]).write(files, "leaf")
    try:
        yield files / "ca.pem", Path(cert), Path(key)
    finally:
        shutil.rmtree(files, ignore_errors=True)


@pytest.mark.parametrize("setup", list(CYRUS_SETUPS))
def test_cyrus(pki: tuple[Path, Path, Path], setup: str) -> None:
    ca_file, cert, key = pki
    with CyrusInstance(setup, cert, key) as cyrus:
        allowed = cyrus.setup.plaintext_allowed
        name, password = cyrus.user.name, cyrus.user.password
        assert imap_login(cyrus.address, name, password, ca_file=None) == allowed
        assert pop3_login(cyrus.address, name, password, ca_file=None) == allowed
        if cyrus.setup.tls:
            assert imap_login(cyrus.address, name, password, ca_file=ca_file)
            assert pop3_login(cyrus.address, name, password, ca_file=ca_file)
        rows = scan(cyrus.address, cyrus.ports, ca_file)
    verdict = "accepted" if allowed else "refused"
    starttls = "ok" if cyrus.setup.tls else "not_offered"
    for port in (143, 110):
        row = rows[port]
        assert (row["state"], row["starttls"]) == ("open", starttls), row.get("error")
        assert row["plaintext_login"]["verdict"] == verdict, (port, row["plaintext_login"]["evidence"])
        ids = {f["id"] for f in row["findings"]}
        assert ("plaintext-login-accepted" in ids) == allowed, ids
        assert row["software"] == "Cyrus IMAP", row["greeting"]
    for port in (993, 995) if cyrus.setup.tls else ():
        row = rows[port]
        assert (row["state"], row["plaintext_login"]["verdict"]) == ("open", "not_applicable"), row.get("error")
        assert row["tls"]["certificate"]["trusted"] is True, row["tls"]
    if not allowed:  # Cyrus's own words are the evidence
        assert any("only available under a layer" in line for line in rows[143]["plaintext_login"]["evidence"])
        assert any("only available under a layer" in line for line in rows[110]["plaintext_login"]["evidence"])
