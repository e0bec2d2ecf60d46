"""Servers behind one certificate, scanned in one `mailprobe scan` as a user would: real Dovecots on two addresses.

Set up alike, the second server confirms the first one's enumeration with a few hellos of its own and reports the
same configuration a full enumeration of it finds (``--enumerate-every-server``). Set up differently behind the
same certificate (a pool where one server was hardened and the other was not), the second does not confirm and is
enumerated in full, so each gets its own compliance. POP3 on each address shares the IMAP port's enumeration."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tls_profile_servers import SETUPS, Certificate, certificate_for, profile_dovecot

pytestmark = pytest.mark.dovecot
ROOT = Path(__file__).resolve().parents[2]
PORTS = (110, 143, 993, 995)
COST = {"handshakes", "duration_ms", "enumerated_on", "confirmed_from"}


@pytest.fixture(scope="module")
def certificate() -> Iterator[Certificate]:
    directory = Path(tempfile.mkdtemp(prefix="mp-confirm-"))  # not pytest's tmp_path: Dovecot must read these
    directory.chmod(0o755)
    yield certificate_for("old", directory)  # old and intermediate both take an RSA certificate of 365 days


def scan(addresses: list[str], certificate: Certificate, *extra: str) -> dict[tuple[str, int], dict]:
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", *addresses, "-p", ",".join(map(str, PORTS)), "--ca-file",
         str(certificate.ca_file), "--source-address", "127.0.0.1", "--format", "json", "--no-ptr", "--no-tui",
         "--no-injection-test", *extra],
        capture_output=True, text=True, timeout=240, cwd=ROOT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return {(row["address"], row["port"]): row for row in json.loads(done.stdout)["results"]}


def configuration(row: dict) -> dict:
    return row["tls"]["configuration"]


def without_cost(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in COST}


def test_a_twin_server_confirms_the_enumeration_and_gets_what_a_full_one_finds(certificate: Certificate) -> None:
    with profile_dovecot("old", certificate) as first, profile_dovecot("old", certificate) as second:
        rows = scan([first, second], certificate)
        full = scan([first, second], certificate, "--enumerate-every-server")
    assert set(rows) == {(a, p) for a in (first, second) for p in PORTS}
    made = {key: configuration(row) for key, row in rows.items() if configuration(row)["enumerated_on"] is None}
    assert len(made) == 2, made.keys()  # one port per address; the other three share it
    (source,) = [key for key, config in made.items() if config["confirmed_from"] is None]
    (confirmer,) = [key for key, config in made.items() if config["confirmed_from"] is not None]
    assert source[0] != confirmer[0]
    assert made[confirmer]["confirmed_from"] == f"{source[0]}:{source[1]}"
    assert made[confirmer]["handshakes"] * 3 <= made[source]["handshakes"], (made[confirmer], made[source])
    for key, row in rows.items():  # every port of both servers: the same configuration and the same judgement
        assert without_cost(configuration(row)) == without_cost(made[source]), key
        verdicts = {p: row["tls"]["mozilla"][p]["compliant"] for p in ("modern", "intermediate", "old")}
        assert verdicts == SETUPS["old"].expected, key
    # what --enumerate-every-server finds on the confirming server in full is what the confirmation reported
    assert all(configuration(full[key])["confirmed_from"] is None for key in full)
    assert without_cost(configuration(full[confirmer])) == without_cost(made[confirmer])
    assert configuration(full[confirmer])["handshakes"] > made[confirmer]["handshakes"]


@pytest.mark.parametrize(
    ("one", "other", "differ_in"),
    [("old", "intermediate", "versions"), ("intermediate", "tls12-curve", "groups")],
)
def test_a_server_set_up_differently_behind_the_same_certificate_is_enumerated_in_full(
    certificate: Certificate, one: str, other: str, differ_in: str
) -> None:
    """Either may be enumerated first; the other must not take its configuration."""
    with profile_dovecot(one, certificate) as first, profile_dovecot(other, certificate) as second:
        rows = scan([first, second], certificate)
    assert all(configuration(row)["confirmed_from"] is None for row in rows.values())
    for address, name in ((first, one), (second, other)):
        for port in PORTS:
            row = rows[(address, port)]
            verdicts = {p: row["tls"]["mozilla"][p]["compliant"] for p in ("modern", "intermediate", "old")}
            assert verdicts == SETUPS[name].expected, (name, port, row["tls"]["mozilla"])
    assert configuration(rows[(first, 993)])[differ_in] != configuration(rows[(second, 993)])[differ_in]


def _apart(first: str, second: str) -> int:
    """A --workers count that puts the two addresses in different processes (scanner.scan.workers.share_of)."""
    from ipaddress import ip_address

    from scanner.scan.workers import share_of

    values = int(ip_address(first)), int(ip_address(second))
    return next(n for n in range(2, 9) if share_of(values[0], n) != share_of(values[1], n))


def test_forked_workers_share_one_enumeration_of_a_pool(certificate: Certificate) -> None:
    """Two servers alike, probed by two processes of one scan: one enumerates in full, the other confirms it."""
    with profile_dovecot("intermediate", certificate) as first, profile_dovecot("intermediate", certificate) as second:
        rows = scan([first, second], certificate, "--workers", str(_apart(first, second)))
    made = {key: configuration(row) for key, row in rows.items() if configuration(row)["enumerated_on"] is None}
    assert len(made) == 2, made.keys()
    sources = [key for key, config in made.items() if config["confirmed_from"] is None]
    confirmers = [key for key, config in made.items() if config["confirmed_from"] is not None]
    assert len(sources) == 1 and len(confirmers) == 1, made
    assert made[confirmers[0]]["confirmed_from"] == f"{sources[0][0]}:{sources[0][1]}"
    assert without_cost(made[confirmers[0]]) == without_cost(made[sources[0]])
