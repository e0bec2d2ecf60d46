"""What the IMAP and POP3 client machines share: buffering, limits, one outstanding command, EOF and the
STARTTLS window. The protocol modules supply greeting parsing and the meaning of each reply line.

Lifecycle (both protocols)::

    greeting  -->  idle  --command()-->  outstanding  --Response-->  idle
                                              |  (OK to STARTTLS/STLS)
                                              v
                                        TLS window  --tls_started()-->  idle, tls_active=True

In the TLS window the machine parses nothing: whatever the server sent after the OK line is plaintext that must
not be trusted once TLS is up (response injection). ``take_unprocessed()`` hands those bytes to the driver, and
``tls_started()`` discards whatever is left.

Bytes that arrive while no command is outstanding are not parsed; the next command reads them as part of its reply
(so a glued-on reply is never lost). If the peer closes while idle, they come back raw in
``ConnectionClosed.partial`` together with any incomplete line (e.g. Exchange's ``* BYE Connection closed. 14``).

Limits: a line longer than ``max_line`` (checked while it is still pending), a reply of more than
``max_reply_lines`` lines or ``max_reply_bytes`` bytes, and more than ``max_reply_bytes + max_line`` unread bytes
are ProtocolErrors; the buffer never holds more than that last bound.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from scanner.protocols.events import (
    NEED_DATA,
    ConnectionClosed,
    Event,
    Greeting,
    LocalProtocolError,
    ProtocolError,
    Response,
    _NeedData,
)
from scanner.protocols.lines import FIRST_BYTES, LineBuffer, decode

DEFAULT_MAX_LINE = 8192
DEFAULT_MAX_REPLY_LINES = 1000
DEFAULT_MAX_REPLY_BYTES = 256 * 1024


@dataclass
class Pending:
    """The command waiting for its answer, and what has been collected of that answer so far."""

    verb: str
    tag: str | None = None  # IMAP only
    sasl: bool = False  # continuation requests are legal for this command
    awaiting_answer: bool = False  # a Continuation was handed out and not yet answered
    lines: list[str] = field(default_factory=list)
    size: int = 0
    first: bytes = b""
    untagged: list[str] = field(default_factory=list)
    capabilities: tuple[str, ...] | None = None
    bye: tuple[str | None, str] | None = None  # IMAP: (code, text) of an untagged BYE
    body: bool = False  # POP3: inside a multi-line body
    head: tuple[str | None, str] = (None, "")  # POP3: (code, text) of the +OK that opened the body


class ClientMachine:
    """Base of ImapClient and Pop3Client. Not used directly."""

    protocol_name = ""  # "IMAP" / "POP3", for error messages
    not_a_greeting = ""  # "not an IMAP greeting" / "not a POP3 greeting"
    greeting_prefixes: tuple[bytes, ...] = ()  # upper-case starts of a valid greeting, for early rejection
    tls_verbs: frozenset[str] = frozenset()  # the command whose OK opens the TLS window

    def __init__(
        self,
        max_line: int = DEFAULT_MAX_LINE,
        max_reply_lines: int = DEFAULT_MAX_REPLY_LINES,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        self.max_line = max_line
        self.max_reply_lines = max_reply_lines
        self.max_reply_bytes = max_reply_bytes
        # Room for one whole reply plus one pending line; beyond that the peer is flooding us.
        self._buffer = LineBuffer(max_line, max_reply_bytes + max_line)
        self.greeting: Greeting | None = None
        self.tls_active = False
        self._pending: Pending | None = None
        self._tls_window = False
        self._closed: ConnectionClosed | None = None
        self._error: ProtocolError | None = None

    # -- bytes in, events out -----------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed (EOF)."""
        if self._buffer.eof:
            if data:
                raise LocalProtocolError("data received after EOF")
            return
        self._buffer.feed(data)

    def next_event(self) -> Event | _NeedData:
        """The next event, or NEED_DATA. Raises ProtocolError (again on every later call) once the peer broke
        the protocol."""
        if self._error is not None:
            raise self._error
        try:
            return self._advance()
        except ProtocolError as exc:
            self._error = exc
            raise

    @property
    def outstanding(self) -> str | None:
        """The verb of the command awaiting its answer, if any."""
        return self._pending.verb if self._pending else None

    def reply_at_deadline(self) -> Response | None:
        """Called by the driver when the reply deadline passed: a reply the protocol lets end here, else None.

        Only POP3's CAPA has one: a server that answers ``+OK`` and never sends the body (nor the final dot)
        advertises nothing; the exchange ends there and the next command may follow."""
        return None

    # -- STARTTLS -------------------------------------------------------------------------------------------------
    @property
    def awaiting_tls(self) -> bool:
        """True between the OK to STARTTLS/STLS and ``tls_started()``."""
        return self._tls_window

    def take_unprocessed(self) -> bytes:
        """Return and clear the bytes that arrived after the OK to STARTTLS/STLS.

        Anything here was sent in clear before the handshake: a response-injection sign, never to be parsed.
        Only valid in the TLS window (after that OK, before ``tls_started()``).
        """
        if not self._tls_window:
            raise LocalProtocolError("take_unprocessed() is only valid after the OK to STARTTLS/STLS")
        return self._buffer.take_all()

    def tls_started(self) -> bytes:
        """Tell the machine the TLS handshake finished; from now on ``receive_data`` gets decrypted bytes.

        Two legal moments:
        - after the OK to STARTTLS/STLS: any plaintext bytes still unprocessed are discarded (and returned, so the
          driver can still report them); no new greeting is expected, the next command (CAPABILITY/CAPA) may follow;
        - before any byte was received (implicit TLS, ports 993/995): the greeting is still expected.
        Sets ``tls_active``. Anything else raises LocalProtocolError.
        """
        if self._tls_window:
            self._tls_window = False
            self.tls_active = True
            return self._buffer.restart()
        if not self.tls_active and self.greeting is None and self._buffer.received == 0 and not self._buffer.eof:
            self.tls_active = True
            return b""
        raise LocalProtocolError("tls_started() is only valid after the OK to STARTTLS/STLS or before any data")

    # -- for subclasses ---------------------------------------------------------------------------------------------
    def _begin(self, pending: Pending, line: bytes) -> bytes:
        """Register ``pending`` as the outstanding command and return its bytes."""
        if self._error is not None:
            raise LocalProtocolError(f"the connection already failed: {self._error.reason}")
        if self._closed is not None:
            raise LocalProtocolError("the connection is closed")
        if self.greeting is None:
            raise LocalProtocolError("no greeting received yet")
        if self._tls_window:
            raise LocalProtocolError("complete the TLS handshake and call tls_started() first")
        if self._pending is not None:
            raise LocalProtocolError(f"{self._pending.verb} is still outstanding")
        self._pending = pending
        return line + b"\r\n"

    def _continuation_bytes(self, line: bytes) -> bytes:
        pending = self._pending
        if pending is None or not pending.awaiting_answer:
            raise LocalProtocolError("no continuation request to answer")
        pending.awaiting_answer = False
        return line + b"\r\n"

    def continuation(self, payload: bytes) -> bytes:
        """Answer the last Continuation with ``payload``, base64-encoded on one line."""
        return self._continuation_bytes(base64.b64encode(payload))

    def continuation_cancel(self) -> bytes:
        """Abort the SASL exchange (``*``); the server then answers the command with a failure."""
        return self._continuation_bytes(b"*")

    def _account(self, raw: bytes) -> str:
        """Add one raw line to the outstanding reply, enforcing the reply limits; return its text."""
        pending = self._pending
        assert pending is not None
        if not pending.lines:
            pending.first = raw[:FIRST_BYTES]
        text = decode(raw)
        pending.lines.append(text)
        pending.size += len(raw) + 2
        if len(pending.lines) > self.max_reply_lines:
            raise ProtocolError(f"reply to {pending.verb} has more than {self.max_reply_lines} lines", pending.first)
        if pending.size > self.max_reply_bytes:
            raise ProtocolError(f"reply to {pending.verb} is larger than {self.max_reply_bytes} bytes", pending.first)
        return text

    def _finish(self, response: Response) -> Response:
        self._pending = None
        if response.status == "ok" and response.command in self.tls_verbs:
            self._tls_window = True
        return response

    def _close(self, partial: bytes) -> ConnectionClosed:
        self._pending = None
        self._closed = ConnectionClosed(partial=partial)
        return self._closed

    def _read_line(self) -> bytes | None:
        return self._buffer.next_line()

    def _partial(self) -> bytes:
        """Bytes of an incomplete line at EOF."""
        return self._buffer.take_all()

    def _parse_greeting(self, raw: bytes) -> Greeting | None:
        """The greeting, or None when the line is not one."""
        raise NotImplementedError

    def _reply_line(self, raw: bytes) -> Event | None:
        """Handle one line of the outstanding reply; an event when the caller should see one, else None."""
        raise NotImplementedError

    def _eof_during_reply(self) -> Event:
        return self._close(self._partial())

    # -- the engine -------------------------------------------------------------------------------------------------
    def _advance(self) -> Event | _NeedData:
        if self._closed is not None:
            return self._closed
        if self._tls_window:
            # Bytes stay put for take_unprocessed(); nothing here is parsed.
            return self._close(b"") if self._buffer.eof else NEED_DATA
        if self.greeting is None:
            return self._await_greeting()
        if self._pending is None:
            # Unsolicited bytes wait for the next command, which reads them as part of its reply.
            if self._buffer.overflowed:
                raise ProtocolError("too much unsolicited data", self._buffer.peek(FIRST_BYTES))
            return self._close(self._partial()) if self._buffer.eof else NEED_DATA
        while True:
            raw = self._read_line()
            if raw is None:
                return self._eof_during_reply() if self._buffer.eof else NEED_DATA
            event = self._reply_line(raw)
            if event is not None:
                return event

    def _await_greeting(self) -> Greeting | ConnectionClosed | _NeedData:
        head = self._buffer.peek(16)
        head = head.split(b"\n", 1)[0].upper()
        if head and not any(head[: len(p)] == p[: len(head)] for p in self.greeting_prefixes):
            # Reject at once: an HTTP, SMTP or TLS peer must not make us wait for a CRLF or max_line bytes.
            first = self._buffer.peek(FIRST_BYTES)
            shown = decode(first.split(b"\n", 1)[0].rstrip(b"\r"))
            raise ProtocolError(f"{self.not_a_greeting}: {shown!r}", first)
        first = self._buffer.peek(FIRST_BYTES)
        raw = self._read_line()
        if raw is None:
            return self._close(self._partial()) if self._buffer.eof else NEED_DATA
        greeting = self._parse_greeting(raw)
        if greeting is None:
            raise ProtocolError(f"{self.not_a_greeting}: {decode(raw[:FIRST_BYTES])!r}", first)
        self.greeting = greeting
        return greeting
