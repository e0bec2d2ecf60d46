"""Plain output of results: the terminal table and JSON on stdout. Shared by `scan` and `demo --no-tui`."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TextIO

from scanner.model import SEVERITIES, SEVERITY_RANK, EndpointResult
from scanner.untrusted import for_terminal

_VERDICT_WORDS = {
    "refused": "refused",
    "accepted": "ACCEPTED",
    "inconclusive": "inconclusive?",
    "not_tested": "-",
    "not_applicable": "n/a",
}


def certificate_cell(result: EndpointResult) -> str:
    cert = result.tls.certificate if result.tls else None
    if cert is None:
        return "-"
    words = ["trusted" if cert.trusted else "UNTRUSTED"]
    if cert.self_signed:
        words.append("self-signed")
    if cert.name_match is False:
        words.append("NAME-MISMATCH")
    if cert.days_left < 0:
        words.append("EXPIRED")
    else:
        words.append(f"{cert.days_left}d")
    return " ".join(words)


def table_row(result: EndpointResult) -> list[str]:
    worst = result.worst_severity
    return [
        result.host if result.host == result.address else f"{result.host} ({result.address})",
        str(result.port),
        f"{result.protocol}/{result.transport}",
        result.state if result.state != "error" else f"error: {result.error or ''}",
        result.software or "-",
        _VERDICT_WORDS.get(result.plaintext_login.verdict, result.plaintext_login.verdict),
        result.starttls if result.transport == "starttls" else "implicit",
        certificate_cell(result),
        (result.tls.version if result.tls else None) or "-",
        worst.upper() if worst else "ok",
    ]


HEADERS = ["host", "port", "service", "state", "software", "plaintext login", "starttls", "certificate", "tls", "worst"]


def render_table(results: Sequence[EndpointResult], *, hidden: Counter[str] | None = None) -> str:
    """A fixed-width table, most severe first; closed/filtered endpoints are counted below it, not listed."""
    width = shutil.get_terminal_size((160, 24)).columns
    # Hosts (PTR/MX names), software, error texts come from servers: escaped cell by cell, before widths are taken.
    rows = [[for_terminal(cell) for cell in table_row(r)] for r in sorted(results, key=_order)]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(HEADERS)]
    widths = [min(w, 48) for w in widths]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)).rstrip()]
    for row in rows:
        cells = [_fit(cell, w) for cell, w in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip()[: max(width, 80)])
    findings = [(r, f) for r in results for f in r.findings]
    if findings:
        lines.append("")
        lines.append("findings:")
        for result, finding in sorted(findings, key=lambda pair: -SEVERITY_RANK[pair[1].severity]):
            where = f"{result.address}:{result.port}"
            lines.append(for_terminal(f"  {finding.severity.upper():8} {where}  {finding.id}: {finding.title}"))
    lines.append("")
    lines.append(summary_line(results, hidden))
    return "\n".join(lines)


def summary_line(results: Iterable[EndpointResult], hidden: Counter[str] | None = None) -> str:
    states: Counter[str] = Counter(hidden or {})
    severities: Counter[str] = Counter()
    for result in results:
        states[result.state] += 1
        severities.update(f.severity for f in result.findings)
    state_text = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    sev_text = ", ".join(f"{severities[s]} {s}" for s in SEVERITIES if severities[s]) or "no findings"
    return f"{sum(states.values())} endpoints ({state_text}); {sev_text}"


def write_json(results: Sequence[EndpointResult], stream: TextIO) -> None:
    json.dump([r.to_dict() for r in results], stream, ensure_ascii=False, indent=2)
    stream.write("\n")


def _fit(cell: str, width: int) -> str:
    return cell.ljust(width) if len(cell) <= width else cell[: width - 1] + "…"


def _order(result: EndpointResult) -> tuple[int, str, int]:
    worst = result.worst_severity
    return (-(SEVERITY_RANK[worst] if worst else -1), result.address, result.port)
