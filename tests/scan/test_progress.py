"""Progress on stderr: a status line on a terminal, only a summary otherwise."""

from __future__ import annotations

import dataclasses
import io
import time

from scanner.model import EndpointResult, Finding
from scanner.scan.progress import Progress, resume_hint
from tests.factories import result as shared_result


def result(state: str, severity: str | None = None) -> EndpointResult:
    findings = (Finding("x", severity, "t", "d", "r"),) if severity else ()  # type: ignore[arg-type]
    return shared_result(address="192.0.2.1", state=state, findings=findings)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_status_counts_and_rate():
    stream, clock = io.StringIO(), Clock()
    progress = Progress(total=10, stream=stream, tty=False, clock=clock)
    for state, severity in [("open", "high"), ("closed", None), ("filtered", None), ("open", "medium")]:
        clock.now += 0.5
        progress.add(result(state, severity))
    assert progress.status_text() == "open 2  findings 1 high, 1 medium  2/s"
    progress.close()
    assert stream.getvalue().endswith(
        "4 endpoints in 2.0s (2/s): 2 open, 1 closed, 1 filtered; findings: 1 high, 1 medium\n"
    )


def test_a_revised_row_moves_the_counts():
    """Host findings that came with a later port of the host: the row is revised, counted once, with them."""
    stream, clock = io.StringIO(), Clock()
    progress = Progress(total=1, stream=stream, tty=False, clock=clock)
    first = result("open", "high")
    progress.add(first)
    clock.now += 1
    extra = (Finding("y", "medium", "t", "d", "r"), Finding("z", "medium", "t", "d", "r"))
    progress.revise(first, dataclasses.replace(first, findings=first.findings + extra))
    progress.close()
    assert stream.getvalue() == "mailprobe: 1 endpoint in 1.0s (1/s): 1 open; findings: 1 high, 2 medium\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_line_is_redrawn_while_no_result_arrives():
    """A slow server sends nothing for seconds: the line (elapsed time) is still redrawn, by rich's refresh."""
    stream = Terminal()
    progress = Progress(total=4, stream=stream, interval=0.1)
    progress.add(result("open"))
    before = stream.getvalue().count("\r") + stream.getvalue().count("\x1b[")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and stream.getvalue().count("\r") + stream.getvalue().count("\x1b[") < before + 4:
        time.sleep(0.05)
    redraws = stream.getvalue().count("\r") + stream.getvalue().count("\x1b[")
    progress.close()
    assert redraws >= before + 4, stream.getvalue()
    assert "1/4" in stream.getvalue() and "open 1" in stream.getvalue()
    assert stream.getvalue().endswith("; no findings\n")


def test_not_a_terminal_is_quiet_until_the_summary():
    stream, clock = io.StringIO(), Clock()
    progress = Progress(total=lambda: None, stream=stream, tty=False, clock=clock)
    for _ in range(100):
        progress.add(result("filtered"))
    assert stream.getvalue() == ""
    clock.now += 4
    progress.close(note=resume_hint("out.jsonl"))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "mailprobe: 100 endpoints in 4.0s (25/s): 100 filtered; no findings"
    assert "--resume out.jsonl" in lines[1]


def test_the_bar_leaves_stdout_alone(capsys):
    """--format jsonl on a terminal: results written to stdout while the bar runs stay on stdout."""
    import sys

    progress = Progress(total=2, stream=Terminal(), interval=0.1)
    sys.stdout.write('{"port": 143}\n')
    progress.add(result("open"))
    progress.close()
    assert capsys.readouterr().out == '{"port": 143}\n'
