"""Issue 13's audit of the login verdict, one table per rule: the server words and behaviours that trigger each
rule, including the ones that would fool a naive reading. Wording is the servers' own (their sources and docs)."""

from __future__ import annotations

import pytest

from scanner.verdicts.login_words import words_meaning
from scanner.verdicts.plaintext import (
    Advertised,
    LoginAttempt,
    LoginEvidence,
    decided_in_clear,
    judge_plaintext_login,
    read_answer,
)

IMAP_PLAIN = ("IMAP4rev1", "STARTTLS", "AUTH=PLAIN")
IMAP_NO_TLS = ("IMAP4rev1", "AUTH=PLAIN")
IMAP_LOGINDISABLED = ("IMAP4rev1", "STARTTLS", "LOGINDISABLED")
POP3_PLAIN = ("TOP", "UIDL", "USER", "STLS")
POP3_NO_TLS = ("TOP", "UIDL", "USER")


def a(mech: str, tls: bool, outcome: str, code: str | None, text: str, ms: int = 5, stage: str = "") -> LoginAttempt:
    return LoginAttempt(mech, tls, outcome, code, text, ms, stage)  # type: ignore[arg-type]


# --- the words table -------------------------------------------------------------------------------------------

WORDS = [
    ("Plaintext authentication disallowed on non-secure (SSL/TLS) connections.", "policy", "Dovecot"),
    ("Login only available under a layer", "policy", "Cyrus"),
    ("[AUTH] USER command only available under a layer", "policy", "Cyrus"),
    ("cleartext logins disabled", "policy", "Zimbra"),
    ("Command disabled: Use STARTTLS first", "policy", "Mailutils"),
    ("LOGIN Command disabled", "policy", "Mailutils"),
    ("[AUTH] Bad login", "credentials", "Mailutils"),
    ("Command received in Invalid state.", "policy", "Exchange"),
    ("Command is not valid in this state.", "policy", "Exchange"),
    ("STARTTLS required", "policy", "Courier"),
    ("A SSL/TLS-connection is required for authentication.", "policy", "hMailServer"),
    ("Plaintext login disallowed", "policy", "UW"),
    ("LOGIN requires TLS - use STARTTLS first", "policy", "common"),
    ("Authentication failed.", "credentials", "Dovecot"),
    ("Login failed: authentication failure", "credentials", "Cyrus"),
    ("Logon failure: unknown user name or bad password.", "credentials", "Exchange"),
    ("LOGIN failed.", "credentials", "Exchange"),
    ("Login failed.", "credentials", "Courier"),
    ("User name or passwd rejected", "credentials", "Mailutils"),
    ("Invalid login or password", "credentials", "nginx"),
    ("Invalid user name or password.", "credentials", "hMailServer"),
    ("no such user", "mailbox", "common"),
    ("Unknown user", "mailbox", "common"),
    ("mailbox does not exist", "mailbox", "common"),
]


@pytest.mark.parametrize(("text", "meaning", "family"), WORDS)
def test_family_wording(text: str, meaning: str, family: str) -> None:
    found = words_meaning(text)
    assert found is not None and found[0] == meaning, found
    assert family.lower() in found[1].lower()


@pytest.mark.parametrize(
    "text", ["Nope.", "Error", "[ALERT] Try again", "Authentication failed: plaintext authentication disallowed"]
)
def test_no_or_contradictory_words_mean_nothing(text: str) -> None:
    assert words_meaning(text) is None


# --- rule by rule ----------------------------------------------------------------------------------------------

# name: (protocol, caps, clear, tls, tls_available, no_tls, verdict)
RULES: dict[str, tuple] = {
    # 1. OK
    "OK in clear": ("imap", IMAP_PLAIN, [a("LOGIN", False, "ok", None, "Logged in")], [], True, False, "accepted"),
    # 2. unrelated codes say nothing, even on a port without TLS
    "UNAVAILABLE without TLS": (
        "imap",
        IMAP_NO_TLS,
        [a("LOGIN", False, "no", "UNAVAILABLE", "Try later")],
        [],
        False,
        True,
        "inconclusive",
    ),
    # 3. PRIVACYREQUIRED, and the liar who sends it over TLS too
    "PRIVACYREQUIRED": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", "PRIVACYREQUIRED", "x")],
        [],
        True,
        False,
        "refused",
    ),
    "PRIVACYREQUIRED over TLS too": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", "PRIVACYREQUIRED", "x")],
        [a("LOGIN", True, "no", "PRIVACYREQUIRED", "x")],
        True,
        False,
        "refused",
    ),
    # 4. AUTHENTICATIONFAILED, and a code contradicted by its own words
    "AUTHENTICATIONFAILED": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2000)],
        [],
        True,
        False,
        "accepted",
    ),
    # the code outranks its own words: a server that labels its TLS demand a credential failure is taken at its code
    "AUTHENTICATIONFAILED saying TLS is required": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", "AUTHENTICATIONFAILED", "Use STARTTLS first")],
        [a("LOGIN", True, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2000)],
        True,
        False,
        "accepted",
    ),
    # 5. family words
    "Cyrus refusal, no TLS answer": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "Login only available under a layer")],
        [],
        True,
        False,
        "refused",
    ),
    "Zimbra refusal": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "cleartext logins disabled")],
        [a("LOGIN", True, "no", None, "LOGIN failed")],
        True,
        False,
        "refused",
    ),
    "Mailutils refusal": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "Command disabled: Use STARTTLS first")],
        [],
        True,
        False,
        "refused",
    ),
    "Exchange PlainTextLogin: same words both sides": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "LOGIN failed.", 40)],
        [a("LOGIN", True, "no", None, "LOGIN failed.", 38)],
        True,
        False,
        "accepted",
    ),
    "credential words alone, TLS offered but not compared": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "LOGIN failed.", 40)],
        [],
        True,
        False,
        "inconclusive",
    ),
    # the differential outranks the words: different answers, immediate ones, are a refusal whatever they say
    "credentials both sides in different words": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "Invalid login or password", 40)],
        [a("LOGIN", True, "no", None, "Authentication failed.", 40)],
        True,
        False,
        "refused",
    ),
    # ... unless both were delayed as a password check is: then only the words differ, and they cannot decide
    "different words, both delayed": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "Invalid login or password", 2000)],
        [a("LOGIN", True, "no", None, "Authentication failed.", 2000)],
        True,
        False,
        "inconclusive",
    ),
    # identical answers that demand TLS on both sides: the same treatment, no password check shown
    "the same TLS demand in clear and over TLS": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "Plaintext authentication disabled.")],
        [a("LOGIN", True, "no", None, "Plaintext authentication disabled.")],
        True,
        False,
        "inconclusive",
    ),
    # 6. BAD
    "BAD in clear, NO over TLS": (
        "imap",
        IMAP_LOGINDISABLED,
        [a("LOGIN", False, "bad", None, "invalid command")],
        [a("LOGIN", True, "no", None, "Invalid login or password")],
        True,
        False,
        "refused",
    ),
    # 7. POP3 USER refused
    "USER refused in policy words": (
        "pop3",
        POP3_PLAIN,
        [
            a(
                "USER/PASS",
                False,
                "err",
                "AUTH",
                "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
                stage="USER",
            )
        ],
        [],
        True,
        False,
        "refused",
    ),
    "USER refused as unknown mailbox, TLS not compared": (
        "pop3",
        POP3_PLAIN,
        [a("USER/PASS", False, "err", None, "no such user", stage="USER")],
        [],
        True,
        False,
        "inconclusive",
    ),
    "USER refused as unknown mailbox in clear and over TLS": (
        "pop3",
        POP3_PLAIN,
        [a("USER/PASS", False, "err", None, "no such user", stage="USER")],
        [a("USER/PASS", True, "err", None, "no such user", stage="USER")],
        True,
        False,
        "inconclusive",
    ),
    "USER refused without words, passes over TLS": (
        "pop3",
        POP3_PLAIN,
        [a("USER/PASS", False, "err", None, "", stage="USER")],
        [a("USER/PASS", True, "err", None, "Authentication failed.", 2000, stage="PASS")],
        True,
        False,
        "refused",
    ),
    "USER refused as unknown mailbox on a port without TLS": (
        "pop3",
        POP3_NO_TLS,
        [a("USER/PASS", False, "err", None, "unknown user", stage="USER")],
        [],
        False,
        True,
        "inconclusive",
    ),
    # 8. LOGINDISABLED
    "LOGINDISABLED and NO": (
        "imap",
        IMAP_LOGINDISABLED,
        [a("LOGIN", False, "no", None, "Nope")],
        [],
        True,
        False,
        "refused",
    ),
    # no TLS at all: the login command taken and answered as a failure
    "no TLS, immediate failure without policy words": (
        "imap",
        IMAP_NO_TLS,
        [a("LOGIN", False, "no", None, "Nope.", 3)],
        [],
        False,
        True,
        "accepted",
    ),
    "no TLS, POP3 PASS refused quickly": (
        "pop3",
        POP3_NO_TLS,
        [a("USER/PASS", False, "err", None, "-ERR", 3, stage="PASS")],
        [],
        False,
        True,
        "accepted",
    ),
    "no TLS, but LOGINDISABLED": (
        "imap",
        ("IMAP4rev1", "LOGINDISABLED"),
        [a("LOGIN", False, "no", None, "Nope.")],
        [],
        False,
        True,
        "refused",
    ),
    # words alone cannot turn the no-TLS reading around: they leave it open
    "no TLS, policy words": (
        "imap",
        IMAP_NO_TLS,
        [a("LOGIN", False, "no", None, "cleartext logins disabled")],
        [],
        False,
        True,
        "inconclusive",
    ),
    "STARTTLS broken (offered, failed): unknown stays inconclusive": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "Nope.", 3)],
        [],
        False,
        False,
        "inconclusive",
    ),
    # answers that vary only in ids
    "hex references differ": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "no", None, "Login failed (ref 7f3a9c)")],
        [a("LOGIN", True, "no", None, "Login failed (ref b2c01e)")],
        True,
        False,
        "accepted",
    ),
    # cut-off answers
    "connection closed after LOGIN": (
        "imap",
        IMAP_PLAIN,
        [a("LOGIN", False, "closed", None, "")],
        [],
        True,
        False,
        "inconclusive",
    ),
}


def judge(case: tuple, tls: list[LoginAttempt] | None = None):
    protocol, caps, clear, tls_answers, available, no_tls, _ = case
    evidence = LoginEvidence(
        Advertised(protocol, caps),
        tuple(clear),
        tuple(tls if tls is not None else tls_answers),
        available,
        no_tls=no_tls,
    )
    return judge_plaintext_login(evidence)


@pytest.mark.parametrize("name", list(RULES))
def test_rule(name: str) -> None:
    result = judge(RULES[name])
    assert result.verdict == RULES[name][-1], result.evidence
    text = RULES[name][2][0].text
    assert not text or any(text in line for line in result.evidence)  # the server's words are in the evidence


def test_no_tls_acceptance_says_why() -> None:
    result = judge(RULES["no TLS, immediate failure without policy words"])
    assert any("no TLS" in line and "LOGINDISABLED" in line and "crosses in clear" in line for line in result.evidence)


@pytest.mark.parametrize("name", list(RULES))
def test_skipping_decided_logins_over_tls_never_changes_a_verdict(name: str) -> None:
    protocol, _, clear, tls, *_ = RULES[name]
    kept = [t for t in tls if not any(c.mechanism == t.mechanism and decided_in_clear(c, protocol) for c in clear)]
    assert judge(RULES[name], kept).verdict == RULES[name][-1]


@pytest.mark.parametrize(
    ("attempt", "signal"),
    [
        (a("LOGIN", False, "no", None, "LOGIN failed."), "credentials"),
        (a("USER/PASS", False, "err", None, "", stage="USER"), "user-refused"),
        (a("USER/PASS", False, "err", None, "no such user", stage="USER"), "mailbox"),
        (a("LOGIN", False, "bad", None, "parse error"), "not-executed"),
        (a("LOGIN", False, "no", "LOGIN-DELAY", "Authentication failed."), "unrelated"),
    ],
)
def test_reading_of_one_answer(attempt: LoginAttempt, signal: str) -> None:
    assert read_answer(attempt, Advertised("imap", IMAP_PLAIN)).signal == signal
