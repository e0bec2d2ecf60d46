"""The STARTTLS command-injection verdict in every report, "not vulnerable" included: an audit report says what was
tested and passed, not only what failed (a vulnerable port also has its finding)."""

from __future__ import annotations

import csv
import dataclasses
import io

from scanner.model import InjectionTry, StartTlsInjection
from scanner.report.formats import render_report
from tests.factories import result

SAFE = StartTlsInjection("not_vulnerable", (InjectionTry("same-write", "CAPABILITY", "silent"),))
SKIPPED = StartTlsInjection("not_tested", note="STARTTLS not offered")
HOSTILE = StartTlsInjection(
    "not_tested", note='=cmd|" /C calc"!A0 <script>x</script>'
)  # note text may carry server words


def rows():  # type: ignore[no-untyped-def]
    return [
        dataclasses.replace(result(143), starttls_injection=SAFE),
        dataclasses.replace(result(110, address="192.0.2.11"), starttls_injection=SKIPPED),
        result(993, address="192.0.2.12"),  # implicit TLS: the test does not apply
    ]


def test_csv_has_a_column_for_it() -> None:
    header, *lines = list(csv.reader(io.StringIO(render_report(rows(), "csv"))))
    verdicts = {line[header.index("port")]: line[header.index("starttls_injection")] for line in lines}
    assert verdicts == {"143": "not_vulnerable", "110": "not_tested", "993": ""}


def test_markdown_and_html_say_it_in_words_with_the_reason() -> None:
    markdown = render_report(rows(), "markdown", generated="2026-12-07T00:00:00Z")
    assert "STARTTLS command injection: not vulnerable" in markdown
    assert "STARTTLS command injection: not tested (STARTTLS not offered)" in markdown
    assert markdown.count("STARTTLS command injection") == 2
    html = render_report(rows(), "html", generated="2026-12-07T00:00:00Z")
    assert "<b>STARTTLS command injection:</b> <bdi>not vulnerable</bdi>" in html
    assert html.count("STARTTLS command injection") == 2


def test_its_words_cannot_steer_a_report() -> None:
    bad = [dataclasses.replace(result(143), starttls_injection=HOSTILE)]
    html = render_report(bad, "html", generated="2026-12-07T00:00:00Z")
    assert "<script>x</script>" not in html
    header, line = list(csv.reader(io.StringIO(render_report(bad, "csv"))))
    assert line[header.index("starttls_injection")] == "not_tested"
