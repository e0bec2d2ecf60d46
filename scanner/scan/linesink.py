"""Lines written to a pipe without blocking the event loop.

A slow reader on the other end of a pipe (``mailprobe scan --format jsonl | slow-consumer``, or the parent reading a
worker's results) must slow the scan down, not freeze it: a blocking ``write`` on a full pipe would stop every probe's
timers on the loop. ``LineSink`` writes through an asyncio pipe transport with flow control instead. Lines that are
ready in the same turn of the loop go out in one write.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import IO, TextIO


class _FlowControl(asyncio.Protocol):
    """Flow control for the write end of a pipe."""

    def __init__(self) -> None:
        self._resumed: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._error: BaseException | None = None

    def pause_writing(self) -> None:
        self._resumed = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)
        self._resumed = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._error = exc
        self.resume_writing()
        if not self._lost.done():
            self._lost.set_result(None)

    async def drain(self) -> None:
        if self._error is not None:
            raise BrokenPipeError(str(self._error))
        if self._resumed is not None:
            await self._resumed
            if self._error is not None:
                raise BrokenPipeError(str(self._error))

    async def closed(self) -> None:
        await self._lost


class LineSink:
    """Text lines to a pipe or socket file descriptor, with backpressure: ``await sink.write(line)``."""

    def __init__(self, transport: asyncio.WriteTransport, protocol: _FlowControl, shared_fd: int | None = None) -> None:
        self._transport = transport
        self._protocol = protocol
        self._pending: list[str] = []
        # The transport made the pipe non-blocking; a duplicate shares that flag with the stream it came from
        self._shared_fd = shared_fd

    @classmethod
    async def open(cls, pipe: IO[bytes], *, buffer_limit: int | None = None) -> LineSink:
        """``buffer_limit``: bytes held when the pipe is full before ``write`` waits (asyncio's 64 KiB otherwise)."""
        transport, protocol = await asyncio.get_running_loop().connect_write_pipe(_FlowControl, pipe)
        if buffer_limit is not None:
            transport.set_write_buffer_limits(high=buffer_limit)
        return cls(transport, protocol)

    @classmethod
    async def for_stream(cls, stream: TextIO) -> LineSink | None:
        """A sink on a duplicate of ``stream`` (stdout, say) when it is a pipe or a socket; None for a terminal or a
        regular file, whose writes do not wait on a reader."""
        fd = stream.fileno()
        if not is_pipe(fd):
            return None
        stream.flush()
        transport, protocol = await asyncio.get_running_loop().connect_write_pipe(
            _FlowControl, os.fdopen(os.dup(fd), "wb", buffering=0)
        )
        return cls(transport, protocol, shared_fd=fd)

    async def write(self, line: str) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(line)
        await self._protocol.drain()

    def _flush(self) -> None:
        if self._pending and not self._transport.is_closing():
            self._transport.write("".join(self._pending).encode("utf-8"))
        self._pending.clear()

    async def close(self) -> None:
        """Flush what is pending, wait until the pipe took it, and close the transport."""
        try:
            self._flush()
            await self._protocol.drain()
        finally:
            self._transport.close()
            await self._protocol.closed()
            if self._shared_fd is not None:  # the stream's own later writes (the summary) expect a blocking pipe
                os.set_blocking(self._shared_fd, True)


def is_pipe(fd: int) -> bool:
    """True for a FIFO or a socket: the kinds of stdout whose writes can block for as long as the reader wants."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
