"""Reading a results file for the diff, the policy, the reports and the monitoring check: its current state.

Delegates to scanner.results_file, the one reader of the format (crash-tolerant: a torn last line is skipped; a
missing file or a corrupt line elsewhere is a UsageError naming the file and line). Every consumer gets the latest
result of each endpoint, so two scans appended to one file read as the second alone (plus endpoints only the first
had). Host-level findings (which need several ports of a host) come with the rows a scan writes (scanner.pipeline);
they are judged again here over the whole file, with the same rules, for files written before that and for scans
resumed across runs (rows that have them already are left as they are).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from scanner.model import EndpointResult, ScanInfo
from scanner.results_file import read_result_file


@dataclass(frozen=True)
class LoadedResults:
    results: list[EndpointResult]  # the latest result per endpoint, host-level findings included
    scans: tuple[ScanInfo, ...]  # the scans the file holds (empty for files written before scan lines)
    note: str | None  # one line for stderr when the file holds several scans or superseded lines


def load_results(path: str | os.PathLike[str]) -> LoadedResults:
    from scanner.verdicts.host import with_host_findings  # certificate analysis: imported when needed

    file = read_result_file(path)
    return LoadedResults(with_host_findings(file.results), file.scans, file.note())


def read_results(path: str | os.PathLike[str]) -> list[EndpointResult]:
    return load_results(path).results
