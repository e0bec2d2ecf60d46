"""Courier (imapd, pop3d) as Debian ships it, in its three set-ups: TLS required before login (IMAP_TLS_REQUIRED=1,
POP3_TLS_REQUIRED=1), TLS offered but not required, and no TLS at all. The ground truth is checked first with the
test account's real password (taken in clear or not); mailprobe's verdict from its dummy login must agree. Courier
says "STARTTLS required" (IMAP) and "TLS required to log in." (POP3, at USER) in clear, and pauses 5 s after a
failed password check."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.certgen import make_ca
from tests.cyrus_courier import COURIER_SETUPS, CourierInstance
from tests.integration.real_logins import imap_login, pop3_login, scan


@pytest.fixture(scope="module")
def pki() -> Iterator[tuple[Path, Path, Path]]:
    files = Path(tempfile.mkdtemp(prefix="mp-courier-pki-"))
    files.chmod(0o755)
    ca = make_ca("mailprobe Courier test CA")
    ca.write(files, "ca")
    cert, key = ca.issue(["mail.example.test"]).write(files, "leaf")
    try:
        yield files / "ca.pem", Path(cert), Path(key)
    finally:
        shutil.rmtree(files, ignore_errors=True)


@pytest.mark.parametrize("setup", list(COURIER_SETUPS))
def test_courier(pki: tuple[Path, Path, Path], setup: str) -> None:
    ca_file, cert, key = pki
    with CourierInstance(setup, cert, key) as courier:
        allowed = courier.setup.plaintext_allowed
        name, password = courier.user.name, courier.user.password
        assert imap_login(courier.address, name, password, ca_file=None) == allowed
        assert pop3_login(courier.address, name, password, ca_file=None) == allowed
        if courier.setup.tls:
            assert imap_login(courier.address, name, password, ca_file=ca_file)
            assert pop3_login(courier.address, name, password, ca_file=ca_file)
        rows = scan(courier.address, courier.ports, ca_file)
    verdict = "accepted" if allowed else "refused"
    starttls = "ok" if courier.setup.tls else "not_offered"
    for port in (143, 110):
        row = rows[port]
        assert (row["state"], row["starttls"]) == ("open", starttls), row.get("error")
        assert row["plaintext_login"]["verdict"] == verdict, (port, row["plaintext_login"]["evidence"])
        ids = {f["id"] for f in row["findings"]}
        assert ("plaintext-login-accepted" in ids) == allowed, ids
    assert rows[143]["software"] == "Courier", rows[143]["greeting"]
    for port in (993, 995) if courier.setup.tls else ():
        row = rows[port]
        assert (row["state"], row["plaintext_login"]["verdict"]) == ("open", "not_applicable"), row.get("error")
        assert row["tls"]["certificate"]["trusted"] is True, row["tls"]
    if not allowed:  # Courier's own words are the evidence
        assert any("STARTTLS required" in line for line in rows[143]["plaintext_login"]["evidence"])
        assert any("TLS required to log in" in line for line in rows[110]["plaintext_login"]["evidence"])
