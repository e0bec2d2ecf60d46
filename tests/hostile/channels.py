"""Hostile text and the checks that every output channel shows it safely; shared by the hostile suite."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from scanner.model import (
    Capabilities,
    EndpointResult,
    Finding,
    NtlmInfo,
    PlaintextLogin,
    TranscriptLine,
)
from scanner.output import render_table
from scanner.report.formats import render_report
from scanner.tui.cells import row_cells
from scanner.tui.detail_text import detail_sections
from tests.factories import certificate, result

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
    cert = certificate(
        f"CN={PAYLOAD}", trusted=False, issuer=FORMULA, sans=(PAYLOAD, "mail.example.org"), not_before="2025-01-01",
        not_after="2026-01-01", days_left=10, key=PAYLOAD, signature_algorithm="x", trust_error=PAYLOAD,
        name_match=False, names_checked=(PAYLOAD,), chain=(PAYLOAD,),
    )  # fmt: skip
    return result(
        143, host=f"mail{PAYLOAD}.example.org", address="192.0.2.7", name=FORMULA, verdict="accepted", cert=cert,
        error=PAYLOAD, greeting=PAYLOAD, software=FORMULA,
        capabilities=Capabilities((PAYLOAD, "IMAP4rev1"), (FORMULA,), (FORMULA,), (PAYLOAD, "IMAP4rev1")),
        ntlm=NtlmInfo(over_tls=False, target_name=PAYLOAD, netbios_computer=FORMULA, dns_domain=PAYLOAD,
                      dns_tree=PAYLOAD, product_version="10.0.17763", problems=("dns computer: not valid UTF-16",)),
        plaintext_login=PlaintextLogin("accepted", (f"LOGIN in clear: OK {PAYLOAD}",)),
        transcript=(TranscriptLine("S", PAYLOAD, False, 1), TranscriptLine("C", f"a1 LOGIN u {PAYLOAD}", False, 2)),
        findings=(Finding("plaintext-login-accepted", "critical", f"accepted {PAYLOAD}", PAYLOAD, FORMULA),),
        ptr=PAYLOAD,
    )  # fmt: skip


def assert_terminal_clean(text: str) -> None:
    """No control, bidi or invisible character apart from the renderer's own line feeds."""
    assert not RAW_LEAKS.search(text), repr(RAW_LEAKS.search(text))
    for line in text.splitlines():
        assert "plaintext login: refused" not in line or "\\x1b" in line  # the forged verdict stays in its cell


def assert_every_channel_clean(results: Sequence[EndpointResult]) -> None:
    """Table, TUI cells and detail, CSV, JUnit, Markdown and HTML of these results carry nothing raw."""
    rows = list(results)
    assert_terminal_clean(render_table(rows))
    for r in rows:
        for cell in row_cells(r):
            assert_terminal_clean(cell.text)
        for _, lines in detail_sections(r):
            for one in lines:
                assert_terminal_clean(one)
    for row in csv.reader(io.StringIO(render_report(rows, "csv"))):
        assert not any(cell.startswith(("=", "+", "@")) or RAW_LEAKS.search(cell) for cell in row), row
    ET.fromstring(render_report(rows, "junit", generated="2025-06-01T00:00:00Z"))
    markdown = render_report(rows, "markdown", generated="2025-06-01T00:00:00Z")
    assert "<" not in markdown.replace("&lt;", "")
    assert_terminal_clean(markdown)
    document = render_report(rows, "json", generated="2025-06-01T00:00:00Z")
    assert not RAW_LEAKS.search(document)  # safe to print...
    assert [r["greeting"] for r in json.loads(document)["results"]] == [r.greeting for r in rows]  # ...and exact
    assert [(r["ntlm"] or {}).get("target_name") for r in json.loads(document)["results"]] == [
        r.ntlm.target_name if r.ntlm else None for r in rows
    ]
    html = render_report(rows, "html", generated="2025-06-01T00:00:00Z")
    assert "<script" not in html and not RAW_LEAKS.search(html.replace("\n", ""))
