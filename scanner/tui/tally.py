"""Counts for the header: done/total, rate, ETA, and how many endpoints per verdict, severity and state.

Pure and incremental (add / replace), so the header costs nothing per row even at tens of thousands of endpoints.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from scanner.model import SEVERITIES, EndpointResult
from scanner.tui.cells import SILENT_STATES, format_duration


@dataclass
class Tally:
    done: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    by_verdict: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)

    def _count(self, r: EndpointResult, sign: int) -> None:
        self.by_state[r.state] += sign
        if r.state not in SILENT_STATES:
            self.by_verdict[r.plaintext_login.verdict] += sign
            self.by_severity[r.worst_severity or "none"] += sign

    def add(self, r: EndpointResult) -> None:
        self.done += 1
        self._count(r, 1)

    def replace(self, old: EndpointResult, new: EndpointResult) -> None:
        """A re-probe: the endpoint is still done once, its counts move."""
        self._count(old, -1)
        self._count(new, 1)

    @property
    def silent(self) -> int:
        return sum(self.by_state[s] for s in SILENT_STATES)

    def verdict_line(self) -> str:
        order = ("accepted", "inconclusive", "refused", "not_tested", "not_applicable")
        words = {
            "accepted": "✗ accepted",
            "inconclusive": "? inconclusive",
            "refused": "✓ refused",
            "not_tested": "- not tested",
            "not_applicable": "- n/a",
        }
        # The three verdicts that matter always show; the others only when some endpoint has them.
        shown = [v for v in order if v in ("accepted", "inconclusive", "refused") or self.by_verdict[v]]
        return "  ".join(f"{words[v]} {self.by_verdict[v]}" for v in shown)

    def severity_line(self) -> str:
        parts = [f"{s} {self.by_severity[s]}" for s in SEVERITIES]
        parts.append(f"none {self.by_severity['none']}")
        return "  ".join(parts)


def progress_line(done: int, total: int | None, elapsed: float, state: str) -> str:
    """e.g. "running  1,024/65,536  812/s  ETA 01:19" ("total unknown" while targets are still expanding)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    if total:
        remaining = max(0, total - done)
        eta = format_duration(remaining / rate) if rate > 0 else "--:--"
        count = f"{done:,}/{total:,} ({100 * done // total}%)"
    else:
        eta = "--:--"
        count = f"{done:,}/?"
    eta = f"took {format_duration(elapsed)}" if state in ("finished", "stopped") else f"ETA {eta}"
    return f"{state.upper()}  {count}  {rate:,.0f}/s  {eta}"
