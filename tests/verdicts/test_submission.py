"""SMTP submission: the verdict table (reply and enhanced codes, RFC 4954 / 3463) and the submission findings."""

from __future__ import annotations

import pytest

from scanner.model import PlaintextLogin
from scanner.verdicts.findings import LoginFacts
from scanner.verdicts.plaintext import Advertised, LoginAttempt, LoginEvidence, decided_in_clear, judge_plaintext_login
from scanner.verdicts.submission import submission_findings

POSTFIX_AUTH_ONLY = ("PIPELINING", "SIZE 10240000", "STARTTLS", "ENHANCEDSTATUSCODES")
POSTFIX_AUTH_CLEAR = ("PIPELINING", "STARTTLS", "AUTH PLAIN LOGIN", "ENHANCEDSTATUSCODES")


def auth(tls: bool, outcome: str, code: str | None, text: str, ms: int = 5, mech: str = "AUTH PLAIN") -> LoginAttempt:
    return LoginAttempt(mech, tls, outcome, code, text, ms)  # type: ignore[arg-type]


def judge(caps, clear, tls, tls_available=True):
    return judge_plaintext_login(LoginEvidence(Advertised("smtp", caps), (clear,), tuple(tls), tls_available))


CASES = {
    "postfix tls required": (
        POSTFIX_AUTH_ONLY,
        auth(False, "err", "530 5.7.0", "Must issue a STARTTLS command first"),
        [],
        "refused",
    ),
    "encryption required": (
        POSTFIX_AUTH_CLEAR,
        auth(False, "err", "538 5.7.11", "Encryption required for requested authentication mechanism"),
        [],
        "refused",
    ),
    "dovecot submission": (
        POSTFIX_AUTH_ONLY,
        auth(False, "err", "523 5.7.10", "Plaintext authentication disabled."),
        [],
        "refused",
    ),
    "postfix auth in clear": (
        POSTFIX_AUTH_CLEAR,
        auth(False, "err", "535 5.7.8", "Error: authentication failed: authentication failure", 2100),
        [],
        "accepted",
    ),
    "dummy credentials accepted": (
        POSTFIX_AUTH_CLEAR,
        auth(False, "ok", "235 2.7.0", "Authentication successful"),
        [],
        "accepted",
    ),
    "postfix tls auth only": (
        POSTFIX_AUTH_ONLY,
        auth(False, "err", "503 5.5.1", "Error: authentication not enabled"),
        [auth(True, "err", "535 5.7.8", "Error: authentication failed: authentication failure", 2100)],
        "refused",
    ),
    "no auth anywhere": (
        POSTFIX_AUTH_ONLY,
        auth(False, "err", "503 5.5.1", "Error: authentication not enabled"),
        [auth(True, "err", "503 5.5.1", "Error: authentication not enabled")],
        "inconclusive",
    ),
    "503 and no tls": (
        POSTFIX_AUTH_ONLY,
        auth(False, "err", "503 5.5.1", "Error: authentication not enabled"),
        [],
        "inconclusive",
    ),
    "temporary failure": (
        POSTFIX_AUTH_CLEAR,
        auth(False, "err", "454 4.7.0", "Temporary authentication failure"),
        [],
        "inconclusive",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict_table(name):
    caps, clear, tls, verdict = CASES[name]
    result = judge(caps, clear, tls, tls_available=bool(tls) or verdict != "inconclusive")
    assert result.verdict == verdict, result.evidence
    assert any(clear.code in line for line in result.evidence)  # the server's own code is the evidence


def test_the_same_503_on_both_sides_is_never_taken_for_a_password_check():
    result = judge(
        POSTFIX_AUTH_ONLY,
        auth(False, "err", "503 5.5.1", "Error: authentication not enabled"),
        [auth(True, "err", "503 5.5.1", "Error: authentication not enabled")],
    )
    assert result.verdict == "inconclusive"
    assert "offers no password login at all" in result.evidence[-1]


@pytest.mark.parametrize(
    ("code", "decides"),
    [
        ("535 5.7.8", True),
        ("530 5.7.0", True),
        ("538 5.7.11", True),
        ("523 5.7.10", True),
        ("235 2.7.0", True),
        ("503 5.5.1", False),
        ("504 5.7.4", False),
        ("454 4.7.0", False),
    ],
)
def test_repeat_over_tls_only_when_the_differential_is_needed(code, decides):
    outcome = "ok" if code.startswith("2") else "err"
    assert decided_in_clear(auth(False, outcome, code, "x"), "smtp") is decides


def test_advertised_auth_mechanisms_in_ehlo():
    assert Advertised("smtp", POSTFIX_AUTH_CLEAR).plaintext_mechanisms == ("AUTH PLAIN", "AUTH LOGIN")
    assert Advertised("smtp", ("AUTH=LOGIN PLAIN",)).plaintext_mechanisms == ("AUTH LOGIN", "AUTH PLAIN")
    assert Advertised("smtp", ("AUTH GSSAPI NTLM",)).plaintext_mechanisms == ()
    assert not Advertised("smtp", ("LOGINDISABLED",)).logindisabled


def facts(verdict: str, starttls: str = "ok", caps=POSTFIX_AUTH_ONLY, software=None, transport="starttls"):
    return LoginFacts(
        protocol="smtp",
        transport=transport,
        software=software,
        advertised=Advertised("smtp", caps),  # type: ignore[arg-type]
        starttls=starttls,
        starttls_advertised=starttls == "ok",
        starttls_error=None,
        preauth=False,  # type: ignore[arg-type]
        plaintext_login=PlaintextLogin(verdict, ('AUTH PLAIN in clear: ERR "[535 5.7.8] failed" after 2100 ms',)),  # type: ignore[arg-type]
    )


def test_findings_ids_and_remediation_per_software():
    found = {f.id: f for f in submission_findings(facts("accepted", caps=POSTFIX_AUTH_CLEAR, software="Postfix"))}
    assert set(found) == {"submission-auth-accepted-in-clear", "submission-auth-before-starttls"}
    assert found["submission-auth-accepted-in-clear"].severity == "critical"
    assert "smtpd_tls_auth_only = yes" in found["submission-auth-accepted-in-clear"].remediation
    assert "535 5.7.8" in found["submission-auth-accepted-in-clear"].detail
    exchange = submission_findings(facts("accepted", software="Microsoft Exchange"))
    assert "BasicAuthRequireTLS" in exchange[0].remediation and "Client Frontend" in exchange[0].remediation
    unknown = submission_findings(facts("accepted"))
    assert all(w in unknown[0].remediation for w in ("Exchange:", "Postfix:", "Dovecot submission:"))
    missing = {f.id: f for f in submission_findings(facts("inconclusive", starttls="not_offered"))}
    assert "submission-starttls-missing" in missing
    assert "smtpd_tls_security_level = encrypt" in missing["submission-starttls-missing"].remediation
    assert submission_findings(facts("refused")) == []
    assert submission_findings(facts("not_applicable", transport="implicit", caps=POSTFIX_AUTH_CLEAR)) == []
