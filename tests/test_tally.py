"""Verdict labels, their ranking and the counts are defined once (scanner/tally.py) and every view uses them: the
terminal table, the TUI's cells and header, the Markdown and HTML reports, the diff."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scanner.model import STANDARD_PORTS
from scanner.output import render_table, table_row
from scanner.report.diff import diff_results
from scanner.report.html import render_html
from scanner.report.markdown import render_markdown
from scanner.tally import VERDICT_ORDER, VERDICT_RANK, VERDICTS, Counts, verdict_label
from scanner.tui.cells import SORT_KEYS, VERDICT_FILTERS, plaintext_cell
from scanner.tui.detail_text import detail_sections
from scanner.tui.tally import Tally
from scanner.untrusted import for_html
from tests.factories import result

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("verdict", list(VERDICTS))
def test_every_view_words_a_verdict_with_its_one_label(verdict: str) -> None:
    row = result(143, verdict=verdict)
    assert row.plaintext_login.verdict == verdict
    label = VERDICTS[verdict]
    assert label.short in table_row(row) and label.short in render_table([row])  # the terminal table, as printed
    assert plaintext_cell(row).text == label.short  # the TUI's cell
    tally = Tally()
    tally.add(row)
    assert f"{label.short} 1" in tally.verdict_line()  # the TUI's header
    shown = [line for _, lines in detail_sections(row) for line in lines]
    assert f"  verdict: {label.short}" in shown  # the TUI's detail screen
    markdown = render_markdown([row], "now")
    assert f"| {label.long} |" in markdown  # the report's endpoint table: the word, never the enum value
    assert for_html(label.long) in render_html([row], "now")


def test_no_other_module_defines_verdict_words_or_ranks() -> None:
    """A table from verdicts to words or numbers anywhere but scanner/tally.py is a second definition that will
    drift (the TUI's colours per verdict are not words: its styles are names of styles, not constants)."""
    offenders = []
    for path in (ROOT / "scanner").rglob("*.py"):
        if path.name == "tally.py" and path.parent.name == "scanner":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                constants = [v for v in node.values if isinstance(v, ast.Constant | ast.Call)]
                if len(keys & set(VERDICTS)) >= 2 and keys & {"accepted", "inconclusive"} and constants:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_one_ranking_orders_the_tui_and_judges_the_diff() -> None:
    rows = [result(143, address=f"192.0.2.{i}", verdict=v) for i, v in enumerate(reversed(VERDICT_ORDER), 1)]
    assert [r.plaintext_login.verdict for r in sorted(rows, key=SORT_KEYS["plaintext"])] == list(VERDICT_ORDER)
    assert VERDICT_FILTERS[1:] == VERDICT_ORDER
    assert [VERDICT_RANK[v] for v in VERDICT_ORDER] == sorted(VERDICT_RANK[v] for v in VERDICT_ORDER)

    def direction(before: str, after: str) -> str:
        (endpoint,) = diff_results([result(143, verdict=before)], [result(143, verdict=after)]).endpoints
        (change,) = [c for c in endpoint.changes if c.field == "plaintext_login"]
        return change.direction

    assert direction("accepted", "refused") == "better"
    assert direction("refused", "inconclusive") == "worse"
    assert direction("inconclusive", "not_tested") == "neutral"  # equal ranks


def test_an_unknown_verdict_shows_as_it_is_marked_unclear() -> None:
    assert verdict_label("newer_kind").short == "? newer_kind"


def test_counts_count_findings_and_the_verdicts_of_answering_endpoints() -> None:
    from scanner.model import Finding

    high = Finding("x", "high", "t", "d", "r")
    rows = [
        result(143, findings=(high, high)),
        result(993),
        result(110, state="closed"),
        result(143, address="192.0.2.11", state="error", verdict="inconclusive"),
    ]
    counts = Counts.of(rows)
    assert counts.findings_text() == "2 high"  # two findings, one endpoint
    assert counts.states_text() == "2 open, 1 closed, 1 error"
    assert dict(counts.verdicts) == {"refused": 1, "not_applicable": 1}  # open endpoints only
    assert counts.clean == 1
    counts.replace(rows[0], result(143))
    assert counts.findings_text() == "" and counts.clean == 2


@pytest.mark.parametrize("port", sorted(STANDARD_PORTS))
def test_the_factory_writes_the_protocol_a_probe_writes(port: int) -> None:
    row = result(port)
    assert (row.protocol, row.transport) == STANDARD_PORTS[port]  # 587/465: "smtp", the model's submission


def test_a_verdict_this_version_does_not_know_is_escaped_and_marked_unclear() -> None:
    """A newer file's verdict is text mailprobe did not write: escaped on the terminal, never taken for its own."""
    import dataclasses

    row = result(143, verdict="refused")
    odd = dataclasses.replace(row, plaintext_login=dataclasses.replace(row.plaintext_login, verdict="\x1b[2Jnew"))
    assert plaintext_cell(odd).text == "? \\x1b[2Jnew"
    assert "\x1b" not in render_table([odd])
