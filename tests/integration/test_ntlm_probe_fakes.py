"""The NTLM step of the probe against the Exchange-like fakes: the names decoded in the row, where the exchange is
placed (no third refused command on any connection, no extra connection where one has room), what it sends, and
hostile CHALLENGEs that leave the rest of the row as it would be without NTLM."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re

import pytest

from scanner import certgen
from scanner.fakeserver import FakeServer, Profile, bundled_profile
from scanner.fakeserver.profile import Ntlm
from scanner.fakeserver.tls import context_for
from scanner.model import Endpoint, EndpointResult
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions
from scanner.protocols.ntlm import negotiate_message

HOST = "127.0.0.3"
# Without the STARTTLS command-injection test, whose connection would count among the ones these tests place the
# NTLM exchange on (test_ntlm_and_injection_share_the_connection_in_clear has both).
OPTIONS = ProbeOptions(
    source_address="127.0.0.1", connect_timeout=2, read_timeout=1.5, login_timeout=3, tls_timeout=3,
    endpoint_timeout=20, legacy_tls=False, injection_test=False,
)  # fmt: skip
NAMES = {
    "target_name": "CORP",
    "netbios_computer": "EX01",
    "netbios_domain": "CORP",
    "dns_computer": "EX01.corp.example.org",
    "dns_domain": "corp.example.org",
    "dns_tree": "corp.example.org",
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("certs")
    ca = certgen.make_ca("mailprobe NTLM test CA")
    options = dataclasses.replace(OPTIONS, ca_file=str(ca.write(directory)))
    return options, context_for("ca-signed", "mail.example.test", HOST, directory, ca=ca)


def probe(profile: Profile, tls, options: ProbeOptions | None = None) -> tuple[EndpointResult, FakeServer]:  # type: ignore[no-untyped-def]
    default_options, context = tls

    async def run() -> tuple[EndpointResult, FakeServer]:
        async with FakeServer(profile, host=HOST, port=0, ssl_context=context) as server:
            transport = "implicit" if profile.implicit_tls else "starttls"
            endpoint = Endpoint(HOST, HOST, server.port, profile.protocol, transport, name="mail.example.test")
            result = await probe_endpoint(endpoint, options or default_options)
            await server.wait_idle()
        return result, server

    return asyncio.run(run())


def untimed(result: EndpointResult) -> tuple[str, list[str]]:
    return result.plaintext_login.verdict, [re.sub(r"\d+ ms", "", line) for line in result.plaintext_login.evidence]


def ntlm_sessions(server: FakeServer) -> list[int]:
    return [i for i, s in enumerate(server.sessions) if s.ntlm_negotiate]


@pytest.mark.parametrize(
    ("profile", "over_tls", "severity", "connections", "ntlm_on"),
    [
        # NTLM in clear, one dummy login there: the exchange closes the clear connection
        ("exchange-imap-plaintextauthentication", False, "medium", 2, 0),
        ("exchange-pop3-plaintextauthentication", False, "medium", 2, 0),
        ("exchange-submission-clientfrontend", False, "medium", 2, 0),
        # NTLM in clear, two dummy logins there (LOGIN and AUTHENTICATE PLAIN): a connection of its own
        ("exchange-imap-plaintextlogin", False, "medium", 3, 2),
        ("exchange-pop3-plaintextlogin", False, "medium", 3, 2),
        # NTLM only after TLS: the exchange closes the TLS connection (one login repeated there)
        ("exchange-imap-securelogin", True, "low", 2, 1),
        ("exchange-pop3-securelogin", True, "low", 2, 1),
        # implicit TLS: after the capabilities, on the only connection
        ("exchange-imaps", True, "low", 1, 0),
        ("exchange-pop3s", True, "low", 1, 0),
    ],
)
def test_names_decoded_where_ntlm_is_offered(tls, profile, over_tls, severity, connections, ntlm_on) -> None:  # type: ignore[no-untyped-def]
    result, server = probe(bundled_profile(profile), tls)
    assert result.state == "open" and result.ntlm is not None, result.transcript
    assert result.ntlm.names == NAMES
    assert (result.ntlm.over_tls, result.ntlm.product_version, result.ntlm.error) == (over_tls, "10.0.17763", None)
    assert result.ntlm.server_time is not None and not result.ntlm.problems
    (finding,) = [f for f in result.findings if f.id == "ntlm-info-disclosure"]
    assert finding.severity == severity and "EX01.corp.example.org" in finding.detail
    assert "Windows Server 2019" in finding.detail
    # the budget: no connection got a third refused command (the fakes count the cancel), none was cut off
    assert len(server.sessions) == connections
    assert ntlm_sessions(server) == [ntlm_on]
    assert all(s.invalid_state_count <= 2 for s in server.sessions)
    assert not any("BYE Connection closed" in line.text for line in result.transcript)
    # what was sent: the 40-byte NEGOTIATE with no name, then the cancel
    session = server.sessions[ntlm_on]
    assert session.ntlm_negotiate == negotiate_message()
    payloads = [r.data for r in session.received if r.verb == ""]
    assert payloads[-1] == b"*"
    # and the transcript shows it as sent (it holds nothing to mask)
    negotiate = base64.b64encode(negotiate_message()).decode()
    assert any(line.direction == "C" and line.text == negotiate for line in result.transcript)


def test_the_verdict_and_the_other_findings_are_what_they_are_without_ntlm(tls) -> None:  # type: ignore[no-untyped-def]
    profile = bundled_profile("exchange-imap-plaintextlogin")
    with_ntlm, _ = probe(profile, tls)
    without, server = probe(profile, tls, dataclasses.replace(tls[0], ntlm_probe=False))
    assert without.ntlm is None and not ntlm_sessions(server)
    assert not any(r.verb == "AUTHENTICATE" and b"NTLM" in r.data for s in server.sessions for r in s.received)
    assert untimed(with_ntlm) == untimed(without)
    others = {f.id for f in with_ntlm.findings} - {"ntlm-info-disclosure"}
    assert others == {f.id for f in without.findings}


def test_capability_changes_in_the_row(tls) -> None:  # type: ignore[no-untyped-def]
    result, _ = probe(bundled_profile("exchange-submission-clientfrontend"), tls)
    assert result.capabilities.added_after_tls == ("AUTH LOGIN",)
    assert result.capabilities.removed_after_tls == ("STARTTLS",)
    assert "password-auth-only-in-clear" not in {f.id for f in result.findings}


def test_password_logins_only_in_clear_is_flagged(tls) -> None:  # type: ignore[no-untyped-def]
    base = bundled_profile("dovecot-imap-plaintext-allowed")
    upside_down = dataclasses.replace(base, capabilities_tls=("IMAP4rev1", "LOGINDISABLED", "AUTH=GSSAPI"), ntlm=None)
    result, _ = probe(upside_down, tls)
    (finding,) = [f for f in result.findings if f.id == "password-auth-only-in-clear"]
    assert finding.severity == "high"
    assert "+LOGINDISABLED" not in " ".join(result.capabilities.added_after_tls)
    assert "LOGINDISABLED" in result.capabilities.added_after_tls


CANCELLED = ("{tag} BAD Command Argument Error. 12",)
HOSTILE = {
    "not base64": (Ntlm(challenge_text="%%% not base64 %%%", cancelled=CANCELLED), "the challenge is not base64"),
    "not NTLM": (Ntlm(challenge_hex=b"HTTP/1.1 200 OK\r\n".hex(), cancelled=CANCELLED), "not an NTLM message"),
    "short": (Ntlm(challenge_hex="4e544c4d5353500002000000" + "00" * 8, cancelled=CANCELLED), "cut short"),
    "names past the end": (
        Ntlm(
            challenge_hex="4e544c4d53535000020000000800ff00ffff0000" + "05028a02" + "00" * 16 + "ffffff00ffff0000",
            cancelled=CANCELLED,
        ),
        None,
    ),
}


def test_a_server_silent_after_the_cancel_keeps_its_challenge(tls) -> None:  # type: ignore[no-untyped-def]
    profile = bundled_profile("exchange-imap-plaintextauthentication")
    silent = dataclasses.replace(profile, ntlm=dataclasses.replace(profile.ntlm, cancelled=()))
    result, _ = probe(silent, tls)
    assert result.ntlm is not None and result.ntlm.names == NAMES
    assert result.ntlm.problems == ("after the cancel: no complete reply within 1.5 s",)
    assert result.plaintext_login.verdict == "refused" and result.starttls == "ok"


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_challenges_give_a_reason_and_keep_the_row(tls, case: str) -> None:  # type: ignore[no-untyped-def]
    ntlm, error = HOSTILE[case]
    profile = dataclasses.replace(bundled_profile("exchange-imap-plaintextauthentication"), ntlm=ntlm)
    result, _ = probe(profile, tls)
    plain, _ = probe(dataclasses.replace(profile, ntlm=None), tls)
    assert result.state == "open" and result.ntlm is not None and result.ntlm.over_tls is False
    if error is None:
        assert result.ntlm.error is None and result.ntlm.names == {}
        assert "target name: 8 bytes at offset 65535, past the end of the 48-byte message" in result.ntlm.problems
        assert "target info: 65535 bytes at offset 65535, past the end of the 48-byte message" in result.ntlm.problems
    else:
        assert result.ntlm.error is not None and error in result.ntlm.error
    assert "ntlm-info-disclosure" not in {f.id for f in result.findings}
    assert result.plaintext_login.verdict == plain.plaintext_login.verdict == "refused"
    assert result.starttls == plain.starttls == "ok" and result.tls is not None
    assert {f.id for f in result.findings} == {f.id for f in plain.findings}


def test_ntlm_after_tls_on_a_connection_of_its_own(tls) -> None:  # type: ignore[no-untyped-def]
    """Two dummy logins repeated over TLS leave no room there: NTLM (offered only after TLS) gets a third connection,
    through STARTTLS, and is read over TLS."""
    base = bundled_profile("exchange-imap-plaintextlogin")
    clear = tuple(c for c in base.capabilities_clear if c != "AUTH=NTLM")
    profile = dataclasses.replace(base, capabilities_clear=clear)
    result, server = probe(profile, tls)
    assert result.ntlm is not None and result.ntlm.names == NAMES and result.ntlm.over_tls is True
    assert [f.severity for f in result.findings if f.id == "ntlm-info-disclosure"] == ["low"]
    assert len(server.sessions) == 3 and ntlm_sessions(server) == [2]
    third = server.sessions[2]
    assert third.tls_started and third.verbs("clear") == ["STARTTLS"] and third.verbs("tls")[0] == "AUTHENTICATE"
    assert all(s.invalid_state_count <= 2 for s in server.sessions)


def test_ntlm_and_injection_share_the_connection_in_clear(tls) -> None:  # type: ignore[no-untyped-def]
    """Both end the connection in clear: the NTLM exchange first (a cancelled AUTH), then the injection try's
    STARTTLS; the try's separate segment takes one connection more, never a third refused command anywhere."""
    options = dataclasses.replace(tls[0], injection_test=True)
    result, server = probe(bundled_profile("exchange-imap-plaintextauthentication"), tls, options)
    assert ntlm_sessions(server) == [0] and len(server.sessions) == 3
    said = [verb for verb in server.sessions[0].verbs("clear") if verb]  # SASL payload lines have no verb
    assert said[-2:] == ["AUTHENTICATE", "STARTTLS"], said
    assert result.ntlm is not None and result.starttls_injection is not None
    assert result.starttls_injection.verdict == "not_vulnerable", result.starttls_injection
