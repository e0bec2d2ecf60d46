"""Counts every report shows first: hosts, endpoints, states, plaintext-login verdicts, findings by severity
(scanner.tally's counts)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scanner.model import SEVERITIES, EndpointResult, Finding, ScanInfo
from scanner.tally import Counts


@dataclass(frozen=True)
class Summary:
    hosts: int
    endpoints: int
    states: dict[str, int]
    verdicts: dict[str, int]  # plaintext-login verdicts of open endpoints
    severities: dict[str, int]  # findings per severity, every severity present (zero included), worst first

    @property
    def findings(self) -> int:
        return sum(self.severities.values())


def summarise(results: Iterable[EndpointResult]) -> Summary:
    """The counts of scanner.tally (as the table, progress and the TUI count), plus hosts."""
    rows = list(results)
    counts = Counts.of(rows)
    return Summary(
        hosts=len({r.host for r in rows}),
        endpoints=counts.endpoints,
        states=dict(counts.states.most_common()),
        verdicts=dict(counts.verdicts.most_common()),
        severities={s: counts.findings[s] for s in SEVERITIES},
    )


def by_host(results: Iterable[EndpointResult]) -> dict[str, list[EndpointResult]]:
    """Results grouped by the host the user named, in first-seen order, each sorted by port."""
    groups: dict[str, list[EndpointResult]] = {}
    for r in results:
        groups.setdefault(r.host, []).append(r)
    return {host: sorted(rows, key=lambda r: (r.address, r.port)) for host, rows in groups.items()}


def sorted_findings(result: EndpointResult) -> list[Finding]:
    """Worst first, stable otherwise."""
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(result.findings, key=lambda f: order[f.severity])


def describe_scans(scans: Iterable[ScanInfo]) -> list[str]:
    """One line per scan: when, what, with which options (the report's "scanned with" statement)."""
    lines = []
    for scan in scans:
        targets = " ".join(scan.targets) or "(targets not recorded)"
        given = {k: v for k, v in scan.options.items() if v not in (None, "")}
        options = ", ".join(f"{k.replace('_', ' ')} {_option(v)}" for k, v in given.items())
        resumed = " (resumed)" if scan.resumed else ""
        line = f"Scan {scan.scan_id}{resumed} started {scan.started}: {targets}"
        lines.append(line + (f"; {options}" if options else ""))
    return lines


def _option(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value) or "-"
    return str(value)
