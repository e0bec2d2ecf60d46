"""Words, rankings and counts of results: defined here once, for every view (the terminal table, progress, the TUI,
the reports, the diff, validation).

- ``VERDICTS``: each plaintext-login verdict's label. ``short`` is what a table cell or a count shows (a mark that
  means the same without colour, then the word, in capitals where a password is taken in clear); ``long`` is the
  sentence-friendly word of the reports.
- ``VERDICT_RANK``: how good a verdict is (higher is better; equal ranks are neither better nor worse, so a diff
  calls refused -> not_applicable neutral); ``VERDICT_ORDER`` lists them worst first, ties in a fixed order.
- ``STATE_WORDS`` and ``STARTTLS_WORDS``: the words for people of the other enum fields.
- ``Counts``: endpoints by state, plaintext-login verdicts of the endpoints that answered, and findings by severity
  (every finding counts: an endpoint with two high findings adds two). Incremental (add, remove), so a live view
  keeps it at no cost per row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from scanner.model import SEVERITIES, EndpointResult

# Endpoints in these states answered nothing useful: counted, but not listed by the table or the TUI by default.
SILENT_STATES = frozenset({"closed", "filtered"})


@dataclass(frozen=True)
class Label:
    word: str  # "accepted", "not tested"
    mark: str  # one character that carries the meaning without colour
    long: str  # the reports' words
    loud: bool = False  # shouted (capitals) in table cells: a password taken in clear

    @property
    def short(self) -> str:
        return f"{self.mark} {self.word.upper() if self.loud else self.word}"


VERDICTS: dict[str, Label] = {
    "accepted": Label("accepted", "✗", "ACCEPTED in clear", loud=True),
    "inconclusive": Label("inconclusive", "?", "inconclusive"),
    "not_tested": Label("not tested", "-", "not tested"),
    "refused": Label("refused", "✓", "refused"),
    "not_applicable": Label("n/a", "-", "not applicable (TLS from the start)"),
}
VERDICT_RANK: dict[str, int] = {"accepted": 0, "inconclusive": 1, "not_tested": 1, "refused": 2, "not_applicable": 2}
VERDICT_ORDER: tuple[str, ...] = tuple(VERDICTS)  # worst first; sorting and the filter key cycle in this order

STATE_WORDS: dict[str, str] = {
    "open": "answering",
    "closed": "closed (connection refused)",
    "filtered": "no answer",
    "error": "error",
}
INJECTION_WORDS: dict[str, str] = {  # the STARTTLS command-injection test's verdicts
    "vulnerable": "VULNERABLE",
    "not_vulnerable": "not vulnerable",
    "inconclusive": "inconclusive",
    "not_tested": "not tested",
}


def injection_text(r: EndpointResult) -> str | None:
    """The STARTTLS command-injection verdict in words, with why it was not tested; None where it does not apply
    (implicit TLS, a port that was never talked to)."""
    injection = r.starttls_injection
    if injection is None:
        return None
    words = INJECTION_WORDS.get(injection.verdict, injection.verdict)
    return f"{words} ({injection.note})" if injection.note else words


STARTTLS_WORDS: dict[str, str] = {
    "ok": "works",
    "failed": "failed",
    "not_offered": "not offered",
    "not_applicable": "TLS from the start",
    "not_tested": "not tested",
}


def verdict_label(verdict: str) -> Label:
    """The label of a verdict; one this version does not know (a newer file) is shown as it is, marked unclear."""
    return VERDICTS.get(verdict) or Label(verdict, "?", verdict)


def verdict_for_terminal(verdict: str) -> str:
    """A verdict's label on a terminal: mailprobe's own marks (✓ ✗) are not server text and stay, but a verdict this
    version does not know (read from a newer file) is, and is escaped."""
    from scanner.untrusted import for_terminal

    label = verdict_label(verdict)
    return label.short if verdict in VERDICTS else f"{label.mark} {for_terminal(verdict)}"


def verdict_order(verdict: str) -> tuple[int, int]:
    """Sort key, worst first: the rank, then the fixed order among equals."""
    position = VERDICT_ORDER.index(verdict) if verdict in VERDICTS else len(VERDICT_ORDER)
    return (VERDICT_RANK.get(verdict, 1), position)


@dataclass
class Counts:
    states: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)  # endpoints that answered (state open)
    findings: Counter[str] = field(default_factory=Counter)  # findings by severity
    clean: int = 0  # endpoints that answered without any finding

    @classmethod
    def of(cls, results: Iterable[EndpointResult], hidden: Counter[str] | None = None) -> Counts:
        """The counts of ``results``; ``hidden``: endpoints by state that are counted but were not kept."""
        counts = cls(states=Counter(hidden or {}))
        for result in results:
            counts.add(result)
        return counts

    def add(self, result: EndpointResult, sign: int = 1) -> None:
        self.states[result.state] += sign
        if result.state == "open":
            self.verdicts[result.plaintext_login.verdict] += sign
            if not result.findings:
                self.clean += sign
        for finding in result.findings:
            self.findings[finding.severity] += sign

    def remove(self, result: EndpointResult) -> None:
        self.add(result, -1)

    def replace(self, old: EndpointResult, new: EndpointResult) -> None:
        """The same endpoint again (a re-probe, or host findings added): its counts move."""
        self.remove(old)
        self.add(new)

    @property
    def endpoints(self) -> int:
        return sum(self.states.values())

    def states_text(self) -> str:
        """e.g. "3 open, 9 closed": every state that has an endpoint, in the order of STATE_WORDS."""
        order = [*STATE_WORDS, *sorted(set(self.states) - set(STATE_WORDS))]
        return ", ".join(f"{self.states[state]:,} {state}" for state in order if self.states[state])

    def findings_text(self) -> str:
        """e.g. "2 critical, 1 medium" (worst first, severities without findings left out); "" for none."""
        return ", ".join(f"{self.findings[s]:,} {s}" for s in SEVERITIES if self.findings[s])
