"""The NTLM step of a probe: where it may go, and the round trip on a live session.

Some servers count a cancelled AUTH as a failed login, and Exchange ends a session on its third refused command. So
the exchange only ever closes a connection (after its dummy logins, never before one) and only where it makes no
third refused command; elsewhere it gets a connection of its own (``conversation`` decides which).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from scanner.model import Finding, NtlmInfo, Protocol
from scanner.probe.dialects import AskSasl, Dialect
from scanner.probe.session import Session, SessionError
from scanner.protocols.events import Continuation, Response
from scanner.verdicts.ntlm import ntlm_findings, ntlm_info
from scanner.verdicts.plaintext import LoginAttempt

_ENDED = ("bye", "closed", "timeout", "error")


def room_for_ntlm(attempts: list[LoginAttempt]) -> bool:
    """Whether the NTLM exchange may end this connection: at most one refused login on it (the cancel makes the
    second refused command), none accepted (an authenticated session takes no AUTH) and the session still open."""
    return len(attempts) <= 1 and all(a.outcome != "ok" and a.outcome not in _ENDED for a in attempts)


def sasl_asker(session: Session) -> AskSasl:
    async def ask(command: bytes, sasl: tuple[bytes, ...]) -> tuple[Response, tuple[Continuation, ...]]:
        timed = await session.command(command, sasl_payloads=sasl, public_payloads=True)  # a NEGOTIATE: no secret
        return timed.response, timed.continuations

    return ask


async def read_ntlm(dialect: Dialect[Any], session: Session, *, over_tls: bool) -> tuple[NtlmInfo, bool]:
    """The NTLM round trip on ``session``: what the CHALLENGE named (or why none was read), and whether the session
    can still take a goodbye. Never raises for what a server does: a hostile answer is a reason in the row."""
    try:
        answer = await dialect.ntlm(session.machine, sasl_asker(session))
    except SessionError as exc:
        session.transcript.note(f"NTLM exchange: {exc.reason}", tls=over_tls)
        answer = dialect.read_challenge(exc.continuations, None)
        if answer.challenge is None:  # nothing readable came before the failure
            return NtlmInfo(over_tls=over_tls, error=exc.reason), False
        info = ntlm_info(answer.challenge, over_tls=over_tls)  # the CHALLENGE came; the answer to the cancel did not
        return dataclasses.replace(info, problems=(*info.problems, f"after the cancel: {exc.reason}")), False
    except Exception as exc:  # a failure of ours: the NTLM part says so, the rest of the row stands
        reason = f"internal error: {type(exc).__name__}: {exc}"
        session.transcript.note(f"NTLM exchange: {reason}", tls=over_tls)
        return NtlmInfo(over_tls=over_tls, error=reason), False
    if answer.challenge is None:
        session.transcript.note(f"NTLM: {answer.error}", tls=over_tls)
        return NtlmInfo(over_tls=over_tls, error=answer.error), not answer.ended
    info = ntlm_info(answer.challenge, over_tls=over_tls)
    told = len(info.names) + (1 if info.product_version else 0)
    session.transcript.note(f"NTLM challenge read: {told} names and versions; exchange cancelled", tls=over_tls)
    return info, not answer.ended


def disclosure_findings(protocol: Protocol, software: str | None, info: NtlmInfo | None) -> list[Finding]:
    """ntlm-info-disclosure, judged against today's date (whether the Windows build is still supported)."""
    return ntlm_findings(protocol, software, info, dt.datetime.now(dt.UTC).date())
