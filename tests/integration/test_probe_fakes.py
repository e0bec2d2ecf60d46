"""The probe against fake servers that replay real-world behaviour: Exchange in each LoginType, Dovecot-like,
servers that lie, and broken or hostile servers. Every endpoint must get a result row with the reason."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest

from scanner import certgen
from scanner.fakeserver import FakeServer, Profile, bundled_profile, load_profile
from scanner.fakeserver.tls import context_for
from scanner.model import Endpoint, EndpointResult
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions

FIXTURES = Path(__file__).parents[2] / "fixtures" / "servers"
HOST = "127.0.0.3"
OPTIONS = ProbeOptions(
    source_address="127.0.0.1",
    connect_timeout=2,
    read_timeout=1.5,
    login_timeout=3,
    tls_timeout=3,
    endpoint_timeout=20,
    legacy_tls=False,
)


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory):
    """A certificate from a private CA that the probe is told to trust (--ca-file), as for an internal Exchange."""
    global OPTIONS
    directory = tmp_path_factory.mktemp("certs")
    ca = certgen.make_ca("mailprobe fake-server test CA")
    OPTIONS = dataclasses.replace(OPTIONS, ca_file=str(ca.write(directory)))
    return context_for("ca-signed", "mail.example.test", HOST, directory, ca=ca)


def probe(
    profile: Profile, tls_context, options: ProbeOptions | None = None, **server_kwargs
) -> tuple[EndpointResult, FakeServer]:
    async def run() -> tuple[EndpointResult, FakeServer]:
        server = FakeServer(profile, host=HOST, port=0, ssl_context=tls_context, **server_kwargs)
        async with server:
            endpoint = Endpoint(
                HOST,
                HOST,
                server.port,
                profile.protocol,
                "implicit" if profile.implicit_tls else "starttls",
                name="mail.example.test",
            )
            result = await probe_endpoint(endpoint, options or OPTIONS)
            await server.wait_idle()
        return result, server

    return asyncio.run(run())


def ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


# profile -> (verdict, starttls, findings that must be there, findings that must not)
EXPECTED = {
    "exchange-imap-securelogin": ("refused", "ok", set(), {"plaintext-login-accepted", "logindisabled-missing"}),
    "exchange-imap-plaintextauthentication": ("refused", "ok", set(), {"plaintext-login-accepted"}),
    "exchange-imap-plaintextlogin": (
        "accepted",
        "ok",
        {"plaintext-login-accepted", "logindisabled-missing", "plaintext-auth-advertised"},
        set(),
    ),
    "exchange-pop3-securelogin": ("refused", "ok", set(), {"plaintext-login-accepted", "plaintext-auth-advertised"}),
    "exchange-pop3-plaintextauthentication": ("refused", "ok", set(), {"plaintext-login-accepted"}),
    "exchange-pop3-plaintextlogin": (
        "accepted",
        "ok",
        {"plaintext-login-accepted", "plaintext-auth-advertised"},
        set(),
    ),
    "exchange-imaps": ("not_applicable", "not_applicable", set(), {"plaintext-login-accepted"}),
    "exchange-pop3s": ("not_applicable", "not_applicable", set(), {"plaintext-login-accepted"}),
    "dovecot-imap-plaintext-allowed": ("accepted", "ok", {"plaintext-login-accepted"}, set()),
    "dovecot-imap-plaintext-refused": ("refused", "ok", set(), {"plaintext-login-accepted"}),
    "dovecot-pop3-plaintext-allowed": ("accepted", "ok", {"plaintext-login-accepted"}, set()),
    "dovecot-pop3-plaintext-refused": ("refused", "ok", set(), {"plaintext-login-accepted"}),
    "imap-logindisabled-liar": ("accepted", "ok", {"plaintext-login-accepted", "advertised-vs-actual"}, set()),
    # issue 22: wording that reads the opposite of what the codes and the differential show
    "uw-imapd-logindisabled": ("refused", "ok", set(), {"plaintext-login-accepted", "logindisabled-missing"}),
    "zimbra-pop3-cleartext-disabled": ("refused", "ok", set(), {"plaintext-login-accepted"}),
    "imap-hidden-starttls": (None, "ok", {"starttls-not-advertised"}, {"starttls-missing"}),
    "imap-no-tls": (None, "not_offered", {"starttls-missing"}, set()),
    "exchange-submission-clientfrontend": (
        "refused",
        "ok",
        set(),
        {"submission-auth-accepted-in-clear", "submission-auth-before-starttls"},
    ),
    "exchange-submission-basicauth-in-clear": (
        "accepted",
        "ok",
        {"submission-auth-accepted-in-clear", "submission-auth-before-starttls"},
        set(),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_profiles_get_the_verdict_their_configuration_implies(name, tls_context):
    verdict, starttls, present, absent = EXPECTED[name]
    result, server = probe(bundled_profile(name), tls_context, login_delay=0.05)
    assert result.state == "open", result.error
    if verdict is not None:
        assert result.plaintext_login.verdict == verdict, result.plaintext_login.evidence
    assert result.starttls == starttls
    assert present <= ids(result), ids(result)
    assert not (absent & ids(result)), ids(result)
    assert not any(i.startswith("cert-") for i in ids(result))  # trusted via --ca-file, right name, fresh
    if name.startswith("exchange"):
        assert result.software == "Microsoft Exchange"
        for finding in result.findings:
            assert "Set-" in finding.remediation or "Enable-ExchangeCertificate" in finding.remediation
    # Exchange ends a session on the third invalid-state command: no connection may reach it.
    assert all(session.invalid_state_count <= 2 for session in server.sessions)
    # Submission: never a message, not even its first command.
    assert not {"MAIL", "RCPT", "DATA", "BDAT"} & {r.verb for s in server.sessions for r in s.received}


def test_exchange_client_frontend_refusal_is_judged_by_the_differential(tls_context):
    result, server = probe(bundled_profile("exchange-submission-clientfrontend"), tls_context, login_delay=0.0)
    evidence = " ".join(result.plaintext_login.evidence)
    assert "504 5.7.4" in evidence and "535 5.7.3" in evidence and "Unrecognized authentication type" in evidence
    tls_auth = [c for s in server.sessions for c in s.credentials if c.phase == "tls"]
    assert [c.command for c in tls_auth] == ["AUTH LOGIN"]  # the mechanism Exchange offers after STARTTLS
    clear_sent = [r.data for s in server.sessions for r in s.received if r.phase == "clear"]
    assert not any(c.phase == "clear" and c.password for s in server.sessions for c in s.credentials)
    auths = [line.upper() for line in clear_sent if line.upper().startswith(b"AUTH")]
    assert len(auths) == 2 and auths[-1] == b"AUTH NTLM"  # one dummy AUTH; then NTLM, which carries no credential


def test_dummy_credentials_are_random_and_masked(tls_context):
    profile = bundled_profile("exchange-imap-plaintextlogin")
    first, server1 = probe(profile, tls_context, login_delay=0.0)
    second, server2 = probe(profile, tls_context, login_delay=0.0)
    passwords1 = {p for s in server1.sessions for p in s.passwords()}
    passwords2 = {p for s in server2.sessions for p in s.passwords()}
    assert passwords1 and passwords2 and not (passwords1 & passwords2)
    users = {c.user for s in server1.sessions for c in s.credentials}
    assert all(user.startswith("mailprobe-") for user in users)
    for password in passwords1:
        assert password not in first.to_json()


def test_refused_verdict_over_exchange_quotes_its_words(tls_context):
    result, _ = probe(bundled_profile("exchange-imap-securelogin"), tls_context, login_delay=0.0)
    evidence = " ".join(result.plaintext_login.evidence)
    assert "Command received in Invalid state." in evidence
    assert "LOGIN failed." in evidence


# hostile or foreign servers: (expected state, words the error must contain)
HOSTILE = {
    "http-on-143": ("error", "HTTP/1.1 400"),
    "smtp-on-143": ("error", "220 mail.example.com"),
    "silent": ("error", "no greeting"),
    "endless-line": ("error", "too long"),
    "endless-untagged": ("error", "more than 1000 lines"),
    "garbage": ("error", None),
    "close-after-greeting": ("error", "closed the connection"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_servers_get_a_row_with_the_reason(name, tls_context):
    state, words = HOSTILE[name]
    result, _ = probe(load_profile(FIXTURES / f"{name}.toml"), tls_context)
    assert result.state == state, (result.state, result.error)
    if words:
        assert words in (result.error or ""), result.error
    assert result.duration_ms < 15_000
    if state == "open":
        assert result.plaintext_login.verdict in ("inconclusive", "not_tested"), result.plaintext_login


def test_preauth_in_clear(tls_context):
    result, _ = probe(load_profile(FIXTURES / "preauth-in-clear.toml"), tls_context)
    assert result.plaintext_login.verdict == "accepted"
    assert "preauth-in-clear" in ids(result)


def test_bytes_injected_after_starttls_are_discarded_and_reported(tls_context):
    result, _ = probe(load_profile(FIXTURES / "starttls-injection.toml"), tls_context, login_delay=0.05)
    assert result.starttls == "ok"
    assert "starttls-plaintext-after-ok" in ids(result)
    assert result.plaintext_login.verdict == "refused"


def test_closed_port_is_closed():
    async def run() -> EndpointResult:
        server = await asyncio.start_server(lambda r, w: None, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return await probe_endpoint(Endpoint(HOST, HOST, port, "imap", "starttls"), OPTIONS)

    result = asyncio.run(run())
    assert result.state == "closed"
    assert result.plaintext_login.verdict == "not_tested"


@pytest.mark.parametrize(
    ("name", "login_type"),
    [
        ("exchange-imap-securelogin", "SecureLogin"),
        ("exchange-imap-plaintextauthentication", "PlainTextAuthentication"),
        ("exchange-imap-plaintextlogin", "PlainTextLogin"),
        ("exchange-pop3-securelogin", "SecureLogin"),
        ("exchange-pop3-plaintextauthentication", "PlainTextAuthentication"),
        ("exchange-pop3-plaintextlogin", "PlainTextLogin"),
    ],
)
def test_exchange_login_type_is_read_from_the_wire(name, login_type, tls_context):
    """Issue 13: which LoginType the behaviour implies, with the evidence, to compare with Get-ImapSettings."""
    result, _ = probe(bundled_profile(name), tls_context, login_delay=0.05)
    found = [f for f in result.findings if f.id == "exchange-login-type"]
    assert len(found) == 1, ids(result)
    assert found[0].severity == "info"
    assert found[0].title.endswith(f": {login_type}")
    assert f"matches LoginType {login_type}: before TLS" in found[0].detail
    assert ("Get-ImapSettings" if "imap" in name else "Get-PopSettings") in found[0].detail


# Replayed families (fixtures/servers, wording from the servers' sources): profile -> verdict, words in the evidence
FAMILIES = {
    "cyrus-imap-allowplaintext-no": ("refused", "LOGINDISABLED advertised and a NO without a response code"),
    "cyrus-pop3-allowplaintext-no": ("refused", "Cyrus wording for a refusal without TLS"),
    "zimbra-imap-cleartext-disabled": ("refused", "differs from the failed login over TLS"),
    "proxy-imap-no-tls-fast": ("accepted", "this port has no TLS"),
    "pop3-unknown-mailbox-at-user": ("inconclusive", "rejects the dummy user before any password"),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_replayed_families_get_the_verdict_a_real_password_would(name, tls_context):
    verdict, words = FAMILIES[name]
    result, _ = probe(load_profile(FIXTURES / f"{name}.toml"), tls_context)
    assert result.state == "open", result.error
    assert result.plaintext_login.verdict == verdict, result.plaintext_login.evidence
    assert any(words in line for line in result.plaintext_login.evidence), result.plaintext_login.evidence


def test_uw_imapd_refusing_login_like_a_bad_password_is_refused_with_its_reason(tls_context):
    """Issue 22: UW imapd under LOGINDISABLED answers LOGIN in clear with a bad password's NO and 3-second sleep
    (its own delay here); identical answers on both sides, and still refused, saying why."""
    options = dataclasses.replace(OPTIONS, login_timeout=10)  # 3 s is the delay itself
    result, server = probe(bundled_profile("uw-imapd-logindisabled"), tls_context, options)
    login = result.plaintext_login
    assert login.verdict == "refused", login.evidence
    assert any('NO "Invalid login credentials" after 3' in line and "in clear" in line for line in login.evidence)
    assert any('NO "Invalid login credentials" after 3' in line and "over TLS" in line for line in login.evidence)
    reason = login.evidence[-1]
    assert "LOGINDISABLED" in reason and "does not show a password check" in reason
    assert [c.phase for s in server.sessions for c in s.credentials] == ["clear", "tls"]


def test_zimbra_pop3_refusal_in_clear_is_refused_by_the_differential(tls_context):
    """Issue 22: '-ERR only valid after entering TLS mode' in clear, '-ERR invalid username/password' over TLS (once
    read as an unknown mailbox, which made the verdict inconclusive): the answers differ, so refused. By default the
    USER refused in words that demand TLS is not repeated over TLS (no password crossed); --confirm-over-tls shows
    the differential on record."""
    result, _ = probe(bundled_profile("zimbra-pop3-cleartext-disabled"), tls_context)
    assert result.plaintext_login.verdict == "refused", result.plaintext_login.evidence
    assert "Zimbra wording for a refusal without TLS" in result.plaintext_login.evidence[-1]
    options = dataclasses.replace(OPTIONS, confirm_over_tls=True)
    result, server = probe(bundled_profile("zimbra-pop3-cleartext-disabled"), tls_context, options)
    login = result.plaintext_login
    assert login.verdict == "refused", login.evidence
    reason = login.evidence[-1]
    assert "refused at USER" in reason and "differs from the failed login over TLS" in reason
    # no password ever crossed in clear: USER was refused there
    assert not any(c.phase == "clear" and c.password for s in server.sessions for c in s.credentials)


def test_a_login_answer_slower_than_the_reply_timeout_is_awaited_under_its_own_deadline(tls_context):
    """Issue 22: a credential check slowed past the reply timeout is still an answer (Dovecot's penalty: 17 s)."""
    options = dataclasses.replace(OPTIONS, read_timeout=0.5, login_timeout=5)
    result, _ = probe(bundled_profile("dovecot-imap-plaintext-allowed"), tls_context, options, login_delay=1.5)
    assert result.plaintext_login.verdict == "accepted", result.plaintext_login.evidence
    waited = [
        int(ms)
        for line in result.plaintext_login.evidence
        for ms in re.findall(r"AUTHENTICATIONFAILED.* after (\d+) ms", line)
    ]
    assert waited and min(waited) >= 1500  # answered after the delay, three times the reply timeout


def test_a_login_answer_that_never_comes_says_so_in_its_own_words(tls_context):
    """A login answer past the login deadline is reported as what it likely is, not as a generic timeout."""
    options = dataclasses.replace(OPTIONS, read_timeout=0.5, login_timeout=1)
    result, _ = probe(bundled_profile("dovecot-imap-plaintext-allowed"), tls_context, options, login_delay=4)
    login = result.plaintext_login
    assert login.verdict == "inconclusive", login.evidence
    said = " ".join(login.evidence)
    assert "TIMEOUT after" in said and "no answer to the login within the login deadline (1 s)" in said
    assert "likely an auth penalty" in said and "no complete reply" not in said
