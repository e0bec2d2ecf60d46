"""The ground truth of a real-server test, checked with the standard library's clients and the test account's own
password: does the server take that password in clear, and over TLS? What mailprobe must conclude from its dummy
login follows from the answer, whatever the server's wording.

Also the scan those tests run: mailprobe as a user runs it, on the instance's ports, with the test CA trusted.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import poplib
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from scanner.certgen import make_ca

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0  # Courier and Cyrus pause for seconds after a failed login


def _context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = False  # the instance listens on an address; the name is checked by mailprobe's tests
    return context


def imap_login(address: str, user: str, password: str, *, ca_file: Path | None) -> bool:
    """True when LOGIN with the real password succeeds, in clear (``ca_file`` None) or after STARTTLS. A connection
    the server drops before it answers (Cyrus did, once, on a loaded machine) is no answer: asked again."""
    for attempt in range(3):
        try:
            return _imap_login_once(address, user, password, ca_file=ca_file)
        except imaplib.IMAP4.abort:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _imap_login_once(address: str, user: str, password: str, *, ca_file: Path | None) -> bool:
    client = imaplib.IMAP4(address, 143, timeout=TIMEOUT)
    try:
        if ca_file is not None:
            client.starttls(_context(ca_file))
        try:
            client.login(user, password)
        except imaplib.IMAP4.abort:
            raise  # the connection, not the server's answer
        except imaplib.IMAP4.error:
            return False  # NO or BAD: the server refused
        return True
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()


def pop3_login(address: str, user: str, password: str, *, ca_file: Path | None) -> bool:
    """True when USER/PASS with the real password succeeds, in clear (``ca_file`` None) or after STLS."""
    client = poplib.POP3(address, 110, timeout=TIMEOUT)
    try:
        if ca_file is not None:
            client.stls(_context(ca_file))
        try:
            client.user(user)
            client.pass_(password)
        except poplib.error_proto:
            return False
        return True
    finally:
        client.quit()


def scan(address: str, ports: Iterable[int], ca_file: Path) -> dict[int, dict[str, Any]]:
    done = subprocess.run(
        [
            sys.executable, "-m", "scanner", "scan", address, "-p", ",".join(map(str, ports)), "--format", "json",
            "--no-ptr", "--source-address", "127.0.0.1", "--no-legacy-tls", "--ca-file", str(ca_file),
            "--timeout", "5",
        ],
        capture_output=True, text=True, timeout=180, cwd=ROOT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr
    return {row["port"]: row for row in json.loads(done.stdout)["results"]}


@contextlib.contextmanager
def server_pki(server: str) -> Iterator[tuple[Path, Path, Path]]:
    """A test CA and a leaf for mail.example.test, in a directory the server's own user can read: (CA file, leaf
    certificate, leaf key)."""
    files = Path(tempfile.mkdtemp(prefix=f"mp-{server.lower()}-pki-"))
    files.chmod(0o755)
    ca = make_ca(f"mailprobe {server} test CA")
    ca.write(files, "ca")
    cert, key = ca.issue(["mail.example.test"]).write(files, "leaf")
    try:
        yield files / "ca.pem", Path(cert), Path(key)
    finally:
        shutil.rmtree(files, ignore_errors=True)


class _Setup(Protocol):
    plaintext_allowed: bool
    tls: bool


class _User(Protocol):
    name: str
    password: str


class RealServer(Protocol):
    """What tests/cyrus_courier.py's instances have in common."""

    setup: _Setup
    user: _User
    address: str
    ports: tuple[int, ...]


def truth_then_scan(server: RealServer, ca_file: Path) -> dict[int, dict[str, Any]]:
    """Check the ground truth with the test account's real password (in clear as the set-up says, and over TLS when
    the set-up has TLS), then scan the server as a user would; the rows by port."""
    allowed = server.setup.plaintext_allowed
    name, password = server.user.name, server.user.password
    assert imap_login(server.address, name, password, ca_file=None) == allowed
    assert pop3_login(server.address, name, password, ca_file=None) == allowed
    if server.setup.tls:
        assert imap_login(server.address, name, password, ca_file=ca_file)
        assert pop3_login(server.address, name, password, ca_file=ca_file)
    return scan(server.address, server.ports, ca_file)


def assert_rows_follow_the_truth(rows: dict[int, dict[str, Any]], *, allowed: bool, tls: bool, software: str) -> None:
    """mailprobe's verdict from its dummy login agrees with the ground truth on 143 and 110; 993 and 995 (when the
    set-up has TLS) are open, not applicable, with a trusted certificate."""
    verdict = "accepted" if allowed else "refused"
    starttls = "ok" if tls else "not_offered"
    for port in (143, 110):
        row = rows[port]
        assert (row["state"], row["starttls"]) == ("open", starttls), row.get("error")
        assert row["plaintext_login"]["verdict"] == verdict, (port, row["plaintext_login"]["evidence"])
        ids = {f["id"] for f in row["findings"]}
        assert ("plaintext-login-accepted" in ids) == allowed, ids
    assert rows[143]["software"] == software, rows[143]["greeting"]
    for port in (993, 995) if tls else ():
        row = rows[port]
        assert (row["state"], row["plaintext_login"]["verdict"]) == ("open", "not_applicable"), row.get("error")
        assert row["tls"]["certificate"]["trusted"] is True, row["tls"]
