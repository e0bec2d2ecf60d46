"""The STARTTLS command-injection try on one connection: STARTTLS with a harmless command appended, the handshake,
then a bounded wait inside TLS, sending nothing, for the answer to that command (judged by
``scanner.protocols.injection``; the verdict by ``scanner.verdicts.injection``).

Two ways to append (``InjectionVariant``): in the same write as STARTTLS, and as a write of its own right after it,
before STARTTLS's answer is read (a separate TCP segment: Nagle's algorithm is turned off for it). The second
defeated a fix that only looked at the bytes read together with STARTTLS (Apache James CVE-2022-28220).

The wait: a vulnerable server answers as soon as its side of the handshake is done, which is one round trip after
ours plus the time it takes to run a command. STARTTLS's own answer measured both on this very connection, so the
wait is ``INJECTION_RTTS`` times that, never less than the floor (``ProbeOptions.injection_wait``: a server's
side of the handshake and a busy machine) nor more than the read timeout. A safe server sends nothing, so the wait is
paid in full on every STARTTLS port: it is the test's cost, and the floor is kept small.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from typing import Any

from scanner.model import InjectionTry, InjectionVariant
from scanner.probe.dialects import Ask, Dialect
from scanner.probe.options import ProbeOptions
from scanner.probe.session import Session, SessionError
from scanner.protocols.events import Continuation, Greeting, Response
from scanner.protocols.injection import MAX_READ, InjectedCommand, InTlsReading, injected_command, read_in_tls
from scanner.protocols.lines import decode

INJECTION_RTTS = 4  # the wait inside TLS, in STARTTLS round trips (see the module's doc)


def listen_wait(starttls_rtt: float, options: ProbeOptions) -> float:
    """How long to listen inside TLS for the answer to the injected command."""
    return min(max(INJECTION_RTTS * starttls_rtt, options.injection_wait), options.read_timeout)


async def try_injection(
    session: Session, dialect: Dialect[Any], variant: InjectionVariant, options: ProbeOptions, server_name: str | None
) -> InjectionTry:
    """One try on ``session``, which must be greeted and ready for STARTTLS (SMTP: after EHLO). Never raises for
    what the server does; the caller closes the session (it is under TLS when the try got that far)."""
    command = injected_command(dialect.protocol, secrets.token_hex(4))
    machine = session.machine
    transcript = session.transcript
    loop = asyncio.get_running_loop()
    transcript.note(f"STARTTLS command-injection test: {command.shown} appended {_how(variant)}")
    starttls = dialect.starttls(machine)
    started = loop.time()
    try:
        if variant == "same-write":
            await session.send(starttls + command.line)
        else:
            _no_delay(session)
            await session.send(starttls)
            await session.send(command.line)
        answer = await _answer(session)
    except SessionError as exc:
        return _failed(variant, command, f"no answer to STARTTLS: {exc.reason}")
    rtt = loop.time() - started
    if answer.status != "ok":
        return _failed(variant, command, "STARTTLS refused on this connection")
    clear = machine.take_unprocessed()
    if clear:
        in_clear = read_in_tls(command, clear)  # the same shape of answer, before the handshake
        transcript.server(_lines(clear), tls=False)
        if in_clear.answered:
            transcript.note("the injected command was answered in clear, before TLS: pipelining, not injection")
            return InjectionTry(variant, command.shown, "answered-in-clear", in_clear.evidence, in_clear.other)
    try:
        await session.start_tls(server_name, options.tls_timeout)
    except SessionError as exc:
        note = f"TLS handshake after the injected command failed: {exc.reason}"
        return InjectionTry(variant, command.shown, "broke-handshake", note=note)
    machine.tls_started()
    wait = listen_wait(rtt, options)
    data, waited = await _listen(session, command, wait)
    reading = read_in_tls(command, data)
    if data:
        transcript.server(_lines(data), tls=True)
    if reading.answered:
        transcript.note("the injected command was answered inside TLS before mailprobe sent anything", tls=True)
        return InjectionTry(variant, command.shown, "answered-in-tls", reading.evidence, reading.other)
    transcript.note(f"no answer to the injected command inside TLS within {waited * 1000:.0f} ms", tls=True)
    return InjectionTry(variant, command.shown, "silent", (), reading.other, int(waited * 1000))


async def ready_for_starttls(session: Session, dialect: Dialect[Any]) -> Greeting:
    """A fresh connection up to the point where STARTTLS is said: the greeting, and SMTP's EHLO."""
    greeting = await session.greeting()
    if greeting.status not in ("ok",):
        raise SessionError("protocol", "the server refused the session")
    await dialect.before_starttls(session.machine, _ask(session))
    return greeting


def _no_delay(session: Session) -> None:
    """Nagle's algorithm off, so that a small write leaves at once as a segment of its own instead of waiting for
    the ACK of the one before (which would hold the injected command until after STARTTLS's answer)."""
    sock = session.streams[1].get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _how(variant: InjectionVariant) -> str:
    return "in the same write" if variant == "same-write" else "as a separate segment"


def _failed(variant: InjectionVariant, command: InjectedCommand, note: str) -> InjectionTry:
    return InjectionTry(variant, command.shown, "failed", note=note)


def _lines(data: bytes) -> list[str]:
    return [decode(line.rstrip(b"\r")) for line in data.split(b"\n") if line.rstrip(b"\r")]


async def _answer(session: Session) -> Response:
    """STARTTLS's answer (read through the protocol machine: bytes after it stay unparsed, in the TLS window)."""
    while True:
        event = await session.next_event()
        if isinstance(event, Response):
            session.transcript.server(event.lines, tls=False)
            return event
        if isinstance(event, Continuation):
            raise SessionError("protocol", "a continuation request in answer to STARTTLS")
        raise SessionError("closed", "the server closed the connection instead of answering")


async def _listen(session: Session, command: InjectedCommand, wait: float) -> tuple[bytes, float]:
    """Everything the server sends inside TLS within ``wait`` seconds (less once the answer is whole, or the
    server closed), and how long that took. Nothing is sent meanwhile."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + wait
    data = b""
    reading = InTlsReading(False, False)
    while len(data) < MAX_READ and not reading.complete:
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            chunk = await asyncio.wait_for(session.channel.read(MAX_READ - len(data)), left)
        except TimeoutError:
            break
        except (OSError, ConnectionError) as exc:
            session.transcript.note(f"connection error: {exc}", tls=True)
            break
        if not chunk:
            session.transcript.note("the server closed the connection", tls=True)
            break
        data += chunk
        reading = read_in_tls(command, data)
    return data, loop.time() - started


def _ask(session: Session) -> Ask:
    async def ask(command: bytes, sasl: tuple[bytes, ...]) -> Response:
        return (await session.command(command, sasl_payloads=sasl)).response

    return ask
