"""mailprobe check's status line (the one line a pager shows) names the worst problem first."""

from __future__ import annotations

from scanner.report.monitoring import Thresholds, judge, render_plugin
from tests.report.report_samples import PLAINTEXT_ACCEPTED, UNTRUSTED, endpoint


def test_status_line_puts_a_plaintext_login_before_lesser_critical_problems() -> None:
    results = [
        endpoint(993, findings=(UNTRUSTED,)),
        endpoint(995, findings=(UNTRUSTED,)),
        endpoint(110, state="closed"),
        endpoint(465, findings=(UNTRUSTED,), protocol="smtp"),
        endpoint(143, verdict="accepted", findings=(PLAINTEXT_ACCEPTED, UNTRUSTED)),
    ]
    outcome = judge(results, Thresholds())
    status, *per_endpoint = render_plugin(outcome).splitlines()
    assert outcome.exit_code == 2
    assert status.startswith("MAILPROBE CRITICAL - 192.0.2.10:143 Plaintext login accepted (critical);"), status
    assert "(+2 more)" in status  # five critical endpoints, three named
    assert per_endpoint[0].startswith("CRITICAL 192.0.2.10:143 imap/starttls: Plaintext login accepted")
