"""Reading scan results (JSON Lines of EndpointResult) for the diff, the policy and the reports.

Delegates to scanner.engine.jsonl (crash-tolerant: a torn last line is skipped; a missing file or a corrupt line
elsewhere is a UsageError naming the file and line). Host-level findings (which need several ports of a host)
are not in the streamed lines; they are added here, as everywhere a whole scan is in hand.
"""

from __future__ import annotations

import os

from scanner.engine.jsonl import iter_results
from scanner.model import EndpointResult


def read_results(path: str | os.PathLike[str]) -> list[EndpointResult]:
    from scanner.verdicts.host import with_host_findings  # certificate analysis: imported when needed

    return with_host_findings(iter_results(path))
