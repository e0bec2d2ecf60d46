"""The results file: JSON Lines written and read here only, with a schema version, surviving a crash.

Format (schema version 2, docs/results.md): each scan starts a block with one scan line
``{"record": "scan", "schema_version": 2, "scan_id": ..., "started": ..., "targets": [...], "options": {...}}``
followed by one EndpointResult object a line. A file may hold several blocks (``--append``, ``--resume``, TUI
re-probes add lines); the current state is the latest line of each endpoint (address, port), which is what
``read_result_file`` returns. Files of schema version 1 (results only, no scan line) read as one unnamed scan.

A **talking line** ``{"record": "talking", "address": ..., "port": ..., ...}`` is written (``TalkJournal``), in one
synchronous write, when an endpoint's first connect is answered and before its conversation (and so its dummy
login) begins. ``--resume`` never probes such an endpoint again: if it has no result line, the scan stopped during
its conversation and it gets an "interrupted" row instead (``read_progress``). Readers of results skip these lines.

Whole lines only, written with unbuffered writes: inside an event loop, the lines finished in one turn of the loop
go out together in one write at the end of that turn (a range's dropped ports finish by the hundred at once, and a
write per line cost a tenth of a dead range's CPU); outside one, each line at once. Nothing waits longer than that,
so a killed scan keeps every line it finished before the loop's last turn. Linux may still cut the one
write() under way short when SIGKILL arrives while it copies pages, so a kill can leave at most the last line
unfinished. The cut falls on a page boundary, anywhere in a line, so also just before its newline: a last line
without its newline that is a whole record counts (readers take it, and a writer appending to the file first ends
it with its newline), a torn one does not (readers skip it, and a writer first cuts it off). Either way what
``--resume`` reads as done is exactly what stays in the file: an endpoint whose row reached the file is never
probed again, and one whose row did not is.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import Awaitable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from scanner.errors import UsageError
from scanner.model import Endpoint, EndpointResult, ScanInfo
from scanner.untrusted import for_json

if TYPE_CHECKING:
    from scanner.scan.linesink import LineSink

SCHEMA_VERSION = 2  # of the file format: the scan line and the result objects (docs/*.schema.json)
TALKING = "talking"  # record of an endpoint whose conversation began (see TalkJournal)


def new_scan(targets: Iterable[str], options: dict[str, object], *, resumes: str | None = None) -> ScanInfo:
    """The scan line of a scan starting now; ``resumes``: the id of the scan a --resume run completes."""
    from scanner import __version__

    return ScanInfo(
        scan_id=resumes or uuid.uuid4().hex[:16],
        started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        targets=tuple(targets),
        options=dict(options),
        tool=f"mailprobe {__version__}",
        resumed=resumes is not None,
    )


def scan_record(scan: ScanInfo) -> dict[str, object]:
    """The scan line's object: the scan and the format version of the results after it."""
    return {**scan.to_dict(), "schema_version": SCHEMA_VERSION}


def scan_line(scan: ScanInfo) -> str:
    return json.dumps(scan_record(scan), ensure_ascii=False, separators=(",", ":"))


class JsonlWriter:
    """Append results to a JSON Lines file, one ``os.write`` per line (no userspace buffer to lose). With ``scan``,
    the block starts with that scan line."""

    def __init__(self, path: str | os.PathLike[str], scan: ScanInfo | None = None) -> None:
        self.path = Path(path)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise UsageError(f"-o {path}: {exc.strerror}") from None
        self.lines = 0
        self._pending: list[str] = []  # lines of this turn of the event loop, not yet written
        _mend_tail(self._fd)
        if scan is not None:
            self._write_line(scan_line(scan))

    def write(self, result: EndpointResult) -> None:
        self._write_line(result.to_json())
        self.lines += 1

    # A sink of the result pipeline (scanner.pipeline): a revised row is a later line of the same endpoint.
    add = write

    def revise(self, old: EndpointResult, new: EndpointResult) -> None:
        self.write(new)

    def drain(self) -> None:
        return None  # lines go out at the end of the loop's turn; nothing to wait for

    async def aclose(self) -> None:
        self.close()

    def _write_line(self, line: str) -> None:
        line = for_json(line) + "\n"  # safe to print, and always valid UTF-8
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write(line)
            return
        if not self._pending:
            loop.call_soon(self.flush)
        self._pending.append(line)

    def flush(self) -> None:
        """Write the lines still pending (the event loop does it at the end of the turn that produced them)."""
        if self._pending and self._fd >= 0:
            self._write("".join(self._pending))
        self._pending.clear()

    def _write(self, text: str) -> None:
        view = memoryview(text.encode("utf-8"))
        while view:  # a regular file takes it all in one call; the loop is for the odd short write
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        self.flush()
        if self._fd >= 0:
            with contextlib.suppress(OSError):  # fsync guards against power loss only; a kill cannot tear lines
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JsonlStream:
    """The results format on a stream (stdout): the scan line, then one result a line, revised rows again as later
    lines, so what a reader gets is a results file. On a pipe, a slow reader slows the scan down instead of blocking
    the event loop (scanner.scan.linesink)."""

    def __init__(self, stream: TextIO, scan: ScanInfo) -> None:
        self.stream = stream
        self.scan = scan
        self._pipe: LineSink | None = None
        self._started = False
        self._pending: list[str] = []

    async def start(self) -> JsonlStream:
        """Open the pipe (when stdout is one) and write the scan line; call inside the event loop, before the scan."""
        from scanner.scan.linesink import LineSink

        self._pipe = await LineSink.for_stream(self.stream)
        self._put(scan_line(self.scan))
        if (waiting := self.drain()) is not None:
            await waiting
        return self

    def add(self, result: EndpointResult) -> None:
        self._put(result.to_json())

    def revise(self, old: EndpointResult, new: EndpointResult) -> None:
        self._put(new.to_json())

    def _put(self, line: str) -> None:
        self._pending.append(for_json(line) + "\n")

    def drain(self) -> Awaitable[None] | None:
        """A terminal or a file takes the lines at once; a pipe is awaited (its reader sets the pace)."""
        if not self._pending:
            return None
        lines, self._pending = "".join(self._pending), []
        if self._pipe is not None:
            return self._pipe.write(lines)
        self.stream.write(lines)
        self.stream.flush()
        return None

    async def aclose(self) -> None:
        if (waiting := self.drain()) is not None:
            await waiting
        if self._pipe is not None:
            pipe, self._pipe = self._pipe, None
            with contextlib.suppress(BrokenPipeError):
                await pipe.close()


def _mend_tail(fd: int) -> None:
    """If the file does not end with a newline, end its last line when that is a whole record (a kill cut the
    write just before the newline), else truncate the file after its last newline (the tail is a torn line)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    position = size
    while position > 0:
        start = max(0, position - 65536)
        chunk = os.pread(fd, position - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            position = start + newline + 1
            break
        position = start
    if _is_record(os.pread(fd, size - position, position)):
        os.write(fd, b"\n")  # O_APPEND: at the end
    else:
        os.ftruncate(fd, position)


_BAD_LINE = (ValueError, KeyError, TypeError, AttributeError)  # what decoding a line that is not a record raises


def _decode(text: bytes, path: str | os.PathLike[str], number: int) -> ScanInfo | EndpointResult | None:
    """One line (stripped) as a record, None for a talking line (read by ``read_progress`` only); a _BAD_LINE error
    when it is not one, UsageError for a newer schema."""
    data = json.loads(text)
    kind = data.get("record")
    if kind == TALKING:
        return None
    if kind == "scan":
        version = data.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise UsageError(
                f"{path}:{number}: written with results schema {version!r}, newer than this mailprobe "
                f"reads ({SCHEMA_VERSION}); upgrade mailprobe"
            )
        return ScanInfo.from_dict(data)
    return EndpointResult.from_dict(data)


def _is_record(tail: bytes) -> bool:
    """Whether a last line without its newline is a whole result or scan line, as ``iter_records`` reads it (the
    same test, so the writer keeps exactly the tail the readers took; ``read_progress`` takes only talking lines
    with their newline, so such a tail is cut)."""
    text = tail.strip()
    if not text:
        return False
    try:
        return _decode(text, "", 0) is not None
    except (*_BAD_LINE, UsageError):
        return False


def iter_records(path: str | os.PathLike[str]) -> Iterator[ScanInfo | EndpointResult]:
    """Every scan line and result of a file, in order. A last line without its newline counts when it is a whole
    record (a write cut just before the newline) and is skipped otherwise (a torn write); a bad line anywhere else,
    or a schema newer than this version reads, is an error naming the file and line."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below; a generator)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, 1):
            text = raw.strip()
            if not text:
                continue
            try:
                record = _decode(text, path, number)
            except _BAD_LINE as exc:
                if not raw.endswith(b"\n"):
                    return  # torn tail of a crashed writer
                reason = f"{type(exc).__name__}: {exc}"
                raise UsageError(f"{path}:{number}: not a mailprobe result line ({reason})") from None
            if record is not None:
                yield record


def iter_results(path: str | os.PathLike[str]) -> Iterator[EndpointResult]:
    """Every result line of a file, in order (scan lines skipped), superseded ones included."""
    return (record for record in iter_records(path) if isinstance(record, EndpointResult))


@dataclass(frozen=True)
class ResultFile:
    """A results file read as its current state: the latest result of each endpoint, and the scans it holds."""

    path: str
    scans: tuple[ScanInfo, ...]  # in file order; a resumed scan appears once
    results: tuple[EndpointResult, ...]  # latest line per endpoint, in the order endpoints first appeared
    lines: int  # result lines read

    @property
    def superseded(self) -> int:
        return self.lines - len(self.results)

    def note(self) -> str | None:
        """One line for stderr when the file is more than one plain scan, else None."""
        if len(self.scans) > 1:
            first, last = self.scans[0].started, self.scans[-1].started
            return (
                f"{self.path} holds {len(self.scans)} scans ({first} to {last}); using the latest result of each "
                f"of its {len(self.results):,} endpoints ({self.superseded:,} older lines set aside)"
            )
        if self.superseded:
            return (
                f"{self.path}: {self.superseded:,} endpoint results were superseded by later lines (re-probes or "
                "a resumed scan); using the latest result of each endpoint"
            )
        return None


def read_result_file(path: str | os.PathLike[str]) -> ResultFile:
    scans: dict[str, ScanInfo] = {}
    latest: dict[tuple[str, int], EndpointResult] = {}
    lines = 0
    for record in iter_records(path):
        if isinstance(record, ScanInfo):
            scans.setdefault(record.scan_id, record)  # a resumed block continues its scan
        else:
            lines += 1
            latest[record.key] = record  # a dict keeps the first position and takes the latest value
    return ResultFile(str(path), tuple(scans.values()), tuple(latest.values()), lines)


def holds_results(path: str | os.PathLike[str]) -> bool:
    """Whether a file exists with anything in it (an earlier scan that -o must not mix in silently)."""
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def last_scan_id(path: str | os.PathLike[str]) -> str | None:
    """The id of the last scan in a file (the one --resume completes), None for a file without scan lines."""
    found = None
    for record in iter_records(path):
        if isinstance(record, ScanInfo):
            found = record.scan_id
    return found


def read_keys(path: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """(address, port) of every endpoint already in a results file (for --resume)."""
    return [result.key for result in iter_results(path)]


# -- the talking journal and resume ----------------------------------------------------------------------------------


class TalkJournal:
    """Talking lines appended to a results file, each in one synchronous ``os.write`` before the conversation goes
    on, so no crash can lose the line of a conversation that has begun. The file is opened with O_APPEND: forked
    workers share the descriptor, and whole lines from several processes never interleave (the result writer's
    lines are whole lines too)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise UsageError(f"-o {path}: {exc.strerror}") from None

    def note(self, endpoint: Endpoint, where: str | None = None) -> None:
        record: dict[str, object] = {"record": TALKING, **_endpoint_fields(endpoint)}
        if where:
            record["where"] = where
        data = (for_json(json.dumps(record, ensure_ascii=False, separators=(",", ":"))) + "\n").encode()
        os.write(self._fd, data)  # a short write of a few dozen bytes to a regular file does not happen

    async def before_talk(self, endpoint: Endpoint) -> None:
        """The engine's hook (Scan(before_talk=...)): the line is on disk before the conversation starts."""
        self.note(endpoint)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _endpoint_fields(endpoint: Endpoint) -> dict[str, object]:
    return {
        "host": endpoint.host,
        "address": endpoint.address,
        "name": endpoint.name,
        "port": endpoint.port,
        "protocol": endpoint.protocol,
        "transport": endpoint.transport,
    }


INTERRUPTED = "interrupted"  # the error text of an interrupted row starts with this word


def interrupted_row(endpoint: Endpoint, where: str | None = None) -> EndpointResult:
    """The row of an endpoint whose conversation began but never finished (its scanner was killed, or its node
    died): not probed again, since its dummy login may already have been sent."""
    at = f" on {where}" if where else ""
    return EndpointResult.without_conversation(
        endpoint,
        "error",
        f"{INTERRUPTED}: the scan{at} stopped during this endpoint's conversation; not probed again, "
        "as its dummy login may already have been sent",
    )


@dataclass(frozen=True)
class Progress:
    """What a results file says a resumed scan must not probe again."""

    done: tuple[tuple[str, int], ...]  # (address, port) of every result line and every talking line
    interrupted: tuple[EndpointResult, ...] = field(default=())  # talking lines without a result: their rows


def read_progress(path: str | os.PathLike[str]) -> Progress:
    """The endpoints a --resume of ``path`` skips, and the interrupted rows it owes (talking, never finished)."""
    results: set[tuple[str, int]] = set()
    talking: dict[tuple[str, int], EndpointResult] = {}
    for record in iter_records(path):
        if isinstance(record, EndpointResult):
            results.add(record.key)
    for number, data in _talking_lines(path):
        try:
            endpoint = Endpoint(
                str(data["host"]),
                str(data["address"]),
                int(data["port"]),
                data["protocol"],
                data["transport"],
                name=data.get("name"),
            )
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"{path}:{number}: not a mailprobe talking line") from None
        if endpoint.key not in results:
            talking[endpoint.key] = interrupted_row(endpoint, data.get("where"))
    return Progress(tuple(results | talking.keys()), tuple(talking.values()))


def _talking_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    marker = f'"record":"{TALKING}"'.encode()
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if marker in raw and raw.endswith(b"\n"):
                data = json.loads(raw)
                if isinstance(data, dict) and data.get("record") == TALKING:
                    yield number, data
