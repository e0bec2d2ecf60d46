"""Reading scan results (JSON Lines of EndpointResult) for the diff, the policy and the reports.

Uses scanner.engine.jsonl when it is there (crash-tolerant reading owned by the engine); otherwise a small local
reader with the same tolerance for a torn last line, so a scan killed mid-write can still be a baseline.
"""

from __future__ import annotations

import json
from pathlib import Path

from scanner.cli import UsageError
from scanner.model import EndpointResult


def read_results(path: str | Path) -> list[EndpointResult]:
    """All results in a JSONL file; a missing or unreadable file, or a corrupt line before the last, is a
    UsageError (the user named a wrong file). A torn final line (crash while writing) is skipped."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{file}: cannot read: {exc}") from None
    lines = text.splitlines()
    results: list[EndpointResult] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            results.append(EndpointResult.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            if number == len(lines) and not text.endswith("\n"):
                break  # torn last line of an interrupted scan
            why = f"{exc.__class__.__name__}: {exc}"
            raise UsageError(f"{file}:{number}: not a mailprobe result line ({why})") from None
    return results
