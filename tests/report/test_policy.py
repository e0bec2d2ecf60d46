"""Policy files: rules, per-host exceptions with reason and expiry (expired ones included), bad input."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from scanner.errors import UsageError
from scanner.report.policy import evaluate_policy, load_policy, policy_from_dict
from tests.report.report_samples import (
    AUTH_ADVERTISED,
    LEGACY,
    PLAINTEXT_ACCEPTED,
    UNTRUSTED,
    certificate,
    endpoint,
    site,
)

TODAY = dt.date(2025, 6, 1)

STRICT = """\
plaintext_login = "refused"
require_tls = true
certificate_trusted = true
certificate_name_match = true
min_tls_version = "TLSv1.2"
forbidden_protocols = ["pop3"]
"""


def policy(tmp_path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_policy(path)


def rules(outcome) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return sorted((v.port, v.rule) for v in outcome.violations)


def test_an_imap_only_refusing_site_passes_the_strict_policy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = [endpoint(143), endpoint(993), endpoint(110, state="closed"), endpoint(995, state="filtered")]
    outcome = evaluate_policy(policy(tmp_path, STRICT), results, TODAY)
    assert outcome.holds
    assert outcome.checked == 2  # closed and filtered ports expose nothing
    assert "Policy holds." in outcome.render()


def test_each_rule_fails_on_what_it_guards(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = [
        endpoint(143, verdict="accepted", findings=(PLAINTEXT_ACCEPTED,)),
        endpoint(993, cert=certificate(trusted=False), findings=(UNTRUSTED,), legacy=("TLSv1",)),
        endpoint(110),
        endpoint(1143, protocol="imap", tls_version=None),
    ]
    outcome = evaluate_policy(policy(tmp_path, STRICT), results, TODAY)
    assert not outcome.holds
    assert rules(outcome) == [
        (110, "forbidden-protocol"),
        (143, "plaintext-login"),
        (993, "certificate-trusted"),
        (993, "min-tls-version"),
        (1143, "require-tls"),
    ]
    by_rule = {v.rule: v for v in outcome.violations}
    assert by_rule["plaintext-login"].detail == "plaintext login accepted, policy demands refused"
    assert by_rule["min-tls-version"].detail == "accepts TLSv1, minimum TLSv1.2"
    assert "self-signed certificate" in by_rule["certificate-trusted"].detail
    assert "Policy FAILED." in outcome.render()


def test_name_rule_says_not_checked_apart_from_a_mismatch() -> None:
    # With no name to check (a bare address), issue 13 says "not checked", never a mismatch: the policy still
    # fails it (documented), in those words.
    results = [
        endpoint(993, cert=certificate(name_match=None, names_checked=())),
        endpoint(995, cert=certificate(name_match=False, names_checked=("mail.example.org",))),
    ]
    outcome = evaluate_policy(policy_from_dict({"certificate_name_match": True}), results, TODAY)
    details = {v.port: v.detail for v in outcome.violations}
    assert details[993].startswith("certificate name not checked: no name to check against"), details
    assert details[995] == "certificate name mismatch: names mail.example.org not in mail.example.com"


def test_refused_demands_proof_but_not_accepted_tolerates_inconclusive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = [endpoint(143, verdict="inconclusive"), endpoint(110, verdict="not_tested")]
    strict = evaluate_policy(policy(tmp_path, 'plaintext_login = "refused"'), results, TODAY)
    assert rules(strict) == [(110, "plaintext-login"), (143, "plaintext-login")]
    lenient = evaluate_policy(policy_from_dict({"plaintext_login": "not_accepted"}), results, TODAY)
    assert lenient.holds


def test_severity_findings_days_and_ports_rules() -> None:
    p = policy_from_dict(
        {"max_severity": "medium", "forbidden_findings": ["tls-legacy"], "min_certificate_days": 30,
         "forbidden_ports": [110]}
    )  # fmt: skip
    results = [
        endpoint(143, findings=(AUTH_ADVERTISED,)),  # medium: allowed
        endpoint(993, findings=(UNTRUSTED, LEGACY), cert=certificate(days_left=12)),
        endpoint(110),
    ]
    outcome = evaluate_policy(p, results, TODAY)
    assert rules(outcome) == [
        (110, "forbidden-port"),
        (993, "forbidden-finding"),
        (993, "max-severity"),
        (993, "min-certificate-days"),
    ]


EXCEPTIONS = """\
plaintext_login = "refused"
forbidden_protocols = ["pop3"]

[[exceptions]]
host = "legacy.example.com"
port = 110
rule = "forbidden-protocol"
reason = "old scanners still fetch by POP3, CHG-1234"
expires = 2025-12-31

[[exceptions]]
host = "192.0.2.0/24"
rule = "plaintext-login"
reason = "migration window, CHG-1100"
expires = 2025-05-31
"""


def test_exception_in_force_excuses_and_an_expired_one_does_not(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = policy(tmp_path, EXCEPTIONS)
    results = [
        endpoint(110, host="legacy.example.com", address="198.51.100.7"),
        endpoint(110, host="other.example.com", address="198.51.100.8"),
        endpoint(143, verdict="accepted", findings=(PLAINTEXT_ACCEPTED,)),  # 192.0.2.10: exception expired
    ]
    outcome = evaluate_policy(p, results, TODAY)
    assert [(v.host, v.rule) for v in outcome.excused] == [("legacy.example.com", "forbidden-protocol")]
    assert outcome.excused[0].excused_by is not None
    assert outcome.excused[0].excused_by.reason == "old scanners still fetch by POP3, CHG-1234"
    failing = {(v.host, v.rule): v for v in outcome.violations}
    assert set(failing) == {("other.example.com", "forbidden-protocol"), ("mail.example.com", "plaintext-login")}
    expired = failing[("mail.example.com", "plaintext-login")]
    assert expired.expired is not None and expired.expired.expires == dt.date(2025, 5, 31)
    text = outcome.render()
    assert "(exception expired on 2025-05-31: migration window, CHG-1100)" in text
    assert "excepted legacy.example.com:110 pop3 [forbidden-protocol]" in text
    # On its last day an exception still applies.
    assert evaluate_policy(p, results[2:], dt.date(2025, 5, 31)).holds


def test_exception_for_another_port_or_rule_does_not_apply(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = policy(tmp_path, EXCEPTIONS)
    results = [endpoint(995, host="legacy.example.com", address="198.51.100.7")]
    outcome = evaluate_policy(p, results, TODAY)
    assert rules(outcome) == [(995, "forbidden-protocol")] and outcome.excused == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plaintext_login = [", "bad TOML"),
        ('max_severity = "severe"', "unknown severity 'severe'"),
        ('plaintext_login = "maybe"', "plaintext_login must be"),
        ("forbid_pop3 = true", "unknown key(s) forbid_pop3"),
        ('min_tls_version = "TLSv2"', "min_tls_version must be one of"),
        ('[[exceptions]]\nhost = "a"\nrule = "plaintext-login"\nexpires = 2030-01-01', "a reason is required"),
        ('[[exceptions]]\nhost = "a"\nrule = "plaintext-login"\nreason = "r"', "expires is required"),
        ('[[exceptions]]\nhost = "a"\nrule = "nope"\nreason = "r"\nexpires = 2030-01-01', "unknown rule 'nope'"),
    ],
)
def test_bad_policy_files_are_usage_errors(tmp_path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        policy(tmp_path, text)


def test_missing_policy_file_is_a_usage_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="no such file"):
        load_policy(tmp_path / "absent.toml")


def test_duplicate_result_lines_judge_the_latest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = policy(tmp_path, 'plaintext_login = "refused"')
    results = site("accepted", (PLAINTEXT_ACCEPTED,)) + site("refused")
    assert evaluate_policy(p, results, TODAY).holds


def test_submission_auth_is_demanded_apart_from_mailbox_logins(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = [
        endpoint(143),
        endpoint(587, protocol="smtp", verdict="accepted"),
        endpoint(465, protocol="smtp", verdict="not_applicable"),
    ]
    mailbox_only = evaluate_policy(policy(tmp_path, 'plaintext_login = "refused"'), results, TODAY)
    assert mailbox_only.holds  # plaintext_login judges IMAP/POP3 only
    both = evaluate_policy(policy(tmp_path, 'plaintext_login = "refused"\nsubmission_auth = "refused"'), results, TODAY)
    assert rules(both) == [(587, "submission-auth")]
    (violation,) = both.violations
    assert violation.detail == "SMTP AUTH in clear accepted, policy demands refused" and violation.protocol == "smtp"
    inconclusive = [endpoint(587, protocol="smtp", verdict="inconclusive")]
    assert evaluate_policy(policy_from_dict({"submission_auth": "not_accepted"}), inconclusive, TODAY).holds
    assert not evaluate_policy(policy_from_dict({"submission_auth": "refused"}), inconclusive, TODAY).holds
    assert not evaluate_policy(policy_from_dict({"forbidden_protocols": ["smtp"]}), results, TODAY).holds
    with pytest.raises(UsageError, match="submission_auth must be"):
        policy_from_dict({"submission_auth": "yes"})
