"""The ground truth of a real-server test, checked with the standard library's clients and the test account's own
password: does the server take that password in clear, and over TLS? What mailprobe must conclude from its dummy
login follows from the answer, whatever the server's wording.

Also the scan those tests run: mailprobe as a user runs it, on the instance's ports, with the test CA trusted.
"""

from __future__ import annotations

import imaplib
import json
import poplib
import ssl
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0  # Courier and Cyrus pause for seconds after a failed login


def _context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = False  # the instance listens on an address; the name is checked by mailprobe's tests
    return context


def imap_login(address: str, user: str, password: str, *, ca_file: Path | None) -> bool:
    """True when LOGIN with the real password succeeds, in clear (``ca_file`` None) or after STARTTLS."""
    with imaplib.IMAP4(address, 143, timeout=TIMEOUT) as client:
        if ca_file is not None:
            client.starttls(_context(ca_file))
        try:
            client.login(user, password)
        except imaplib.IMAP4.error:
            return False
        client.logout()
        return True


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
