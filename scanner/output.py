"""Plain output of results: the terminal table and JSON on stdout. Shared by `scan` and `demo --no-tui`.

Words and counts come from scanner.tally, as the TUI's and the reports' do."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TextIO

from scanner.model import SEVERITY_RANK, EndpointResult, ScanInfo
from scanner.tally import Counts, verdict_for_terminal
from scanner.text import plural
from scanner.untrusted import for_json, for_terminal


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


def tls_words(result: EndpointResult) -> str:
    """The version negotiated and, when the configuration was judged, the strictest Mozilla profile it meets."""
    tls = result.tls
    version = (tls.version if tls else None) or "-"
    return f"{version} ({tls.mozilla.summary})" if tls and tls.mozilla else version


def table_row(result: EndpointResult) -> list[str]:
    worst = result.worst_severity
    return [
        result.host if result.host == result.address else f"{result.host} ({result.address})",
        str(result.port),
        f"{result.protocol}/{result.transport}",
        result.state if result.state != "error" else f"error: {result.error or ''}",
        result.software or "-",
        verdict_for_terminal(result.plaintext_login.verdict),
        result.starttls if result.transport == "starttls" else "implicit",
        certificate_cell(result),
        tls_words(result),
        worst.upper() if worst else "ok",
    ]


_VERDICT_COLUMN = 5
HEADERS = ["host", "port", "service", "state", "software", "plaintext login", "starttls", "certificate", "tls", "worst"]


def render_table(results: Sequence[EndpointResult], *, hidden: Counter[str] | None = None) -> str:
    """A fixed-width table, most severe first; closed/filtered endpoints are counted below it, not listed."""
    width = shutil.get_terminal_size((160, 24)).columns
    # Hosts (PTR/MX names), software, error texts come from servers: escaped cell by cell, before widths are taken.
    # The verdict cell is mailprobe's own marks and words (an unknown verdict escaped already).
    rows = [
        [cell if i == _VERDICT_COLUMN else for_terminal(cell) for i, cell in enumerate(table_row(r))]
        for r in sorted(results, key=_order)
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(HEADERS)]
    widths = [min(w, 48) for w in widths]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)).rstrip()]
    for row in rows:
        cells = [_fit(cell, w) for cell, w in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip()[: max(width, 80)])
    fixes = what_to_fix(results)
    if fixes:
        lines += ["", "What to fix, worst first:", *fixes]
    lines.append("")
    lines.append(summary_line(results, hidden))
    return "\n".join(lines)


def what_to_fix(results: Iterable[EndpointResult]) -> list[str]:
    """Per endpoint with findings: what is wrong (worst first) and the first step to fix it."""
    lines: list[str] = []
    for result in sorted((r for r in results if r.findings), key=_order):
        findings = sorted(result.findings, key=lambda f: -SEVERITY_RANK[f.severity])
        where = f"{result.address}:{result.port} {result.protocol}/{result.transport}"
        wrong = "; ".join(f"{f.title} ({f.severity}: {f.id})" for f in findings)
        lines.append(for_terminal(f"  {where}: {wrong}"))
        lines.append(for_terminal(f"    first step: {findings[0].remediation}"))
    return lines


def summary_line(results: Iterable[EndpointResult], hidden: Counter[str] | None = None) -> str:
    """'12 endpoints (3 open, 9 closed); findings: 2 critical, 1 medium': the counts stderr's summary repeats."""
    counts = Counts.of(results, hidden)
    found = counts.findings_text()
    return f"{plural(counts.endpoints, 'endpoint')} ({counts.states_text()}); " + (
        f"findings: {found}" if found else "no findings"
    )


def write_json(results: Sequence[EndpointResult], scan: ScanInfo, stream: TextIO) -> None:
    """``{"scan": <the scan line of a results file>, "results": [...]}``."""
    from scanner.results_file import scan_record

    document = {"scan": scan_record(scan), "results": [r.to_dict() for r in results]}
    stream.write(for_json(json.dumps(document, ensure_ascii=False, indent=2)) + "\n")


def _fit(cell: str, width: int) -> str:
    return cell.ljust(width) if len(cell) <= width else cell[: width - 1] + "…"


def _order(result: EndpointResult) -> tuple[int, str, int]:
    worst = result.worst_severity
    return (-(SEVERITY_RANK[worst] if worst else -1), result.address, result.port)
