"""The plaintext-login verdict on the answers real servers give (wording from protocols.md)."""

from __future__ import annotations

import pytest

from scanner.verdicts.plaintext import (
    Advertised,
    LoginAttempt,
    LoginEvidence,
    decided_in_clear,
    judge_plaintext_login,
)

DOVECOT_IMAP_REFUSED = ("IMAP4rev1", "SASL-IR", "STARTTLS", "LOGINDISABLED", "AUTH=SCRAM-SHA-256")
DOVECOT_IMAP_ALLOWED = ("IMAP4rev1", "SASL-IR", "STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN")
EXCHANGE_IMAP_SECURE = ("IMAP4", "IMAP4rev1", "LOGINDISABLED", "STARTTLS")
DOVECOT_REFUSAL = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
EXCHANGE_IMAP_PLAIN = ("IMAP4", "IMAP4rev1", "AUTH=PLAIN", "AUTH=NTLM", "AUTH=GSSAPI", "STARTTLS")


def attempt(mech, tls, outcome, code, text, ms=5, stage=""):
    return LoginAttempt(mech, tls, outcome, code, text, ms, stage)


def judge(protocol, caps, clear, tls, tls_available=True, preauth=False):
    return judge_plaintext_login(
        LoginEvidence(Advertised(protocol, caps), tuple(clear), tuple(tls), tls_available, preauth)
    )


CASES = {
    "dovecot imap refused": (
        "imap",
        DOVECOT_IMAP_REFUSED,
        [attempt("LOGIN", False, "no", "PRIVACYREQUIRED", DOVECOT_REFUSAL, 3)],
        [attempt("LOGIN", True, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2004)],
        True,
        "refused",
    ),
    "dovecot imap allowed": (
        "imap",
        DOVECOT_IMAP_ALLOWED,
        [attempt("LOGIN", False, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2003)],
        [attempt("LOGIN", True, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2002)],
        True,
        "accepted",
    ),
    "dovecot ssl=no": (
        "imap",
        ("IMAP4rev1", "AUTH=PLAIN"),
        [attempt("LOGIN", False, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2003)],
        [],
        False,
        "accepted",
    ),
    "exchange imap securelogin": (
        "imap",
        EXCHANGE_IMAP_SECURE,
        [attempt("LOGIN", False, "bad", None, "Command received in Invalid state.", 1)],
        [attempt("LOGIN", True, "no", None, "LOGIN failed.", 1)],
        True,
        "refused",
    ),
    "exchange imap plaintextlogin": (
        "imap",
        EXCHANGE_IMAP_PLAIN,
        [attempt("LOGIN", False, "no", None, "LOGIN failed.", 40)],
        [attempt("LOGIN", True, "no", None, "LOGIN failed.", 38)],
        True,
        "accepted",
    ),
    "exchange pop3 securelogin": (
        "pop3",
        ("TOP", "UIDL", "STLS"),
        [attempt("USER/PASS", False, "err", None, "Command is not valid in this state.", 1, "USER")],
        [attempt("USER/PASS", True, "err", None, "Logon failure: unknown user name or bad password.", 30, "PASS")],
        True,
        "refused",
    ),
    "dovecot pop3 refused (text only differs)": (
        "pop3",
        ("TOP", "UIDL", "STLS", "SASL"),
        [attempt("USER/PASS", False, "err", "AUTH", DOVECOT_REFUSAL, 2, "USER")],
        [attempt("USER/PASS", True, "err", "AUTH", "Authentication failed.", 2001, "PASS")],
        True,
        "refused",
    ),
    "dovecot pop3 allowed": (
        "pop3",
        ("TOP", "UIDL", "USER", "STLS", "SASL PLAIN LOGIN"),
        [attempt("USER/PASS", False, "err", "AUTH", "Authentication failed.", 2001, "PASS")],
        [attempt("USER/PASS", True, "err", "AUTH", "Authentication failed.", 2002, "PASS")],
        True,
        "accepted",
    ),
    "liar: LOGINDISABLED yet OK": (
        "imap",
        EXCHANGE_IMAP_SECURE,
        [attempt("LOGIN", False, "ok", None, "LOGIN completed.")],
        [attempt("LOGIN", True, "ok", None, "LOGIN completed.")],
        True,
        "accepted",
    ),
    "temporary failure proves nothing": (
        "imap",
        DOVECOT_IMAP_ALLOWED,
        [attempt("LOGIN", False, "no", "UNAVAILABLE", "Try again later.")],
        [attempt("LOGIN", True, "no", "UNAVAILABLE", "Try again later.")],
        True,
        "inconclusive",
    ),
    "no TLS, unexplained immediate NO": (
        "imap",
        ("IMAP4rev1",),
        [attempt("LOGIN", False, "no", None, "Nope.", 3)],
        [],
        False,
        "inconclusive",
    ),
    "no TLS, delayed NO looks like a password check": (
        "imap",
        ("IMAP4rev1",),
        [attempt("LOGIN", False, "no", None, "Login failed.", 1500)],
        [],
        False,
        "accepted",
    ),
    "same refusal over TLS: mechanism off everywhere": (
        "imap",
        EXCHANGE_IMAP_SECURE,
        [attempt("LOGIN", False, "bad", None, "LOGIN not supported.")],
        [attempt("LOGIN", True, "bad", None, "LOGIN not supported.")],
        True,
        "inconclusive",
    ),
    "timeout in clear": (
        "imap",
        EXCHANGE_IMAP_SECURE,
        [attempt("LOGIN", False, "timeout", None, "no complete reply within 5 s")],
        [attempt("LOGIN", True, "no", None, "LOGIN failed.")],
        True,
        "inconclusive",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_verdict(name):
    protocol, caps, clear, tls, tls_available, expected = CASES[name]
    result = judge(protocol, caps, clear, tls, tls_available)
    assert result.verdict == expected, result.evidence
    # The server's own words are part of the evidence a user reads.
    assert any(clear[0].text in line for line in result.evidence)


def test_one_accepting_mechanism_is_enough():
    result = judge(
        "imap",
        ("IMAP4rev1", "STARTTLS", "LOGINDISABLED", "AUTH=PLAIN"),
        [
            attempt("LOGIN", False, "no", "PRIVACYREQUIRED", "Plaintext authentication disallowed."),
            attempt("AUTHENTICATE PLAIN", False, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2000),
        ],
        [
            attempt("LOGIN", True, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2000),
            attempt("AUTHENTICATE PLAIN", True, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2000),
        ],
    )
    assert result.verdict == "accepted"
    assert any("AUTHENTICATE PLAIN" in line and "checked" in line for line in result.evidence)


def test_preauth_is_accepted_without_login():
    result = judge("imap", (), [], [], False, preauth=True)
    assert result.verdict == "accepted"
    assert "PREAUTH" in result.evidence[0]


def test_not_tested_without_attempts():
    assert judge("imap", EXCHANGE_IMAP_SECURE, [], [], True).verdict == "not_tested"


def test_timing_is_reported_when_it_agrees():
    _, caps, clear, tls, avail, _ = CASES["dovecot imap refused"]
    result = judge("imap", caps, clear, tls, avail)
    assert any("timing agrees" in line for line in result.evidence)


def test_varying_digits_do_not_break_the_differential():
    result = judge(
        "imap",
        EXCHANGE_IMAP_PLAIN,
        [attempt("LOGIN", False, "no", None, "LOGIN failed. (session 1234)", 40)],
        [attempt("LOGIN", True, "no", None, "LOGIN failed. (session 9876)", 40)],
    )
    assert result.verdict == "accepted"


@pytest.mark.parametrize(
    ("protocol", "caps", "expected"),
    [
        ("imap", DOVECOT_IMAP_ALLOWED, ("AUTH=PLAIN", "AUTH=LOGIN")),
        ("imap", DOVECOT_IMAP_REFUSED, ()),
        ("pop3", ("TOP", "USER", "SASL NTLM GSSAPI PLAIN"), ("SASL PLAIN", "USER")),
        ("pop3", ("TOP", "STLS", "SASL NTLM GSSAPI"), ()),
    ],
)
def test_plaintext_mechanisms_advertised(protocol, caps, expected):
    assert sorted(Advertised(protocol, caps).plaintext_mechanisms) == sorted(expected)


@pytest.mark.parametrize(
    ("clear", "decided"),
    [
        (attempt("LOGIN", False, "no", "PRIVACYREQUIRED", DOVECOT_REFUSAL), True),
        (attempt("LOGIN", False, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2003), True),
        (attempt("LOGIN", False, "ok", None, "Logged in"), True),
        (attempt("USER/PASS", False, "err", "AUTH", DOVECOT_REFUSAL, stage="USER"), True),
        # Dovecot POP3 with plaintext allowed: the bad password is told apart from a refusal only by comparison
        (attempt("USER/PASS", False, "err", "AUTH", "Authentication failed.", 2001, stage="PASS"), False),
        (attempt("LOGIN", False, "bad", None, "Command received in Invalid state."), False),
        (attempt("LOGIN", False, "no", None, "LOGIN failed."), False),
        (attempt("LOGIN", False, "no", "UNAVAILABLE", "Try later"), False),
        (attempt("LOGIN", False, "timeout", None, "no complete reply"), False),
    ],
)
def test_which_answers_in_clear_decide_on_their_own(clear, decided):
    assert decided_in_clear(clear) is decided


@pytest.mark.parametrize("name", list(CASES))
def test_skipping_decided_logins_over_tls_never_changes_a_verdict(name):
    """The probe leaves out the TLS login for answers that decide on their own; on every recorded server
    behaviour the verdict must be the one the full differential gives."""
    protocol, caps, clear, tls, tls_available, expected = CASES[name]
    kept = [t for t in tls if not any(c.mechanism == t.mechanism and decided_in_clear(c) for c in clear)]
    assert judge(protocol, caps, clear, kept, tls_available).verdict == expected
