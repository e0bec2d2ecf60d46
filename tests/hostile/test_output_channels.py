"""Hostile text in every field of a result, rendered on every output channel: nothing reaches the reader raw.

A user would check: the terminal gets no escape sequence, bidi or invisible character; JUnit parses; Markdown has
no HTML; CSV has no formula cell; HTML keeps server text in <bdi> with no live markup; JSON keeps the exact text.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scanner.logs.analyser import analyse
from scanner.logs.output import footer, to_csv, to_json, to_table
from scanner.model import EndpointResult
from scanner.output import render_table
from scanner.report.diff import diff_results, render_diff_table
from scanner.report.formats import render_report
from scanner.report.policy import evaluate_policy, policy_from_dict
from scanner.tui.cells import row_cells
from scanner.tui.detail_text import detail_sections, title_of
from scanner.tui.export import export_results
from tests.hostile.channels import (
    ESC,
    FORMULA,
    PAYLOAD,
    RAW_LEAKS,
    assert_every_channel_clean,
    assert_terminal_clean,
    hostile_result,
)


def test_terminal_table_diff_policy_and_validation_lines() -> None:
    r = hostile_result()
    assert_terminal_clean(render_table([r]))
    before = EndpointResult(host=r.host, address=r.address, name=None, port=143, protocol="imap",
                            transport="starttls", state="open", software="Dovecot")  # fmt: skip
    assert_terminal_clean(render_diff_table(diff_results([before], [r])))
    outcome = evaluate_policy(policy_from_dict({"forbidden_protocols": ["imap"]}), [r])
    assert_terminal_clean(outcome.render())


def test_every_channel_at_once() -> None:
    assert_every_channel_clean([hostile_result()])


def test_table_keeps_one_line_per_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # the table is cut to the terminal's width; test runners differ in theirs
    lines = render_table([hostile_result()]).splitlines()
    assert lines[0].startswith("host")
    assert lines[1].startswith("mail\\x1b[2J")  # the row, escaped, on one line
    assert "ACCEPTED" in lines[1]  # mailprobe's own verdict survives in its column


def test_tui_table_cells_and_detail_screen() -> None:
    r = hostile_result()
    for cell in row_cells(r):
        assert_terminal_clean(cell.text)
    assert_terminal_clean(title_of(r))
    lines = [line for _, section in detail_sections(r, [f"software: x -> {PAYLOAD}"]) for line in section]
    for line in lines:
        assert_terminal_clean(line)
    greeting = next(line for line in lines if line.strip().startswith("greeting:"))
    assert greeting.split(":", 1)[1].strip().startswith('"\\x1b[2J')  # server words as a visible quotation
    subject = next(line for line in lines if line.strip().startswith("subject:"))
    assert subject.rstrip().endswith('"')
    # The forged verdict line stays inside the quotation: only mailprobe's own line says the verdict.
    verdicts = [line for line in lines if line.strip().startswith("plaintext login:")]
    assert verdicts == ["  plaintext login:  ✗ ACCEPTED"]


def test_tui_csv_export_and_report_csv_have_no_formula_or_control(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    export_results(str(path), [hostile_result()])
    text = path.read_text(encoding="utf-8")
    report = render_report([hostile_result()], "csv")
    for document in (text, report):
        assert ESC not in document and "\u202e" not in document
        for row in csv.reader(io.StringIO(document)):
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
                assert not (cell.startswith("-") and cell != "-" and not cell.lstrip("-").isdigit()), cell


def test_junit_parses_and_carries_only_xml_legal_characters() -> None:
    text = render_report([hostile_result()], "junit", generated="2025-06-01T00:00:00Z")
    root = ET.fromstring(text)
    for element in root.iter():
        for value in [element.text or "", *element.attrib.values()]:
            assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e]", value)


def test_markdown_has_no_html_and_no_markup_from_servers() -> None:
    md = render_report([hostile_result()], "markdown", generated="2025-06-01T00:00:00Z")
    assert "<script" not in md and "](http" not in md.replace("\\](http", "")
    assert_terminal_clean(md)
    # Each table row stays one line with the columns mailprobe wrote.
    row = next(line for line in md.splitlines() if line.startswith("| 192.0.2.7:143"))
    assert row.count(" | ") - row.count("\\| ") == 7


def test_html_isolates_server_text_and_has_no_live_markup() -> None:
    html = render_report([hostile_result()], "html", generated="2025-06-01T00:00:00Z")
    assert "<script" not in html and "\u202e" not in html and ESC not in html
    assert "<bdi>&lt;script&gt;" not in html or "alert(1)" in html  # escaped text, shown as text
    assert "<bdi>" in html and "\\u202etxet desrever" in html


def test_json_keeps_the_exact_server_text() -> None:
    doc = json.loads(render_report([hostile_result()], "json", generated="2025-06-01T00:00:00Z"))
    assert doc["results"][0]["greeting"] == PAYLOAD
    assert EndpointResult.from_json(hostile_result().to_json()).greeting == PAYLOAD


@pytest.fixture
def hostile_log(tmp_path: Path) -> Path:
    log = tmp_path / "mail.log"
    names = ["\x1b]0;owned\x07eve", FORMULA, "eve\u202egnp.exe", "-2+3"]
    log.write_text(
        "".join(
            f"Jun 10 09:15:{i:02d} mail dovecot[1503]: imap-login: Login: user=<{name}>, method=PLAIN, "
            f"rip=203.0.113.{i + 1}, lip=192.0.2.10, mpid=15{i:02d}, session=<a{i}>\n"
            for i, name in enumerate(names)
        ),
        encoding="utf-8",
    )
    return log


def test_logs_table_csv_and_footer_with_hostile_user_names(hostile_log: Path) -> None:
    for by in ("address", "user"):
        report = analyse([str(hostile_log)], by=by, year=2025)
        assert len(report.rows) == 4
        assert_terminal_clean(to_table(report))
        for line in footer(report):
            assert_terminal_clean(line)
        for row in csv.reader(io.StringIO(to_csv(report))):
            assert not any(cell.startswith(("=", "+", "@")) for cell in row), row
            assert not any(RAW_LEAKS.search(cell) for cell in row), row
        names = {u for r in json.loads(to_json(report)) for u in (r.get("users") or [r.get("user")])}
        assert FORMULA in names  # JSON keeps the exact name
