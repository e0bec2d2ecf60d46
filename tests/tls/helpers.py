"""Local test servers for the TLS tests: stdlib ssl on 127.0.0.2+, port 0, certificates from scanner.certgen."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from scanner.certgen import Issued

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    host: str
    port: int
    sni_seen: list[str | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, local_addr=("127.0.0.1", 0))


def server_context(
    issued: Issued, directory: Path, *, minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    cert_path, key_path = issued.write(directory, "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if minimum is not None:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1 is deprecated: that is the point
            ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Greets, then echoes every line back upper-cased, until EOF."""
    try:
        writer.write(b"hello from server\r\n")
        await writer.drain()
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
    except (ssl.SSLError, ConnectionError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def serve(
    handler: Handler, *, ctx: ssl.SSLContext | None = None, host: str = "127.0.0.2"
) -> AsyncIterator[Server]:
    box: list[Server] = []

    if ctx is not None:

        def on_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            box[0].sni_seen.append(name)

        ctx.sni_callback = on_sni  # type: ignore[assignment]

    server = await asyncio.start_server(handler, host, 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    box.append(Server(host, port))
    try:
        yield box[0]
    finally:
        server.close()
        with suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)
