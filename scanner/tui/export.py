"""Write the rows the TUI shows to JSON Lines, JSON or CSV (format chosen by the file's extension)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from scanner.model import EndpointResult
from scanner.tui.cells import COLUMNS, plain_row
from scanner.untrusted import for_csv, for_json

FORMATS = (".jsonl", ".json", ".csv")
CSV_EXTRA = ("address", "state", "finding_ids", "error")


def format_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unknown export format {suffix or '(none)'!r}: use one of {', '.join(FORMATS)}")
    return suffix


def export_results(path: str, results: Sequence[EndpointResult]) -> int:
    """Write results in the order given; returns how many. CSV holds the table's words, the JSON forms everything."""
    fmt = format_for(path)
    with open(path, "w", encoding="utf-8", newline="") as out:
        if fmt == ".jsonl":
            for r in results:
                out.write(for_json(r.to_json()) + "\n")
        elif fmt == ".json":
            out.write(for_json(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=1)) + "\n")
        else:
            writer = csv.writer(out)
            writer.writerow([c.label for c in COLUMNS] + list(CSV_EXTRA))
            for r in results:
                ids = " ".join(f.id for f in r.findings)
                # Spreadsheets open this: no formula and no control character from server text.
                writer.writerow([for_csv(cell) for cell in (*plain_row(r), r.address, r.state, ids, r.error or "")])
    return len(results)
