"""Reports: HTML rendered by a real headless Chromium, JUnit parsed back, CSV, Markdown, JSON, the command."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scanner import cli
from scanner.model import Finding
from scanner.report.formats import render_report
from scanner.report.policy import evaluate_policy, policy_from_dict
from tests.report.report_samples import AUTH_ADVERTISED, LEGACY, PLAINTEXT_ACCEPTED, UNTRUSTED, certificate, endpoint
from tests.report.report_samples import write_jsonl as write

HOSTILE = Finding(
    "advertised-vs-actual",
    "low",
    "Greeting says <script>alert(1)</script>",
    'server text: =HYPERLINK("x") | `tick`',
    "Fix <b>this</b> & that",
)


def results():  # type: ignore[no-untyped-def]
    return [
        endpoint(143, verdict="accepted", findings=(PLAINTEXT_ACCEPTED, AUTH_ADVERTISED)),
        endpoint(993, cert=certificate(subject="CN=self", sha="cd" * 32, trusted=False), findings=(UNTRUSTED,)),
        endpoint(995, legacy=("TLSv1",), findings=(LEGACY,)),
        endpoint(110, state="closed"),
        endpoint(143, host="imap.example.org", address="198.51.100.20", findings=(HOSTILE,)),
        endpoint(993, host="imap.example.org", address="198.51.100.20", state="error"),
    ]


ALL_FINDINGS = [(r.address, r.port, f) for r in results() for f in r.findings]


# --- HTML in a real browser --------------------------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium is not installed (apt-get install chromium)", pytrace=False)
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def browser(tmp_path: Path, *extra: str) -> list[str]:
    return [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
        *extra,
    ]  # fmt: skip


class Dom(HTMLParser):
    """Texts of the finding blocks, host sections and all elements, from the DOM Chromium serialised."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.findings: dict[tuple[str, str], list[str]] = {}  # (endpoint, finding id) -> texts
        self.hosts: list[str] = []
        self.text: list[str] = []
        self._glue = False  # <bdi> isolates server text inline: its text joins its neighbours

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._glue = tag == "bdi"
        a = dict(attrs)
        if a.get("data-host"):
            self.hosts.append(a["data-host"] or "")
        if tag not in ("br", "meta", "link", "img", "hr", "input"):
            self.stack.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        self._glue = tag == "bdi"
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        glue, self._glue = self._glue, False
        _add(self.text, data, glue)
        where = next((a["data-endpoint"] for _, a in reversed(self.stack) if a.get("data-endpoint")), None)
        finding = next((a["data-finding"] for _, a in reversed(self.stack) if a.get("data-finding")), None)
        if where and finding:
            _add(self.findings.setdefault((where, finding), []), data, glue)


def _add(texts: list[str], data: str, glue: bool) -> None:
    if glue and texts:
        texts[-1] += data
    else:
        texts.append(data)


def test_html_report_renders_in_chromium_with_every_finding(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(results(), "html", generated="2025-06-01T10:00:00Z"), encoding="utf-8")
    run = subprocess.run([*browser(tmp_path), "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    dom = Dom()
    dom.feed(run.stdout)
    assert dom.hosts == ["mail.example.com", "imap.example.org"]
    for address, port, f in ALL_FINDINGS:
        texts = " ".join(dom.findings.get((f"{address}:{port}", f.id), []))
        assert f.title in texts and f.severity in texts, (port, f.id)
        assert f.remediation in texts and f.detail in texts
    assert len(dom.findings) == len(ALL_FINDINGS)
    body = " ".join(dom.text)
    # Summary and certificate details made it into the rendered page.
    assert "Hosts" in body and "Endpoints" in body and "ACCEPTED in clear: 1" in body
    # The summary comes first, in words: the verdict, then the worst findings with their fix, then the hosts.
    verdict = body.index("Passwords are accepted in clear on 1 endpoint")
    assert verdict < body.index("Worst findings and what to do") < body.index("192.0.2.10:143 IMAP")
    assert "not_applicable" not in body and "not applicable (TLS from the start)" in body  # words, not enum values
    assert "not trusted: self-signed certificate" in body and "cd" * 32 in body
    # A server's markup stays text (the remediation "Fix <b>this</b>" was found as text above).
    assert "script" not in dom.tags
    assert "Greeting says <script>alert(1)</script>" in body


def test_html_report_prints_to_pdf(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(results(), "html", generated="2025-06-01T10:00:00Z"), encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    run = subprocess.run(
        [*browser(tmp_path), "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") + data.count(b"/Type/Page") >= 2


def test_html_is_self_contained() -> None:
    html = render_report(results(), "html", generated="x")
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html and "@media print" in html


# --- JUnit ---------------------------------------------------------------------------------------------------------


def test_junit_parses_back_with_one_case_per_endpoint() -> None:
    root = ET.fromstring(render_report(results(), "junit", generated="2025-06-01T10:00:00Z", fail_on="medium"))
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "6", "failures": "3", "errors": "1", "skipped": "1",
    }  # fmt: skip
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["mail.example.com", "imap.example.org"]
    cases = {c.get("name"): c for s in suites for c in s.findall("testcase")}
    assert len(cases) == 6
    failure = cases["imap/starttls 192.0.2.10:143"].find("failure")
    assert failure is not None
    assert failure.get("type") == "critical"
    assert failure.get("message") == "plaintext-login-accepted (critical); plaintext-auth-advertised (medium)"
    assert "Fix: Set disable_plaintext_auth = yes and reload." in (failure.text or "")
    assert cases["imap/implicit 192.0.2.10:993"].find("failure") is not None
    assert cases["pop3/implicit 192.0.2.10:995"].find("failure") is not None
    low_only = cases["imap/starttls 198.51.100.20:143"]
    assert low_only.find("failure") is None  # low is below --fail-on medium
    assert "advertised-vs-actual" in (low_only.findtext("system-out") or "")
    assert cases["pop3/starttls 192.0.2.10:110"].find("skipped") is not None
    error = cases["imap/implicit 198.51.100.20:993"].find("error")
    assert error is not None and error.get("message") == "connection timed out"
    for suite in suites:
        assert int(suite.get("tests") or 0) == len(suite.findall("testcase"))


def test_junit_policy_violations_fail_cases() -> None:
    rows = [endpoint(110), endpoint(143)]
    outcome = evaluate_policy(policy_from_dict({"forbidden_protocols": ["pop3"]}), rows)
    root = ET.fromstring(render_report(rows, "junit", policy=outcome))
    failures = root.findall(".//failure")
    assert len(failures) == 1
    assert failures[0].get("message") == "[forbidden-protocol] POP3 is exposed"


# --- CSV, Markdown, JSON ---------------------------------------------------------------------------------------------


def test_csv_one_row_per_finding_and_no_formulas() -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(results(), "csv"))))
    assert len(rows) == len(ALL_FINDINGS) + 2  # the closed and the error endpoint have one row each
    first = rows[0]
    assert (first["port"], first["finding_id"], first["severity"]) == ("143", "plaintext-login-accepted", "critical")
    assert first["plaintext_login"] == "accepted" and first["cert_trusted"] == "yes"
    hostile = next(r for r in rows if r["finding_id"] == "advertised-vs-actual")
    assert hostile["detail"].startswith("server text: =HYPERLINK")  # not at the start: harmless
    evil = replace(HOSTILE, title="=cmd|' /C calc'!A0")
    row = next(csv.DictReader(io.StringIO(render_report([endpoint(143, findings=(evil,))], "csv"))))
    assert row["title"] == "'=cmd|' /C calc'!A0"


def test_markdown_has_summary_host_tables_findings_and_remediation() -> None:
    md = render_report(results(), "markdown", generated="2025-06-01T10:00:00Z")
    assert "| Hosts | 2 |" in md and "| Endpoints | 6 |" in md
    assert "## mail.example.com" in md and "## imap.example.org" in md
    # words for people, not the JSON's enum values
    assert "| 192.0.2.10:143 | imap/starttls | answering | ACCEPTED in clear | works | TLSv1.3 | critical | 2 |" in md
    for enum_value in ("not_applicable", "not_tested", "not_offered", "| open |", "| accepted |"):
        assert enum_value not in md
    for _, _, f in ALL_FINDINGS:
        assert f"`{f.id}`" in md
    assert "  - Remediation: Set disable\\_plaintext\\_auth = yes and reload." in md  # _ is emphasis markup
    assert 'server text: =HYPERLINK("x") \\| \\`tick\\`' in md  # pipes and backticks escaped
    assert "Greeting says &lt;script&gt;alert(1)&lt;/script&gt;" in md and "<script" not in md
    assert "Fix &lt;b&gt;this&lt;/b&gt; &amp; that" in md
    assert "Certificate: CN=self, issued by CN=self" in md


def test_json_report_round_trips_results() -> None:
    doc = json.loads(render_report(results(), "json", generated="2025-06-01T10:00:00Z"))
    assert doc["summary"]["endpoints"] == 6 and doc["summary"]["hosts"] == 2
    assert doc["summary"]["severities"] == {"critical": 1, "high": 1, "medium": 2, "low": 1, "info": 0}
    from scanner.model import EndpointResult

    assert [EndpointResult.from_dict(r) for r in doc["results"]] == results()


# --- the command ---------------------------------------------------------------------------------------------------


def test_report_command_writes_each_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "COMMANDS", ("scanner.commands.diff", "scanner.commands.report"))
    source = write(tmp_path / "results.jsonl", results())
    for fmt in ("csv", "json", "html", "junit", "markdown"):
        target = tmp_path / f"out.{fmt}"
        # written, and judged like the scan: a critical and a high finding fail at the default threshold (high)
        assert cli.main(["report", source, "--format", fmt, "-o", str(target)]) == 1
        assert target.stat().st_size > 500
    assert "2 findings at or above high:" in capsys.readouterr().err
    assert cli.main(["report", source, "--format", "csv", "-o", str(tmp_path / "x.csv"), "--fail-on", "none"]) == 0
    ET.parse(tmp_path / "out.junit")
    assert cli.main(["report", str(tmp_path / "none.jsonl"), "--format", "csv"]) == 2
    assert "none.jsonl: No such file or directory" in capsys.readouterr().err


def test_html_report_screenshot_in_chromium(tmp_path: Path) -> None:
    """Rendered as a browser paints it: a real PNG of the page (docs/report.png was taken the same way)."""
    page = tmp_path / "report.html"
    page.write_text(render_report(results(), "html", generated="2025-06-01T10:00:00Z"), encoding="utf-8")
    shot = tmp_path / "report.png"
    run = subprocess.run(
        [*browser(tmp_path), "--hide-scrollbars", "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 1600)
    assert len(data) > 20_000  # text and tables were painted, not a blank page


def test_html_report_with_a_baseline_says_what_changed(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    fixed_143 = [endpoint(110), endpoint(143), endpoint(993), endpoint(995)]
    before = write(tmp_path / "before.jsonl", results())
    after = write(tmp_path / "after.jsonl", fixed_143)
    out = tmp_path / "after.html"
    assert cli.main(["report", after, "--format", "html", "-o", str(out), "--baseline", before]) == 0
    page = out.read_text(encoding="utf-8")
    changes = page[page.index('<section id="changes">') :]
    assert "Changes since the baseline" in changes and "0 regressions" in changes
    assert "mail.example.com:143 imap/starttls: plaintext_login accepted -&gt; refused" in changes
    assert "fixed [critical] plaintext-login-accepted: Plaintext login accepted" in changes
    assert page.index('<section id="changes">') < page.index('class="host"')  # in the summary, before the hosts
    # the reverse is a regression: written, and exit 1 like the scan with a baseline
    argv = ["report", before, "--format", "html", "-o", str(out), "--baseline", after, "--fail-on", "none"]
    assert cli.main(argv) == 1
    assert "Worse than before:" in out.read_text(encoding="utf-8")
    assert "regression" in capsys.readouterr().err
