"""Probe one endpoint end to end and return its EndpointResult. Never raises for anything a server does.

STARTTLS ports (110/143/587) take two connections, so that no connection carries more than two refused commands
(Exchange ends the session on the third), and the command-injection test one more (``scanner.probe.injection``):
  1. in clear: greeting, CAPABILITY/CAPA, the dummy login(s), then STARTTLS with a harmless command in the same
     write, the handshake and a short wait for its answer inside TLS, LOGOUT/QUIT;
  2. greeting, STARTTLS/STLS, TLS handshake, CAPABILITY/CAPA again, the same dummy login(s) over TLS, LOGOUT/QUIT.
     A login whose answer in clear already decides (accepted, AUTHENTICATIONFAILED, PRIVACYREQUIRED, POP3 USER
     refused) is not repeated over TLS unless confirm_over_tls is set: one failed login fewer in the server's logs;
  3. greeting, STARTTLS/STLS with the harmless command as a separate segment, the handshake, the wait, LOGOUT/QUIT.
The probe's own STARTTLS (2) never carries an injected command: a server that reads it as TLS data would fail the
handshake and the probe's verdicts with it.
Where NTLM is offered, its NEGOTIATE/CHALLENGE round trip (cancelled) closes the connection where it is offered when
that connection has room for one more refused command (``ntlm_step.room_for_ntlm``); else it gets one of its own. In
clear it comes before the injection try's STARTTLS, which always ends that connection.
Implicit-TLS ports (993/995) do the TLS half only. The dummy credentials are random and belong to nobody.

Containment: what was observed stays observed. A probe stopped by the endpoint's time cap, or a failure in one
analysis, leaves the rest of the row standing (state, verdict, findings) with a ``probe-incomplete`` finding that
says what was not reached; no finding is made up about a step that never ran (STARTTLS stays "not_tested").
A server that refuses our default TLS versions gets one more handshake offering TLS 1.0/1.1 too, so a legacy-only
server is judged (legacy finding, certificate inspected) rather than failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from typing import Any

from scanner.model import Endpoint, EndpointResult, Finding, InjectionTry, InjectionVariant, NtlmInfo, TlsInfo
from scanner.probe.assembly import Seen, analysis_failed, assemble
from scanner.probe.context import ALONE, ScanContext
from scanner.probe.dialects import Ask, Dialect, DummyCredentials, dialect_for
from scanner.probe.injection import ready_for_starttls, try_injection
from scanner.probe.ntlm_step import disclosure_findings, read_ntlm, room_for_ntlm
from scanner.probe.options import ProbeOptions
from scanner.probe.session import ConnectError, Session, SessionError, failed_connect, open_tcp
from scanner.probe.steplog import (
    capability_words,
    connected,
    greeting_words,
    handshake_words,
    injection_words,
    logged_step,
    login_words,
    ntlm_words,
    starttls_words,
)
from scanner.probe.transcript import Transcript
from scanner.protocols.events import Greeting, Response
from scanner.verdicts.plaintext import LoginAttempt, decided_in_clear
from scanner.verdicts.software import detect_software


def _server_name(endpoint: Endpoint, options: ProbeOptions) -> str | None:
    return endpoint.name or options.expect_name


async def probe_endpoint(endpoint: Endpoint, options: ProbeOptions, context: ScanContext = ALONE) -> EndpointResult:
    """The row of ``endpoint``; ``context`` is the scan's share of the probe (``ALONE``: a probe on its own)."""
    started = time.monotonic()
    try:
        # Closed and dropped ports, most of any range, end here: nothing else is set up for them.
        reader, writer = await _open(endpoint, options, context)
    except ConnectError as exc:
        return unanswered(endpoint, options, exc, started)
    return await _converse(endpoint, options, context, reader, writer, started)


async def probe_connected(
    endpoint: Endpoint, options: ProbeOptions, context: ScanContext, sock: socket.socket, started: float
) -> EndpointResult:
    """The probe of an endpoint whose first connect someone else made (the scan's connect sweep): ``sock`` is
    connected, ``started`` (time.monotonic) is when its connect began."""
    try:
        reader, writer = await asyncio.open_connection(sock=sock)
    except OSError as exc:
        sock.close()
        return unanswered(endpoint, options, failed_connect(exc), started)
    return await _converse(endpoint, options, context, reader, writer, started)


def unanswered(endpoint: Endpoint, options: ProbeOptions, failure: ConnectError, started: float) -> EndpointResult:
    """The row of an endpoint whose connect was refused, dropped or failed."""
    transcript = Transcript(started=started)
    transcript.note(failure.reason)
    return _finish(endpoint, options, Seen(state=failure.state, error=failure.reason), transcript, started)


async def _converse(
    endpoint: Endpoint,
    options: ProbeOptions,
    context: ScanContext,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    started: float,
) -> EndpointResult:
    transcript = Transcript(started=started)
    seen = Seen()
    # The PTR name is asked for now, while the conversation runs: the certificate's names are judged with it.
    ptr = _PtrName(endpoint, context)
    try:
        first = _session(endpoint, options, reader, writer, transcript)
        await _conversation(endpoint, options, context, first, seen, ptr, started)
        if seen.state == "open":
            seen.ptr = await ptr.name()
    finally:
        ptr.cancel()
    return _finish(endpoint, options, seen, transcript, started)


async def _conversation(
    endpoint: Endpoint,
    options: ProbeOptions,
    context: ScanContext,
    first: Session,
    seen: Seen,
    ptr: _PtrName,
    started: float,
) -> None:
    """The conversation(s) of an endpoint whose connect was answered (``first``), within the endpoint's time cap;
    what it saw goes into ``seen``, whatever stops it."""
    transcript = first.transcript
    try:
        credentials = DummyCredentials.random()
        transcript.hide(credentials.password)
        left = options.endpoint_timeout - (time.monotonic() - started)
        async with asyncio.timeout(left) as budget:
            await _Prober(endpoint, options, context, credentials, transcript, seen, ptr).run(budget, first)
    except TimeoutError:
        seen.incomplete = f"the whole probe took longer than {options.endpoint_timeout:g} s; stopped"
        seen.error = seen.error or seen.incomplete
        transcript.note(seen.incomplete)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug of ours must not sink the scan: the row keeps what was seen and says why
        seen.incomplete = f"internal error: {type(exc).__name__}: {exc}"
        transcript.note(seen.incomplete)
        if seen.state != "open":
            seen.state, seen.error = "error", seen.incomplete
    finally:
        first.abort()  # on every way out, cancellation included; a no-op once the conversation closed it


def _finish(
    endpoint: Endpoint, options: ProbeOptions, seen: Seen, transcript: Transcript, started: float
) -> EndpointResult:
    return assemble(endpoint, options, seen, transcript, _ms(started))


def endpoint_label(endpoint: Endpoint) -> str:
    """How the debug log names an endpoint: "imap 192.0.2.10:143", "imap [2001:db8::1]:993"."""
    where = f"[{endpoint.address}]" if ":" in endpoint.address else endpoint.address
    return f"{endpoint.protocol} {where}:{endpoint.port}"


@logged_step("connect", endpoint_label, connected)
async def _open(
    endpoint: Endpoint, options: ProbeOptions, context: ScanContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await open_tcp(
        endpoint.address,
        endpoint.port,
        timeout=options.connect_timeout,
        source_address=options.source_address,
        timer=context.timer,
    )


class _PtrName:
    """The PTR name of an endpoint's address, looked up once in the background (only within a scan that asks for
    PTR names, and only when the endpoint does not carry one already)."""

    def __init__(self, endpoint: Endpoint, context: ScanContext) -> None:
        self._known = endpoint.ptr
        self._lookup: asyncio.Task[str | None] | None = None
        if endpoint.ptr is None and context.reverse is not None:
            self._lookup = asyncio.ensure_future(context.ptr_name(endpoint.address))

    async def name(self) -> str | None:
        if self._lookup is not None:
            self._known = await self._lookup
            self._lookup = None
        return self._known

    def cancel(self) -> None:
        if self._lookup is not None:
            self._lookup.cancel()


def _session(
    endpoint: Endpoint,
    options: ProbeOptions,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    transcript: Transcript,
) -> Session:
    transcript.note(f"connected to {endpoint.address}:{endpoint.port}")
    return Session(
        dialect_for(endpoint.protocol).new_machine(), reader, writer, transcript, read_timeout=options.read_timeout
    )


def _where(prober: _Prober) -> str:
    return endpoint_label(prober.endpoint)


class _Prober:
    def __init__(
        self,
        endpoint: Endpoint,
        options: ProbeOptions,
        context: ScanContext,
        credentials: DummyCredentials,
        transcript: Transcript,
        seen: Seen,
        ptr: _PtrName,
    ) -> None:
        self.endpoint = endpoint
        self.options = options
        self.context = context
        self.ptr = ptr
        self.credentials = credentials
        self.transcript = transcript
        self.seen = seen
        self.dialect: Dialect[Any] = dialect_for(endpoint.protocol)
        self._ntlm_alone: bool | None = None  # NTLM needs a connection of its own: after TLS (True) or in clear

    async def _connect(self) -> Session:
        reader, writer = await _open(self.endpoint, self.options, self.context)
        return _session(self.endpoint, self.options, reader, writer, self.transcript)

    async def run(self, budget: asyncio.Timeout, first: Session) -> None:
        """The conversation(s) after the first connect was answered; ``first`` is that connection."""
        try:
            loop = asyncio.get_running_loop()
            deadline = budget.when()
            left = None if deadline is None else deadline - loop.time()
            budget.reschedule(None)  # time spent waiting behind the host's other ports is not this probe's
            async with contextlib.AsyncExitStack() as stack:
                waited = await stack.enter_async_context(self.context.conversation_slot(self.endpoint.address))
                budget.reschedule(None if left is None else loop.time() + left)
                session = first
                if waited:
                    # The port is open; a connection left idle behind other conversations may have been dropped
                    # by the server's idle timer, so the conversation starts on a fresh one.
                    first.abort()
                    self.transcript.note("waited for a free slot of this host; reconnecting")
                    session = await self._connect()
                if self.endpoint.transport == "implicit":
                    await self._implicit(session)
                else:
                    await self._starttls_port(session)
        except ConnectError as exc:
            self.seen.state = exc.state
            self.seen.error = exc.reason
            self.transcript.note(exc.reason)

    # -- implicit TLS (993/995) -------------------------------------------------------------------------------
    async def _implicit(self, session: Session) -> None:
        try:
            try:
                session = await self._handshake(session)
            except SessionError as exc:
                self.seen.state, self.seen.error = "error", exc.reason
                return
            session.machine.tls_started()
            self.seen.state = "open"
            greeting = await self._greeting(session)
            if greeting is None:
                return
            self.seen.caps_after = await self._capabilities(session, greeting)
            if self._wants_ntlm(self.seen.caps_after) and not await self._ntlm(session, over_tls=True):
                return
            await self._goodbye(session)
        except SessionError as exc:
            self._session_failed(exc)
        finally:
            await session.close()
        await self._inspect()

    # -- STARTTLS ports (110/143) -----------------------------------------------------------------------------
    async def _starttls_port(self, session: Session) -> None:
        if not await self._clear_half(session):
            return
        if self.seen.preauth:
            self.seen.starttls = "failed"
            self.seen.starttls_error = "PREAUTH greeting: STARTTLS is impossible once authenticated"
            return
        await self._tls_half()
        if self._ntlm_alone is not None:
            await self._ntlm_on_its_own(over_tls=self._ntlm_alone)
        await self._injection_on_extra_connection()
        await self._inspect()

    async def _clear_half(self, session: Session) -> bool:
        """Greeting, capabilities and the dummy login in clear. False when the endpoint is unusable."""
        try:
            greeting = await self._greeting(session)
            if greeting is None:
                return False
            self.seen.state = "open"
            if self.seen.preauth:
                self.seen.caps_before = greeting.capabilities or ()
                return True
            try:
                self.seen.caps_before = await self._capabilities(session, greeting)
            except SessionError as exc:
                # A server that cannot answer CAPABILITY is no working POP3/IMAP service.
                self.seen.state, self.seen.error = "error", f"no usable answer to the capability request: {exc.reason}"
                return False
            self.seen.starttls_advertised = self.dialect.offers_starttls(self.seen.caps_before)
            if self.options.login_probe:
                self.seen.login_tried = True
                for mechanism in self.dialect.login_mechanisms(self.seen.caps_before):
                    attempt = await self._login(session, mechanism, over_tls=False)
                    self.seen.clear.append(attempt)
                    if attempt.outcome in ("bye", "closed", "timeout", "error"):
                        self._ntlm_elsewhere(self.seen.caps_before, over_tls=False)
                        self.seen.injection_not_run = "the connection in clear ended with the dummy login"
                        return True
            if not await self._ntlm_last(session, self.seen.clear, self.seen.caps_before, over_tls=False):
                self.seen.injection_not_run = "the connection in clear ended with the NTLM exchange"
                return True
            # The same-write try ends this connection: its STARTTLS comes last, after everything said in clear. A
            # try that left the connection where no goodbye can be said returns at once: closed below.
            if self._injection_wanted() and not await self._inject(session, "same-write"):
                return True
            await self._goodbye(session)
        except SessionError as exc:
            self._session_failed(exc)
            return self.seen.state == "open"
        finally:
            await session.close()
        return True

    async def _tls_half(self) -> None:
        try:
            session = await self._connect()
        except ConnectError as exc:
            self.seen.starttls, self.seen.starttls_error = "failed", f"second connection: {exc.reason}"
            return
        try:
            if await self._greeting(session) is None:
                self.seen.starttls, self.seen.starttls_error = "failed", self.seen.error
                self.seen.state, self.seen.error = "open", None
                return
            upgraded = await self._upgrade(session)
            if upgraded is None:
                return
            session = upgraded
            self.seen.caps_after = await self._capabilities(session, None)
            if self.seen.login_tried:
                for attempt in self.seen.clear:
                    if decided_in_clear(attempt, self.endpoint.protocol) and not self.options.confirm_over_tls:
                        self.transcript.note(
                            f"{attempt.mechanism} not repeated over TLS: the answer in clear decides", tls=True
                        )
                        continue
                    tls_attempt = await self._login(session, attempt.mechanism, over_tls=True)
                    self.seen.over_tls.append(tls_attempt)
                    if tls_attempt.outcome in ("bye", "closed", "timeout", "error"):
                        self._ntlm_elsewhere(self.seen.caps_after, over_tls=True)
                        return
            if not await self._ntlm_last(session, self.seen.over_tls, self.seen.caps_after, over_tls=True):
                return
            await self._goodbye(session)
        except SessionError as exc:
            self.transcript.note(f"over TLS: {exc.reason}", tls=True)
            if self.seen.starttls != "ok":
                self.seen.starttls, self.seen.starttls_error = "failed", exc.reason
        finally:
            await session.close()

    # -- STARTTLS command injection (scanner.probe.injection) ------------------------------------------------------
    def _injection_wanted(self) -> bool:
        if not self.options.injection_test:
            self.seen.injection_not_run = "turned off (--no-injection-test)"
            return False
        if not self.seen.starttls_advertised:
            self.seen.injection_not_run = "STARTTLS not advertised"
            return False
        return True

    async def _inject(self, session: Session, variant: InjectionVariant) -> bool:
        """One try on ``session``, recorded; whether the session is still one a goodbye can be said on (under TLS,
        nothing outstanding)."""
        done = await self._injection_try(session, variant)
        self.seen.injection_tries.append(done)
        return done.outcome in ("answered-in-tls", "silent")

    @logged_step("STARTTLS command injection", _where, injection_words)
    async def _injection_try(self, session: Session, variant: InjectionVariant) -> InjectionTry:
        return await try_injection(session, self.dialect, variant, self.options, self._sni())

    async def _injection_on_extra_connection(self) -> None:
        """The separate-segment try, on the one connection the test adds (after the probe's own two)."""
        if not self._injection_wanted():
            return
        try:
            session = await self._connect()
        except ConnectError as exc:
            self.seen.injection_tries.append(InjectionTry("separate-segment", "", "failed", note=exc.reason))
            return
        try:
            await ready_for_starttls(session, self.dialect)
            if await self._inject(session, "separate-segment"):
                await self._goodbye(session)
        except SessionError as exc:
            note = f"before STARTTLS: {exc.reason}"
            self.seen.injection_tries.append(InjectionTry("separate-segment", "", "failed", note=note))
        finally:
            await session.close()

    @logged_step("STARTTLS", _where, starttls_words)
    async def _upgrade(self, session: Session) -> Session | None:
        """STARTTLS and the handshake; the session to go on with (a fresh one after a legacy retry), or None."""
        machine = session.machine
        await self.dialect.before_starttls(machine, _asker(session))
        answer = (await session.command(self.dialect.starttls(machine))).response
        if answer.status != "ok":
            said = f"{answer.status.upper()} {answer.text}".strip()
            if self.seen.starttls_advertised:
                self.seen.starttls, self.seen.starttls_error = "failed", f"refused: {said}"
            else:
                self.seen.starttls, self.seen.starttls_error = "not_offered", f"not advertised; refused: {said}"
            return None
        injected = machine.take_unprocessed()
        if injected:
            self.seen.injected = injected
            self.transcript.note(f"{len(injected)} cleartext bytes after the OK, before TLS: discarded")
        try:
            session = await self._handshake(session)
        except SessionError as exc:
            self.seen.starttls, self.seen.starttls_error = "failed", exc.reason
            return None
        session.machine.tls_started()
        self.seen.starttls = "ok"
        return session

    @logged_step("TLS handshake", _where, handshake_words)
    async def _handshake(self, session: Session) -> Session:
        """TLS on ``session``; when the server turns down the versions we offer by default, once more on a fresh
        connection that offers TLS 1.0/1.1 too. Returns the session now under TLS; SessionError when neither works
        (the first failure's reason, which is the one that says what is wrong)."""
        try:
            self.seen.handshake = await session.start_tls(self._sni(), self.options.tls_timeout)
            return session
        except SessionError as exc:
            if not _version_refusal(exc.reason):
                raise
            first = exc
        session.abort()
        self.transcript.note("trying again on a new connection, offering TLS 1.0 and 1.1 too")
        try:
            fresh = await self._session_ready_for_tls(self.transcript)
        except (ConnectError, SessionError):
            raise first from None
        try:
            self.seen.handshake = await fresh.start_tls(self._sni(), self.options.tls_timeout, legacy=True)
        except SessionError:
            await fresh.close()
            raise first from None
        if fresh.machine.awaiting_tls:
            self.seen.injected = self.seen.injected or fresh.machine.take_unprocessed()
        return fresh

    # -- NTLM (see ntlm_step) ---------------------------------------------------------------------------------
    def _wants_ntlm(self, capabilities: tuple[str, ...]) -> bool:
        """NTLM offered here and not read yet (offered in clear and after TLS: read in clear only)."""
        return self.options.ntlm_probe and self.seen.ntlm is None and self.dialect.offers_ntlm(capabilities)

    def _ntlm_elsewhere(self, capabilities: tuple[str, ...], *, over_tls: bool) -> None:
        if self._wants_ntlm(capabilities) and self._ntlm_alone is None:
            self._ntlm_alone = over_tls

    async def _ntlm_last(
        self, session: Session, attempts: list[LoginAttempt], capabilities: tuple[str, ...], *, over_tls: bool
    ) -> bool:
        """The NTLM exchange as the last command of this connection when it has room, else noted for a connection
        of its own. False when the session ended with it (no goodbye)."""
        if not self._wants_ntlm(capabilities):
            return True
        if not room_for_ntlm(attempts):
            self._ntlm_elsewhere(capabilities, over_tls=over_tls)
            return True
        return await self._ntlm(session, over_tls=over_tls)

    async def _ntlm(self, session: Session, *, over_tls: bool) -> bool:
        info, usable = await self._read_ntlm(session, over_tls=over_tls)
        self.seen.ntlm = info
        software = detect_software(self.seen.greeting, self.seen.caps_before + self.seen.caps_after)
        self.seen.extra_findings.extend(disclosure_findings(self.endpoint.protocol, software, info))
        return usable

    @logged_step("NTLM", _where, ntlm_words)
    async def _read_ntlm(self, session: Session, *, over_tls: bool) -> tuple[NtlmInfo, bool]:
        return await read_ntlm(self.dialect, session, over_tls=over_tls)

    async def _ntlm_on_its_own(self, *, over_tls: bool) -> None:
        """The NTLM exchange on a connection of its own: the probe's connections had no room for it."""
        self.transcript.note("a connection of its own for the NTLM exchange", tls=over_tls)
        try:
            if over_tls:
                session = await self._session_ready_for_tls(self.transcript)
                try:
                    await session.start_tls(self._sni(), self.options.tls_timeout)
                except BaseException:
                    session.abort()
                    raise
                session.machine.tls_started()
            else:
                session = await self._connect()
                try:
                    await session.greeting()
                except BaseException:
                    session.abort()
                    raise
        except (ConnectError, SessionError) as exc:
            self.seen.ntlm = NtlmInfo(over_tls=over_tls, error=f"connection for the NTLM exchange: {exc.reason}")
            return
        try:
            if await self._ntlm(session, over_tls=over_tls):
                await self._goodbye(session)
        finally:
            await session.close()

    # -- steps ------------------------------------------------------------------------------------------------
    @logged_step("greeting", _where, greeting_words)
    async def _greeting(self, session: Session) -> Greeting | None:
        try:
            greeting = await session.greeting()
        except SessionError as exc:
            self.seen.state = "error"
            if exc.kind == "timeout":
                self.seen.error = f"no greeting within {self.options.read_timeout:g} s (port open, server silent)"
            else:
                self.seen.error = exc.reason
            return None
        self.seen.greeting = self.seen.greeting or greeting.line
        if greeting.status in ("bye", "err"):
            self.seen.state, self.seen.error = "error", f"the server refused the session: {greeting.line}"
            return None
        if greeting.status == "preauth":
            self.seen.preauth = True
        return greeting

    @logged_step("capabilities", _where, capability_words)
    async def _capabilities(self, session: Session, greeting: Greeting | None) -> tuple[str, ...]:
        return await self.dialect.read_capabilities(session.machine, _asker(session), greeting)

    @logged_step("login", _where, login_words)
    async def _login(self, session: Session, mechanism: str, *, over_tls: bool) -> LoginAttempt:
        creds = self.credentials
        started = time.monotonic()
        wait = max(self.options.login_timeout, self.options.read_timeout)
        try:
            login = await self.dialect.login(session.machine, _asker(session, wait), mechanism, creds)
        except SessionError as exc:
            outcome = {"timeout": "timeout", "closed": "closed"}.get(exc.kind, "error")
            reason = login_timeout_reason(wait) if exc.kind == "timeout" else exc.reason
            return LoginAttempt(mechanism, over_tls, outcome, None, reason, _ms(started))  # type: ignore[arg-type]
        answer, stage = login.response, login.stage
        return LoginAttempt(
            mechanism,
            over_tls,
            answer.status,
            self.dialect.answer_code(answer),
            self.transcript.mask(answer.text.replace(creds.user, "<user>")),
            _ms(started),
            stage,
        )

    async def _goodbye(self, session: Session) -> None:
        command = self.dialect.goodbye(session.machine)
        # Said for politeness, not waited for: the answer tells nothing, and the round trip would be paid by every
        # conversation of a scan. The close that follows ends the session either way.
        with contextlib.suppress(SessionError):
            await session.send(command)

    def _session_failed(self, exc: SessionError) -> None:
        if self.seen.state == "open" and exc.kind != "protocol":
            self.transcript.note(f"session ended early: {exc.reason}")
        else:
            self.seen.state, self.seen.error = "error", exc.reason

    async def _ready_for_tls(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A fresh connection at the point where TLS starts (after STARTTLS on 110/143): for legacy-version tries."""
        session = await self._session_ready_for_tls(Transcript())
        return session.streams

    async def _session_ready_for_tls(self, transcript: Transcript) -> Session:
        """A fresh session at the point where TLS starts: connected, and for 110/143 greeted and after STARTTLS."""
        reader, writer = await _open(self.endpoint, self.options, self.context)
        machine = self.dialect.new_machine()
        session = Session(machine, reader, writer, transcript, read_timeout=self.options.read_timeout)
        if self.endpoint.transport == "implicit":
            return session
        try:
            await session.greeting()
            await self.dialect.before_starttls(machine, _asker(session))
            answer = (await session.command(self.dialect.starttls(machine))).response
        except BaseException:  # SessionError, a timeout or a cancellation: the connection goes with it
            session.abort()
            raise
        if answer.status != "ok":
            session.abort()
            raise SessionError("tls", f"STARTTLS refused: {answer.text}")
        return session

    def _sni(self) -> str | None:
        return _server_name(self.endpoint, self.options)

    async def _inspect(self) -> None:
        if self.seen.handshake is None:
            return
        handshake = self.seen.handshake
        software = detect_software(self.seen.greeting, self.seen.caps_before + self.seen.caps_after)
        endpoint = self.endpoint
        if endpoint.ptr is None and (ptr := await self.ptr.name()) is not None:
            endpoint = dataclasses.replace(endpoint, ptr=ptr)  # the PTR name joins the names judged
        try:
            info, findings = await inspect_tls(
                endpoint,
                self.options,
                handshake,
                software=software,
                opener=self._ready_for_tls,
                legacy=self.context.legacy,
                tls=self.context.tls,
            )
        except Exception as exc:  # whatever the server presented, the rest of the row stands
            reason = f"{type(exc).__name__}: {exc}"
            self.transcript.note(f"TLS analysis failed: {reason}", tls=True)
            info = TlsInfo(handshake.version, handshake.cipher)
            findings = [analysis_failed(reason)]
        self.seen.tls_info = info
        self.seen.extra_findings.extend(self.dialect.certificate_findings(findings, software))


# Answers that may mean "no version or cipher in common": worth one more handshake that offers TLS 1.0/1.1. Old
# servers (SChannel among them) often just close or reset the connection on a ClientHello they cannot serve.
_VERSION_REFUSALS = (
    "unsupported protocol", "protocol version", "no protocols available", "handshake failure", "no shared cipher",
    "no ciphers available", "insufficient security", "dh key too small", "ee key too small", "ca md too weak",
    "legacy sigalg", "unsafe legacy renegotiation", "connection closed during tls handshake",
    "connection error during tls handshake",
)  # fmt: skip


def _version_refusal(reason: str) -> bool:
    reason = reason.lower()
    return any(words in reason for words in _VERSION_REFUSALS)


async def inspect_tls(*args: Any, **kwargs: Any) -> tuple[TlsInfo, list[Finding]]:
    """scanner.probe.tls_inspect.inspect_tls, imported with the first handshake: certificate analysis (and
    cryptography) is not loaded by a scan until a port has answered with TLS."""
    from scanner.probe.tls_inspect import inspect_tls as inspect

    return await inspect(*args, **kwargs)


def login_timeout_reason(wait: float) -> str:
    """A login answer that never came, in its own words: a failed login is slowed on purpose, the more so after each
    failure from the same address (Dovecot's auth penalty reaches 15 s, on top of its 2 s failure delay)."""
    return (
        f"no answer to the login within the login deadline ({wait:g} s): likely an auth penalty, the delay servers put "
        "on failed logins, growing with each failure from this address"
    )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _asker(session: Session, timeout: float | None = None) -> Ask:
    """The dialects' ``ask``: one command on this session, its SASL challenges answered with the given payloads."""

    async def ask(command: bytes, sasl: tuple[bytes, ...]) -> Response:
        return (await session.command(command, sasl_payloads=sasl, timeout=timeout)).response

    return ask
