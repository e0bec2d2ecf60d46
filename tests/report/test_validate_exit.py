"""evaluate_after_scan: the exit-code table (0 holds, 1 failed, 2 usage, 3 nothing reachable)."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from scanner.cli import build_parser
from scanner.commands.scan import settings_from_args
from scanner.errors import UsageError
from scanner.report.validate import Validation, evaluate_after_scan, prepare_validation
from tests.report.report_samples import AUTH_ADVERTISED, PLAINTEXT_ACCEPTED, UNTRUSTED, endpoint, site
from tests.report.report_samples import write_jsonl as write

OPEN = (PLAINTEXT_ACCEPTED, AUTH_ADVERTISED)
TODAY = dt.date(2025, 6, 1)


def parse(argv: list[str]) -> Validation:
    """The validation of `mailprobe scan ARGV` as the scan command builds it."""
    return prepare_validation(settings_from_args(build_parser().parse_args(["scan", *argv])))


def run(results, argv: list[str]) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    code = evaluate_after_scan(results, parse(argv), stream=out, today=TODAY)
    return code, out.getvalue()


@pytest.fixture
def refusal(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "refusal.toml"
    path.write_text('plaintext_login = "refused"\n', encoding="utf-8")
    return str(path)


def test_no_checks_asked_is_exit_0_and_fail_on_threshold_is_exit_1() -> None:
    bad = site("accepted", OPEN)
    assert run(bad, ["--fail-on", "none"])[0] == 0
    code, text = run(bad, [])  # the default threshold is high
    assert code == 1 and "2 findings at or above high:" in text
    code, text = run(bad, ["--fail-on", "critical"])
    assert code == 1
    assert "2 findings at or above critical:" in text
    assert "mail.example.com:143 [critical] plaintext-login-accepted: Plaintext login accepted" in text
    assert run(site(), ["--fail-on", "low"])[0] == 0


def test_findings_at_or_above_the_threshold_are_listed_worst_first() -> None:
    accepted = endpoint(143, verdict="accepted", findings=(UNTRUSTED, PLAINTEXT_ACCEPTED))
    results = [endpoint(993, findings=(UNTRUSTED,)), accepted]
    code, text = run(results, [])
    assert code == 1
    listed = text.split("3 findings at or above high:\n", 1)[1].splitlines()[:3]
    assert [line.split()[1] for line in listed] == ["[critical]", "[high]", "[high]"], listed


def test_policy_pass_and_fail(refusal: str) -> None:
    code, text = run(site(), ["--policy", refusal])
    assert code == 0 and "Policy holds." in text
    code, text = run(site("accepted", OPEN), ["--policy", refusal])
    assert code == 1
    assert "FAIL mail.example.com:143 imap [plaintext-login] plaintext login accepted" in text


def test_baseline_fix_exits_0_and_reverse_exits_1_under_refusal_policy(tmp_path, refusal: str) -> None:  # type: ignore[no-untyped-def]
    before_bad = write(tmp_path / "bad.jsonl", site("accepted", OPEN))
    code, text = run(site(), ["--baseline", before_bad, "--policy", refusal])
    assert code == 0
    assert "+ plaintext_login: accepted -> refused  (better)" in text
    assert "REGRESSION" not in text
    before_good = write(tmp_path / "good.jsonl", site())
    code, text = run(site("accepted", OPEN), ["--baseline", before_good, "--policy", refusal])
    assert code == 1
    assert "REGRESSION mail.example.com:143 imap/starttls: plaintext_login refused -> accepted" in text


def test_fail_on_regression_ignores_what_was_already_broken(tmp_path, refusal: str) -> None:  # type: ignore[no-untyped-def]
    still_bad = site("accepted", OPEN)
    baseline = write(tmp_path / "bad.jsonl", still_bad)
    code, text = run(still_bad, ["--baseline", baseline, "--fail-on-regression"])
    assert code == 0, text  # the critical finding was there before: nothing got worse
    assert "No regressions against the baseline." in text and "at or above" not in text
    code, text = run(still_bad, ["--baseline", baseline, "--policy", refusal, "--fail-on-regression"])
    assert code == 1, text  # nothing got worse, but a failing policy never passes
    assert "Policy FAILED." in text and "No regressions against the baseline." in text
    worse = [*still_bad, endpoint(1143, verdict="accepted", findings=(PLAINTEXT_ACCEPTED,))]
    code, text = run(worse, ["--baseline", baseline, "--policy", refusal, "--fail-on-regression"])
    assert code == 1
    assert "FAILED: 2 regressions against the baseline." in text  # the new finding and the new policy failure
    # A new medium finding is no regression when only high and above count.
    medium = [endpoint(110), endpoint(143, findings=(AUTH_ADVERTISED,))]
    base = write(tmp_path / "clean.jsonl", [endpoint(110), endpoint(143)])
    assert run(medium, ["--baseline", base, "--fail-on-regression", "--fail-on", "high"])[0] == 0
    assert run(medium, ["--baseline", base, "--fail-on-regression"])[0] == 0  # high is the default
    assert run(medium, ["--baseline", base, "--fail-on-regression", "--fail-on", "medium"])[0] == 1


def test_every_regression_counted_is_listed(tmp_path, refusal: str) -> None:  # type: ignore[no-untyped-def]
    baseline = write(tmp_path / "bad.jsonl", site("accepted", OPEN))
    worse = [*site("accepted", OPEN), endpoint(1143, verdict="accepted", findings=(PLAINTEXT_ACCEPTED,))]
    code, text = run(worse, ["--baseline", baseline, "--policy", refusal, "--fail-on-regression"])
    assert code == 1
    listed = [line for line in text.splitlines() if line.startswith("REGRESSION ")]
    assert "FAILED: 2 regressions against the baseline." in text, text
    assert len(listed) == 2, text  # the new finding and the new policy failure, each named
    assert any("policy" in line and "1143" in line for line in listed), listed


def test_a_regression_fails_without_fail_on_regression_too(tmp_path) -> None:  # type: ignore[no-untyped-def]
    baseline = write(tmp_path / "good.jsonl", site())
    code, text = run(site("accepted"), ["--baseline", baseline, "--fail-on", "none"])
    assert code == 1, text  # refused -> accepted is worse whatever the severity threshold
    assert "FAILED: 2 regressions against the baseline." in text


def test_nothing_reachable_is_exit_3() -> None:
    code, text = run([endpoint(143, state="closed"), endpoint(993, state="error")], ["--fail-on", "low"])
    assert code == 3
    assert "Nothing reachable" in text
    assert run([], [])[0] == 3


def test_usage_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="--fail-on-regression needs --baseline"):
        run(site(), ["--fail-on-regression"])
    with pytest.raises(UsageError, match="unknown severity 'urgent'"):
        run(site(), ["--fail-on", "urgent"])
    with pytest.raises(UsageError, match="No such file or directory"):
        run(site(), ["--baseline", str(tmp_path / "nope.jsonl")])
    bad = tmp_path / "bad.toml"
    bad.write_text("plaintext_login = \n", encoding="utf-8")
    with pytest.raises(UsageError, match="bad TOML"):
        run(site(), ["--policy", str(bad)])
