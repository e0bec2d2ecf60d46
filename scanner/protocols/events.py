"""Events produced by the sans-I/O client machines (scanner.protocols.imap / .pop3 / .smtp).

The caller feeds bytes with ``receive_data()`` (``b""`` means the peer closed) and pulls events with
``next_event()`` until it returns ``NEED_DATA``. Commands are produced as bytes by methods on the machine;
only one command is outstanding at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GreetingStatus = Literal["ok", "preauth", "bye", "err"]
ResponseStatus = Literal["ok", "no", "bad", "bye", "err"]


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True)
class Greeting:
    """The server's first line. IMAP: OK / PREAUTH / BYE; POP3: +OK ("ok") / -ERR ("err")."""

    status: GreetingStatus
    text: str  # the human text, response code removed
    code: str | None  # what stood inside [...], e.g. "CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED"
    capabilities: tuple[str, ...] | None  # parsed from a [CAPABILITY ...] code, else None
    line: str  # the whole line as received, without CRLF
    reply_code: int | None = None  # SMTP: the three-digit code (220, 421, 554)


@dataclass(frozen=True)
class Response:
    """The complete answer to one command.

    IMAP: the tagged line (status ok/no/bad) with the untagged lines that came before it; status "bye" when the
    server sent an untagged BYE and closed instead of answering. POP3: +OK ("ok") or -ERR ("err"), with the body of a
    multi-line answer (CAPA) in ``untagged``, dot-unstuffed.
    """

    command: str  # upper-case verb: CAPABILITY STARTTLS LOGIN AUTHENTICATE LOGOUT CAPA STLS USER PASS AUTH QUIT
    status: ResponseStatus
    code: str | None  # inside [...]: "PRIVACYREQUIRED", "AUTHENTICATIONFAILED", "AUTH", "SYS/TEMP", ...
    text: str
    untagged: tuple[str, ...] = ()
    capabilities: tuple[str, ...] | None = None  # from "* CAPABILITY", a [CAPABILITY] code, or a CAPA body
    lines: tuple[str, ...] = ()  # every raw line of this reply, in order, without CRLF
    reply_code: int | None = None  # SMTP: the three-digit code; ``code`` then holds the enhanced code (5.7.8)


@dataclass(frozen=True)
class Continuation:
    """A "+ ..." line asking for more (SASL). Answer with ``machine.continuation(payload)``."""

    command: str
    text: str
    line: str


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed. ``partial`` holds any incomplete line that was pending."""

    partial: bytes = b""


Event = Greeting | Response | Continuation | ConnectionClosed


class ProtocolError(Exception):
    """The peer broke the protocol (not IMAP/POP3 at all, a line too long, a reply that never ends...)."""

    def __init__(self, reason: str, first_bytes: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.first_bytes = first_bytes


class LocalProtocolError(Exception):
    """The caller used the machine wrongly (e.g. a second command while one is outstanding)."""
