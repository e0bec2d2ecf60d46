"""Append results to the -o JSON Lines file as they arrive, one flushed line each, so quitting loses nothing."""

from __future__ import annotations

from typing import Protocol, TextIO

from scanner.model import EndpointResult


class ResultSink(Protocol):
    def write(self, result: EndpointResult) -> None: ...

    def close(self) -> None: ...


class JsonlAppender:
    def __init__(self, path: str) -> None:
        self.path = path
        self._file: TextIO | None = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, result: EndpointResult) -> None:
        if self._file is not None:
            self._file.write(result.to_json() + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def open_output(path: str) -> ResultSink:
    """The engine's JSON Lines writer when it is there (same write/close interface), else the appender above."""
    try:
        from scanner.engine.jsonl import JsonlWriter
    except ImportError:
        return JsonlAppender(path)
    return JsonlWriter(path)
