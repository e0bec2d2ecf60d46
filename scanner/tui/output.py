"""Append results to the -o JSON Lines file as they arrive, one flushed line each, so quitting loses nothing."""

from __future__ import annotations

from typing import Protocol

from scanner.model import EndpointResult, ScanInfo


class ResultSink(Protocol):
    def write(self, result: EndpointResult) -> None: ...

    def close(self) -> None: ...


def open_output(path: str, scan: ScanInfo | None = None) -> ResultSink:
    """The engine's JSON Lines writer (the one writer of the results format), starting with the scan line."""
    from scanner.results_file import JsonlWriter

    return JsonlWriter(path, scan)
