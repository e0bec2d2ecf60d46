"""Baseline diff on results built with the model, and the `mailprobe diff` command."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from scanner import cli
from scanner.errors import UsageError
from scanner.report.diff import diff_results, render_diff_json, render_diff_table
from scanner.report.load import read_results
from tests.report.report_samples import (
    AUTH_ADVERTISED,
    LEGACY,
    PLAINTEXT_ACCEPTED,
    certificate,
    endpoint,
    site,
    with_cert,
)
from tests.report.report_samples import write_jsonl as write

OPEN_FINDINGS = (PLAINTEXT_ACCEPTED, AUTH_ADVERTISED)


def by_port(diff):  # type: ignore[no-untyped-def]
    return {e.port: e for e in diff.endpoints}


def test_plaintext_fix_is_reported_as_fixed_findings_and_a_better_verdict() -> None:
    diff = diff_results(site("accepted", OPEN_FINDINGS), site("refused"))
    ports = by_port(diff)
    for port in (110, 143):
        e = ports[port]
        assert e.status == "changed"
        assert [f.id for f in e.fixed] == ["plaintext-login-accepted", "plaintext-auth-advertised"]
        assert e.new == ()
        assert [(c.field, c.before, c.after, c.direction) for c in e.changes] == [
            ("plaintext_login", "accepted", "refused", "better")
        ]
    assert ports[993].status == ports[995].status == "unchanged"
    assert diff.regressions() == []
    assert (diff.fixed_count, diff.new_count) == (4, 0)
    assert len(diff.improvements()) == 6


def test_reverse_change_is_a_regression_naming_the_verdict_and_finding() -> None:
    diff = diff_results(site("refused"), site("accepted", OPEN_FINDINGS))
    regressions = diff.regressions()
    assert "mail.example.com:143 imap/starttls: plaintext_login refused -> accepted" in regressions
    assert any("143" in r and "new finding [critical] plaintext-login-accepted" in r for r in regressions)
    # threshold: the medium finding is not a regression when only high and above count
    assert not any("plaintext-auth-advertised" in r for r in diff.regressions("high"))
    table = render_diff_table(diff)
    assert "REGRESSION mail.example.com:110 pop3/starttls: plaintext_login refused -> accepted" in table
    assert "! new    [critical] plaintext-login-accepted: Plaintext login accepted" in table


def test_replaced_certificate_is_a_change_and_trust_decides_its_direction() -> None:
    before = site()
    replaced = [with_cert(r, certificate(subject="CN=new", sha="bb" * 32)) for r in before]
    diff = diff_results(before, replaced)
    for e in diff.endpoints:
        assert [c.field for c in e.changes] == ["certificate"]
        change = e.changes[0]
        assert change.direction == "neutral"
        assert change.before is not None and change.before.startswith("CN=mail.example.com (sha256 aaaaaaaaaaaaaaaa")
        assert change.after is not None and change.after.startswith("CN=new (sha256 bbbbbbbbbbbbbbbb")
    untrusted = [with_cert(r, certificate(subject="CN=self", sha="cc" * 32, trusted=False)) for r in before]
    worse = diff_results(before, untrusted)
    assert all(e.changes[0].direction == "worse" for e in worse.endpoints)
    assert len(worse.regressions()) == 4


def test_same_certificate_and_findings_are_unchanged_even_when_details_move() -> None:
    before = site("accepted", OPEN_FINDINGS)
    moved = replace(PLAINTEXT_ACCEPTED, detail="another random dummy user this time")
    after = site("accepted", (moved, AUTH_ADVERTISED))
    diff = diff_results(before, after)
    assert {e.status for e in diff.endpoints} == {"unchanged"}
    assert "No changes against the baseline." in render_diff_table(diff)


def test_appeared_and_vanished_endpoints() -> None:
    before = [endpoint(143), endpoint(110)]
    after = [endpoint(143), endpoint(993, findings=(LEGACY,), legacy=("TLSv1",))]
    ports = by_port(diff_results(before, after))
    assert ports[110].status == "vanished"
    assert ports[993].status == "appeared"
    assert [f.id for f in ports[993].new] == ["tls-legacy"]
    assert ports[143].status == "unchanged"


def test_newly_accepted_legacy_tls_and_closed_port() -> None:
    before = [endpoint(993), endpoint(110, verdict="accepted", findings=(PLAINTEXT_ACCEPTED,))]
    after = [endpoint(993, legacy=("TLSv1", "TLSv1.1")), endpoint(110, state="closed")]
    ports = by_port(diff_results(before, after))
    assert [(c.field, c.after, c.direction) for c in ports[993].changes] == [
        ("legacy_tls_accepted", "TLSv1, TLSv1.1", "worse")
    ]
    closed = ports[110]
    assert [f.id for f in closed.fixed] == ["plaintext-login-accepted"]
    assert ("state", "open", "closed") in [(c.field, c.before, c.after) for c in closed.changes]


def test_json_rendering_lists_only_changed_endpoints() -> None:
    data = json.loads(render_diff_json(diff_results(site("refused"), site("accepted", OPEN_FINDINGS))))
    assert data["summary"] == {
        "before": 4, "after": 4, "changed": 2, "unchanged": 2, "appeared": 0, "vanished": 0,
        "findings_fixed": 0, "findings_new": 4,
    }  # fmt: skip
    assert [e["port"] for e in data["endpoints"]] == [110, 143]
    assert data["endpoints"][1]["new"][0] == {
        "id": "plaintext-login-accepted",
        "severity": "critical",
        "title": "Plaintext login accepted",
    }
    assert len(data["regressions"]) == 4  # 2 new critical findings, 2 worse verdicts; the medium ones are below high
    data = json.loads(render_diff_json(diff_results(site("refused"), site("accepted", OPEN_FINDINGS)), "low"))
    assert len(data["regressions"]) == 6


@pytest.fixture
def only_my_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    # The scan command belongs to another module; these tests need only diff and report.
    monkeypatch.setattr(cli, "COMMANDS", ("scanner.commands.diff", "scanner.commands.report"))


def test_diff_command_table_json_and_exit_codes(tmp_path, capsys, only_my_commands) -> None:  # type: ignore[no-untyped-def]
    good = write(tmp_path / "good.jsonl", site("refused"))
    bad = write(tmp_path / "bad.jsonl", site("accepted", OPEN_FINDINGS))
    assert cli.main(["diff", good, bad]) == 1  # a regression never exits 0
    assert "REGRESSION" in capsys.readouterr().out
    assert cli.main(["diff", good, bad, "--fail-on", "none"]) == 1  # worse verdicts count whatever the threshold
    capsys.readouterr()
    assert cli.main(["diff", bad, good, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["findings_fixed"] == 4 and data["regressions"] == []
    assert cli.main(["diff", good, str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: No such file or directory" in capsys.readouterr().err
    assert cli.main(["diff", good, bad, "--fail-on", "severe"]) == 2
    assert "unknown severity 'severe'" in capsys.readouterr().err


def test_reader_skips_a_torn_last_line_but_rejects_corruption_inside(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = [r.to_json() for r in site()]
    torn = tmp_path / "torn.jsonl"
    torn.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40], encoding="utf-8")
    assert [r.port for r in read_results(torn)] == [110, 143, 993]
    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n{not json\n" + lines[1] + "\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"broken.jsonl:2: not a mailprobe result line"):
        read_results(broken)
