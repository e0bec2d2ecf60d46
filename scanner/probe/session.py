"""One connection: joins a sans-I/O protocol machine to a channel, with reply deadlines and the transcript.

The machines know the protocols; this module knows sockets and time. Every failure surfaces as a
``SessionError`` with a reason a user can read.

Timeouts are deadlines: the reply timeout bounds a whole reply (all its reads), so a server that drip-feeds one byte
at a time cannot hold a connection longer than one timeout per reply; a SASL exchange ends after mailprobe's own
cancel (a server that asks again is a protocol error).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from scanner.probe.steplog import logged_step, peer_of
from scanner.probe.transcript import Transcript
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
from scanner.tls.plain import HandshakeInfo, PlainChannel, TlsHandshakeError

if TYPE_CHECKING:
    from scanner.probe.context import ConnectWaits, Deadline
    from scanner.tls.channel import TlsChannel

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
        self.continuations: tuple[Continuation, ...] = ()  # SASL challenges received before the failure


@dataclass(frozen=True)
class Timed:
    response: Response
    elapsed_ms: int
    continuations: tuple[Continuation, ...] = ()  # the SASL challenges the server sent before its answer


async def open_tcp(
    address: str, port: int, *, timeout: float, source_address: str | None, timer: ConnectWaits | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect; map the outcome to the states a user knows from port scanners. With a ``timer`` (a scan's) the
    wait for an answer follows what it learnt (never longer than ``timeout``); without one it is ``timeout``."""
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
    raise unanswered_connect(waited, tries)


def unanswered_connect(waited: float, tries: int) -> ConnectError:
    """The "filtered" outcome of connects that nothing answered, as every connect path words it."""
    how = f" ({tries} tries, the wait learnt from this scan's answers)" if tries > 1 else ""
    return ConnectError("filtered", f"no answer to connect within {round(waited, 2):g} s{how}")


def failed_connect(exc: OSError) -> ConnectError:
    """A connect that ended in an error: unreachable networks are "filtered" (as port scanners say), a refusal is
    "closed", anything else an "error" with the system's words."""
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return ConnectError("closed", "connection refused")
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM):
        return ConnectError("filtered", f"unreachable: {exc.strerror}")
    return ConnectError("error", f"connect failed: {exc.strerror or exc}")


def start_connect(address: str, port: int, source: str | None) -> tuple[socket.socket, int]:
    """A non-blocking socket whose connect has been started, and connect's errno (EINPROGRESS while the handshake
    is under way, 0 when done at once). OSError for a local failure (no socket, a source address not ours)."""
    sock = socket.socket(_family(address), socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if source:
            sock.bind((source, 0))
        return sock, sock.connect_ex((address, port))
    except BaseException:
        sock.close()
        raise


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


async def _connected_socket(
    address: str,
    port: int,
    source: str | None,
    started: float,
    ceiling: float,
    timer: ConnectWaits | None,
    attempt: int = 1,
) -> socket.socket | None:
    """A connected socket, None when nothing answered in time; ConnectError for a refusal or a local failure.

    The connect is driven by hand (non-blocking connect, one writer callback, one deadline of its own) rather than
    through ``loop.sock_connect``: no task and no name lookup per connect, and nothing shared between waiters."""
    loop = asyncio.get_running_loop()
    try:
        sock, error = start_connect(address, port, source)
    except OSError as exc:
        raise failed_connect(exc) from None
    answered: asyncio.Future[bool] = loop.create_future()
    deadline: Deadline | None = None
    fd = -1
    try:
        if error == errno.EINPROGRESS:
            fd = sock.fileno()
            loop.add_writer(fd, _settle, answered, True)
            expire = functools.partial(_settle, answered, False)
            if timer is None:
                deadline = loop.call_at(started + ceiling, expire)
            else:
                deadline = timer.deadline(loop, started, ceiling, 2 ** (attempt - 1), expire)
            await answered
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            # at the deadline the kernel may have finished a handshake the event loop has not reported yet
            if not error and not answered.result() and not established(sock):
                sock.close()
                return None
        if error:
            raise OSError(error, os.strerror(error))
        if timer is not None:
            timer.sample(kernel_rtt(sock) or loop.time() - started)
        return sock
    except OSError as exc:
        sock.close()
        failure = failed_connect(exc)
        if failure.state == "closed" and timer is not None:
            timer.sample_seen(loop.time() - started)
        raise failure from None
    except BaseException:
        sock.close()
        raise
    finally:
        if fd >= 0:
            loop.remove_writer(fd)
        if deadline is not None:
            deadline.cancel()


def _settle(answered: asyncio.Future[bool], value: bool) -> None:
    if not answered.done():
        answered.set_result(value)


_TCPI_RTT = struct.Struct("=I")  # struct tcp_info: tcpi_rtt (microseconds) at byte 68 on Linux
_TCPI_RTT_OFFSET = 68


def kernel_rtt(sock: socket.socket) -> float | None:
    """The round trip the kernel measured for the handshake (Linux TCP_INFO), free of event-loop delay."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        micros = _TCPI_RTT.unpack_from(info, _TCPI_RTT_OFFSET)[0]
    except (OSError, AttributeError, struct.error):
        return None
    return micros / 1e6 if micros else None


def established(sock: socket.socket) -> bool:
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
    def streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return self._reader, self._writer

    @property
    def over_tls(self) -> bool:
        return self.tls is not None

    @logged_step("close", peer_of)
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

    async def start_tls(self, server_name: str | None, timeout: float, *, legacy: bool = False) -> HandshakeInfo:
        """The TLS handshake; ``legacy`` also offers TLS 1.0/1.1 (OpenSSL security level 0), for a server that
        speaks nothing newer: it is judged on what it offers, not failed by our library's defaults."""
        try:
            from scanner.tls.channel import TlsChannel  # OpenSSL: loaded when the first handshake is due

            tls = await TlsChannel.handshake(
                self._reader,
                self._writer,
                server_name=server_name,
                timeout=timeout,
                min_version="TLSv1" if legacy else None,
                security_level=0 if legacy else None,
            )
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

    async def next_event(self, timeout: float | None = None, *, deadline: float | None = None) -> Event:
        """The next event; the reads it takes all end by ``deadline`` (loop time), by default ``timeout`` (or the
        read timeout) from now."""
        loop = asyncio.get_running_loop()
        timeout = timeout or self.read_timeout
        if deadline is None:
            deadline = loop.time() + timeout
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
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                data = await asyncio.wait_for(self.channel.read(65536), left)
            except TimeoutError:
                ended = self.machine.reply_at_deadline()
                if ended is not None:
                    self.transcript.note("nothing followed the +OK by the deadline: no capability list",
                                         tls=self.over_tls)  # fmt: skip
                    return ended
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
        self,
        data: bytes,
        *,
        sasl_payloads: tuple[bytes, ...] = (),
        timeout: float | None = None,
        public_payloads: bool = False,
    ) -> Timed:
        """Send one command and wait for its complete answer, all of it within one reply timeout; answer SASL
        continuations with the payloads in order and cancel the exchange once they run out. A continuation after
        the cancel ends the session (SessionError "protocol"): an endless ``+`` is answered once, not forever."""
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + (timeout or self.read_timeout)
        payloads = list(sasl_payloads)
        challenges: list[Continuation] = []  # also in the transcript already: the answer's lines repeat them
        try:
            return await self._exchange(data, payloads, challenges, timeout, deadline, started, public_payloads)
        except SessionError as exc:
            exc.continuations = tuple(challenges)  # what the server had sent is still worth reading (NTLM)
            raise

    async def _exchange(
        self,
        data: bytes,
        payloads: list[bytes],
        challenges: list[Continuation],
        timeout: float | None,
        deadline: float,
        started: float,
        public_payloads: bool = False,
    ) -> Timed:
        cancelled = False
        await self.send(data)
        while True:
            event = await self.next_event(timeout, deadline=deadline)
            if isinstance(event, Continuation):
                challenges.append(event)
                self.transcript.server([event.line], tls=self.over_tls)
                if cancelled:
                    raise SessionError("protocol", "the server asked for more SASL data after mailprobe cancelled")
                if not payloads:
                    cancelled = True
                    await self.send(self.machine.continuation_cancel(), sasl=False)
                else:
                    # masked in the transcript unless the payloads carry nothing secret (NTLM's NEGOTIATE)
                    await self.send(self.machine.continuation(payloads.pop(0)), sasl=not public_payloads)
                continue
            if isinstance(event, ConnectionClosed):
                raise SessionError("closed", "the server closed the connection instead of answering")
            if isinstance(event, Response):
                shown = [c.line for c in challenges]
                self.transcript.server(_not_shown(event.lines, shown), tls=self.over_tls)
                return Timed(event, int((time.monotonic() - started) * 1000), tuple(challenges))
            raise SessionError("protocol", f"unexpected {event!r}")


def _not_shown(lines: tuple[str, ...], shown: list[str]) -> list[str]:
    """An answer's lines without the continuation requests the transcript already has, in the server's order."""
    rest = list(lines)
    for line in shown:
        if line in rest:
            rest.remove(line)
    return rest
