"""Progress on stderr: a status line on a terminal, only a summary otherwise."""

from __future__ import annotations

import io

from scanner.engine.progress import Progress, resume_hint
from scanner.model import EndpointResult, Finding


def result(state: str, severity: str | None = None) -> EndpointResult:
    findings = (Finding("x", severity, "t", "d", "r"),) if severity else ()
    return EndpointResult(host="h", address="192.0.2.1", name=None, port=143, protocol="imap", transport="starttls",
                          state=state, findings=findings)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_terminal_shows_counts_rate_and_eta():
    stream, clock = io.StringIO(), Clock()
    progress = Progress(total=10, stream=stream, tty=True, clock=clock)
    for state, severity in [("open", "high"), ("closed", None), ("filtered", None), ("open", "medium")]:
        clock.now += 0.5
        progress.update(result(state, severity))
    line = progress.status_line()
    assert line.startswith("4/10")
    assert "open 2" in line and "1 high 1 medium" in line and "2/s" in line and "ETA 3s" in line
    assert "\r" in stream.getvalue()
    progress.close()
    assert stream.getvalue().endswith("4 endpoints in 2.0s (2/s): 2 open, 1 closed, 1 filtered; "
                                      "endpoints with findings: 1 high 1 medium\n")


def test_not_a_terminal_is_quiet_until_the_summary():
    stream, clock = io.StringIO(), Clock()
    progress = Progress(total=lambda: None, stream=stream, tty=False, clock=clock)
    for _ in range(100):
        progress.update(result("filtered"))
    assert stream.getvalue() == ""
    clock.now += 4
    progress.close(note=resume_hint("out.jsonl"))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "mailprobe: 100 endpoints in 4.0s (25/s): 100 filtered"
    assert "--resume out.jsonl" in lines[1]
