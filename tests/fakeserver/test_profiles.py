"""Bundled profiles load and say what protocols.md says about each deployment."""

from __future__ import annotations

import pytest

from scanner.fakeserver import ProfileError, bundled_profile, bundled_profile_names, parse_profile

EXPECTED = {
    "exchange-imap-securelogin", "exchange-imap-plaintextauthentication", "exchange-imap-plaintextlogin",
    "exchange-pop3-securelogin", "exchange-pop3-plaintextauthentication", "exchange-pop3-plaintextlogin",
    "exchange-imaps", "exchange-pop3s",
    "dovecot-imap-plaintext-allowed", "dovecot-imap-plaintext-refused",
    "dovecot-pop3-plaintext-allowed", "dovecot-pop3-plaintext-refused",
    "imap-no-tls", "imap-logindisabled-liar", "imap-hidden-starttls",
    "uw-imapd-logindisabled", "zimbra-pop3-cleartext-disabled",
}  # fmt: skip


def test_all_expected_profiles_are_bundled() -> None:
    assert set(bundled_profile_names()) >= EXPECTED
    for name in bundled_profile_names():
        assert bundled_profile(name).name == name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_login_command_has_an_answer_in_each_phase_it_can_be_used(name: str) -> None:
    profile = bundled_profile(name)
    commands = ("LOGIN", "AUTHENTICATE PLAIN") if profile.protocol == "imap" else ("USER", "PASS", "AUTH PLAIN")
    phases = ["tls"] if profile.implicit_tls else ["clear"]
    if profile.starttls_works and not profile.implicit_tls and profile.capabilities_tls:
        phases.append("tls")
    for command in commands:
        for phase in phases:
            assert profile.answer(command, phase) is not None, (command, phase)


def test_exchange_imap_capabilities_follow_login_type() -> None:
    secure = bundled_profile("exchange-imap-securelogin")
    assert "LOGINDISABLED" in secure.capabilities_clear
    assert not any(c.startswith("AUTH=") for c in secure.capabilities_clear)
    pta = bundled_profile("exchange-imap-plaintextauthentication")
    assert {"LOGINDISABLED", "AUTH=NTLM", "AUTH=GSSAPI"} <= set(pta.capabilities_clear)
    assert "AUTH=PLAIN" not in pta.capabilities_clear
    ptl = bundled_profile("exchange-imap-plaintextlogin")
    assert "AUTH=PLAIN" in ptl.capabilities_clear and "LOGINDISABLED" not in ptl.capabilities_clear
    for p in (secure, pta, ptl):
        assert p.starttls_advertised
        assert "AUTH=PLAIN" in p.capabilities_tls and "LOGINDISABLED" not in p.capabilities_tls
        assert "STARTTLS" not in p.capabilities_tls


def test_exchange_pop3_capabilities_follow_login_type() -> None:
    assert bundled_profile("exchange-pop3-securelogin").capabilities_clear == ("TOP", "UIDL", "STLS")
    pta = bundled_profile("exchange-pop3-plaintextauthentication").capabilities_clear
    assert "SASL NTLM GSSAPI" in pta and "USER" not in pta
    ptl = bundled_profile("exchange-pop3-plaintextlogin").capabilities_clear
    assert "SASL NTLM GSSAPI PLAIN" in ptl and "USER" in ptl


def test_dovecot_refusal_is_immediate_and_credential_failure_is_delayed() -> None:
    refused = bundled_profile("dovecot-imap-plaintext-refused")
    assert refused.login_delay == 2.0
    clear, tls = refused.answer("LOGIN", "clear"), refused.answer("LOGIN", "tls")
    assert clear is not None and tls is not None
    assert not clear.delay and "[PRIVACYREQUIRED]" in clear.lines[-1]
    assert tls.delay and "[AUTHENTICATIONFAILED]" in tls.lines[-1]


def test_bad_profiles_are_rejected() -> None:
    with pytest.raises(ProfileError):
        parse_profile({"protocol": "nntp"}, "x")
    with pytest.raises(ProfileError):
        parse_profile({"protocol": "imap", "mode": "dance"}, "x")
    with pytest.raises(ProfileError):
        parse_profile({"protocol": "imap", "answer": {"LOGIN": {"clear": {"lines": ["x"], "dealy": True}}}}, "x")
    with pytest.raises(ProfileError):
        parse_profile({"protocol": "imap", "answer": {"LOGIN": {"later": {"lines": ["x"]}}}}, "x")
    with pytest.raises(ProfileError):
        parse_profile({"protocol": "imap", "hostile": {"stream_hex": "zz"}}, "x")
    with pytest.raises(ProfileError):
        bundled_profile("no-such-profile")
