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
from scanner.model import (
    Capabilities,
    CertificateInfo,
    EndpointResult,
    Finding,
    PlaintextLogin,
    TlsInfo,
    TranscriptLine,
)
from scanner.output import render_table
from scanner.report.diff import diff_results, render_diff_table
from scanner.report.formats import render_report
from scanner.report.policy import evaluate_policy, policy_from_dict
from scanner.tui.cells import row_cells
from scanner.tui.detail_text import detail_sections, title_of
from scanner.tui.export import export_results

ESC = "\x1b"
# Each a known attack on a terminal, a viewer or a spreadsheet.
PAYLOAD = (
    "\x1b[2J\x1b[H"  # clear the screen
    "\x1b]0;owned\x07"  # window title
    "\x1b]52;c;ZWNobyBvd25lZA==\x07"  # clipboard
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\"  # hyperlink
    "\x1b[6n"  # make the terminal type into the shell
    "\x9b31m"  # C1 CSI
    "\r\x1b[32mplaintext login: refused\x1b[0m\n"  # a forged verdict line
    "\u202etxet desrever\u202c\u2066\u2069\u200b\ufeff\u3164"  # bidi and invisible characters
    "<script>alert(1)</script>[x](http://evil.example/)*b*|`c`\x00\x7f"
)
FORMULA = '=HYPERLINK("http://evil.example/","x")'
RAW_LEAKS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u3164]")


def hostile_result() -> EndpointResult:
    cert = CertificateInfo(
        subject=f"CN={PAYLOAD}", issuer=FORMULA, sans=(PAYLOAD, "mail.example.org"), not_before="2025-01-01",
        not_after="2026-01-01", days_left=10, sha256="ab" * 32, key=PAYLOAD, signature_algorithm="x",
        chain_length=1, trusted=False, trust_store="system", trust_error=PAYLOAD, self_signed=True,
        exchange_default=False, name_match=False, names_checked=(PAYLOAD,), chain=(PAYLOAD,),
    )  # fmt: skip
    return EndpointResult(
        host=f"mail{PAYLOAD}.example.org", address="192.0.2.7", name=FORMULA, port=143, protocol="imap",
        transport="starttls", state="open", error=PAYLOAD, greeting=PAYLOAD, software=FORMULA,
        capabilities=Capabilities((PAYLOAD, "IMAP4rev1"), (FORMULA,)), starttls="ok",
        plaintext_login=PlaintextLogin("accepted", (f"LOGIN in clear: OK {PAYLOAD}",)),
        tls=TlsInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", cert),
        transcript=(TranscriptLine("S", PAYLOAD, False, 1), TranscriptLine("C", f"a1 LOGIN u {PAYLOAD}", False, 2)),
        findings=(Finding("plaintext-login-accepted", "critical", f"accepted {PAYLOAD}", PAYLOAD, FORMULA),),
        ptr=PAYLOAD,
    )  # fmt: skip


def assert_terminal_clean(text: str) -> None:
    """No control, bidi or invisible character apart from the renderer's own line feeds."""
    assert not RAW_LEAKS.search(text), repr(RAW_LEAKS.search(text))
    for line in text.splitlines():
        assert "plaintext login: refused" not in line or "\\x1b" in line  # the forged verdict stays in its cell


def test_terminal_table_diff_policy_and_validation_lines() -> None:
    r = hostile_result()
    assert_terminal_clean(render_table([r]))
    before = EndpointResult(host=r.host, address=r.address, name=None, port=143, protocol="imap",
                            transport="starttls", state="open", software="Dovecot")  # fmt: skip
    assert_terminal_clean(render_diff_table(diff_results([before], [r])))
    outcome = evaluate_policy(policy_from_dict({"forbidden_protocols": ["imap"]}), [r])
    assert_terminal_clean(outcome.render())


def test_table_keeps_one_line_per_endpoint() -> None:
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
