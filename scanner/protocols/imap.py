"""Sans-I/O IMAP4 client: only what a login-policy probe needs (RFC 3501 / 9051 framing).

Commands become bytes through methods; replies become events::

    m = ImapClient()
    m.receive_data(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot ready.\\r\\n")
    m.next_event()            # Greeting(status="ok", capabilities=("IMAP4rev1", "STARTTLS", "LOGINDISABLED"), ...)
    m.login("u", "p")         # b'a1 LOGIN "u" "p"\\r\\n'
    m.receive_data(b"a1 NO [PRIVACYREQUIRED] Plaintext authentication disallowed.\\r\\n")
    m.next_event()            # Response(command="LOGIN", status="no", code="PRIVACYREQUIRED", ...)

Untagged lines before the tagged reply are collected in ``Response.untagged``; an untagged BYE followed by EOF
(no tagged reply) becomes ``Response(status="bye")``. Literals (``{n}`` at a line end) are read as part of their
line, within the reply limits. STARTTLS: see ``ClientMachine`` (``take_unprocessed``, ``tls_started``).
"""

from __future__ import annotations

import re

from scanner.protocols.base import (
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_REPLY_BYTES,
    DEFAULT_MAX_REPLY_LINES,
    ClientMachine,
    Pending,
)
from scanner.protocols.events import Continuation, Event, Greeting, ProtocolError, Response
from scanner.protocols.lines import (
    FIRST_BYTES,
    check_text_argument,
    decode,
    sasl_mechanism,
    sasl_plain_arguments,
    split_code,
)

_LITERAL = re.compile(rb"~?\{(\d{1,10})\+?\}$")
_GREETING_WORDS = {"OK": "ok", "PREAUTH": "preauth", "BYE": "bye"}
_TAGGED_WORDS = {"OK": "ok", "NO": "no", "BAD": "bad"}
_STATUS_WORDS = {"OK", "NO", "BAD", "BYE", "PREAUTH"}


def _code_capabilities(code: str | None) -> tuple[str, ...] | None:
    """Capabilities from a ``CAPABILITY ...`` response code, else None."""
    if code is None:
        return None
    words = code.split()
    if words and words[0].upper() == "CAPABILITY":
        return tuple(words[1:])
    return None


def quote(value: str, what: str) -> bytes:
    """An IMAP quoted string: backslash and double quote escaped; CR, LF and NUL refused (they need a literal)."""
    data = check_text_argument(value, what)
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class ImapClient(ClientMachine):
    """IMAP client machine. Tags are a1, a2, ... in command order."""

    protocol_name = "IMAP"
    not_a_greeting = "not an IMAP greeting"
    greeting_prefixes = (b"* OK", b"* PREAUTH", b"* BYE")
    tls_verbs = frozenset({"STARTTLS"})

    def __init__(
        self,
        max_line: int = DEFAULT_MAX_LINE,
        max_reply_lines: int = DEFAULT_MAX_REPLY_LINES,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        super().__init__(max_line=max_line, max_reply_lines=max_reply_lines, max_reply_bytes=max_reply_bytes)
        self._counter = 0
        self._logical = bytearray()  # a line interrupted by a literal, collected so far
        self._literal_left: int | None = None  # bytes of literal still to read

    # -- commands ---------------------------------------------------------------------------------------------------
    def _command(self, verb: str, args: bytes = b"", *, sasl: bool = False) -> bytes:
        tag = f"a{self._counter + 1}"
        line = f"{tag} {verb}".encode() + (b" " + args if args else b"")
        data = self._begin(Pending(verb=verb, tag=tag, sasl=sasl), line)
        self._counter += 1
        return data

    def capability(self) -> bytes:
        return self._command("CAPABILITY")

    def starttls(self) -> bytes:
        return self._command("STARTTLS")

    def login(self, user: str, password: str) -> bytes:
        return self._command("LOGIN", quote(user, "user") + b" " + quote(password, "password"))

    def authenticate_plain(self, user: str, password: str, initial_response: bool = False) -> bytes:
        """AUTHENTICATE PLAIN; with ``initial_response`` the credentials ride on the command line (SASL-IR),
        else the server's ``+`` yields a Continuation to answer with ``continuation(b"\\0user\\0password")``."""
        return self._command("AUTHENTICATE", sasl_plain_arguments(user, password, initial_response), sasl=True)

    def authenticate(self, mechanism: str) -> bytes:
        """AUTHENTICATE with ``mechanism`` and no initial response: each ``+`` yields a Continuation (NTLM: answer
        the first with the NEGOTIATE message, read the CHALLENGE in the second, cancel with ``continuation_cancel``)."""
        return self._command("AUTHENTICATE", sasl_mechanism(mechanism), sasl=True)

    def logout(self) -> bytes:
        return self._command("LOGOUT")

    # -- parsing ----------------------------------------------------------------------------------------------------
    def _read_line(self) -> bytes | None:
        """One logical line: a line ending in ``{n}`` continues with n literal bytes and the line after them."""
        while True:
            if self._literal_left is not None:
                chunk = self._buffer.take(self._literal_left)
                if chunk is None:
                    return None
                self._logical += chunk
                self._literal_left = None
            raw = self._buffer.next_line()
            if raw is None:
                return None
            match = _LITERAL.search(raw)
            if match is None:
                line = bytes(self._logical) + raw
                self._logical.clear()
                return line
            size = int(match.group(1))
            if len(self._logical) + len(raw) + size > self.max_reply_bytes:
                raise ProtocolError(
                    f"literal of {size} bytes exceeds the reply limit of {self.max_reply_bytes} bytes",
                    raw[:FIRST_BYTES],
                )
            self._logical += raw + b"\r\n"
            self._literal_left = size

    def _partial(self) -> bytes:
        partial = bytes(self._logical) + self._buffer.take_all()
        self._logical.clear()
        self._literal_left = None
        return partial

    def _parse_greeting(self, raw: bytes) -> Greeting | None:
        text = decode(raw)
        if not text.startswith("* "):
            return None
        word, _, rest = text[2:].partition(" ")
        status = _GREETING_WORDS.get(word.upper())
        if status is None:
            return None
        code, human = split_code(rest.strip())
        return Greeting(
            status=status,  # type: ignore[arg-type]
            text=human,
            code=code,
            capabilities=_code_capabilities(code),
            line=text,
        )

    def _reply_line(self, raw: bytes) -> Event | None:
        pending = self._pending
        assert pending is not None
        text = self._account(raw)
        if text.startswith("*"):
            self._untagged(pending, text)
            return None
        if text == "+" or text.startswith("+ "):
            if not pending.sasl:
                raise ProtocolError(f"unexpected continuation request to {pending.verb}: {text[:64]!r}", pending.first)
            pending.awaiting_answer = True
            return Continuation(command=pending.verb, text=text[2:], line=text)
        tag, _, rest = text.partition(" ")
        if tag != pending.tag:
            raise ProtocolError(f"unexpected line (expected tag {pending.tag}): {text[:64]!r}", raw[:FIRST_BYTES])
        word, _, rest = rest.partition(" ")
        status = _TAGGED_WORDS.get(word.upper())
        if status is None:
            raise ProtocolError(f"tagged reply without OK/NO/BAD: {text[:64]!r}", raw[:FIRST_BYTES])
        code, human = split_code(rest.strip())
        capabilities = _code_capabilities(code)
        if capabilities is None:
            capabilities = pending.capabilities
        return self._finish(
            Response(
                command=pending.verb,
                status=status,  # type: ignore[arg-type]
                code=code,
                text=human,
                untagged=tuple(pending.untagged),
                capabilities=capabilities,
                lines=tuple(pending.lines),
            )
        )

    def _untagged(self, pending: Pending, text: str) -> None:
        pending.untagged.append(text)
        word, _, rest = text[2:].partition(" ")
        word = word.upper()
        if word == "CAPABILITY":
            pending.capabilities = tuple(rest.split())
        elif word in _STATUS_WORDS:
            code, human = split_code(rest.strip())
            capabilities = _code_capabilities(code)
            if capabilities is not None:
                pending.capabilities = capabilities
            if word == "BYE":
                pending.bye = (code, human)

    def _eof_during_reply(self) -> Event:
        pending = self._pending
        if pending is not None and pending.bye is not None:
            code, human = pending.bye
            response = Response(
                command=pending.verb,
                status="bye",
                code=code,
                text=human,
                untagged=tuple(pending.untagged),
                capabilities=pending.capabilities,
                lines=tuple(pending.lines),
            )
            self._pending = None  # the next event is ConnectionClosed
            return response
        return super()._eof_during_reply()
