"""Issue 22: the order of evidence. Standard signals decide first, then the differential, and the wording last, only
to tip a case that would otherwise be inconclusive. The two servers that exposed the drift come first, with their
words from their sources; then the rule that no wording outranks a code, checked against every row of the table."""

from __future__ import annotations

import pytest

from scanner.verdicts.login_words import WORDINGS
from scanner.verdicts.plaintext import (
    Advertised,
    LoginAttempt,
    LoginEvidence,
    decided_in_clear,
    judge_plaintext_login,
    read_answer,
)

# UW imapd 2007f: the capabilities in clear with plaintext disabled, and after STARTTLS.
UW_CLEAR = ("IMAP4REV1", "I18NLEVEL=1", "LITERAL+", "SASL-IR", "LOGIN-REFERRALS", "STARTTLS", "LOGINDISABLED")
# Zimbra's POP3 (Pop3Handler.doCAPA) with cleartext logins disabled: USER listed, no SASL mechanism before TLS.
ZIMBRA_POP3_CLEAR = ("TOP", "USER", "UIDL", "STLS", "SASL", "EXPIRE 31 USER", "XOIP", "IMPLEMENTATION ZimbraInc")


def a(mech: str, tls: bool, outcome: str, code: str | None, text: str, ms: int = 5, stage: str = "") -> LoginAttempt:
    return LoginAttempt(mech, tls, outcome, code, text, ms, stage)  # type: ignore[arg-type]


def judge(protocol: str, caps: tuple[str, ...], clear: list[LoginAttempt], tls: list[LoginAttempt], **kw: bool):
    available = kw.pop("tls_available", True)
    return judge_plaintext_login(LoginEvidence(Advertised(protocol, caps), tuple(clear), tuple(tls), available, **kw))  # type: ignore[arg-type]


# --- the two cases of the issue -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        "Invalid login credentials",  # imap-2007f: server_login() failed, lsterr's catch-all
        "LOGIN failed",  # imap-2004: "%.80s NO %.80s failed"
    ],
)
def test_uw_imapd_refusing_login_like_a_bad_password_is_refused(words: str) -> None:
    """server_login() in env_unix.c: with plaintext disabled it logs "Login disabled", sleeps 3 s and fails, so the
    client sees the NO of a bad password, in clear as over TLS. LOGINDISABLED and the missing code outrank both the
    words and the identical answers."""
    result = judge(
        "imap",
        UW_CLEAR,
        [a("LOGIN", False, "no", None, words, 3004)],
        [a("LOGIN", True, "no", None, words, 3003)],
    )
    assert result.verdict == "refused", result.evidence
    reason = result.evidence[-1]
    assert "LOGINDISABLED" in reason and "RFC 3501" in reason and "UW imapd" in reason
    assert "same answer over TLS does not show a password check" in reason


def test_zimbra_pop3_refusal_differs_from_the_failure_over_tls_and_is_refused() -> None:
    """In clear Zimbra refuses USER ("only valid after entering TLS mode"); over TLS the password is checked and
    fails in words the table once read as an unknown mailbox. The answers differ: refused, the timing agreeing."""
    result = judge(
        "pop3",
        ZIMBRA_POP3_CLEAR,
        [a("USER/PASS", False, "err", None, "only valid after entering TLS mode", 2, "USER")],
        [a("USER/PASS", True, "err", None, "invalid username/password", 2003, "PASS")],
    )
    assert result.verdict == "refused", result.evidence
    reason = result.evidence[-1]
    assert "differs from the failed login over TLS" in reason and "refused at USER" in reason
    assert "timing agrees" in reason


def test_zimbra_pop3_in_other_words_is_still_refused() -> None:
    """The differential, not the table, decides: words the table does not know give the same verdict."""
    result = judge(
        "pop3",
        ZIMBRA_POP3_CLEAR,
        [a("USER/PASS", False, "err", None, "nur nach STLS", 2, "USER")],
        [a("USER/PASS", True, "err", None, "Anmeldung fehlgeschlagen", 2003, "PASS")],
    )
    assert result.verdict == "refused", result.evidence


def test_logindisabled_with_a_code_leaves_the_code_to_decide() -> None:
    result = judge(
        "imap",
        UW_CLEAR,
        [a("LOGIN", False, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2000)],
        [a("LOGIN", True, "no", "AUTHENTICATIONFAILED", "Authentication failed.", 2000)],
    )
    assert result.verdict == "accepted"


def test_identical_answers_without_logindisabled_still_show_a_password_check() -> None:
    """The UW fix does not touch the differential where nothing says otherwise (Exchange PlainTextLogin)."""
    caps = ("IMAP4rev1", "STARTTLS", "AUTH=PLAIN")
    result = judge(
        "imap", caps, [a("LOGIN", False, "no", None, "Nope.", 40)], [a("LOGIN", True, "no", None, "Nope.", 40)]
    )
    assert result.verdict == "accepted"


# --- no wording outranks a code -----------------------------------------------------------------------------------

# A text for every row of the table: the pattern's own words, with the optional parts left out.
TABLE_TEXTS = {
    "policy": "Plaintext authentication disallowed",
    "credentials": "Authentication failed.",
    "mailbox": "no such user",
    "unsupported": "Unsupported authentication mechanism.",
    "none": "Nope.",
}

CODE_DECIDED = [
    # (protocol, caps, clear code/outcome, tls answer or None, verdict)
    ("imap", ("IMAP4rev1", "STARTTLS"), "no", "PRIVACYREQUIRED", None, "refused"),
    ("imap", ("IMAP4rev1", "STARTTLS"), "no", "AUTHENTICATIONFAILED", None, "accepted"),
    ("imap", ("IMAP4rev1", "STARTTLS"), "no", "UNAVAILABLE", None, "inconclusive"),
    ("imap", ("IMAP4rev1", "STARTTLS"), "ok", None, None, "accepted"),
    ("imap", UW_CLEAR, "no", None, None, "refused"),
    ("imap", ("IMAP4rev1", "STARTTLS"), "bad", None, ("no", None, "Authentication failed.", 2000), "refused"),
    ("smtp", ("STARTTLS",), "err", "530 5.7.0", None, "refused"),
    ("smtp", ("STARTTLS", "AUTH PLAIN"), "err", "535 5.7.8", None, "accepted"),
    ("smtp", ("STARTTLS",), "err", "454 4.7.0", None, "inconclusive"),
]


@pytest.mark.parametrize("case", CODE_DECIDED, ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
@pytest.mark.parametrize("said", sorted(TABLE_TEXTS))
def test_no_wording_changes_a_verdict_a_code_decided(case: tuple, said: str) -> None:
    protocol, caps, outcome, code, tls, verdict = case
    mech = "AUTH PLAIN" if protocol == "smtp" else "LOGIN"
    clear = [a(mech, False, outcome, code, TABLE_TEXTS[said])]
    over_tls = [a(mech, True, *tls)] if tls else []  # type: ignore[misc]
    assert judge(protocol, caps, clear, over_tls).verdict == verdict


def test_every_row_of_the_table_is_covered_by_a_wording_in_the_tests() -> None:
    """The table texts above stand for every meaning the table has."""
    assert {w.meaning for w in WORDINGS} <= set(TABLE_TEXTS)


DIFFERENTIAL_DECIDED = [
    # clear, tls, verdict: answers without a decisive code, told apart by comparison alone
    (("no", None, "x", 3, ""), ("no", None, "x", 2000, ""), "accepted"),
    (("no", None, "x", 3, ""), ("no", None, "y", 2000, ""), "refused"),
    (("err", "AUTH", "x", 3, "USER"), ("err", "AUTH", "y", 2000, "PASS"), "refused"),
]


@pytest.mark.parametrize("case", DIFFERENTIAL_DECIDED)
@pytest.mark.parametrize(("clear_said", "tls_said"), [("credentials", "credentials"), ("credentials", "policy"),
                                                      ("mailbox", "credentials"), ("none", "mailbox")])  # fmt: skip
def test_wording_never_turns_a_differential_verdict_around(case: tuple, clear_said: str, tls_said: str) -> None:
    """Whatever the words of two different answers, or of two identical ones, the verdict is the differential's
    or inconclusive: never its opposite."""
    (c_out, c_code, c_text, c_ms, c_stage), (t_out, t_code, t_text, t_ms, t_stage), verdict = case
    protocol = "pop3" if c_stage else "imap"
    mech = "USER/PASS" if c_stage else "LOGIN"
    clear_text = TABLE_TEXTS[clear_said]
    tls_text = clear_text if c_text == t_text else TABLE_TEXTS[tls_said] + " (over TLS)"
    clear = [a(mech, False, c_out, c_code, clear_text, c_ms, c_stage)]
    over_tls = [a(mech, True, t_out, t_code, tls_text, t_ms, t_stage)]
    got = judge(protocol, ("STARTTLS",), clear, over_tls).verdict
    assert got in (verdict, "inconclusive"), (clear_said, tls_said, got)


def test_smtp_is_never_read_by_its_words() -> None:
    attempt = a("AUTH PLAIN", False, "err", "554 5.7.1", "Must issue a STARTTLS command first")
    assert read_answer(attempt, Advertised("smtp", ())).signal == "unknown"
    same = [a("AUTH PLAIN", True, "err", "554 5.7.1", "Must issue a STARTTLS command first")]
    assert judge("smtp", ("STARTTLS",), [attempt], same).verdict == "inconclusive"


def test_an_smtp_reply_that_is_no_credential_failure_on_both_sides_shows_no_password_check() -> None:
    clear = [a("AUTH PLAIN", False, "err", "500 5.5.1", "Unknown command")]
    tls = [a("AUTH PLAIN", True, "err", "500 5.5.1", "Unknown command")]
    assert judge("smtp", ("STARTTLS",), clear, tls).verdict == "inconclusive"


def test_authenticationfailed_decides_in_clear_whatever_its_words() -> None:
    attempt = a("LOGIN", False, "no", "AUTHENTICATIONFAILED", "Use STARTTLS first")
    assert decided_in_clear(attempt)
    result = judge("imap", ("IMAP4rev1", "STARTTLS"), [attempt], [])
    assert result.verdict == "accepted"
    assert "do not outrank [AUTHENTICATIONFAILED]" in result.evidence[-1]


def test_identical_answers_that_refuse_the_login_itself_show_no_password_check() -> None:
    """Dovecot without PLAIN among its mechanisms answers LOGIN on both sides with "NO [ALERT] Unsupported
    authentication mechanism." at once: the same answer, but no password was checked (seen on Dovecot 2.3.19)."""
    said = "Unsupported authentication mechanism."
    caps = ("IMAP4rev1", "STARTTLS", "AUTH=LOGIN")
    clear, tls = [a("LOGIN", False, "no", "ALERT", said, 1)], [a("LOGIN", True, "no", "ALERT", said, 14)]
    result = judge("imap", caps, clear, tls)
    assert result.verdict == "inconclusive", result.evidence
    assert "no password check is shown" in result.evidence[-1]
