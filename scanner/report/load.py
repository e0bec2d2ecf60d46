"""Reading scan results (JSON Lines of EndpointResult) for the diff, the policy and the reports.

Delegates to scanner.engine.jsonl (crash-tolerant: a torn last line is skipped; a missing file or a corrupt line
elsewhere is a UsageError naming the file and line).
"""

from __future__ import annotations

import os

from scanner.engine.jsonl import iter_results
from scanner.model import EndpointResult


def read_results(path: str | os.PathLike[str]) -> list[EndpointResult]:
    return list(iter_results(path))
