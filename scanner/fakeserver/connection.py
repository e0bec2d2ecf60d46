"""One client of a fake server: line I/O, the profile's login answers and STARTTLS, shared by the three
protocols (``imap.py``, ``pop3.py``, ``smtp.py`` read and answer the commands)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import secrets
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scanner.fakeserver.profile import Answer, Ntlm, Phase
from scanner.fakeserver.session import Credential, Received, Session
from scanner.protocols.ntlm import (
    AV_DNS_COMPUTER,
    AV_DNS_DOMAIN,
    AV_DNS_TREE,
    AV_NB_COMPUTER,
    AV_NB_DOMAIN,
    AV_TIMESTAMP,
    av_text,
    av_timestamp,
    challenge_message,
)

if TYPE_CHECKING:
    from scanner.fakeserver.server import FakeServer

MAX_LINE = 64 * 1024


class Closed(Exception):
    """The client went away, or the server decided to end the session."""


@dataclass
class ConnectionState:
    phase: Phase
    authenticated: bool
    pending_user: str | None = None


class Connection:
    """One client: reads lines, answers from the profile. A subclass per protocol reads one command in ``handle``."""

    def __init__(
        self, server: FakeServer, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.profile = server.profile
        self.session = session
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self._cork: bytearray | None = None  # while set, writes are collected here and sent as one
        self.state = ConnectionState(
            phase="tls" if self.profile.implicit_tls else "clear", authenticated=self.profile.preauth
        )

    # ---- I/O ---------------------------------------------------------------------------------------------------

    async def _fill(self) -> None:
        data = await asyncio.wait_for(self.reader.read(65536), self.server.idle_timeout)
        if not data:
            raise Closed()
        self.buf += data

    async def read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line = bytes(self.buf[:end]).rstrip(b"\r")
                del self.buf[: end + 1]
                return line
            if len(self.buf) > MAX_LINE:
                raise Closed()
            await self._fill()

    async def read_exact(self, count: int) -> bytes:
        while len(self.buf) < count:
            await self._fill()
        data = bytes(self.buf[:count])
        del self.buf[:count]
        return data

    async def write(self, data: bytes) -> None:
        if self._cork is not None:
            self._cork += data
            return
        if self.profile.hostile.reply_delay > 0:
            await asyncio.sleep(self.profile.hostile.reply_delay)
        drip = self.profile.hostile.drip_interval
        if drip > 0:
            for i in range(len(data)):
                self.writer.write(data[i : i + 1])
                await self.writer.drain()
                await asyncio.sleep(drip)
        else:
            self.writer.write(data)
            await self.writer.drain()

    async def send(self, lines: Iterable[str], tag: str = "") -> None:
        await self.write(encode(lines, tag))

    async def handle(self) -> bool:
        """Read and answer one command; False when the session ends."""
        raise NotImplementedError

    # ---- the session -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.send(self.profile.greeting)
        mode = self.profile.mode
        if mode == "close":
            self.session.closed_by_server = True
            return
        if mode == "silent":
            while True:  # hold the connection, say nothing, until the client leaves or the idle timeout
                await self._fill()
        if mode == "stream":
            await self._stream()
            return
        while True:
            if not await self.handle():
                self.session.closed_by_server = True
                return

    async def _stream(self) -> None:
        hostile = self.profile.hostile
        sent = 0
        if hostile.stream_hex:
            head = bytes.fromhex(hostile.stream_hex)
            await self.write(head)
            sent += len(head)
        chunk = hostile.stream_repeat.encode("utf-8") * max(1, 4096 // max(1, len(hostile.stream_repeat)))
        while hostile.stream_repeat and sent < hostile.stream_limit:
            if self.writer.is_closing():
                raise Closed()
            await self.write(chunk)
            sent += len(chunk)
            await asyncio.sleep(0)
        self.session.closed_by_server = True

    def _record(self, data: bytes, verb: str) -> None:
        self.session.received.append(Received(phase=self.state.phase, data=data, verb=verb))

    async def _answer(self, command: str, tag: str = "") -> bool:
        """Play the profile's answer to a login command; False when the session ends."""
        answer = self._lookup(command)
        if answer is None:
            await self.send(self.profile.unknown, tag)
            return True
        if answer.delay and self.server.login_delay > 0:
            await asyncio.sleep(self.server.login_delay)
        lines = list(answer.lines)
        ending = answer.close
        if answer.invalid_state:
            self.session.invalid_state_count += 1
            limit = self.profile.invalid_state_limit
            if limit and self.session.invalid_state_count >= limit:
                if self.profile.invalid_state_bye:
                    lines.append(self.profile.invalid_state_bye)
                ending = True
        await self.send(lines, tag)
        if answer.accept:
            self.state.authenticated = True
        return not ending

    def _lookup(self, command: str) -> Answer | None:
        if self.state.authenticated:
            return None  # already logged in: a second login is just an unexpected command
        return self.profile.answer(command, self.state.phase)

    async def _sasl_payload(self, command: str, initial: bytes | None, tag: str = "") -> bytes | None:
        """The SASL PLAIN response: the initial response if given, else ask with a continuation when the profile
        would check credentials. None when the server answers without asking."""
        if initial is not None:
            return initial
        answer = self._lookup(command)
        if answer is None or not answer.continuation:
            return None
        await self.write(self.profile.continuation.encode("utf-8") + b"\r\n")
        payload = await self.read_line()
        self._record(payload, "")
        return payload

    async def _ntlm(self, tag: str = "") -> bool:
        """AUTHENTICATE NTLM / AUTH NTLM as Exchange answers it: an empty continuation, the NEGOTIATE, the CHALLENGE;
        the client's cancel gets the profile's answer (counted as a refused command when the profile says so)."""
        ntlm = self.profile.ntlm
        if ntlm is None or self.state.authenticated:
            await self.send(self.profile.unknown, tag)
            return True
        prompt = self.profile.continuation.encode("utf-8")
        await self.write(prompt + b"\r\n")
        negotiate = await self.read_line()
        self._record(negotiate, "")
        if negotiate != b"*":
            self.session.ntlm_negotiate = _decoded(negotiate)
            await self.write(prompt + _challenge_payload(ntlm) + b"\r\n")
            last = await self.read_line()
            self._record(last, "")
        lines = list(ntlm.cancelled)
        ending = False
        if ntlm.cancel_counts:
            self.session.invalid_state_count += 1
            limit = self.profile.invalid_state_limit
            if limit and self.session.invalid_state_count >= limit:
                lines += [self.profile.invalid_state_bye] if self.profile.invalid_state_bye else []
                ending = True
        await self.send(lines, tag)
        return not ending

    def _plain_credential(self, command: str, payload: bytes | None) -> None:
        if payload is None or payload in (b"*", b"="):
            return
        try:
            parts = base64.b64decode(payload, validate=True).split(b"\0")
        except (binascii.Error, ValueError):
            return
        if len(parts) == 3:
            user, password = (p.decode("utf-8", "replace") for p in parts[1:])
            self.session.credentials.append(Credential(command, self.state.phase, user, password))

    async def _starttls(self, tag: str = "") -> bool:
        ctx = self.server.ssl_context
        if self.state.phase == "tls" or self.state.authenticated or not self.profile.starttls_works or ctx is None:
            await self.send(self.profile.starttls_refused, tag)
            return True
        # Bytes the client pipelined after the STARTTLS line arrived in clear: RFC 9051 says discard them. A profile
        # can instead run them inside TLS, like servers vulnerable to command injection.
        pipelined = bytes(self.buf)
        self.buf.clear()
        self.session.pipelined_after_starttls = pipelined
        hostile = self.profile.hostile
        ok = encode(self.profile.starttls_ok, tag) + hostile.inject_after_starttls.encode("utf-8")
        if hostile.answer_pipelined_in_clear and b"\n" in pipelined:
            await self._answer_in_clear(ok, pipelined)
        else:
            await self.write(ok)
        if not hostile.process_pipelined:
            # What arrived while the OK was on its way sits in the stream reader's buffer, unread: a server that
            # kept it would run it inside TLS (the race of Apache James CVE-2022-28220). Discarded, as a safe server
            # does; bytes that arrive later go to the TLS layer and break the handshake.
            self._discard_unread()
        try:
            await self.writer.start_tls(ctx, ssl_handshake_timeout=self.server.handshake_timeout)
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            self.session.error = f"TLS handshake failed: {exc or type(exc).__name__}"
            raise Closed() from None
        self.state.phase = "tls"
        self.session.tls_started = True
        if hostile.say_after_tls:
            await self.write(hostile.say_after_tls.encode("utf-8"))
        if hostile.process_pipelined:
            self.buf[:0] = pipelined
        return True

    def _discard_unread(self) -> None:
        buffer = getattr(self.reader, "_buffer", None)  # asyncio.StreamReader keeps what it read ahead here
        if buffer:
            self.session.pipelined_after_starttls += bytes(buffer)
            buffer.clear()

    async def _answer_in_clear(self, ok: bytes, pipelined: bytes) -> None:
        """Pipelining processed in order: the complete commands that came with STARTTLS are answered in clear, sent
        with the OK in one write, before the handshake."""
        self._cork = bytearray(ok)
        self.buf += pipelined[: pipelined.rfind(b"\n") + 1]
        try:
            while self.buf:
                if not await self.handle():
                    break
        finally:
            corked, self._cork = bytes(self._cork), None
            self.buf.clear()
        await self.write(corked)

    def _capabilities(self) -> tuple[str, ...]:
        return self.profile.capabilities_tls if self.state.phase == "tls" else self.profile.capabilities_clear


def _decoded(line: bytes) -> bytes:
    try:
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        return line


def _challenge_payload(ntlm: Ntlm) -> bytes:
    """The base64 CHALLENGE the profile describes (or its hostile stand-in)."""
    if ntlm.challenge_text:
        return ntlm.challenge_text.encode("utf-8")
    if ntlm.challenge_hex:
        return base64.b64encode(bytes.fromhex(ntlm.challenge_hex))
    pairs = [
        (av_id, av_text(value))
        for av_id, value in (
            (AV_NB_COMPUTER, ntlm.netbios_computer),
            (AV_NB_DOMAIN, ntlm.netbios_domain),
            (AV_DNS_COMPUTER, ntlm.dns_computer),
            (AV_DNS_DOMAIN, ntlm.dns_domain),
            (AV_DNS_TREE, ntlm.dns_tree),
        )
        if value
    ]
    pairs.append((AV_TIMESTAMP, av_timestamp(dt.datetime.now(dt.UTC))))
    version = tuple(int(part) for part in ntlm.version.split(".")) if ntlm.version else None
    message = challenge_message(
        server_challenge=secrets.token_bytes(8),
        target_name=ntlm.target_name,
        av_pairs=tuple(pairs),
        version=version,  # type: ignore[arg-type]
    )
    return base64.b64encode(message)


def encode(lines: Iterable[str], tag: str = "") -> bytes:
    return b"".join(line.replace("{tag}", tag).encode("utf-8") + b"\r\n" for line in lines)
