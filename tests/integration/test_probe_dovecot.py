"""The probe against a real Dovecot, in the set-ups admins actually run. The scanner connects from 127.0.0.1,
the server listens on its own 127.0.0.x address (Dovecot treats same-address clients as secure)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from scanner.model import DEFAULT_PORTS, Endpoint, EndpointResult
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions

pytestmark = pytest.mark.dovecot

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "result.schema.json").read_text())
OPTIONS = ProbeOptions(source_address="127.0.0.1", connect_timeout=3, read_timeout=5, legacy_tls=False)


def probe_all(address: str, options: ProbeOptions = OPTIONS) -> dict[int, EndpointResult]:
    async def run() -> list[EndpointResult]:
        endpoints = [Endpoint(address, address, port, *DEFAULT_PORTS[port]) for port in sorted(DEFAULT_PORTS)]
        return await asyncio.gather(*(probe_endpoint(e, options) for e in endpoints))

    return {r.port: r for r in asyncio.run(run())}


@pytest.fixture(scope="module")
def refused(dovecot_plaintext_refused):
    return probe_all(dovecot_plaintext_refused.address)


@pytest.fixture(scope="module")
def refused_confirmed(dovecot_plaintext_refused):
    return probe_all(dovecot_plaintext_refused.address, replace(OPTIONS, confirm_over_tls=True))


@pytest.fixture(scope="module")
def allowed(dovecot_plaintext_allowed):
    return probe_all(dovecot_plaintext_allowed.address)


@pytest.fixture(scope="module")
def no_ssl(dovecot_ssl_no):
    return probe_all(dovecot_ssl_no.address)


def ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


@pytest.mark.parametrize("port", [110, 143])
def test_refused_setup_is_refused_with_the_servers_words(refused, port):
    result = refused[port]
    assert result.state == "open"
    assert result.software == "Dovecot"
    assert result.starttls == "ok"
    assert result.plaintext_login.verdict == "refused", result.plaintext_login.evidence
    evidence = " ".join(result.plaintext_login.evidence)
    assert "Plaintext authentication disallowed" in evidence  # the server's own words
    assert "plaintext-login-accepted" not in ids(result)


def login_commands_over_tls(result: EndpointResult) -> list[str]:
    words = ("LOGIN", "AUTHENTICATE", "USER", "PASS", "AUTH ")
    return [
        line.text
        for line in result.transcript
        if line.direction == "C" and line.tls and any(w in line.text.upper() for w in words)
    ]


@pytest.mark.parametrize("port", [110, 143])
def test_a_refusal_that_names_its_reason_is_not_retried_over_tls(refused, port):
    """PRIVACYREQUIRED (IMAP) and USER refused in words demanding TLS (POP3) decide on their own: no failed login
    over TLS is added to the server's logs, and the verdict says which signal decided."""
    result = refused[port]
    assert login_commands_over_tls(result) == []
    assert any("not repeated over TLS" in line.text for line in result.transcript)
    signal = "[PRIVACYREQUIRED]" if port == 143 else "Dovecot wording for a refusal without TLS"
    assert any(f"refused in clear ({signal})" in e for e in result.plaintext_login.evidence)
    assert result.tls is not None and result.tls.certificate is not None  # the TLS half still ran


@pytest.mark.parametrize("port", [110, 143])
def test_confirm_over_tls_adds_the_differential_and_timing(refused_confirmed, port):
    result = refused_confirmed[port]
    assert result.plaintext_login.verdict == "refused", result.plaintext_login.evidence
    assert login_commands_over_tls(result)
    evidence = " ".join(result.plaintext_login.evidence)
    assert "Authentication failed" in evidence  # the credential failure over TLS
    assert "differs from the failed login over TLS" in evidence
    assert "timing agrees" in evidence  # Dovecot: immediate in clear, auth_failure_delay over TLS


def test_refused_setup_advertises_the_refusal(refused):
    assert "LOGINDISABLED" in refused[143].capabilities.before_tls
    assert "LOGINDISABLED" not in refused[143].capabilities.after_tls
    assert "STLS" in refused[110].capabilities.before_tls
    assert not ({"logindisabled-missing", "plaintext-auth-advertised"} & ids(refused[143]))


@pytest.mark.parametrize("port", [110, 143])
def test_allowed_setup_is_accepted(allowed, port):
    result = allowed[port]
    assert result.plaintext_login.verdict == "accepted", result.plaintext_login.evidence
    assert "plaintext-login-accepted" in ids(result)
    critical = [f for f in result.findings if f.id == "plaintext-login-accepted"]
    assert critical[0].severity == "critical"
    assert "disable_plaintext_auth" in critical[0].remediation  # Dovecot detected: Dovecot's fix
    assert "plaintext-auth-advertised" in ids(result)


def test_allowed_imap_lacks_logindisabled(allowed):
    assert "logindisabled-missing" in ids(allowed[143])


@pytest.mark.parametrize("port", [110, 143])
def test_ssl_no_has_no_starttls_and_accepts(no_ssl, port):
    result = no_ssl[port]
    assert result.starttls == "not_offered"
    assert result.plaintext_login.verdict == "accepted", result.plaintext_login.evidence
    assert {"starttls-missing", "plaintext-login-accepted"} <= ids(result)
    assert result.tls is None


@pytest.mark.parametrize("port", [993, 995])
def test_ssl_no_closes_implicit_ports(no_ssl, port):
    assert no_ssl[port].state == "closed"
    assert no_ssl[port].plaintext_login.verdict == "not_applicable"


@pytest.mark.parametrize("port", [993, 995])
def test_implicit_tls_ports(refused, port):
    result = refused[port]
    assert result.state == "open"
    assert result.transport == "implicit"
    assert result.plaintext_login.verdict == "not_applicable"
    assert result.tls is not None and result.tls.version in ("TLSv1.2", "TLSv1.3")
    assert result.capabilities.after_tls  # capabilities read over TLS
    assert not any(line.direction == "C" and "LOGIN" in line.text.upper() for line in result.transcript)


def test_results_match_the_schema_and_never_show_the_password(refused, allowed):
    for result in [*refused.values(), *allowed.values()]:
        data = result.to_dict()
        jsonschema.validate(data, SCHEMA)
        assert EndpointResult.from_dict(json.loads(json.dumps(data))) == result
        sent = [line.text for line in result.transcript if line.direction == "C"]
        password_commands = [t for t in sent if t.startswith("PASS ") or t.split()[1:2] == ["LOGIN"]]
        assert all("********" in t for t in password_commands), password_commands  # the dummy password is masked
    assert any("PASS ********" in line.text for line in allowed[110].transcript)
    assert any("LOGIN" in line.text and "********" in line.text for line in refused[143].transcript)


def test_no_connection_carries_more_than_two_failed_logins(allowed):
    for result in allowed.values():
        per_connection: list[int] = []
        for line in result.transcript:
            if line.direction == "*" and line.text.startswith("connected to"):
                per_connection.append(0)
            elif line.direction == "S" and any(w in line.text for w in ("NO ", "-ERR", "BAD ")):
                per_connection[-1] += 1
        assert per_connection and max(per_connection) <= 2, per_connection


@pytest.mark.parametrize("port", [110, 143])
def test_dovecot_is_not_open_to_starttls_command_injection(refused, port):
    result = refused[port]
    injection = result.starttls_injection
    assert injection is not None and injection.verdict == "not_vulnerable", injection
    assert {t.variant for t in injection.tries} == {"same-write", "separate-segment"}
    assert not [t for t in injection.tries if t.outcome == "answered-in-tls"]
    assert "starttls-command-injection" not in ids(result)
    assert result.starttls == "ok" and result.plaintext_login.verdict == "refused"  # the probe's own steps stand
