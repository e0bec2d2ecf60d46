"""Sans-I/O SMTP submission client: greeting, EHLO/HELO, STARTTLS, AUTH PLAIN/LOGIN, QUIT (RFC 5321, 3207, 4954,
6409, with enhanced status codes per RFC 3463/2034).

Only what a login-policy probe needs: there is deliberately no MAIL, RCPT or DATA, so this machine can never send
a message. Every reply is one or more ``NNN-`` lines ended by an ``NNN `` line with the same code::

    m = SmtpClient()
    m.receive_data(b"220 mail.example.org ESMTP Postfix\\r\\n")
    m.next_event()            # Greeting(status="ok", reply_code=220, ...)
    m.ehlo("probe.invalid")   # b'EHLO probe.invalid\\r\\n'
    m.receive_data(b"250-mail.example.org\\r\\n250-STARTTLS\\r\\n250 AUTH PLAIN LOGIN\\r\\n")
    m.next_event()            # Response(command="EHLO", status="ok", capabilities=("STARTTLS", "AUTH PLAIN LOGIN"))

Status: 2xx -> "ok"; 421 (the server is closing) -> "bye"; any other 4xx/5xx -> "err". ``Response.code`` is the
enhanced status code (``5.7.8``) when the reply carries one, ``Response.reply_code`` the three digits. A ``334``
during AUTH is a Continuation whose text is the decoded challenge (``Username:``); it is answered with
``continuation()`` or cancelled with ``continuation_cancel()`` (``*``). The greeting is a ``220`` (``ok``), a
``421`` (``bye``) or a ``554`` (``err``, RFC 5321 3.1), possibly multi-line. STARTTLS: see ``ClientMachine``;
after ``tls_started()`` the client must send EHLO again (RFC 3207 4.2).
"""

from __future__ import annotations

import base64
import binascii
import re

from scanner.protocols.base import ClientMachine, Pending
from scanner.protocols.events import (
    NEED_DATA,
    ConnectionClosed,
    Continuation,
    Event,
    Greeting,
    LocalProtocolError,
    ProtocolError,
    Response,
    _NeedData,
)
from scanner.protocols.lines import FIRST_BYTES, check_text_argument, decode, sasl_mechanism, sasl_plain_arguments

_REPLY = re.compile(r"^([2-5][0-9][0-9])([ -]|$)(.*)$", re.DOTALL)
# RFC 3463: class.subject.detail, class 2/4/5, subject up to 3 digits, detail up to 3 digits.
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)")
_GREETING_STATUS = {220: "ok", 421: "bye", 554: "err"}
_NAME = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]{2,45}\]$")


def enhanced_code(text: str) -> tuple[str | None, str]:
    """Split ``5.7.8 Error: ...`` into ("5.7.8", "Error: ..."); (None, text) when no enhanced code leads it."""
    match = _ENHANCED.match(text)
    if match is None:
        return None, text
    return f"{match.group(1)}.{int(match.group(2))}.{int(match.group(3))}", text[match.end() :]


def _reply_status(code: int) -> str:
    if code < 400:
        return "ok"
    return "bye" if code == 421 else "err"


class SmtpClient(ClientMachine):
    """SMTP submission client machine. ``extensions`` holds the EHLO keywords of the current session (cleared by
    STARTTLS, as RFC 3207 requires)."""

    protocol_name = "SMTP"
    not_a_greeting = "not an SMTP greeting"
    greeting_prefixes = (b"220", b"421", b"554")
    tls_verbs = frozenset({"STARTTLS"})

    def __init__(self, *args: int, **kwargs: int) -> None:
        super().__init__(*args, **kwargs)
        self.extensions: tuple[str, ...] = ()
        self._greeting_lines: list[str] = []
        self._greeting_size = 0
        self._greeting_code: int | None = None

    # -- commands ---------------------------------------------------------------------------------------------------
    def _command(self, verb: str, args: bytes = b"", *, sasl: bool = False) -> bytes:
        line = verb.encode() + (b" " + args if args else b"")
        return self._begin(Pending(verb=verb, sasl=sasl), line)

    def ehlo(self, name: str) -> bytes:
        return self._command("EHLO", self._client_name(name))

    def helo(self, name: str) -> bytes:
        return self._command("HELO", self._client_name(name))

    def starttls(self) -> bytes:
        return self._command("STARTTLS")

    def auth_plain(self, user: str, password: str, initial_response: bool = True) -> bytes:
        """AUTH PLAIN; with ``initial_response`` (the default, RFC 4954 4) the credentials ride on the command line,
        else the server's ``334`` yields a Continuation to answer with ``continuation(b"\\0user\\0password")``."""
        return self._command("AUTH", sasl_plain_arguments(user, password, initial_response), sasl=True)

    def auth_login(self) -> bytes:
        """AUTH LOGIN: two ``334`` challenges follow (user name, then password), each a Continuation."""
        return self._command("AUTH", b"LOGIN", sasl=True)

    def auth(self, mechanism: str) -> bytes:
        """AUTH with ``mechanism`` and no initial response (RFC 4954): each ``334`` yields a Continuation."""
        return self._command("AUTH", sasl_mechanism(mechanism), sasl=True)

    def quit(self) -> bytes:
        return self._command("QUIT")

    def tls_started(self) -> bytes:
        dropped = super().tls_started()
        self.extensions = ()  # RFC 3207 4.2: forget everything learnt in clear
        return dropped

    @staticmethod
    def _client_name(name: str) -> bytes:
        if not _NAME.match(name):
            raise LocalProtocolError("the EHLO/HELO name must be a domain name or an address literal")
        return check_text_argument(name, "name")

    # -- parsing ----------------------------------------------------------------------------------------------------
    def _await_greeting(self) -> Greeting | ConnectionClosed | _NeedData:
        """The greeting may span several ``220-`` lines; the base class checks the first bytes."""
        if not self._greeting_lines:
            head = self._buffer.peek(16).split(b"\n", 1)[0]
            if head and not any(head[: len(p)] == p[: len(head)] for p in self.greeting_prefixes):
                return super()._await_greeting()  # raises the early "not an SMTP greeting"
        while True:
            raw = self._read_line()
            if raw is None:
                return self._close(self._partial()) if self._buffer.eof else NEED_DATA
            text = decode(raw)
            match = _REPLY.match(text)
            if match is None or (self._greeting_code is not None and int(match.group(1)) != self._greeting_code):
                raise ProtocolError(f"{self.not_a_greeting}: {text[:FIRST_BYTES]!r}", raw[:FIRST_BYTES])
            code = int(match.group(1))
            if code not in _GREETING_STATUS:
                raise ProtocolError(f"{self.not_a_greeting}: {text[:FIRST_BYTES]!r}", raw[:FIRST_BYTES])
            self._greeting_code = code
            self._greeting_lines.append(text)
            self._greeting_size += len(raw) + 2
            if len(self._greeting_lines) > self.max_reply_lines or self._greeting_size > self.max_reply_bytes:
                raise ProtocolError("greeting too long", raw[:FIRST_BYTES])
            if match.group(2) == "-":
                continue
            enhanced, _ = enhanced_code(match.group(3))
            self.greeting = Greeting(
                status=_GREETING_STATUS[code],  # type: ignore[arg-type]
                text=" ".join(_REPLY.match(line).group(3) for line in self._greeting_lines).strip(),  # type: ignore[union-attr]
                code=enhanced,
                capabilities=None,
                line=" ".join(self._greeting_lines),  # one line: the transcript and tables show it as such
                reply_code=code,
            )
            return self.greeting

    def _reply_line(self, raw: bytes) -> Event | None:
        pending = self._pending
        assert pending is not None
        text = self._account(raw)
        match = _REPLY.match(text)
        if match is None:
            raise ProtocolError(f"not an SMTP reply to {pending.verb}: {text[:64]!r}", raw[:FIRST_BYTES])
        code = int(match.group(1))
        if pending.untagged and code != int(pending.untagged[0][:3]):
            raise ProtocolError(f"reply code changed inside a multi-line reply to {pending.verb}", raw[:FIRST_BYTES])
        pending.untagged.append(text)
        if match.group(2) == "-":
            return None
        if code == 334 and pending.sasl:
            pending.awaiting_answer = True
            pending.untagged.clear()
            pending.lines.clear()
            return Continuation(command=pending.verb, text=_challenge(match.group(3)), line=text)
        if 300 <= code < 400:
            raise ProtocolError(f"unexpected {code} reply to {pending.verb}: {text[:64]!r}", raw[:FIRST_BYTES])
        first_text = _REPLY.match(pending.untagged[0]).group(3)  # type: ignore[union-attr]
        enhanced, human = enhanced_code(first_text)
        capabilities: tuple[str, ...] | None = None
        if pending.verb == "EHLO" and code == 250:
            # The first line names the server; each following line is one extension keyword with its parameters.
            capabilities = tuple(
                _REPLY.match(line).group(3).strip()  # type: ignore[union-attr]
                for line in pending.untagged[1:]
                if _REPLY.match(line).group(3).strip()  # type: ignore[union-attr]
            )
            self.extensions = capabilities
        if pending.verb != "EHLO" and len(pending.untagged) > 1:  # a multi-line refusal: every line is words
            texts = (enhanced_code(_REPLY.match(line).group(3))[1] for line in pending.untagged)  # type: ignore[union-attr]
            human = " ".join(t.strip() for t in texts if t.strip())
        return self._finish(
            Response(
                command=pending.verb,
                status=_reply_status(code),  # type: ignore[arg-type]
                code=enhanced,
                text=human.strip(),
                untagged=tuple(pending.untagged[:-1]),
                capabilities=capabilities,
                lines=tuple(pending.lines),
                reply_code=code,
            )
        )


def _challenge(text: str) -> str:
    """A 334 challenge is base64 (RFC 4954 4); show it decoded when it is printable, else as sent."""
    try:
        decoded = base64.b64decode(text.strip(), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return text
    return decoded if decoded.isprintable() else text
