"""The per-endpoint debug log: each step of a probe (connect, greeting, capabilities, login, STARTTLS, handshake,
close) with the endpoint, its duration and its outcome, under the ``mailprobe.probe`` logger.

Silent unless the command line's ``--debug`` gives the ``mailprobe`` logger a handler; when it is off a step costs
one ``isEnabledFor`` call. Each step's summary is chosen here and never includes a command mailprobe sent, so the
dummy credentials cannot appear; server text (greetings, capabilities, error reasons) goes through
``untrusted.for_terminal``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from scanner.untrusted import for_terminal

if TYPE_CHECKING:
    from scanner.model import InjectionTry, NtlmInfo
    from scanner.probe.session import Session
    from scanner.protocols.events import Greeting
    from scanner.verdicts.plaintext import LoginAttempt

LOG = logging.getLogger("mailprobe.probe")
_MAX_SHOWN = 200  # characters of server text per line: enough to recognise a server, not a transcript

P = ParamSpec("P")
R = TypeVar("R")


class StepDecorator(Protocol):
    def __call__(self, step: Callable[P, Awaitable[R]], /) -> Callable[P, Awaitable[R]]: ...


def logged_step(
    step: str, where: Callable[[Any], str], summary: Callable[[Any], str] = lambda _result: "done"
) -> StepDecorator:
    """Log an async function as one step of ``where(first argument)`` (e.g. "imap 127.0.0.2:143" from the prober or
    the endpoint): how long it took and how it ended, ``summary(result)`` or the error it raised (raised on
    unchanged)."""

    def wrap(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(function)
        async def logged(*args: P.args, **kwargs: P.kwargs) -> R:
            if not LOG.isEnabledFor(logging.DEBUG):
                return await function(*args, **kwargs)
            started = time.monotonic()
            try:
                result = await function(*args, **kwargs)
            except BaseException as exc:
                LOG.debug("%s %s: %s after %d ms", where(args[0]), step, error_words(exc), _ms(started))
                raise
            LOG.debug("%s %s: %s in %d ms", where(args[0]), step, summary(result), _ms(started))
            return result

        return logged

    return wrap


def error_words(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or str(exc)
    return f"{type(exc).__name__}: {shown(reason)}" if reason else type(exc).__name__


def shown(text: object) -> str:
    """Server text as a log line may carry it: escaped for the terminal, cut to a readable length."""
    return for_terminal(text, _MAX_SHOWN)


# -- what each step says ----------------------------------------------------------------------------------------


def connected(_connection: object) -> str:
    return "connected"


def greeting_words(greeting: Greeting | None) -> str:
    return "no usable greeting" if greeting is None else f"{greeting.status} {shown(greeting.line)}"


def capability_words(capabilities: tuple[str, ...]) -> str:
    return f"{len(capabilities)}: {shown(' '.join(capabilities))}" if capabilities else "none"


def login_words(attempt: LoginAttempt) -> str:
    """The mechanism and how the server answered; never the command, which carried the dummy credentials."""
    code = f" [{shown(attempt.code)}]" if attempt.code else ""
    return f"{attempt.mechanism}{' over TLS' if attempt.over_tls else ''} answered {attempt.outcome}{code}"


def ntlm_words(outcome: tuple[NtlmInfo, bool]) -> str:
    """What the NTLM CHALLENGE named, counted (the names themselves stay in the row), or why none was read."""
    info, _ = outcome
    if info.error:
        return f"no CHALLENGE: {shown(info.error)}"
    return f"CHALLENGE read{' over TLS' if info.over_tls else ''}: {len(info.names)} names"


def injection_words(attempt: InjectionTry) -> str:
    note = f" ({shown(attempt.note)})" if attempt.note else ""
    return f"{attempt.variant}: {attempt.outcome}{note}"


def handshake_words(session: Session) -> str:
    return "no TLS" if session.tls is None else f"{session.tls.version} {shown(session.tls.cipher)}"


def starttls_words(session: Session | None) -> str:
    return "refused or failed (see the result row)" if session is None else handshake_words(session)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def peer_of(session: Session) -> str:
    """The address a session talks to, as the probe's steps name it ("127.0.0.2:143", "[::1]:993")."""
    peer = session.streams[1].get_extra_info("peername")
    if not peer:
        return "?"
    address, port = peer[0], peer[1]
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
