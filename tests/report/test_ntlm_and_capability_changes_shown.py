"""The NTLM names and the capability changes across STARTTLS reach the detail screen and every report."""

from __future__ import annotations

import csv
import io

from scanner.model import Capabilities, NtlmInfo
from scanner.report.formats import render_report
from scanner.row_facts import capability_changes_text, ntlm_summary
from scanner.tui.detail_text import detail_sections
from tests.factories import result

EXCHANGE = NtlmInfo(
    over_tls=False,
    target_name="CORP",
    netbios_computer="EX01",
    netbios_domain="CORP",
    dns_computer="EX01.corp.example.org",
    dns_domain="corp.example.org",
    dns_tree="example.org",
    product_version="10.0.17763",
    server_time="2026-12-01T09:30:00Z",
)
CAPS = Capabilities(
    ("IMAP4rev1", "LOGINDISABLED", "STARTTLS", "AUTH=NTLM"),
    ("IMAP4rev1", "AUTH=PLAIN", "AUTH=NTLM"),
    ("AUTH=PLAIN",),
    ("LOGINDISABLED", "STARTTLS"),
)


def row():  # type: ignore[no-untyped-def]
    return result(143, capabilities=CAPS, ntlm=EXCHANGE)


def test_words() -> None:
    assert capability_changes_text(CAPS) == "+AUTH=PLAIN -LOGINDISABLED -STARTTLS"
    assert capability_changes_text(Capabilities(("IMAP4rev1",), ("IMAP4rev1",))) is None
    assert ntlm_summary(EXCHANGE) == "EX01.corp.example.org, domain corp.example.org, Windows 10.0.17763 (in clear)"
    refused = NtlmInfo(over_tls=True, error="AUTHENTICATE NTLM refused: NO")
    assert ntlm_summary(refused) == "not read (after TLS): AUTHENTICATE NTLM refused: NO"


def test_detail_screen() -> None:
    sections = dict(detail_sections(row()))
    assert '  TLS changed: "+AUTH=PLAIN -LOGINDISABLED -STARTTLS"' in sections["Capabilities"]
    assert sections["NTLM challenge"] == [
        "  read:             in clear",
        '  target name:      "CORP"',
        '  NetBIOS computer: "EX01"',
        '  NetBIOS domain:   "CORP"',
        '  DNS computer:     "EX01.corp.example.org"',
        '  DNS domain:       "corp.example.org"',
        '  DNS forest:       "example.org"',
        "  Windows version:  10.0.17763",
        "  server time:      2026-12-01T09:30:00Z",
    ]
    assert "NTLM challenge" not in dict(detail_sections(result(143)))


def test_csv_columns() -> None:
    (header, line) = list(csv.reader(io.StringIO(render_report([row()], "csv"))))
    cells = dict(zip(header, line, strict=True))
    assert cells["caps_added_after_tls"] == "AUTH=PLAIN"
    assert cells["caps_removed_after_tls"] == "LOGINDISABLED STARTTLS"
    assert (cells["ntlm_read"], cells["ntlm_dns_computer"], cells["ntlm_windows_version"]) == (
        "in clear",
        "EX01.corp.example.org",
        "10.0.17763",
    )
    (_, bare) = list(csv.reader(io.StringIO(render_report([result(143)], "csv"))))
    assert dict(zip(header, bare, strict=True))["ntlm_read"] == ""


def test_html_and_markdown() -> None:
    html = render_report([row()], "html", generated="2026-12-06T00:00:00Z")
    assert "<b>Capabilities changed by TLS:</b>" in html and "-LOGINDISABLED" in html
    assert '<h3>NTLM challenge</h3><dl class="ntlm">' in html and "EX01.corp.example.org" in html
    markdown = render_report([row()], "markdown", generated="2026-12-06T00:00:00Z")
    assert "Capabilities changed by TLS: +AUTH=PLAIN -LOGINDISABLED -STARTTLS" in markdown
    assert "NTLM challenge: read in clear; target name CORP;" in markdown
