"""Cyrus IMAP (imapd, pop3d) as Debian ships it, in its three set-ups: ``allowplaintext: no``, ``allowplaintext:
yes``, and no TLS at all. The ground truth is checked first with the test account's real password (taken in clear or
not); mailprobe's verdict from its dummy login must agree. Cyrus says "Login only available under a layer" in clear
and pauses 3 s after a failed password check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cyrus_courier import CYRUS_SETUPS, CyrusInstance
from tests.integration.real_logins import assert_rows_follow_the_truth, server_pki, truth_then_scan


@pytest.fixture(scope="module")
def pki() -> Iterator[tuple[Path, Path, Path]]:
    with server_pki("Cyrus") as files:
        yield files


@pytest.mark.parametrize("setup", list(CYRUS_SETUPS))
def test_cyrus(pki: tuple[Path, Path, Path], setup: str) -> None:
    ca_file, cert, key = pki
    with CyrusInstance(setup, cert, key) as cyrus:
        rows = truth_then_scan(cyrus, ca_file)
    allowed = cyrus.setup.plaintext_allowed
    assert_rows_follow_the_truth(rows, allowed=allowed, tls=cyrus.setup.tls, software="Cyrus IMAP")
    assert rows[110]["software"] == "Cyrus IMAP", rows[110]["greeting"]
    if not allowed:  # Cyrus's own words are the evidence
        assert any("only available under a layer" in line for line in rows[143]["plaintext_login"]["evidence"])
        assert any("only available under a layer" in line for line in rows[110]["plaintext_login"]["evidence"])
