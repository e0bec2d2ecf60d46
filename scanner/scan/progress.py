"""Progress on stderr for plain (non-TUI) scans: a redrawn status line on a terminal, a summary at the end.

On a terminal: a rich progress bar (rich comes with Textual) redrawn twice a second by rich's own refresh thread,
so the elapsed time and ETA move even while every probe waits on a slow server; beside it done/total, open,
findings by severity and the rate. Not a terminal (CI, redirection): silent until the final summary line.
A sink of the result pipeline (scanner.pipeline): it counts with scanner.tally.Counts, as the table and the TUI do,
host findings included, so stderr and stdout agree.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from scanner.model import EndpointResult
from scanner.tally import Counts
from scanner.text import plural

TotalLike = int | None | Callable[[], int | None]


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
        self.counts = Counts()
        self._closed = False
        self._bar: Any = None
        self._task: Any = None
        if self.tty:
            self._start_bar()

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        console = Console(file=self.stream, force_terminal=True, highlight=False)
        self._bar = Bar(
            TextColumn("mailprobe"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}", markup=False),
            TimeRemainingColumn(),
            console=console,
            refresh_per_second=1 / self.interval,
            transient=True,  # the summary line replaces it
            # stdout carries results (--format jsonl): never routed through rich onto the progress stream
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task("scan", total=self.total, status="")
        self._bar.start()

    @property
    def total(self) -> int | None:
        return self._total() if callable(self._total) else self._total

    def add(self, result: EndpointResult) -> None:
        self.done += 1
        self.counts.add(result)
        if self._bar is not None:
            self._redraw()

    def revise(self, old: EndpointResult, new: EndpointResult) -> None:
        self.counts.replace(old, new)
        if self._bar is not None:
            self._redraw()

    def drain(self) -> None:
        return None

    async def aclose(self) -> None:
        self.stop()  # the bar leaves the terminal before anything else is printed

    def _redraw(self) -> None:
        self._bar.update(self._task, completed=self.done, total=self.total, status=self.status_text())

    def status_text(self, now: float | None = None) -> str:
        """The counts beside rich's bar, elapsed time and ETA columns."""
        elapsed = (self.clock() if now is None else now) - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"open {self.counts.states['open']:,}"]
        found = self.counts.findings_text()
        if found:
            parts.append(f"findings {found}")
        parts.append(f"{rate:,.0f}/s")
        return "  ".join(parts)

    def summary(self) -> str:
        """The closing line: the same counts as the table's last line."""
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"mailprobe: {plural(self.done, 'endpoint')} in {elapsed:.1f}s ({rate:,.0f}/s)"
        states = self.counts.states_text()
        if states:
            text += f": {states}"
        found = self.counts.findings_text()
        return text + (f"; findings: {found}" if found else "; no findings")

    def stop(self) -> None:
        """Take the bar off the terminal (before other output), without the summary."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def close(self, note: str | None = None) -> None:
        """Clear the status line and print the summary (and an optional note, e.g. how to resume)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self.stream.write(self.summary() + "\n")
        if note:
            self.stream.write(note + "\n")
        self.stream.flush()


def resume_hint(output: str | None) -> str:
    """What to tell a user whose scan was interrupted."""
    if not output:
        return "mailprobe: interrupted; results were not saved (use -o FILE to keep them and --resume FILE to go on)"
    return (
        f"mailprobe: interrupted; finished results are in {output}; add --resume {output} to the same command to go on"
    )
