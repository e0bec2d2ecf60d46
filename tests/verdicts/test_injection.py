"""The STARTTLS command-injection verdict and its finding: vulnerable only on an answer inside TLS; never on silence,
an answer in clear, a broken handshake or the server's wording; hostile evidence stays a visible quotation."""

from __future__ import annotations

import pytest

from scanner.model import EndpointResult, InjectionTry, StartTlsInjection
from scanner.verdicts.injection import FINDING_ID, KNOWN_CVES, injection_findings, judge_injection

IN_TLS = InjectionTry("same-write", "mpi3f9a0c21 NOOP", "answered-in-tls", ("mpi3f9a0c21 OK NOOP completed",))
SILENT = InjectionTry("separate-segment", "mpi77aa0c21 NOOP", "silent", waited_ms=150)
IN_CLEAR = InjectionTry("same-write", "NOOP", "answered-in-clear", ("250 2.0.0 Ok",))
BROKE = InjectionTry("separate-segment", "NOOP", "broke-handshake", note="TLS handshake failed: wrong version number")
FAILED = InjectionTry("same-write", "CAPA", "failed", note="STARTTLS refused on this connection")


@pytest.mark.parametrize(
    ("tries", "starttls_ok", "verdict"),
    [
        ((IN_TLS, SILENT), True, "vulnerable"),
        ((BROKE, IN_TLS), True, "vulnerable"),
        ((FAILED, IN_TLS), False, "vulnerable"),  # the answer inside TLS decides, whatever else happened
        ((SILENT, SILENT), True, "not_vulnerable"),
        ((IN_CLEAR,), True, "not_vulnerable"),  # pipelining processed in order, before the handshake
        ((SILENT, BROKE), True, "not_vulnerable"),
        ((BROKE, BROKE), True, "not_vulnerable"),  # the injected bytes went to TLS, never to the command reader
        ((BROKE, BROKE), False, "inconclusive"),  # STARTTLS alone failed too: the handshake tells nothing
        ((FAILED, FAILED), True, "inconclusive"),
        ((FAILED,), False, "inconclusive"),
    ],
)
def test_verdict(tries: tuple[InjectionTry, ...], starttls_ok: bool, verdict: str) -> None:
    judged = judge_injection(tries, starttls_ok=starttls_ok)
    assert judged.verdict == verdict
    assert judged.tries == tries


def test_not_run_says_why() -> None:
    judged = judge_injection((), starttls_ok=True, not_run="turned off (--no-injection-test)")
    assert judged == StartTlsInjection("not_tested", (), "turned off (--no-injection-test)")


def test_the_finding_carries_the_evidence_the_cves_and_the_workaround() -> None:
    (finding,) = injection_findings("imap", judge_injection((IN_TLS, SILENT), starttls_ok=True))
    assert (finding.id, finding.severity) == (FINDING_ID, "high")
    assert '"mpi3f9a0c21 NOOP"' in finding.detail and '"mpi3f9a0c21 OK NOOP completed"' in finding.detail
    assert "in the same write as STARTTLS" in finding.detail
    assert "separate TCP segment" not in finding.detail  # that try was silent: not claimed
    for cve in KNOWN_CVES:
        assert cve in finding.detail
    assert "Upgrade" in finding.remediation and "993" in finding.remediation
    (pop3,) = injection_findings("pop3", judge_injection((IN_TLS,), starttls_ok=True))
    assert "995" in pop3.remediation and "STLS" in pop3.title
    (smtp,) = injection_findings("smtp", judge_injection((IN_TLS,), starttls_ok=True))
    assert "465" in smtp.remediation


@pytest.mark.parametrize("tries", [(SILENT,), (IN_CLEAR,), (BROKE, BROKE), (FAILED,)])
def test_no_finding_unless_answered_inside_tls(tries: tuple[InjectionTry, ...]) -> None:
    assert injection_findings("smtp", judge_injection(tries, starttls_ok=True)) == []
    assert injection_findings("smtp", None) == []


def test_hostile_evidence_is_a_visible_quotation() -> None:
    hostile = InjectionTry(
        "same-write", "mpi3f9a0c21 NOOP", "answered-in-tls", ('mpi3f9a0c21 OK "\x1b[2J\u202e" done' + "x" * 500,)
    )
    (finding,) = injection_findings("imap", judge_injection((hostile,), starttls_ok=True))
    assert "\x1b" not in finding.detail and "\u202e" not in finding.detail
    assert "\\x1b[2J\\u202e" in finding.detail
    assert '\\"' in finding.detail  # the server's quote cannot end the quotation
    assert len(finding.detail) < 1500  # a long line is cut


def test_the_result_survives_a_round_trip_through_json() -> None:
    row = EndpointResult(
        "mail.example.test",
        "192.0.2.10",
        None,
        143,
        "imap",
        "starttls",
        "open",
        starttls_injection=judge_injection((IN_TLS, BROKE), starttls_ok=True),
    )
    back = EndpointResult.from_json(row.to_json())
    assert back == row
    assert back.to_dict()["starttls_injection"]["tries"][0]["evidence"] == ["mpi3f9a0c21 OK NOOP completed"]
