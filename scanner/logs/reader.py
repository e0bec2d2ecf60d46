"""Open a log file (plain or gzip, told by the magic bytes) and yield it in large chunks of whole lines.

Chunks keep the per-line cost out of Python: parsers search a chunk for the few lines they care about with
``bytes.find`` or a compiled regex, both of which run in C.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from typing import BinaryIO

CHUNK_SIZE = 4 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


def open_log(path: str) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing gzip transparently."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw


def head(path: str, size: int = 65536) -> bytes:
    """The first ``size`` bytes of the (decompressed) file, for format detection."""
    with open_log(path) as stream:
        try:
            return stream.read(size)
        except (OSError, EOFError, gzip.BadGzipFile):
            return b""


def chunks(stream: BinaryIO, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield chunks that end on a line boundary (the last one may lack its newline)."""
    carry = b""
    reader = stream.read if not isinstance(stream, io.TextIOBase) else None
    assert reader is not None
    while True:
        block = reader(size)
        if not block:
            break
        block = carry + block if carry else block
        cut = block.rfind(b"\n") + 1
        if cut == 0:  # one enormous line: keep collecting
            carry = block
            continue
        carry = block[cut:]
        yield block[:cut]
    if carry:
        yield carry
