"""Courier (imapd, pop3d) as Debian ships it, in its three set-ups: TLS required before login (IMAP_TLS_REQUIRED=1,
POP3_TLS_REQUIRED=1), TLS offered but not required, and no TLS at all. The ground truth is checked first with the
test account's real password (taken in clear or not); mailprobe's verdict from its dummy login must agree. Courier
says "STARTTLS required" (IMAP) and "TLS required to log in." (POP3, at USER) in clear, and pauses 5 s after a
failed password check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cyrus_courier import COURIER_SETUPS, CourierInstance
from tests.integration.real_logins import assert_rows_follow_the_truth, server_pki, truth_then_scan


@pytest.fixture(scope="module")
def pki() -> Iterator[tuple[Path, Path, Path]]:
    with server_pki("Courier") as files:
        yield files


@pytest.mark.parametrize("setup", list(COURIER_SETUPS))
def test_courier(pki: tuple[Path, Path, Path], setup: str) -> None:
    ca_file, cert, key = pki
    with CourierInstance(setup, cert, key) as courier:
        rows = truth_then_scan(courier, ca_file)
    allowed = courier.setup.plaintext_allowed
    assert_rows_follow_the_truth(rows, allowed=allowed, tls=courier.setup.tls, software="Courier")
    if not allowed:  # Courier's own words are the evidence
        assert any("STARTTLS required" in line for line in rows[143]["plaintext_login"]["evidence"])
        assert any("TLS required to log in" in line for line in rows[110]["plaintext_login"]["evidence"])
