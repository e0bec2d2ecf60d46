"""ChainBoard: the full enumerations the processes of a --workers scan share through a directory. Two TlsShares on
one board stand for two processes (the integration test in tests/integration/test_tls_confirm_dovecot.py forks real
workers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from scanner.model import TlsConfiguration, VersionSuites
from scanner.scan.chain_board import ChainBoard
from scanner.scan.tls_share import TlsShare
from tests.scan.test_tls_share import CHAIN, Calls, key

CHAIN_KEY = (CHAIN, "TLSv1.3", "TLS_AES_256_GCM_SHA384")
RICH = TlsConfiguration(
    versions=("TLSv1.2", "TLSv1.3"),
    suites=(
        VersionSuites("TLSv1.3", ("TLS_AES_128_GCM_SHA256",), False),
        VersionSuites("TLSv1.2", ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",), True),
    ),
    groups=("x25519", "ffdhe2048"),
    dh_bits=4096,
    dh_group="modp4096",
    forward_secrecy="all",
    aead="all",
    compression=False,
    secure_renegotiation=True,
    extended_master_secret=True,
    fallback_scsv=True,
    handshakes=51,
    duration_ms=140,
)


def test_one_process_claims_a_chain_and_the_others_read_what_it_published(tmp_path: Path) -> None:
    one, other = ChainBoard(tmp_path), ChainBoard(tmp_path)
    assert one.claim(CHAIN_KEY) and not other.claim(CHAIN_KEY) and not one.claim(CHAIN_KEY)
    assert other.claim((b"another chain", "TLSv1.3", "TLS_AES_256_GCM_SHA384"))
    one.publish(CHAIN_KEY, (RICH, "192.0.2.1:993"))
    assert asyncio.run(other.wait(CHAIN_KEY)) == (RICH, "192.0.2.1:993")  # every field back as it was


def test_nothing_published_or_nothing_in_time_means_enumerate_here(tmp_path: Path) -> None:
    board = ChainBoard(tmp_path, wait_limit=0.2, poll=0.01)
    board.claim(CHAIN_KEY)
    assert asyncio.run(board.wait(CHAIN_KEY)) is None  # the claimant never published (killed, say): 0.2 s, then go
    board.publish(CHAIN_KEY, None)  # an enumeration cut short: nothing to confirm against
    assert asyncio.run(board.wait(CHAIN_KEY)) is None


async def test_the_second_process_confirms_the_first_ones_enumeration(tmp_path: Path) -> None:
    first, second, calls = TlsShare(board=ChainBoard(tmp_path)), TlsShare(board=ChainBoard(tmp_path)), Calls()
    a, b, c = await asyncio.gather(
        first.enumerate(key("192.0.2.1"), 993, calls.run("a", delay=0.1), calls.confirm("a")),
        second.enumerate(key("192.0.2.2"), 993, calls.run("b"), calls.confirm("b")),
        second.enumerate(key("192.0.2.3"), 993, calls.run("c"), calls.confirm("c")),  # in the second process too
    )
    assert calls.runs == ["a"] and sorted(calls.confirms) == ["b", "c"]
    assert a.confirmed_from is None
    assert b.confirmed_from == c.confirmed_from == "192.0.2.1:993"


async def test_a_failed_enumeration_frees_the_waiting_processes(tmp_path: Path) -> None:
    first, second, calls = TlsShare(board=ChainBoard(tmp_path)), TlsShare(board=ChainBoard(tmp_path)), Calls()

    async def broken() -> TlsConfiguration:
        await asyncio.sleep(0.05)
        raise RuntimeError("the probe's own bug")

    results = await asyncio.wait_for(
        asyncio.gather(
            first.enumerate(key("192.0.2.1"), 993, broken, calls.confirm("a")),
            second.enumerate(key("192.0.2.2"), 993, calls.run("b"), calls.confirm("b")),
            return_exceptions=True,
        ),
        timeout=5,  # far under the board's wait limit: the failure was published, not waited out
    )
    assert isinstance(results[0], RuntimeError)
    assert calls.runs == ["b"] and calls.confirms == []


@pytest.mark.parametrize("confirms", [True, False])
async def test_a_server_that_does_not_confirm_leaves_the_others_of_its_process_confirming(
    tmp_path: Path, confirms: bool
) -> None:
    first, second = TlsShare(board=ChainBoard(tmp_path)), TlsShare(board=ChainBoard(tmp_path))
    calls = Calls(confirms=confirms)
    await first.enumerate(key("192.0.2.1"), 993, calls.run("a"), calls.confirm("a"))
    await second.enumerate(key("192.0.2.2"), 993, calls.run("b"), calls.confirm("b"))
    third = await second.enumerate(key("192.0.2.3"), 993, calls.run("c"), calls.confirm("c"))
    assert calls.confirms == ["b", "c"]  # against the first process's enumeration, each in turn
    assert calls.runs == (["a"] if confirms else ["a", "b", "c"])
    assert (third.confirmed_from == "192.0.2.1:993") is confirms
