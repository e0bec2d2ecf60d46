"""JSON Lines results that survive a crash: one whole line per result, written with one unbuffered write.

Nothing waits in a userspace buffer, so a killed scan keeps every line it finished. Linux may still cut the one
write() under way short when SIGKILL arrives while it copies pages, so a kill can leave at most the last line torn:
readers skip a last line without its newline, and a writer appending to such a file first cuts the torn tail off,
so the next line starts clean and every line in the file is whole again.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from scanner.errors import UsageError
from scanner.model import EndpointResult


class JsonlWriter:
    """Append results to a JSON Lines file, one ``os.write`` per line (no userspace buffer to lose)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise UsageError(f"-o {path}: {exc.strerror}") from None
        self.lines = 0
        _cut_partial_tail(self._fd)

    def write(self, result: EndpointResult) -> None:
        data = (result.to_json() + "\n").encode("utf-8")
        view = memoryview(data)
        while view:  # a regular file takes the whole line in one call; the loop is for the odd short write
            written = os.write(self._fd, view)
            view = view[written:]
        self.lines += 1

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):  # fsync guards against power loss only; a kill cannot tear lines
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_partial_tail(fd: int) -> None:
    """If the file does not end with a newline, truncate it after its last newline (the tail is a torn line)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    position = size
    while position > 0:
        start = max(0, position - 65536)
        chunk = os.pread(fd, position - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        position = start
    os.ftruncate(fd, 0)


def iter_results(path: str | os.PathLike[str]) -> Iterator[EndpointResult]:
    """Every result in a JSON Lines file. A last line without its newline (a torn write) is skipped; a bad line
    anywhere else is an error naming the file and line."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below; a generator)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, 1):
            complete = raw.endswith(b"\n")
            text = raw.strip()
            if not text:
                continue
            try:
                yield EndpointResult.from_dict(json.loads(text))
            except (ValueError, KeyError, TypeError) as exc:
                if not complete:
                    return  # torn tail of a crashed writer
                reason = f"{type(exc).__name__}: {exc}"
                raise UsageError(f"{path}:{number}: not a mailprobe result line ({reason})") from None


def read_keys(path: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """(address, port) of every endpoint already in a results file (for --resume)."""
    return [result.key for result in iter_results(path)]
