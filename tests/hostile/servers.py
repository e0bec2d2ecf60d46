"""Scripted hostile servers on loopback: each a small coroutine that does one nasty thing to a client.

Servers listen on 127.0.0.1 (or several 127.0.x.y addresses at once, one port) and port 0. Every connection's task
is cancelled and its socket closed when the ``serve`` block ends, so no test leaves anything running.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Running:
    port: int
    hosts: tuple[str, ...]
    connections: int = 0
    received: list[bytes] = field(default_factory=list)


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, hosts: Sequence[str] = ("127.0.0.1",), ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Running]:
    tasks: set[asyncio.Task[None]] = set()
    running = Running(0, tuple(hosts))

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        running.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            tasks.discard(task)
            writer.close()

    # Port 0 picks a port per socket: the first address picks it, the others listen on the same one.
    servers = [await asyncio.start_server(on_connect, hosts[0], 0, ssl=ssl_context)]
    running.port = servers[0].sockets[0].getsockname()[1]
    try:
        if len(hosts) > 1:
            servers.append(await asyncio.start_server(on_connect, list(hosts[1:]), running.port, ssl=ssl_context))
        yield running
    finally:
        for server in servers:
            server.close()
        for task in list(tasks):
            task.cancel()
        for server in servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)


async def line(reader: asyncio.StreamReader) -> bytes:
    """One line from the client (b"" at EOF)."""
    return await reader.readline()


async def say(writer: asyncio.StreamWriter, *lines: bytes) -> None:
    writer.write(b"".join(x + b"\r\n" for x in lines))
    await writer.drain()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def hold(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
    """Accept and say nothing, ever (a tarpit)."""
    await asyncio.Event().wait()


def imap_tag(command: bytes) -> bytes:
    return command.split(b" ", 1)[0] if command.strip() else b"*"


def imap_verb(command: bytes) -> bytes:
    words = command.split()
    return words[1].upper() if len(words) > 1 else b""
