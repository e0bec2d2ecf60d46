"""One connection: joins a sans-I/O protocol machine to a channel, with a read timeout and the transcript.

The machines know the protocols; this module knows sockets and time. Every failure surfaces as a
``SessionError`` with a reason a user can read.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from dataclasses import dataclass
from typing import Literal

from scanner.engine.connect_timer import ConnectTimer, current_timer
from scanner.engine.transcript import Transcript
from scanner.protocols.base import ClientMachine
from scanner.protocols.events import (
    NEED_DATA,
    ConnectionClosed,
    Continuation,
    Event,
    Greeting,
    ProtocolError,
    Response,
)
from scanner.tls.channel import HandshakeInfo, PlainChannel, TlsChannel, TlsHandshakeError

Machine = ClientMachine
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
    """Connect; map the outcome to the states a user knows from port scanners. Within a scan the wait for an
    answer follows the scan's ``ConnectTimer`` (never longer than ``timeout``); outside one it is ``timeout``."""
    timer = current_timer()
    loop = asyncio.get_running_loop()
    waited = 0.0
    tries = 0
    while tries < 2 and waited < timeout:  # a second try only when the timer cut the first one short
        tries += 1
        started = loop.time()
        # the second try waits twice as long (as TCP backs off): a host farther away than the ones that taught the
        # timer still gets its answer counted
        sock = await _connected_socket(address, port, source_address, started, timeout - waited, timer, tries)
        waited += loop.time() - started
        if sock is not None:
            try:
                return await asyncio.open_connection(sock=sock)
            except OSError as exc:
                sock.close()
                raise ConnectError("error", f"connect failed: {exc.strerror or exc}") from None
        if timer is None:
            break
    how = f" ({tries} tries, the wait learnt from this scan's answers)" if tries > 1 else ""
    raise ConnectError("filtered", f"no answer to connect within {round(waited, 2):g} s{how}")


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


async def _connected_socket(
    address: str,
    port: int,
    source: str | None,
    started: float,
    ceiling: float,
    timer: ConnectTimer | None,
    attempt: int = 1,
) -> socket.socket | None:
    """A connected socket, None when nothing answered in time; ConnectError for a refusal or a local failure."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(_family(address), socket.SOCK_STREAM)
    sock.setblocking(False)
    connecting: asyncio.Future[None] | None = None
    try:
        if source:
            sock.bind((source, 0))
        connecting = asyncio.ensure_future(loop.sock_connect(sock, (address, port)))
        while not connecting.done():
            limit = min(ceiling, timer.current() * 2 ** (attempt - 1)) if timer is not None else ceiling
            remaining = started + limit - loop.time()
            if remaining <= 0:
                break
            waits: set[asyncio.Future[None]] = {connecting}
            if timer is not None:
                waits.add(timer.shrunk())  # the first wave of a scan follows the timer down
            await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done():
            connecting.result()  # raises the refusal or the error
            if timer is not None:
                timer.sample(loop.time() - started)
            return sock
        # The deadline passed; the kernel may have finished a handshake the event loop has not reported yet.
        connecting.cancel()
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error == errno.ECONNREFUSED:
            raise ConnectionRefusedError(error, "connection refused")
        if not error and _established(sock):
            if timer is not None:
                timer.sample(loop.time() - started)
            return sock
        sock.close()
        return None
    except ConnectionRefusedError:
        sock.close()
        if timer is not None:
            timer.sample(loop.time() - started)
        raise ConnectError("closed", "connection refused") from None
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM):
            raise ConnectError("filtered", f"unreachable: {exc.strerror}") from None
        raise ConnectError("error", f"connect failed: {exc.strerror or exc}") from None
    except BaseException:
        sock.close()
        if connecting is not None:
            connecting.cancel()
        raise


def _established(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


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

    async def command(
        self, data: bytes, *, sasl_payloads: tuple[bytes, ...] = (), timeout: float | None = None
    ) -> Timed:
        """Send one command and wait for its complete answer; answer SASL continuations with the payloads in order
        and cancel the exchange once they run out."""
        started = time.monotonic()
        payloads = list(sasl_payloads)
        await self.send(data)
        while True:
            event = await self.next_event(timeout)
            if isinstance(event, Continuation):
                self.transcript.server([event.line], tls=self.over_tls)
                if not payloads:
                    await self.send(self.machine.continuation_cancel(), sasl=False)
                else:
                    await self.send(self.machine.continuation(payloads.pop(0)), sasl=True)
                continue
            if isinstance(event, ConnectionClosed):
                raise SessionError("closed", "the server closed the connection instead of answering")
            if isinstance(event, Response):
                self.transcript.server(event.lines, tls=self.over_tls)
                return Timed(event, int((time.monotonic() - started) * 1000))
            raise SessionError("protocol", f"unexpected {event!r}")
