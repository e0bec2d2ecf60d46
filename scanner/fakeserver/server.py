"""The asyncio engine that plays a Profile to every client that connects.

    async with FakeServer(bundled_profile("exchange-imap-securelogin"), ssl_context=ctx) as srv:
        ... connect to (srv.host, srv.port) ...
        await srv.wait_idle()
        srv.sessions[0].verbs("clear")   # ["CAPABILITY", "STARTTLS"]

Credentials are never checked: a login succeeds only where the profile's answer says ``accept = true``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from scanner.fakeserver.profile import Answer, Phase, Profile
from scanner.fakeserver.session import Credential, Received, Session

MAX_LINE = 64 * 1024
_LITERAL = re.compile(rb"\{(\d{1,9})(\+?)\}$")
_LITERAL_IN_ARGS = re.compile(rb"\{(\d{1,9})\+?\}\r\n")


class _Closed(Exception):
    """The client went away, or the server decided to end the session."""


class FakeServer:
    """One listening fake server. Use as an async context manager, or call ``start()`` and ``close()``."""

    def __init__(
        self,
        profile: Profile,
        host: str = "127.0.0.2",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        login_delay: float | None = None,
        idle_timeout: float = 30.0,
        handshake_timeout: float = 10.0,
    ) -> None:
        if profile.implicit_tls and ssl_context is None:
            raise ValueError(f"profile {profile.name!r} uses implicit TLS: an ssl_context is needed")
        self.profile = profile
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.login_delay = profile.login_delay if login_delay is None else login_delay
        self.idle_timeout = idle_timeout
        self.handshake_timeout = handshake_timeout
        self.sessions: list[Session] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> FakeServer:
        self._server = await asyncio.start_server(
            self._on_connect,
            self.host,
            self.port,
            ssl=self.ssl_context if self.profile.implicit_tls else None,
            ssl_handshake_timeout=self.handshake_timeout if self.profile.implicit_tls else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until every session so far has finished (the client or the server closed it)."""
        async with asyncio.timeout(timeout):
            for session in list(self.sessions):
                await session.finished.wait()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        session = Session(peer=(str(peer[0]), int(peer[1])), implicit_tls=self.profile.implicit_tls)
        self.sessions.append(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await _Connection(self, session, reader, writer).run()
        except (_Closed, ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            session.error = "server closed while the session was running"  # close(): the task ends here anyway
        except ssl.SSLError as exc:
            session.error = f"TLS: {exc}"
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            session.finished.set()
            if task is not None:
                self._tasks.discard(task)


@contextlib.asynccontextmanager
async def serve_all(*servers: FakeServer) -> AsyncIterator[tuple[FakeServer, ...]]:
    """Run several fake servers at once (the demo, multi-endpoint tests); all are closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:
            await stack.enter_async_context(server)
        yield servers


@dataclass
class _State:
    phase: Phase
    authenticated: bool
    pending_user: str | None = None


class _Connection:
    """One client: reads lines, answers from the profile."""

    def __init__(
        self, server: FakeServer, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.profile = server.profile
        self.session = session
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.state = _State(phase="tls" if self.profile.implicit_tls else "clear", authenticated=self.profile.preauth)

    # ---- I/O ---------------------------------------------------------------------------------------------------

    async def _fill(self) -> None:
        data = await asyncio.wait_for(self.reader.read(65536), self.server.idle_timeout)
        if not data:
            raise _Closed()
        self.buf += data

    async def read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line = bytes(self.buf[:end]).rstrip(b"\r")
                del self.buf[: end + 1]
                return line
            if len(self.buf) > MAX_LINE:
                raise _Closed()
            await self._fill()

    async def read_exact(self, count: int) -> bytes:
        while len(self.buf) < count:
            await self._fill()
        data = bytes(self.buf[:count])
        del self.buf[:count]
        return data

    async def write(self, data: bytes) -> None:
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
        await self.write(_encode(lines, tag))

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
        handle = {"imap": self._imap, "pop3": self._pop3, "smtp": self._smtp}[self.profile.protocol]
        while True:
            if not await handle():
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
                raise _Closed()
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
        ok = _encode(self.profile.starttls_ok, tag) + self.profile.hostile.inject_after_starttls.encode("utf-8")
        await self.write(ok)
        try:
            await self.writer.start_tls(ctx, ssl_handshake_timeout=self.server.handshake_timeout)
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            self.session.error = f"TLS handshake failed: {exc or type(exc).__name__}"
            raise _Closed() from None
        self.state.phase = "tls"
        self.session.tls_started = True
        if self.profile.hostile.process_pipelined:
            self.buf[:0] = pipelined
        return True

    def _capabilities(self) -> tuple[str, ...]:
        return self.profile.capabilities_tls if self.state.phase == "tls" else self.profile.capabilities_clear

    # ---- IMAP --------------------------------------------------------------------------------------------------

    async def _imap_command(self) -> bytes:
        """A whole command line, with any literals ({n} / {n+}) read in and kept inline."""
        data = await self.read_line()
        while match := _LITERAL.search(data):
            if not match.group(2):
                await self.write(b"+ Ready for additional command text.\r\n")
            literal = await self.read_exact(int(match.group(1)))
            data += b"\r\n" + literal + await self.read_line()
        return data

    async def _imap(self) -> bool:
        data = await self._imap_command()
        tag, _, rest = data.partition(b" ")
        verb_b, _, args = rest.partition(b" ")
        tag_s, verb = tag.decode("latin-1"), verb_b.decode("latin-1").upper()
        self._record(data, verb)
        if self.profile.mode == "reject-all" or not tag or not verb:
            await self.send(self.profile.unknown, tag_s or "*")
            return True
        if verb == "CAPABILITY":
            caps = " ".join(("CAPABILITY", *self._capabilities()))
            await self.send([f"* {caps}", self.profile.capability_ok], tag_s)
        elif verb == "NOOP":
            await self.send(self.profile.noop, tag_s)
        elif verb == "LOGOUT":
            await self.send(self.profile.logout, tag_s)
            return False
        elif verb == "STARTTLS":
            return await self._starttls(tag_s)
        elif verb == "LOGIN":
            words = _imap_words(args)
            if len(words) == 2:
                user, password = (w.decode("utf-8", "replace") for w in words)
                self.session.credentials.append(Credential("LOGIN", self.state.phase, user, password))
            return await self._answer("LOGIN", tag_s)
        elif verb == "AUTHENTICATE":
            words = _imap_words(args)
            mech = words[0].decode("latin-1").upper() if words else ""
            command = f"AUTHENTICATE {mech}"
            if mech == "PLAIN":
                payload = await self._sasl_payload(command, words[1] if len(words) > 1 else None, tag_s)
                self._plain_credential(command, payload)
                if payload == b"*":
                    await self.send(["{tag} BAD AUTHENTICATE aborted."], tag_s)
                    return True
            return await self._answer(command, tag_s)
        else:
            await self.send(self.profile.unknown, tag_s)
        return True

    # ---- POP3 --------------------------------------------------------------------------------------------------

    async def _pop3(self) -> bool:
        data = await self.read_line()
        verb_b, _, args = data.partition(b" ")
        verb = verb_b.decode("latin-1").upper()
        self._record(data, verb)
        if self.profile.mode == "reject-all":
            await self.send(self.profile.unknown)
            return True
        if verb == "CAPA":
            await self.send([self.profile.capability_ok, *self._capabilities(), "."])
        elif verb == "NOOP":
            await self.send(self.profile.noop)
        elif verb == "QUIT":
            await self.send(self.profile.logout)
            return False
        elif verb == "STLS":
            return await self._starttls()
        elif verb == "USER":
            user = args.decode("utf-8", "replace")
            self.state.pending_user = user
            self.session.credentials.append(Credential("USER", self.state.phase, user, None))
            return await self._answer("USER")
        elif verb == "PASS":
            password = args.decode("utf-8", "replace")
            user = self.state.pending_user or ""
            self.session.credentials.append(Credential("PASS", self.state.phase, user, password))
            return await self._answer("PASS")
        elif verb == "AUTH" and args.split(b" ")[0].upper() == b"PLAIN":
            words = args.split(b" ")
            payload = await self._sasl_payload("AUTH PLAIN", words[1] if len(words) > 1 else None)
            self._plain_credential("AUTH PLAIN", payload)
            if payload == b"*":
                await self.send(["-ERR Authentication aborted."])
                return True
            return await self._answer("AUTH PLAIN")
        else:
            await self.send(self.profile.unknown)
        return True

    # ---- SMTP submission ---------------------------------------------------------------------------------------

    async def _smtp(self) -> bool:
        data = await self.read_line()
        verb_b, _, args = data.partition(b" ")
        verb = verb_b.decode("latin-1").upper()
        self._record(data, verb)
        if self.profile.mode == "reject-all":
            await self.send(self.profile.unknown)
        elif verb == "EHLO":
            caps = self._capabilities()
            first = self.profile.capability_ok
            lines = [f"250-{first}", *(f"250-{c}" for c in caps[:-1]), f"250 {caps[-1]}"] if caps else [f"250 {first}"]
            await self.send(lines)
        elif verb == "HELO":
            await self.send([f"250 {self.profile.capability_ok}"])
        elif verb in ("NOOP", "RSET"):
            await self.send(self.profile.noop)
        elif verb == "QUIT":
            await self.send(self.profile.logout)
            return False
        elif verb == "STARTTLS":
            return await self._starttls()
        elif verb == "AUTH":
            return await self._smtp_auth(args.split(b" "))
        else:  # MAIL, RCPT, DATA and the rest: recorded (tests assert they never come) and refused
            await self.send(self.profile.unknown)
        return True

    async def _smtp_auth(self, words: list[bytes]) -> bool:
        mech = words[0].decode("latin-1").upper()
        command = f"AUTH {mech}"
        initial = words[1] if len(words) > 1 else None
        if mech == "PLAIN":
            payload = await self._sasl_payload(command, initial)
            self._plain_credential(command, payload)
        elif mech == "LOGIN":
            payload = await self._login_payloads(command, initial)
        else:
            payload = None
        if payload == b"*":
            await self.send(["501 5.7.0 Authentication aborted"])
            return True
        return await self._answer(command)

    async def _login_payloads(self, command: str, initial: bytes | None) -> bytes | None:
        """AUTH LOGIN: ask for the user name and the password (base64 "Username:" / "Password:") when the profile
        would check credentials; "*" when the client cancels."""
        answer = self._lookup(command)
        if answer is None or not answer.continuation:
            return None
        got: list[str] = []
        for prompt, given in ((b"VXNlcm5hbWU6", initial), (b"UGFzc3dvcmQ6", None)):
            if given is None:
                await self.write(b"334 " + prompt + b"\r\n")
                given = await self.read_line()
                self._record(given, "")
            if given == b"*":
                return given
            try:
                got.append(base64.b64decode(given, validate=True).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                return given
        self.session.credentials.append(Credential(command, self.state.phase, got[0], got[1]))
        return b""


def _encode(lines: Iterable[str], tag: str = "") -> bytes:
    return b"".join(line.replace("{tag}", tag).encode("utf-8") + b"\r\n" for line in lines)


def _imap_words(args: bytes) -> list[bytes]:
    """IMAP arguments: atoms, "quoted strings" (with \\ escapes) and literals kept inline by _imap_command."""
    words: list[bytes] = []
    i = 0
    while i < len(args):
        if args[i : i + 1] == b" ":
            i += 1
        elif args[i : i + 1] == b'"':
            out = bytearray()
            i += 1
            while i < len(args) and args[i : i + 1] != b'"':
                if args[i : i + 1] == b"\\":
                    i += 1
                out += args[i : i + 1]
                i += 1
            words.append(bytes(out))
            i += 1
        elif match := _LITERAL_IN_ARGS.match(args, i):
            start = match.end()
            words.append(args[start : start + int(match.group(1))])
            i = start + int(match.group(1))
        else:
            end = args.find(b" ", i)
            end = len(args) if end < 0 else end
            words.append(args[i:end])
            i = end
    return words


__all__ = ["FakeServer", "serve_all"]
