"""The -o JSON Lines file of a TUI scan: a sink of the result pipeline, lines written as rows arrive, so quitting
loses nothing."""

from __future__ import annotations

from scanner.model import ScanInfo
from scanner.pipeline import ResultSink


def open_output(path: str, scan: ScanInfo | None = None) -> ResultSink:
    """The engine's JSON Lines writer (the one writer of the results format), starting with the scan line."""
    from scanner.results_file import JsonlWriter

    return JsonlWriter(path, scan)
