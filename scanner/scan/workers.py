"""One scan, several processes: on a multi-core jump host the probe's Python work (thousands of sockets, TLS
handshakes, certificate checks) outgrows one core long before the network does.

The parent forks N-1 workers after planning and before any event loop runs, and is the N-th itself. Addresses are
shared out by their integer value (``share_of``), so all ports of a host stay in one process and the per-host limit
still holds; the parent probes share 0 (half a worker's, as it also merges), and worker k streams the results of
share k as JSON Lines through a pipe.
The parent merges its own results with the streams and stays the only writer of the output file and of progress,
so a killed scan still leaves whole lines only and ``--resume`` works as usual. (The parent probing a share of its
own saves a whole interpreter's memory: a worker that only merged would hold its own copy of what it imports.)

Used for literal targets only (addresses, ranges, lists: the plan is complete before the fork) and plain output;
names, domains and the TUI scan in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import traceback
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.model import Endpoint, EndpointResult
from scanner.probe.options import ProbeOptions
from scanner.scan import memory
from scanner.scan.chain_board import ChainBoard
from scanner.scan.linesink import LineSink
from scanner.scan.scheduler import RELEASE_EVERY, Scan
from scanner.targets.planning import TargetPlan
from scanner.untrusted import for_json

MAX_WORKERS = 8
MIN_ENDPOINTS_PER_WORKER = 512  # below this, forking costs more than it saves
QUEUE_SIZE = 512  # results read from the workers and not yet consumed
PIPE_SIZE = 1 << 20  # bytes a worker's pipe holds (the default unprivileged maximum)
WORKER_BUFFER = 4 << 20  # bytes of results a worker keeps when its pipe is full, before its probes wait
READ_AHEAD = 2 << 20  # bytes of a worker's results the parent reads before it has taken them


def worker_count(requested: int | None, plan: TargetPlan, *, tui: bool) -> int:
    """``requested`` when given (1 turns workers off); otherwise one per CPU for a large literal scan."""
    if tui or plan.names or plan.domains:
        return 1
    if requested is not None:
        return requested
    total = plan.total or 0
    by_size = total // MIN_ENDPOINTS_PER_WORKER
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS, by_size))


@dataclass
class _Worker:
    index: int
    pid: int
    fd: int


class WorkerScan:
    """Scan's ``results()``/``total`` interface, served by forked worker processes."""

    def __init__(self, plan: TargetPlan, options: ProbeOptions, workers: int, scan_kwargs: dict[str, Any]) -> None:
        if workers < 2:
            raise ValueError("WorkerScan needs at least two workers")
        self.plan = plan
        self.options = options
        self.workers = workers
        self.scan_kwargs = scan_kwargs
        self._children: list[_Worker] = []
        self.failures: list[str] = []  # one line per worker that did not end well
        self._board_dir: str | None = None  # where the processes share their full TLS enumerations

    @property
    def total(self) -> int | None:
        return self.plan.total

    def spawn(self) -> None:
        """Fork the workers (shares 1 to N-1; share 0 is this process's). Call before any event loop runs here."""
        if self.options.tls_enumeration and self.options.tls_confirm:
            self._board_dir = tempfile.mkdtemp(prefix="mailprobe-tls-")  # the processes' full enumerations
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        for index in range(1, self.workers):
            read_fd, write_fd = os.pipe()
            _widen(write_fd)
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                os.close(read_fd)
                for sibling in self._children:
                    os.close(sibling.fd)
                kwargs = {**self.scan_kwargs, "tls_board": self._board()}
                _worker_main(index, self.workers, write_fd, self.plan, self.options, kwargs, parent)
            os.close(write_fd)
            self._children.append(_Worker(index, pid, read_fd))

    async def results(self) -> AsyncIterator[EndpointResult]:
        if not self._children:
            raise RuntimeError("spawn() the workers first")
        # Bounded: when the consumer is slow the readers stop reading, the pipes fill and the workers' writes wait,
        # which holds their probes back (backpressure all the way down).
        queue: asyncio.Queue[EndpointResult | BaseException | None] = asyncio.Queue(QUEUE_SIZE)
        readers = [asyncio.create_task(self._read(worker, queue)) for worker in self._children]
        readers.append(asyncio.create_task(self._own_share(queue)))
        try:
            running = len(readers)
            received = 0
            while running:
                item = await queue.get()
                if item is None:
                    running -= 1
                    continue
                if isinstance(item, BaseException):
                    raise item
                received += 1
                if item.state == "open" and received % RELEASE_EVERY == 0:
                    memory.release()  # rows parsed and dropped leave a fragmented heap behind
                yield item
        finally:
            for task in readers:
                task.cancel()
            await asyncio.wait(readers)
            self._reap()

    async def _own_share(self, queue: asyncio.Queue[EndpointResult | BaseException | None]) -> None:
        try:
            scan = Scan(
                _share(self.plan, 0, self.workers),
                self.options,
                tls_board=self._board(),
                **_share_kwargs(self.scan_kwargs, self.workers),
            )
            async for result in scan.results():
                await queue.put(result)
        except Exception as exc:  # a broken target source: the merged stream ends with its error, as a Scan's does
            await queue.put(exc)
        await queue.put(None)

    async def _read(self, worker: _Worker, queue: asyncio.Queue[EndpointResult | BaseException | None]) -> None:
        loop = asyncio.get_running_loop()
        lines = PipeLines()
        pipe = os.fdopen(worker.fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(lambda: lines, pipe)
        try:
            while (line := await lines.next_line()) is not None:
                await queue.put(EndpointResult.from_json(line.decode(), own=True))
        finally:
            transport.close()
        await queue.put(None)

    def _board(self) -> ChainBoard | None:
        return ChainBoard(Path(self._board_dir)) if self._board_dir else None

    def _reap(self) -> None:
        for worker in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)  # a no-op for workers that are done
            try:
                _, status = os.waitpid(worker.pid, 0)
            except ChildProcessError:
                continue
            code = os.waitstatus_to_exitcode(status)
            if code not in (0, -signal.SIGTERM, -signal.SIGINT):
                self.failures.append(f"worker {worker.index + 1}/{self.workers} ended with status {code}")
        self._children = []
        if self._board_dir:
            shutil.rmtree(self._board_dir, ignore_errors=True)
            self._board_dir = None


def _worker_main(
    index: int, count: int, fd: int, plan: TargetPlan, options: ProbeOptions, scan_kwargs: dict[str, Any], parent: int
) -> None:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the parent, which ends the workers
        _end_with_parent(parent)
        asyncio.run(_stream(Scan(_share(plan, index, count), options, **_share_kwargs(scan_kwargs, count)), fd))
    except BrokenPipeError:
        code = 0  # the parent is gone (killed or stopped): nothing left to tell it
    except BaseException:  # noqa: BLE001 - a worker must never return into the parent's code
        traceback.print_exc()  # the parent reports the exit status; this says why
        code = 70
    finally:
        os._exit(code)


class PipeLines(asyncio.Protocol):
    """Whole lines from a worker's pipe, read no further ahead than ``high`` bytes: when the parent falls behind,
    the pipe fills and the worker waits, instead of the parent's memory growing (asyncio's StreamReader reads
    ahead up to twice its longest line). A last line without its newline (a worker killed mid-write) is dropped."""

    def __init__(self, high: int = READ_AHEAD) -> None:
        self._high = high
        self._lines: deque[bytes] = deque()
        self._partial: list[bytes] = []
        self._size = 0
        self._paused = False
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.ReadTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        *whole, rest = data.split(b"\n")
        if whole:
            if self._partial:
                whole[0] = b"".join((*self._partial, whole[0]))
                self._partial = []
            self._lines.extend(whole)
            self._size += sum(map(len, whole))
        if rest:
            self._partial.append(rest)
        if self._size > self._high and not self._paused and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._ended = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next_line(self) -> bytes | None:
        """The next whole line (without its newline); None once the pipe is closed and every line was taken."""
        while not self._lines:
            if self._ended:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        line = self._lines.popleft()
        self._size -= len(line)
        if self._paused and self._size <= self._high // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return line


def _widen(fd: int) -> None:
    """A pipe of 1 MiB instead of 64 KiB (Linux): the parent's loop also runs probes of its own and reads the
    pipes between two of its busy turns; with room for a couple of thousand rows a worker goes on meanwhile."""
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def _share_kwargs(scan_kwargs: dict[str, Any], count: int) -> dict[str, Any]:
    """One share's Scan limits: the user's total concurrency and rate split between the processes (without
    --concurrency each process takes its own default); the total is the parent's to report."""
    kwargs = dict(scan_kwargs)
    if kwargs.get("concurrency"):
        kwargs["concurrency"] = max(8, kwargs["concurrency"] // count)
    if kwargs.get("rate"):
        kwargs["rate"] = kwargs["rate"] / count
    kwargs.pop("total_source", None)
    return kwargs


def _end_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the parent (pid ``parent``) dies, even by SIGKILL, so no orphan goes on
    probing endpoints whose rows nobody writes (a --resume would probe them again: a dummy login sent twice)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    # The parent died before prctl took effect. Compared with its pid, not with 1: an orphan goes to the nearest
    # subreaper (systemd --user, a container's init run as one, a supervisor), not always to pid 1.
    if os.getppid() != parent:
        os._exit(0)


def share_of(value: int, count: int) -> int:
    """Which of ``count`` processes probes the address whose integer value is ``value``. The parent (share 0) also
    merges every result and writes them out, so it takes one slice of the addresses and each worker two: the
    addresses are cut into 2 x count - 1 slices by value, slice 0 is the parent's, slices 2k-1 and 2k worker k's."""
    return (value % (2 * count - 1) + 1) // 2


def _share(plan: TargetPlan, index: int, count: int) -> Iterator[Endpoint | EndpointResult]:
    if index == 0:
        yield from plan.interrupted  # rows a resumed scan owes (conversations a crash cut short): the parent's
    # skipped by value, before an address string or an Endpoint is made for another process's endpoints
    yield from plan.literal_endpoints(skip=lambda value, _port: share_of(value, count) != index)


async def _stream(scan: Scan, fd: int) -> None:
    """The results as JSON Lines into the pipe, without ever blocking the event loop: a full pipe (a slow parent)
    makes the scan wait."""
    sink = await LineSink.open(os.fdopen(fd, "wb", buffering=0), buffer_limit=WORKER_BUFFER)
    try:
        async for result in scan.results():
            await sink.write(for_json(result.to_json()) + "\n")  # always encodable, whatever the server sent
    finally:
        await sink.close()
