"""Render a Report: aligned table (for people), JSON (a list of objects, one per row), CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from scanner.logs.model import Report, Summary
from scanner.untrusted import for_csv, for_json, for_terminal


def row_dict(row: Summary, by: str) -> dict[str, Any]:
    """The JSON object of one row; ``address`` (or ``user`` with --by user) first."""
    head: dict[str, Any] = {"address": row.key} if by == "address" else {"user": row.key}
    head.update(
        labels=list(row.labels),
        insecure_logins=row.insecure_logins,
        insecure_failed_logins=row.insecure_failed_logins,
        refused_attempts=row.refused_attempts,
        secure_logins=row.secure_logins,
        unverified_logins=row.unverified_logins,
        probe_attempts=row.probe_attempts,
    )
    if by == "address":
        head.update(users=list(row.users), insecure_users=list(row.insecure_users))
    else:
        head.update(addresses=list(row.users), insecure_addresses=list(row.insecure_users))
    head.update(
        protocols=list(row.protocols),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        evidence=[
            {"kind": e.kind, "source": e.source, "line": e.line, **({"note": e.note} if e.note else {})}
            for e in row.evidence
        ],
        notes=list(row.notes),
    )
    return head


def to_json(report: Report) -> str:
    return for_json(json.dumps([row_dict(r, report.by) for r in report.rows], indent=2, ensure_ascii=False)) + "\n"


CSV_COLUMNS = (
    "insecure_logins", "insecure_failed_logins", "refused_attempts", "secure_logins", "unverified_logins",
)  # fmt: skip


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    key = "address" if report.by == "address" else "user"
    others = "users" if report.by == "address" else "addresses"
    writer.writerow([key, "labels", *CSV_COLUMNS, others, "protocols", "first_seen", "last_seen", "evidence"])
    for r in report.rows:
        writer.writerow(
            for_csv(cell) if isinstance(cell, str) else cell  # user names and log fields are attacker-chosen
            for cell in [
                r.key,
                " ".join(r.labels),
                r.insecure_logins,
                r.insecure_failed_logins,
                r.refused_attempts,
                r.secure_logins,
                r.unverified_logins,
                " ".join(r.users),
                " ".join(r.protocols),
                r.first_seen,
                r.last_seen,
                r.evidence[0].source if r.evidence else "",
            ]
        )
    return buf.getvalue()


def _names(values: tuple[str, ...], limit: int = 4) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" (+{len(values) - limit})" if len(values) > limit else "")


def _table_row(r: Summary) -> tuple[str, ...]:
    cells = (
        r.key,
        str(r.insecure_logins),
        str(r.insecure_failed_logins),
        str(r.refused_attempts),
        str(r.secure_logins),
        str(r.unverified_logins),
        _names(r.users),
        ",".join(r.protocols),
        r.first_seen,
        r.last_seen,
        ",".join(r.labels),
    )
    return tuple(for_terminal(cell) for cell in cells)  # user names come from whoever typed at a login prompt


def to_table(report: Report) -> str:
    key = "ADDRESS" if report.by == "address" else "USER"
    others = "USERS" if report.by == "address" else "ADDRESSES"
    header = (key, "INSECURE", "FAILED-CLEAR", "REFUSED", "SECURE", "UNVERIFIED", others, "PROTO", "FIRST", "LAST",
              "LABELS")  # fmt: skip
    rows = [_table_row(r) for r in report.rows]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.append("")
    lines.extend(footer(report))
    return "\n".join(lines) + "\n"


def footer(report: Report) -> list[str]:
    """Totals, notes and the malformed-line sample (stderr for json/csv, under the table otherwise), escaped for
    the terminal: notes name users and the sample quotes raw log lines."""
    to_fix = sum(1 for r in report.rows if r.to_fix)
    noun = "client addresses" if report.by == "address" else "users"
    out = [
        f"{len(report.files)} files, {report.lines} lines, {len(report.rows)} {noun}, {to_fix} to fix "
        f"(insecure, cleartext-failed or refused), {report.malformed} malformed lines skipped"
    ]
    for r in report.rows:
        for note in r.notes:
            out.append(f"note: {r.key}: {note}")
    out.extend(f"note: {n}" for n in report.notes)
    for f in report.files:
        if f.format in ("unknown", "unreadable") or f.format.endswith("-unknown"):
            out.append(f"skipped: {f.path}: {f.note or f.format}")
    if report.malformed_samples:
        out.append("malformed (sample):")
        out.extend(f"  {s}" for s in report.malformed_samples)
    return [for_terminal(line) for line in out]


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    return to_table(report)
