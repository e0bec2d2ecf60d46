"""The cleartext side of a connection and what a TLS handshake leaves behind, without OpenSSL: a scan imports
the TLS machinery (scanner.tls.channel) only when a port answers and a handshake is due."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

_READ_CHUNK = 65536


class TlsHandshakeError(Exception):
    """The TLS handshake failed; ``reason`` is short and human readable (e.g. "TLS handshake timed out")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HandshakeInfo:
    version: str  # "TLSv1.3", "TLSv1.2", ...
    cipher: str  # OpenSSL name, e.g. "TLS_AES_256_GCM_SHA384"
    chain_der: tuple[bytes, ...]  # everything the server presented, leaf first, as DER
    server_name: str | None  # the SNI sent, None when none was sent


class PlainChannel:
    """A cleartext channel; ``reader``/``writer`` stay available for a later ``TlsChannel.handshake``."""

    is_tls = False

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read(self, n: int = _READ_CHUNK) -> bytes:
        """Up to ``n`` bytes; b"" at EOF."""
        return await self.reader.read(n)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        await _close_writer(self.writer)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    if writer.is_closing():
        return
    writer.close()
    with contextlib.suppress(OSError, ConnectionError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 2.0)
