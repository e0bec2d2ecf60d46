"""Progress on stderr for plain (non-TUI) scans: a redrawn status line on a terminal, a summary at the end.

On a terminal: done/total, open, findings by severity, rate and ETA, redrawn at most twice a second.
Not a terminal (CI, redirection): silent until the final summary line.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from scanner.model import SEVERITIES, EndpointResult

TotalLike = int | None | Callable[[], int | None]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    def __init__(
        self,
        total: TotalLike = None,
        stream: TextIO = sys.stderr,
        *,
        tty: bool | None = None,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._total = total
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.states: Counter[str] = Counter()
        self.findings: Counter[str] = Counter()
        self._last_draw = float("-inf")
        self._drawn = 0  # width of the status line on screen
        self._closed = False

    @property
    def total(self) -> int | None:
        return self._total() if callable(self._total) else self._total

    def update(self, result: EndpointResult) -> None:
        self.done += 1
        self.states[result.state] += 1
        if result.worst_severity:
            self.findings[result.worst_severity] += 1
        now = self.clock()
        if self.tty and now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw(self.status_line(now))

    def status_line(self, now: float | None = None) -> str:
        elapsed = (self.clock() if now is None else now) - self.started
        total = self.total
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.done:,}/{total:,}" if total is not None else f"{self.done:,}/?"]
        parts.append(f"open {self.states['open']:,}")
        found = self._findings_text()
        if found:
            parts.append(f"findings {found}")
        parts.append(f"{rate:,.0f}/s")
        if total is not None and rate > 0 and self.done < total:
            parts.append(f"ETA {_duration((total - self.done) / rate)}")
        return "  ".join(parts)

    def _findings_text(self) -> str:
        return " ".join(f"{self.findings[s]} {s}" for s in SEVERITIES if self.findings[s])

    def summary(self) -> str:
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        states = ", ".join(f"{self.states[s]:,} {s}" for s in ("open", "closed", "filtered", "error") if self.states[s])
        text = f"mailprobe: {self.done:,} endpoints in {elapsed:.1f}s ({rate:,.0f}/s)"
        if states:
            text += f": {states}"
        found = self._findings_text()
        return text + (f"; endpoints with findings: {found}" if found else "")

    def _draw(self, line: str) -> None:
        pad = max(self._drawn - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._drawn = len(line)

    def close(self, note: str | None = None) -> None:
        """Clear the status line and print the summary (and an optional note, e.g. how to resume)."""
        if self._closed:
            return
        self._closed = True
        if self.tty and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
        self.stream.write(self.summary() + "\n")
        if note:
            self.stream.write(note + "\n")
        self.stream.flush()


def resume_hint(output: str | None) -> str:
    """What to tell a user whose scan was interrupted."""
    if not output:
        return "mailprobe: interrupted; results were not saved (use -o FILE to keep them and --resume FILE to go on)"
    return (f"mailprobe: interrupted; finished results are in {output}; "
            f"add --resume {output} to the same command to go on")
