"""The header's lines: done/total, rate, ETA, and the counts of scanner.tally (plaintext-login verdicts of the
endpoints that answered, findings by severity, states), worded with its labels.

Incremental (add / replace), so the header costs nothing per row even at tens of thousands of endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scanner.model import SEVERITIES, EndpointResult
from scanner.tally import SILENT_STATES, VERDICT_ORDER, Counts, verdict_label
from scanner.tui.cells import format_duration

# The verdicts that matter always show; the others only when some endpoint has them.
_ALWAYS = ("accepted", "inconclusive", "refused")


@dataclass
class Tally:
    done: int = 0
    counts: Counts = field(default_factory=Counts)

    def add(self, r: EndpointResult) -> None:
        self.done += 1
        self.counts.add(r)

    def replace(self, old: EndpointResult, new: EndpointResult) -> None:
        """A re-probe, or host findings that came with another port: the endpoint is still done once, its counts
        move."""
        self.counts.replace(old, new)

    @property
    def silent(self) -> int:
        return sum(self.counts.states[s] for s in SILENT_STATES)

    def verdict_line(self) -> str:
        verdicts = self.counts.verdicts
        shown = [v for v in VERDICT_ORDER if v in _ALWAYS or verdicts[v]]
        return "  ".join(f"{verdict_label(v).short} {verdicts[v]}" for v in shown)

    def severity_line(self) -> str:
        parts = [f"{s} {self.counts.findings[s]}" for s in SEVERITIES]
        parts.append(f"(endpoints without any: {self.counts.clean})")
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
