"""What one connection to a fake server received: for tests to assert on (e.g. "no more than two refused commands",
"the password was random") and for the demo to show."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from scanner.fakeserver.profile import Phase


@dataclass(frozen=True)
class Received:
    """One client command (IMAP literals included, CRLF stripped) or SASL payload line, with the phase it came in."""

    phase: Phase
    data: bytes
    verb: str  # upper-cased command word ("CAPABILITY", "LOGIN", "USER"...; IMAP tag skipped); "" for a SASL payload


@dataclass(frozen=True)
class Credential:
    """A user name / password the client offered, decoded from LOGIN, USER+PASS or a SASL PLAIN payload."""

    command: str  # "LOGIN", "AUTHENTICATE PLAIN", "USER", "PASS", "AUTH PLAIN"
    phase: Phase
    user: str
    password: str | None  # None for POP3 USER (the password comes with PASS)


@dataclass
class Session:
    """A live record of one connection; complete once ``finished`` is set."""

    peer: tuple[str, int]
    implicit_tls: bool
    received: list[Received] = field(default_factory=list)
    credentials: list[Credential] = field(default_factory=list)
    tls_started: bool = False  # STARTTLS/STLS handshake completed
    pipelined_after_starttls: bytes = b""  # bytes that came in with the STARTTLS command, before the handshake
    ntlm_negotiate: bytes = b""  # the NTLM NEGOTIATE the client sent (decoded), for tests to check it holds no name
    invalid_state_count: int = 0
    closed_by_server: bool = False
    error: str | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def verbs(self, phase: Phase | None = None) -> list[str]:
        """Command words received, in order, optionally only those of one phase."""
        return [r.verb for r in self.received if phase is None or r.phase == phase]

    def passwords(self) -> list[str]:
        return [c.password for c in self.credentials if c.password is not None]
