"""Heartbleed and CCS injection through the enumeration and the confirmation a scan runs, against servers that
behave on the wire as OpenSSL 1.0.1f did (heartbeat requests answered with what their length field claims; an early
ChangeCipherSpec taken) and as fixed ones do (tests/tls/rule_server.py, real sockets on 127.0.0.4). A confirmed
server's results are its own: never the known server's all-clear."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from scanner.model import TlsConfiguration
from scanner.tls.confirm import confirm_configuration
from scanner.tls.enumerate import HelloAsker, enumerate_tls
from scanner.tls.vuln_probes import StackChecks
from scanner.verdicts.software import DOVECOT, EXCHANGE
from scanner.verdicts.tls_profile import deviating_offers
from scanner.verdicts.tls_vulns import vulnerability_findings
from tests.tls.rule_server import Rules, answer, rule_server
from tests.tls.test_confirm_rules import POOL
from tests.tls.test_enumerate import FAST

FIXED = dataclasses.replace(POOL, heartbeat="fixed", early_ccs="refused")  # OpenSSL 1.0.1h to 1.0.2
OPENSSL_101F = dataclasses.replace(POOL, heartbeat="bleeds", early_ccs="taken")


async def _enumerated(rules: Rules) -> tuple[TlsConfiguration, int]:
    async with rule_server(rules) as server:
        config = await enumerate_tls(server.open, server_name=None, limits=FAST)
    return config, server.connections


async def _confirmed(known: TlsConfiguration, rules: Rules) -> tuple[TlsConfiguration | None, int]:
    async with rule_server(rules) as server:
        confirmed = await confirm_configuration(
            server.open, known, server_name=None, must_accept=deviating_offers(known), limits=FAST
        )
    return confirmed, server.connections


async def test_a_server_like_openssl_101f_is_reported_vulnerable_to_both_at_no_extra_cost() -> None:
    config, connections = await _enumerated(OPENSSL_101F)
    assert (config.heartbleed.verdict, config.ccs_injection.verdict) == ("vulnerable", "vulnerable")
    assert "48 bytes of the server's memory" in config.heartbleed.evidence
    assert "bad_record_mac (20)" in config.ccs_injection.evidence
    assert config.heartbleed.version == config.ccs_injection.version == "TLSv1.2"
    assert config.handshakes == connections
    clean, _ = await _enumerated(POOL)  # no heartbeat at all: the probes cost no hello of their own
    assert config.handshakes == clean.handshakes
    findings = {f.id: f for f in vulnerability_findings(config, DOVECOT)}
    assert (findings["tls-heartbleed"].severity, findings["tls-ccs-injection"].severity) == ("critical", "high")
    assert "systemctl restart dovecot" in findings["tls-heartbleed"].remediation
    assert "new private key" in findings["tls-heartbleed"].remediation


@pytest.mark.parametrize(
    ("rules", "heartbleed", "ccs"),
    [
        (dataclasses.replace(POOL, heartbeat="bleeds"), "vulnerable", "not_vulnerable"),
        (dataclasses.replace(POOL, early_ccs="taken"), "not_vulnerable", "vulnerable"),
        (FIXED, "not_vulnerable", "not_vulnerable"),
        (POOL, "not_vulnerable", "not_vulnerable"),
    ],
    ids=["heartbleed-only", "ccs-only", "fixed-openssl", "no-heartbeat"],
)
async def test_each_bug_is_told_apart(rules: Rules, heartbleed: str, ccs: str) -> None:
    config, _ = await _enumerated(rules)
    assert (config.heartbleed.verdict, config.ccs_injection.verdict) == (heartbleed, ccs)
    assert config.heartbleed.evidence and config.ccs_injection.evidence
    ids = {f.id for f in vulnerability_findings(config, None)}
    assert ("tls-heartbleed" in ids, "tls-ccs-injection" in ids) == (heartbleed == "vulnerable", ccs == "vulnerable")


async def test_no_echo_of_the_heartbeat_extension_is_the_all_clear_for_heartbleed() -> None:
    config, _ = await _enumerated(POOL)
    assert config.heartbleed.verdict == "not_vulnerable" and "echoed" in config.heartbleed.evidence


@pytest.mark.parametrize(
    ("known_rules", "other_rules"),
    [(FIXED, OPENSSL_101F), (POOL, OPENSSL_101F), (OPENSSL_101F, FIXED)],
    ids=["fixed-then-vulnerable", "no-heartbeat-then-vulnerable", "vulnerable-then-fixed"],
)
async def test_a_confirmed_server_carries_its_own_results(known_rules: Rules, other_rules: Rules) -> None:
    """The same certificate and suites, another OpenSSL: the known server's verdict must never stand for it."""
    known, _ = await _enumerated(known_rules)
    twin, _ = await _enumerated(other_rules)  # what a full enumeration of the other server says
    confirmed, connections = await _confirmed(known, other_rules)
    assert confirmed is not None, "the configuration is the same: the confirmation should hold"
    assert (confirmed.heartbleed.verdict, confirmed.ccs_injection.verdict) == (
        twin.heartbleed.verdict,
        twin.ccs_injection.verdict,
    )
    plain, _ = await _confirmed(known, known_rules)
    assert plain is not None and confirmed.handshakes == plain.handshakes == connections  # no hello more


async def test_a_confirmation_whose_heartbeat_step_ends_the_connection_asks_the_ccs_on_one_more_hello() -> None:
    rules = dataclasses.replace(POOL, heartbeat="alert")  # echoes the extension, refuses heartbeats with an alert
    known, _ = await _enumerated(rules)
    assert known.heartbleed.verdict == "not_vulnerable" and "alert" in known.heartbleed.evidence
    assert known.ccs_injection.verdict == "not_vulnerable"  # on the next accepted hello of the enumeration
    confirmed, _ = await _confirmed(known, rules)
    baseline, _ = await _confirmed(known, POOL)  # no heartbeat: both checks on its one TLS 1.2 connection
    assert confirmed is not None and baseline is not None
    assert confirmed.ccs_injection.verdict == "not_vulnerable"
    assert confirmed.handshakes <= baseline.handshakes + 1


async def test_silence_after_the_heartbeat_requests_is_inconclusive_and_visible() -> None:
    config, _ = await _enumerated(dataclasses.replace(POOL, heartbeat="silent"))
    assert config.heartbleed.verdict == "inconclusive" and "no answer" in config.heartbleed.evidence
    assert config.ccs_injection.verdict == "not_vulnerable"  # asked on another connection
    (finding,) = vulnerability_findings(config, EXCHANGE)
    assert (finding.id, finding.severity) == ("tls-heartbleed-inconclusive", "info")
    assert "SCHANNEL" in finding.remediation and "never had this bug" in finding.remediation


async def test_a_tls13_only_server_is_not_applicable() -> None:
    config, _ = await _enumerated(Rules(suites={"TLSv1.3": ("TLS_AES_128_GCM_SHA256",)}, heartbeat="bleeds"))
    assert config.versions == ("TLSv1.3",)
    assert (config.heartbleed.verdict, config.ccs_injection.verdict) == ("not_applicable", "not_applicable")
    assert vulnerability_findings(config, None) == []


async def test_a_hello_the_server_ends_with_an_alert_is_not_asked_on() -> None:
    """A ServerHello followed by an alert (the server gave up on its own): a close after a probe would read as a
    refusal of it, so the probes wait for a connection the server keeps open."""

    async def alert_after_flight(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(5)
        hello = header + await reader.readexactly(int.from_bytes(header[3:5], "big"))
        writer.write(answer(OPENSSL_101F, hello) + b"\x15\x03\x03\x00\x02\x02\x28")  # handshake_failure
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(alert_after_flight, "127.0.0.4", 0)
    port = listening.sockets[0].getsockname()[1]

    async def open_() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.4", port, local_addr=("127.0.0.1", 0))

    try:
        asker = HelloAsker(open_, None, FAST, checks=StackChecks(FAST.hello_timeout))
        accepted = await asker.ask("TLSv1.2", [0xC02F], [0x001D])
    finally:
        listening.close()
    assert accepted.outcome == "accepted" and accepted.version == "TLSv1.2"
    assert asker.checks is not None and (asker.checks.heartbleed, asker.checks.ccs_injection) == (None, None)
    heartbleed, ccs = asker.checks.results(before_tls13=True, stopped=None)
    assert (heartbleed.verdict, ccs.verdict) == ("inconclusive", "inconclusive")  # never an all-clear
