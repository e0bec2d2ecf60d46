"""TlsShare: which ports and servers share a TLS enumeration, which confirm one, and which enumerate in full."""

from __future__ import annotations

import asyncio

from scanner.model import TlsConfiguration, VersionSuites
from scanner.scan.tls_share import TlsShare

CHAIN = b"chain-1"
FULL = TlsConfiguration(
    versions=("TLSv1.2",), suites=(VersionSuites("TLSv1.2", ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",), None),)
)


class Calls:
    def __init__(self, confirms: bool = True) -> None:
        self.runs: list[str] = []
        self.confirms: list[str] = []
        self.answer = confirms

    def run(self, who: str, result: TlsConfiguration = FULL, delay: float = 0.0):  # type: ignore[no-untyped-def]
        async def go() -> TlsConfiguration:
            self.runs.append(who)
            await asyncio.sleep(delay)
            return result

        return go

    def confirm(self, who: str):  # type: ignore[no-untyped-def]
        async def go(known: TlsConfiguration) -> TlsConfiguration | None:
            self.confirms.append(who)
            return TlsConfiguration(**{**vars(known), "handshakes": 7}) if self.answer else None

        return go


def key(address: str, protocol: str = "imap", chain: bytes = CHAIN) -> tuple[str, str, bytes, str, str]:
    return (address, protocol, chain, "TLSv1.3", "TLS_AES_256_GCM_SHA384")


async def test_other_servers_with_the_chain_wait_for_the_enumeration_then_confirm_it_and_pop3_shares_it() -> None:
    share, calls = TlsShare(), Calls()
    first, second, third = await asyncio.gather(
        share.enumerate(key("192.0.2.1"), 993, calls.run("a", delay=0.05), calls.confirm("a")),
        share.enumerate(key("192.0.2.2"), 993, calls.run("b"), calls.confirm("b")),
        share.enumerate(key("192.0.2.1", "pop3"), 995, calls.run("c"), calls.confirm("c")),
    )
    assert calls.runs == ["a"] and calls.confirms == ["b"]
    assert first.confirmed_from is None and first.enumerated_on is None
    assert second.confirmed_from == "192.0.2.1:993" and second.handshakes == 7
    # POP3 beside IMAP on the same address, same chain and same choice: the same server's stack, shared as is
    assert third.enumerated_on == 993 and third.confirmed_from is None


async def test_a_server_that_does_not_confirm_is_enumerated_in_full() -> None:
    share, calls = TlsShare(), Calls(confirms=False)
    await share.enumerate(key("192.0.2.1"), 993, calls.run("a"), calls.confirm("a"))
    second = await share.enumerate(key("192.0.2.2"), 993, calls.run("b"), calls.confirm("b"))
    assert calls.runs == ["a", "b"] and calls.confirms == ["b"]
    assert second.confirmed_from is None


async def test_the_same_protocol_on_the_same_server_shares_without_asking_again() -> None:
    share, calls = TlsShare(), Calls()
    await share.enumerate(key("192.0.2.1"), 143, calls.run("a"), calls.confirm("a"))
    shared = await share.enumerate(key("192.0.2.1"), 993, calls.run("b"), calls.confirm("b"))
    assert calls.runs == ["a"] and calls.confirms == []
    assert shared.enumerated_on == 143


async def test_no_confirmation_without_the_confirm_step_nor_for_another_chain_or_submission() -> None:
    share, calls = TlsShare(), Calls()
    await share.enumerate(key("192.0.2.1"), 993, calls.run("a"), calls.confirm("a"))
    await share.enumerate(key("192.0.2.2"), 993, calls.run("every-server"))  # --enumerate-every-server
    await share.enumerate(key("192.0.2.3", chain=b"chain-2"), 993, calls.run("other-chain"), calls.confirm("x"))
    await share.enumerate(key("192.0.2.1", "smtp"), 587, calls.run("submission"), calls.confirm("y"))
    assert calls.runs == ["a", "every-server", "other-chain", "submission"] and calls.confirms == []


async def test_an_incomplete_enumeration_is_not_confirmed_against() -> None:
    share, calls = TlsShare(), Calls()
    cut = TlsConfiguration(untested=("enumeration incomplete: the server refused 4 connections in a row",))
    await share.enumerate(key("192.0.2.1"), 993, calls.run("a", cut), calls.confirm("a"))
    await share.enumerate(key("192.0.2.2"), 993, calls.run("b"), calls.confirm("b"))
    assert calls.runs == ["a", "b"] and calls.confirms == []


async def test_an_ipv6_source_is_written_with_brackets() -> None:
    share, calls = TlsShare(), Calls()
    await share.enumerate(key("2001:db8::1"), 993, calls.run("a"), calls.confirm("a"))
    second = await share.enumerate(key("2001:db8::2"), 993, calls.run("b"), calls.confirm("b"))
    assert second.confirmed_from == "[2001:db8::1]:993"
