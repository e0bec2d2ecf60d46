"""ROBOT against a real Dovecot, scanned with `mailprobe scan` as a user would.

Set up to accept RSA key exchange (TLS_RSA_WITH_AES_128_GCM_SHA256 beside an ECDHE suite), its OpenSSL answers
every premaster alike (a random premaster on a bad padding, so the Finished fails the same way): not vulnerable,
after five connections. As Debian ships it, Dovecot accepts no RSA key exchange: not applicable, no connection."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import DovecotFactory
from tests.dovecot import DovecotInstance

pytestmark = pytest.mark.dovecot

RSA_KEX_CONFIG = "ssl_cipher_list = AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\nssl_min_protocol = TLSv1.2\n"


def scan(dovecot: DovecotInstance) -> dict[int, dict]:
    ports = f"{dovecot.ports.imaps},{dovecot.ports.imap}"
    args = [sys.executable, "-m", "scanner", "scan", dovecot.address, "-p", ports, "--source-address", "127.0.0.1",
            "--no-legacy-tls", "--no-ptr", "--no-tui", "--no-injection-test", "--format", "json"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: the test certificate is self-signed
    return {row["port"]: row for row in json.loads(done.stdout)["results"]}


def robot_of(row: dict) -> dict:
    return row["tls"]["configuration"]["robot"]


def test_dovecot_accepting_rsa_key_exchange_is_not_vulnerable(dovecot_factory: DovecotFactory) -> None:
    rows = scan(dovecot_factory("plaintext_refused", extra_config=RSA_KEX_CONFIG))
    made = [row for row in rows.values() if row["tls"]["configuration"]["enumerated_on"] is None]
    assert len(made) == 1  # the other port shares the server's enumeration, ROBOT result included
    robot = robot_of(made[0])
    assert robot["verdict"] == "not_vulnerable", robot
    assert (robot["version"], robot["suite"]) == ("TLSv1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256")
    assert robot["connections"] == 5 and len({r["answers"][0] for r in robot["reactions"]}) == 1
    answer = robot["reactions"][0]["answers"][0]  # Dovecot closes without flushing OpenSSL's alert: "closed"
    assert answer != "timeout" and not answer.startswith("handshake:")  # each went past the key exchange
    for row in rows.values():
        assert robot_of(row) == robot
        assert not [f for f in row["findings"] if f["id"].startswith("tls-robot")]


def test_dovecot_as_debian_ships_it_is_not_applicable(dovecot_factory: DovecotFactory) -> None:
    rows = scan(dovecot_factory("plaintext_refused"))
    for row in rows.values():
        robot = robot_of(row)
        assert (robot["verdict"], robot["connections"]) == ("not_applicable", 0), robot
        suites = [s for entry in row["tls"]["configuration"]["suites"] for s in entry["suites"]]
        assert not [s for s in suites if s.startswith("TLS_RSA_WITH_")]
