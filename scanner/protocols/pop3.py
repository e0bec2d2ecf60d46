"""Sans-I/O POP3 client: greeting, CAPA, STLS, USER/PASS, AUTH PLAIN, QUIT (RFC 1939, 2449, 2595, 5034).

Every reply is one ``+OK``/``-ERR`` line, except a ``+OK`` to CAPA, whose dot-terminated body is dot-unstuffed
into ``Response.untagged`` and ``Response.capabilities`` (one capability per line, e.g. "SASL PLAIN LOGIN").
The response code is the bracketed word right after the status, e.g. ``-ERR [AUTH] ...`` -> "AUTH".
A ``+ `` line during AUTH is a Continuation. STARTTLS: see ``ClientMachine`` (``take_unprocessed``,
``tls_started``).
"""

from __future__ import annotations

from scanner.protocols.base import ClientMachine, Pending
from scanner.protocols.events import Continuation, Event, Greeting, ProtocolError, Response
from scanner.protocols.lines import (
    FIRST_BYTES,
    check_text_argument,
    decode,
    sasl_mechanism,
    sasl_plain_arguments,
    split_code,
)

_STATUS = {"+OK": "ok", "-ERR": "err"}
_MULTILINE = frozenset({"CAPA"})


def _status_line(text: str) -> tuple[str, str | None, str] | None:
    """(status, code, text) of a ``+OK``/``-ERR`` line, else None."""
    word, _, rest = text.partition(" ")
    status = _STATUS.get(word.upper())
    if status is None:
        return None
    code, human = split_code(rest.strip())
    return status, code, human


class Pop3Client(ClientMachine):
    """POP3 client machine."""

    protocol_name = "POP3"
    not_a_greeting = "not a POP3 greeting"
    greeting_prefixes = (b"+OK", b"-ERR")
    tls_verbs = frozenset({"STLS"})

    # -- commands ---------------------------------------------------------------------------------------------------
    def _command(self, verb: str, args: bytes = b"", *, sasl: bool = False) -> bytes:
        line = verb.encode() + (b" " + args if args else b"")
        return self._begin(Pending(verb=verb, sasl=sasl), line)

    def capa(self) -> bytes:
        return self._command("CAPA")

    def stls(self) -> bytes:
        return self._command("STLS")

    def user(self, name: str) -> bytes:
        return self._command("USER", check_text_argument(name, "user"))

    def pass_(self, password: str) -> bytes:
        return self._command("PASS", check_text_argument(password, "password"))

    def auth_plain(self, user: str, password: str, initial_response: bool = False) -> bytes:
        """AUTH PLAIN; with ``initial_response`` the credentials ride on the command line (RFC 5034), else the
        server's ``+ `` yields a Continuation to answer with ``continuation(b"\\0user\\0password")``."""
        return self._command("AUTH", sasl_plain_arguments(user, password, initial_response), sasl=True)

    def auth(self, mechanism: str) -> bytes:
        """AUTH with ``mechanism`` and no initial response (RFC 5034): each ``+`` yields a Continuation."""
        return self._command("AUTH", sasl_mechanism(mechanism), sasl=True)

    def quit(self) -> bytes:
        return self._command("QUIT")

    def reply_at_deadline(self) -> Response | None:
        """A ``+OK`` to CAPA with no body line after it by the deadline: no capability list (``capabilities`` None)."""
        pending = self._pending
        if pending is None or pending.verb != "CAPA" or not pending.body or pending.untagged:
            return None
        if self._buffer.peek(1):
            return None  # part of a body line is here: the server is still talking
        code, human = pending.head
        return self._finish(
            Response(command="CAPA", status="ok", code=code, text=human, capabilities=None, lines=tuple(pending.lines))
        )

    # -- parsing ----------------------------------------------------------------------------------------------------
    def _parse_greeting(self, raw: bytes) -> Greeting | None:
        text = decode(raw)
        parsed = _status_line(text)
        if parsed is None:
            return None
        status, code, human = parsed
        return Greeting(status=status, text=human, code=code, capabilities=None, line=text)  # type: ignore[arg-type]

    def _reply_line(self, raw: bytes) -> Event | None:
        pending = self._pending
        assert pending is not None
        text = self._account(raw)
        if pending.body:
            if raw == b".":
                code, human = pending.head
                body = tuple(pending.untagged)
                return self._finish(
                    Response(
                        command=pending.verb,
                        status="ok",
                        code=code,
                        text=human,
                        untagged=body,
                        capabilities=tuple(line.strip() for line in body if line.strip()),
                        lines=tuple(pending.lines),
                    )
                )
            pending.untagged.append(text[1:] if text.startswith(".") else text)
            return None
        if pending.sasl and (text == "+" or text.startswith("+ ")):
            pending.awaiting_answer = True
            return Continuation(command=pending.verb, text=text[2:], line=text)
        parsed = _status_line(text)
        if parsed is None:
            raise ProtocolError(f"not a POP3 reply to {pending.verb}: {text[:64]!r}", raw[:FIRST_BYTES])
        status, code, human = parsed
        if status == "ok" and pending.verb in _MULTILINE:
            pending.body = True
            pending.head = (code, human)
            return None
        return self._finish(
            Response(
                command=pending.verb,
                status=status,  # type: ignore[arg-type]
                code=code,
                text=human,
                lines=tuple(pending.lines),
            )
        )
