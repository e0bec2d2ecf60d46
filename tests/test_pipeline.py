"""The one result pipeline: host findings are judged once, as rows arrive, and every consumer (the results file,
stdout as JSON Lines, JSON and the table, the Markdown report, the TUI) shows the same findings and the same counts.

The scans here run the real scheduler over a fake probe that answers with canned rows (tests/tui/tui_fakes.py), in
an order that makes the pipeline revise a row it already handed on: the 143 of a host answers before its 993."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from scanner.commands.scan import plain_scan
from scanner.model import EndpointResult
from scanner.pipeline import Collector, ResultPipeline, Sink
from scanner.report.load import load_results
from scanner.report.markdown import render_markdown
from scanner.results_file import new_scan, read_result_file
from scanner.settings import build_settings
from scanner.tally import Counts
from scanner.tui.app import ScanApp
from scanner.verdicts.host import with_host_findings
from tests.tui.tui_fakes import cert, demo_like, fake_scan, fixed_clock, result

Key = tuple[str, int]
OTHER = dataclasses.replace(cert(subject="CN=other.example.test"), sha256="cd" * 32)
SEVERITY_LINE = "critical 4  high 2  medium 1  low 1  info 2  (endpoints without any: 2)"


def probed_rows() -> list[EndpointResult]:
    """The demo's rows, plus two hosts whose findings need several ports: 127.0.0.20 shows another certificate on
    993 than on 143 (both rows), 127.0.0.21 answers on 143 while its 993 is closed (implicit TLS missing)."""
    return [
        *demo_like(),
        result(20, 143),
        result(20, 993, certificate=OTHER),
        result(21, 143),
        result(21, 993, state="closed"),
    ]


def ids(rows: list[EndpointResult]) -> dict[Key, set[str]]:
    return {r.key: {f.id for f in r.findings} for r in rows if r.state in ("open", "error")}


def expected() -> dict[Key, set[str]]:
    found = ids(with_host_findings(probed_rows()))  # the rules over the whole scan at once (as a file is read)
    assert found[("127.0.0.20", 143)] >= {"cert-differs-across-ports"}  # the scans below can show what they lack
    assert found[("127.0.0.20", 993)] >= {"cert-differs-across-ports"}
    assert "implicit-tls-missing" in found[("127.0.0.21", 143)]
    return found


class Recorder(Sink):
    def __init__(self) -> None:
        self.added: list[EndpointResult] = []
        self.revised: list[tuple[EndpointResult, EndpointResult]] = []

    def add(self, result: EndpointResult) -> None:
        self.added.append(result)

    def revise(self, old: EndpointResult, new: EndpointResult) -> None:
        self.revised.append((old, new))


def finding_ids(r: EndpointResult) -> set[str]:
    return {f.id for f in r.findings}


async def test_a_later_port_revises_the_row_already_given_whole() -> None:
    sink = Recorder()
    pipeline = ResultPipeline([sink])
    imap, imaps = result(7, 143), result(7, 993, certificate=OTHER)
    await pipeline.put(imap)
    assert sink.added == [imap] and sink.revised == []
    await pipeline.put(imaps)
    assert "cert-differs-across-ports" in finding_ids(sink.added[1])
    ((old, new),) = sink.revised
    assert old == dataclasses.replace(imap, transcript=())  # as the sinks had it (the judge keeps no transcript)
    assert "cert-differs-across-ports" in finding_ids(new)
    assert new.transcript == imap.transcript and new.transcript  # the file's latest line must be the whole row
    assert dataclasses.replace(new, findings=imap.findings) == imap
    # 993 probed again after the fix: one certificate on the host, the finding leaves both rows
    sink.revised.clear()
    fixed = await pipeline.replace(sink.added[1], result(7, 993))
    assert "cert-differs-across-ports" not in finding_ids(fixed)
    assert [(o.key, finding_ids(n)) for o, n in sink.revised] == [(imaps.key, set()), (imap.key, set())]


async def test_silent_ports_of_a_host_without_an_open_one_are_not_judged() -> None:
    sink = Recorder()
    pipeline = ResultPipeline([sink])
    for port in (993, 995, 143, 110):
        await pipeline.put(result(30, port, state="filtered"))
    assert sink.revised == [] and all(not r.findings for r in sink.added)
    await pipeline.put(result(31, 993, state="closed"))
    await pipeline.put(result(31, 143))  # the closed 993 was kept (compactly) for this
    assert "implicit-tls-missing" in finding_ids(sink.added[-1])


def run_plain(tmp_path: Path, capfd: pytest.CaptureFixture[str], fmt: str, name: str) -> tuple[str, str, Path]:
    import asyncio

    out = tmp_path / f"{name}.jsonl"
    settings = build_settings({"targets": ["127.0.0.0/24"], "format": fmt, "output": str(out), "fail_on": "none"})
    scan, _ = fake_scan(probed_rows(), delay=0.01, concurrency=2)
    info = new_scan(["127.0.0.0/24"], settings.recorded())
    asyncio.run(plain_scan(scan, settings, None, info))
    captured = capfd.readouterr()
    return captured.out, captured.err, out


def table_ids(table: str) -> dict[Key, set[str]]:
    """The finding ids the table's "What to fix" lines name per endpoint."""
    found: dict[Key, set[str]] = {}
    for line in table.splitlines():
        m = re.match(r"  (\d+\.\d+\.\d+\.\d+):(\d+) \S+: (.*)", line)
        if m:
            found[(m[1], int(m[2]))] = set(re.findall(r"\((?:critical|high|medium|low|info): ([a-z0-9-]+)\)", m[3]))
    return found


def markdown_ids(text: str) -> dict[Key, set[str]]:
    found: dict[Key, set[str]] = {}
    key: Key | None = None
    for line in text.splitlines():
        if m := re.match(r"### (\S+):(\d+) ", line):
            key = (m[1], int(m[2]))
            found[key] = set()
        elif (m := re.match(r"- \*\*\w+\*\* `([a-z0-9-]+)`", line)) and key is not None:
            found[key].add(m[1])
    return found


def without_empty(found: dict[Key, set[str]]) -> dict[Key, set[str]]:
    return {k: v for k, v in found.items() if v}


def test_host_findings_are_the_same_in_every_output(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    want = expected()
    # stdout as JSON Lines: a results file itself (the scan line, then rows; a revised row comes again later)
    out, _, file = run_plain(tmp_path, capfd, "jsonl", "jsonl")
    stream = tmp_path / "stdout.jsonl"
    stream.write_text(out)
    as_streamed = read_result_file(stream)
    assert as_streamed.scans and as_streamed.lines > len(as_streamed.results)  # at least one row was revised
    assert ids(list(as_streamed.results)) == want
    # the -o file, read raw (not through the loader, which would judge the host rules again)
    assert ids(list(read_result_file(file).results)) == want
    # --format json
    out, _, _ = run_plain(tmp_path, capfd, "json", "json")
    assert ids([EndpointResult.from_dict(r) for r in json.loads(out)["results"]]) == want
    # the table
    out, err, _ = run_plain(tmp_path, capfd, "table", "table")
    assert table_ids(out) == without_empty(want)
    # the Markdown report of the file
    assert without_empty(markdown_ids(render_markdown(load_results(file).results, "now"))) == without_empty(want)


async def test_the_tui_shows_the_same_findings_and_counts(tmp_path: Path) -> None:
    want = expected()
    scan, _ = fake_scan(probed_rows(), delay=0.01, concurrency=2)
    output = tmp_path / "tui.jsonl"
    app = ScanApp(scan, clock=fixed_clock(), flush_interval=0.05, output_path=str(output))
    async with app.run_test(size=(170, 40)) as pilot:
        for _ in range(300):
            if app.state == "finished" and len(app.view.results) == len(probed_rows()):
                break
            await pilot.pause(0.02)
        app.flush()
        rows = list(app.view.results.values())
        assert ids(rows) == want
        # the host findings counted once each, on the rows they concern (the revised 143s replaced, not added)
        assert app.tally.severity_line() == SEVERITY_LINE
        assert app.tally.counts == Counts.of(with_host_findings(probed_rows()))
    assert ids(list(read_result_file(output).results)) == want  # the TUI's -o file too


def test_the_table_and_stderr_count_severity_as_the_tui_does(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Findings are counted, not endpoints (127.0.0.5 has two critical ones), host findings included (2 info and 1
    low): the same numbers as the TUI's header (SEVERITY_LINE) on the same rows."""
    out, err, _ = run_plain(tmp_path, capfd, "table", "counts")
    assert out.strip().splitlines()[-1] == (
        "14 endpoints (11 open, 2 closed, 1 filtered); findings: 4 critical, 2 high, 1 medium, 1 low, 2 info"
    )
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith(": 11 open, 2 closed, 1 filtered; findings: 4 critical, 2 high, 1 medium, 1 low, 2 info")
    )


def test_collector_counts_silent_rows_and_keeps_revisions_once() -> None:
    kept = Collector()
    kept.add(result(40, 143, state="closed"))
    row = result(40, 110)
    kept.add(row)
    kept.revise(row, dataclasses.replace(row, software="Dovecot 2.3"))
    assert kept.hidden == {"closed": 1} and [r.software for r in kept.rows] == ["Dovecot 2.3"]
    assert kept.rows[0].transcript == ()  # the end of a scan never shows transcripts: not kept
