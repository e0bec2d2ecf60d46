"""One connection: joins a sans-I/O protocol machine to a channel, with a read timeout and the transcript.

The machines know the protocols; this module knows sockets and time. Every failure surfaces as a
``SessionError`` with a reason a user can read.
"""

from __future__ import annotations

import asyncio
import errno
import time
from dataclasses import dataclass
from typing import Literal

from scanner.engine.transcript import Transcript
from scanner.protocols.events import (
    NEED_DATA,
    ConnectionClosed,
    Continuation,
    Event,
    Greeting,
    ProtocolError,
    Response,
)
from scanner.protocols.imap import ImapClient
from scanner.protocols.pop3 import Pop3Client
from scanner.tls.channel import HandshakeInfo, PlainChannel, TlsChannel, TlsHandshakeError

Machine = ImapClient | Pop3Client
ConnectState = Literal["closed", "filtered", "error"]


class ConnectError(Exception):
    def __init__(self, state: ConnectState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


class SessionError(Exception):
    """The conversation could not go on: timeout, close, protocol violation, TLS failure."""

    def __init__(self, kind: Literal["timeout", "closed", "protocol", "tls"], reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Timed:
    response: Response
    elapsed_ms: int


async def open_tcp(
    address: str, port: int, *, timeout: float, source_address: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect; map the outcome to the states a user knows from port scanners."""
    local = (source_address, 0) if source_address else None
    try:
        return await asyncio.wait_for(asyncio.open_connection(address, port, local_addr=local), timeout)
    except TimeoutError:
        raise ConnectError("filtered", f"no answer to connect within {timeout:g} s") from None
    except ConnectionRefusedError:
        raise ConnectError("closed", "connection refused") from None
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM):
            raise ConnectError("filtered", f"unreachable: {exc.strerror}") from None
        raise ConnectError("error", f"connect failed: {exc.strerror or exc}") from None


class Session:
    def __init__(
        self,
        machine: Machine,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        transcript: Transcript,
        *,
        read_timeout: float,
    ) -> None:
        self.machine = machine
        self._reader = reader
        self._writer = writer
        self.channel: PlainChannel | TlsChannel = PlainChannel(reader, writer)
        self.transcript = transcript
        self.read_timeout = read_timeout
        self.tls: HandshakeInfo | None = None

    @property
    def over_tls(self) -> bool:
        return self.tls is not None

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.channel.close(), 2.0)
        except (TimeoutError, OSError, ConnectionError):
            pass
        finally:
            if not self._writer.is_closing():
                self._writer.close()

    def abort(self) -> None:
        """Drop the connection without a word (nothing was said on it yet)."""
        if not self._writer.is_closing():
            self._writer.close()

    async def start_tls(self, server_name: str | None, timeout: float) -> HandshakeInfo:
        try:
            tls = await TlsChannel.handshake(self._reader, self._writer, server_name=server_name, timeout=timeout)
        except TlsHandshakeError as exc:
            self.transcript.note(f"TLS handshake failed: {exc.reason}")
            raise SessionError("tls", f"TLS handshake failed: {exc.reason}") from None
        self.channel = tls
        self.tls = tls.info
        self.transcript.note(f"TLS established: {tls.info.version} {tls.info.cipher}", tls=True)
        return tls.info

    async def send(self, data: bytes, *, sasl: bool = False) -> None:
        self.transcript.client(data, tls=self.over_tls, sasl=sasl)
        try:
            await asyncio.wait_for(self.channel.write(data), self.read_timeout)
        except (TimeoutError, OSError, ConnectionError) as exc:
            raise SessionError("closed", f"could not send: {exc or 'timeout'}") from None

    async def next_event(self, timeout: float | None = None) -> Event:
        timeout = timeout or self.read_timeout
        while True:
            try:
                event = self.machine.next_event()
            except ProtocolError as exc:
                shown = exc.first_bytes[:64]
                self.transcript.note(f"protocol error: {exc.reason}; first bytes {shown!r}", tls=self.over_tls)
                already_quoted = shown[:8].decode("latin-1") in exc.reason
                suffix = f"; first bytes: {shown!r}" if shown and not already_quoted else ""
                raise SessionError("protocol", f"{exc.reason}{suffix}") from None
            if event is not NEED_DATA:
                return event  # type: ignore[return-value]
            try:
                data = await asyncio.wait_for(self.channel.read(65536), timeout)
            except TimeoutError:
                raise SessionError("timeout", f"no complete reply within {timeout:g} s") from None
            except (OSError, ConnectionError) as exc:
                data = b""
                self.transcript.note(f"connection error: {exc}", tls=self.over_tls)
            self.machine.receive_data(data)

    async def greeting(self) -> Greeting:
        event = await self.next_event()
        if isinstance(event, ConnectionClosed):
            raise SessionError("closed", "the server closed the connection without a greeting")
        if not isinstance(event, Greeting):
            raise SessionError("protocol", f"expected a greeting, got {event!r}")
        self.transcript.server([event.line], tls=self.over_tls)
        return event

    async def command(self, data: bytes, *, sasl_payload: bytes | None = None, timeout: float | None = None) -> Timed:
        """Send one command and wait for its complete answer; answer one SASL continuation if given."""
        started = time.monotonic()
        await self.send(data)
        while True:
            event = await self.next_event(timeout)
            if isinstance(event, Continuation):
                self.transcript.server([event.line], tls=self.over_tls)
                if sasl_payload is None:
                    await self.send(self.machine.continuation_cancel(), sasl=False)
                else:
                    await self.send(self.machine.continuation(sasl_payload), sasl=True)
                    sasl_payload = None
                continue
            if isinstance(event, ConnectionClosed):
                raise SessionError("closed", "the server closed the connection instead of answering")
            if isinstance(event, Response):
                self.transcript.server(event.lines, tls=self.over_tls)
                return Timed(event, int((time.monotonic() - started) * 1000))
            raise SessionError("protocol", f"unexpected {event!r}")
