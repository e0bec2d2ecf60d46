"""A probe's row built from what it saw, without a server: the states a conversation can stop in."""

from __future__ import annotations

from scanner.model import Endpoint
from scanner.probe.assembly import Seen, analysis_failed, assemble
from scanner.probe.options import ProbeOptions
from scanner.probe.transcript import Transcript
from scanner.verdicts.plaintext import LoginAttempt

IMAP_143 = Endpoint("mail.example.test", "192.0.2.10", 143, "imap", "starttls", "mail.example.test")
IMAP_993 = Endpoint("192.0.2.10", "192.0.2.10", 993, "imap", "implicit")
GREETING = "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready"


def _clear_half_only(**more: object) -> Seen:
    """An IMAP server that took the dummy login in clear; the probe stopped before STARTTLS."""
    seen = Seen(
        state="open",
        greeting=GREETING,
        caps_before=("IMAP4rev1", "STARTTLS", "AUTH=PLAIN"),
        starttls_advertised=True,
        login_tried=True,
    )
    seen.clear.append(LoginAttempt("LOGIN", False, "ok", None, "LOGIN completed", 3))
    for name, value in more.items():
        setattr(seen, name, value)
    return seen


def test_a_probe_stopped_after_the_clear_half_keeps_its_verdict_and_says_what_was_not_reached():
    seen = _clear_half_only(incomplete="the whole probe took longer than 30 s; stopped")
    row = assemble(IMAP_143, ProbeOptions(), seen, Transcript(), 30_000)
    assert row.state == "open" and row.greeting == GREETING
    assert row.plaintext_login.verdict == "accepted"
    assert row.starttls == "not_tested"  # never tried: nothing is claimed about it
    incomplete = [f for f in row.findings if f.id == "probe-incomplete"]
    assert len(incomplete) == 1
    assert "STARTTLS was not tried" in incomplete[0].detail and "no TLS handshake" in incomplete[0].detail
    assert "dummy login in clear" not in incomplete[0].detail  # that step was reached
    assert row.duration_ms == 30_000 and row.name == "mail.example.test"


def test_an_unanswered_port_is_a_bare_row_with_its_reason():
    seen = Seen(state="closed", error="connection refused")
    row = assemble(IMAP_143, ProbeOptions(), seen, Transcript(), 1)
    assert (row.state, row.error, row.starttls) == ("closed", "connection refused", "not_applicable")
    assert row.plaintext_login.verdict == "not_tested"
    assert row.plaintext_login.evidence == ("connection refused",)
    assert row.findings == () and row.tls is None


def test_implicit_tls_has_no_cleartext_verdict_and_keeps_the_analysis_failure():
    seen = Seen(state="open", greeting="* OK ready", caps_after=("IMAP4rev1",))
    seen.extra_findings.append(analysis_failed("ValueError: bad leaf"))
    row = assemble(IMAP_993, ProbeOptions(), seen, Transcript(), 5)
    assert row.plaintext_login.verdict == "not_applicable"
    assert row.starttls == "not_applicable"
    assert [f.id for f in row.findings if f.id == "tls-analysis-failed"] == ["tls-analysis-failed"]
    assert "ValueError: bad leaf" in next(f.detail for f in row.findings if f.id == "tls-analysis-failed")


def test_without_the_login_probe_the_verdict_says_so():
    seen = _clear_half_only(login_tried=False, clear=[], starttls="ok")
    row = assemble(IMAP_143, ProbeOptions(login_probe=False), seen, Transcript(), 5)
    assert row.plaintext_login.verdict == "not_tested"
    assert "--no-login-probe" in row.plaintext_login.evidence[0]


def test_a_failure_while_judging_leaves_the_facts_seen_and_an_inconclusive_verdict():
    # A protocol no dialect knows makes the judging itself fail: the row keeps what was observed.
    odd = Endpoint("192.0.2.10", "192.0.2.10", 119, "nntp", "starttls")  # type: ignore[arg-type]
    seen = _clear_half_only()
    row = assemble(odd, ProbeOptions(), seen, Transcript(), 7)
    assert row.state == "open" and row.greeting == GREETING
    assert row.capabilities.before_tls == ("IMAP4rev1", "STARTTLS", "AUTH=PLAIN")
    assert row.plaintext_login.verdict == "inconclusive"
    assert (row.error or "").startswith("internal error: ")
