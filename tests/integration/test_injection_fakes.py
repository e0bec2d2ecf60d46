"""The STARTTLS command-injection test of the probe against fake servers: one that runs pipelined commands inside TLS
(flagged), and the servers that must not be: safe ones, one that is chatty after the handshake, a slow one, one that
answers the injected command in clear before the handshake. What the servers received shows the test sent nothing
that could change state, and cost one connection more than the probe without it."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from scanner import certgen
from scanner.fakeserver import FakeServer, Profile, bundled_profile, load_profile
from scanner.fakeserver.profile import Hostile
from scanner.fakeserver.tls import context_for
from scanner.model import Endpoint, EndpointResult
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions

FIXTURES = Path(__file__).parents[2] / "fixtures" / "servers"
HOST = "127.0.0.3"
BASE = ProbeOptions(
    source_address="127.0.0.1",
    connect_timeout=2,
    read_timeout=2,
    login_timeout=3,
    tls_timeout=3,
    endpoint_timeout=30,
    legacy_tls=False,
    injection_wait=0.3,  # the default floor is 0.15 s; a loaded test machine gets more room
)
# Commands that change state, or carry credentials, that the injection test itself must never send.
NEVER_INJECTED = {"LOGIN", "AUTHENTICATE", "AUTH", "USER", "PASS", "MAIL", "RCPT", "DATA", "DELE", "STORE", "EXPUNGE"}


@pytest.fixture(scope="module")
def options(tmp_path_factory) -> tuple[ProbeOptions, object]:  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("certs")
    ca = certgen.make_ca("mailprobe injection test CA")
    ctx = context_for("ca-signed", "mail.example.test", HOST, directory, ca=ca)
    return dataclasses.replace(BASE, ca_file=str(ca.write(directory))), ctx


def probe(profile: Profile, options, **changes) -> tuple[EndpointResult, FakeServer]:  # type: ignore[no-untyped-def]
    probe_options, ctx = options
    probe_options = dataclasses.replace(probe_options, **changes)

    async def run() -> tuple[EndpointResult, FakeServer]:
        server = FakeServer(profile, host=HOST, port=0, ssl_context=ctx, login_delay=0.05)
        async with server:
            endpoint = Endpoint(HOST, HOST, server.port, profile.protocol, "starttls", name="mail.example.test")
            result = await probe_endpoint(endpoint, probe_options)
            await server.wait_idle()
        return result, server

    return asyncio.run(run())


def fixture(name: str) -> Profile:
    return load_profile(FIXTURES / f"{name}.toml")


def ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


def test_a_server_that_runs_pipelined_commands_inside_tls_is_flagged(options) -> None:  # type: ignore[no-untyped-def]
    result, server = probe(fixture("starttls-command-injection"), options)
    injection = result.starttls_injection
    assert injection is not None and injection.verdict == "vulnerable", injection
    same_write = next(t for t in injection.tries if t.variant == "same-write")
    assert same_write.outcome == "answered-in-tls"
    tag = same_write.sent.split()[0]
    assert same_write.sent == f"{tag} NOOP" and tag.startswith("mpi")
    assert same_write.evidence == (f"{tag} OK NOOP completed.",)
    (finding,) = [f for f in result.findings if f.id == "starttls-command-injection"]
    assert finding.severity == "high" and tag in finding.detail
    # the probe's own verdicts are untouched by the test
    assert result.starttls == "ok" and result.plaintext_login.verdict == "refused"
    assert "starttls-plaintext-after-ok" not in ids(result)


@pytest.mark.parametrize(
    "profile",
    [
        bundled_profile("dovecot-imap-plaintext-refused"),
        bundled_profile("dovecot-pop3-plaintext-refused"),
        bundled_profile("exchange-submission-clientfrontend"),
        bundled_profile("exchange-imap-securelogin"),
    ],
    ids=lambda p: p.name,
)
def test_safe_servers_are_not_flagged_and_the_test_costs_one_connection(profile: Profile, options) -> None:  # type: ignore[no-untyped-def]
    result, server = probe(profile, options)
    assert result.starttls_injection is not None
    assert result.starttls_injection.verdict == "not_vulnerable", result.starttls_injection
    assert "starttls-command-injection" not in ids(result)
    outcomes = {t.variant: t.outcome for t in result.starttls_injection.tries}
    assert set(outcomes) == {"same-write", "separate-segment"}
    assert outcomes["same-write"] == "silent"  # the fake discards what came in clear: nothing to answer
    assert len(server.sessions) == 3  # clear, TLS, and the injection test's one extra connection
    without, quiet = probe(profile, options, injection_test=False)
    assert len(quiet.sessions) == 2
    assert without.starttls_injection is not None and without.starttls_injection.verdict == "not_tested"
    assert without.plaintext_login.verdict == result.plaintext_login.verdict and without.starttls == result.starttls


def test_nothing_sent_could_change_state(options) -> None:  # type: ignore[no-untyped-def]
    result, server = probe(fixture("starttls-command-injection"), options)
    for session in server.sessions:
        pipelined = session.pipelined_after_starttls.decode()
        if pipelined:
            words = pipelined.split()
            assert words[-1] in ("NOOP", "CAPA"), pipelined
            assert not NEVER_INJECTED & {w.upper() for w in words}
    run_inside_tls = [r.verb for s in server.sessions for r in s.received if r.phase == "tls"]
    assert "NOOP" in run_inside_tls  # the injected command, run by the vulnerable fake


def test_turned_off_it_sends_nothing_extra(options) -> None:  # type: ignore[no-untyped-def]
    result, server = probe(fixture("starttls-command-injection"), options, injection_test=False)
    assert result.starttls_injection is not None and result.starttls_injection.verdict == "not_tested"
    assert result.starttls_injection.note == "turned off (--no-injection-test)"
    assert "starttls-command-injection" not in ids(result)
    assert all(not s.pipelined_after_starttls for s in server.sessions)


def test_response_injection_in_clear_is_not_command_injection(options) -> None:  # type: ignore[no-untyped-def]
    """A server that sends lines in clear after its STARTTLS OK (the response-injection sign) has its own finding;
    those lines are no answer to the injected command."""
    result, _ = probe(fixture("starttls-injection"), options)
    assert "starttls-plaintext-after-ok" in ids(result)
    assert result.starttls_injection is not None and result.starttls_injection.verdict != "vulnerable"
    assert "starttls-command-injection" not in ids(result)


CHATTY = {
    "imap": "* OK [ALERT] Welcome back, this session is encrypted\r\n* 3 EXISTS\r\n",
    "pop3": "+OK POP3 server ready <1896.697170952@mail.example.test>\r\n",
    "smtp": "220 mail.example.test ESMTP ready again\r\n",
}
SAFE = {
    "imap": bundled_profile("dovecot-imap-plaintext-refused"),
    "pop3": bundled_profile("dovecot-pop3-plaintext-refused"),
    "smtp": bundled_profile("exchange-submission-clientfrontend"),
}


def with_hostile(profile: Profile, **hostile: object) -> Profile:
    return dataclasses.replace(profile, hostile=Hostile(**hostile))  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_a_server_chatty_after_the_handshake_is_not_flagged(protocol: str, options) -> None:  # type: ignore[no-untyped-def]
    """Unrequested text inside TLS that does not answer the injected command: kept as "other", never evidence."""
    result, _ = probe(with_hostile(SAFE[protocol], say_after_tls=CHATTY[protocol]), options)
    injection = result.starttls_injection
    assert injection is not None and injection.verdict == "not_vulnerable", injection
    assert "starttls-command-injection" not in ids(result)
    silent = [t for t in injection.tries if t.outcome == "silent"]
    assert silent and all(t.other == tuple(CHATTY[protocol].splitlines()) for t in silent), injection


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_a_server_that_answers_in_clear_before_the_handshake_is_not_flagged(protocol: str, options) -> None:  # type: ignore[no-untyped-def]
    """Pipelining processed in order: the injected command answered in clear, after STARTTLS's OK, before TLS."""
    result, server = probe(with_hostile(SAFE[protocol], answer_pipelined_in_clear=True), options)
    injection = result.starttls_injection
    assert injection is not None and injection.verdict == "not_vulnerable", injection
    same_write = next(t for t in injection.tries if t.variant == "same-write")
    assert same_write.outcome == "answered-in-clear", same_write
    assert "starttls-command-injection" not in ids(result)
    assert "starttls-plaintext-after-ok" not in ids(result)  # the probe's own STARTTLS carried nothing extra
    answered_in_clear = [r.verb for s in server.sessions for r in s.received if r.phase == "clear"]
    assert answered_in_clear.count("NOOP" if protocol != "pop3" else "CAPA") >= 1


def test_a_slow_server_is_not_flagged(options) -> None:  # type: ignore[no-untyped-def]
    """Every answer 0.3 s late: the wait inside TLS grows with STARTTLS's measured round trip, and silence stays
    silence."""
    slow = with_hostile(SAFE["imap"], reply_delay=0.3)
    result, _ = probe(slow, options, endpoint_timeout=60)
    injection = result.starttls_injection
    assert result.starttls == "ok" and injection is not None, result.error
    assert injection.verdict == "not_vulnerable", injection
    silent = [t for t in injection.tries if t.outcome == "silent"]
    assert silent and all(t.waited_ms >= 1000 for t in silent)  # 4 round trips of a slow STARTTLS, not the floor
    assert "starttls-command-injection" not in ids(result)


def test_a_slow_vulnerable_server_is_still_flagged(options) -> None:  # type: ignore[no-untyped-def]
    """Its answer comes 0.3 s after the handshake, past the floor of the wait but within 4 round trips."""
    slow = with_hostile(SAFE["imap"], reply_delay=0.3, process_pipelined=True)
    result, _ = probe(slow, options, endpoint_timeout=60)
    assert result.starttls_injection is not None and result.starttls_injection.verdict == "vulnerable"
    assert "starttls-command-injection" in ids(result)
