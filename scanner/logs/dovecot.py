"""Dovecot login lines (syslog, ``journalctl -o short``, Dovecot's own log file; wordings of 2.2, 2.3 and 2.4).

Only ``<service>-login:`` lines decide anything. The login process logs ``login_log_format_elements`` (default
``user=<%u> method=%m rip=%r lip=%l mpid=%e %c session=<%{session}>``), empty elements dropped, where ``%c`` is
``TLS`` (or ``TLS handshaking``, ``TLS: <error>``) on an encrypted connection, ``secured`` on a cleartext one that
Dovecot trusts (rip == lip, or ``login_trusted_networks``), and absent otherwise. So:

* ``Login: ...`` with a TLS element: secure; with ``secured``: unverified; with neither: insecure.
* ``... (tried to use disallowed plaintext auth) ...`` (2.2/2.3) or ``... cleartext auth ...`` (2.4): refused.
* ``... (auth failed, N attempts ...) ...`` without TLS: credentials sent in clear and rejected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from scanner.logs.model import Kind, LoginEvent
from scanner.logs.timestamps import line_timestamp

MARKER = b"-login: "
# Cheap second filter on the raw bytes: a -login line matters only if it contains one of these.
_RELEVANT = (b"Login: ", b"disallowed", b"auth failed", b"authentication disabled", b"authentication disallowed")
_REFUSAL = ("disallowed plaintext auth", "disallowed cleartext auth", "tication disabled", "tication disallowed")
# SASL mechanisms that carry the password itself: a failure over cleartext still exposed it.
CLEARTEXT_MECHS = frozenset({"PLAIN", "LOGIN", "CLEARTEXT"})  # CLEARTEXT: IMAP LOGIN/POP3 USER in some versions
LEVELS = ("Info: ", "Warning: ", "Error: ", "Debug: ")


class Malformed(Exception):
    """A line that looks like a login line but cannot be read."""


@dataclass
class DovecotState:
    """Per file: refusals are counted once per session (a session may log a failure and a disconnect)."""

    year: int
    last_month: int = 12
    recent_refusals: dict[str, None] | None = None

    def seen_refusal(self, key: str) -> bool:
        if self.recent_refusals is None:
            self.recent_refusals = {}
        if key in self.recent_refusals:
            return True
        self.recent_refusals[key] = None
        if len(self.recent_refusals) > 4096:  # keep memory flat: sessions end quickly
            del self.recent_refusals[next(iter(self.recent_refusals))]
        return False


def parse_elements(text: str) -> dict[str, str]:
    """``user=<a, b>, method=PLAIN, rip=..., TLS, session=<x>`` -> dict; bare elements map to themselves (``TLS``
    and ``TLS: <error>`` both under the key "TLS").

    Only the user name is chosen by the client, and Dovecot logs it as typed (``>`` and ``, `` included, control
    characters aside); every element after it is the server's. So the user value ends at the first ``>, `` after
    which the rest reads as server elements (``_server_elements``): a name such as ``eve>, TLS, x=<y`` stays a
    name and never adds a TLS element. A line that has no such ending is Malformed, never guessed."""
    if not text.startswith("user=<"):
        fields = _server_elements(text)
        if fields is None:
            raise Malformed("unreadable elements")
        return fields
    close = text.find(">, ", 6)
    while close != -1:
        fields = _server_elements(text[close + 3 :])
        if fields is not None:
            return {"user": text[6:close], **fields}
        close = text.find(">, ", close + 1)
    if text.endswith(">"):
        return {"user": text[6:-1]}
    raise Malformed("unterminated user=<...> value")


_KEY_VALUE = re.compile(r"([a-z_]+)=(.*)", re.S)
_SESSION = re.compile(r"<[A-Za-z0-9+/=_-]*>")
_ELEMENT_START = re.compile(r"[a-z_]+=|secured$|TLS(?:$|[: ])")


def _server_elements(text: str) -> dict[str, str] | None:
    """Elements as Dovecot's login process writes them, or None when ``text`` cannot be only that: an unknown
    bare word, a key twice, a ``<...>`` value other than the session's, a user element, a TLS text ending in ``>``
    (the end of a user name that tried to pass for elements)."""
    out: dict[str, str] = {}
    tokens = text.split(", ") if text else []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "TLS" or token.startswith(("TLS ", "TLS:")):
            # a TLS error text may itself hold ", ": it runs up to the next element
            while i + 1 < len(tokens) and not _ELEMENT_START.match(tokens[i + 1]):
                i += 1
                token += ", " + tokens[i]
            if token.endswith(">"):
                return None
            key, value = "TLS", token
        elif token == "secured":
            key = value = token
        else:
            match = _KEY_VALUE.fullmatch(token)
            if match is None:
                return None
            key, value = match.groups()
            if key == "session":
                if not _SESSION.fullmatch(value):
                    return None
                value = value[1:-1]
            elif key == "user" or "<" in value or ">" in value:
                return None
        if key in out:
            return None
        out[key] = value
        i += 1
    return out


def parse_line(raw: bytes, source: str, state: DovecotState) -> LoginEvent | None:
    """One ``-login:`` line -> event, None (irrelevant), or Malformed."""
    if not any(word in raw for word in _RELEVANT):
        return None
    try:
        line = raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise Malformed("damaged bytes") from exc
    if "\x00" in line:
        raise Malformed("damaged bytes")
    stamp = line_timestamp(line, state.year, state.last_month)
    if stamp is None:
        raise Malformed("no timestamp")
    marker = line.find("-login: ")
    service_start = line.rfind(" ", 0, marker) + 1
    protocol = line[service_start:marker]
    message = line[marker + 8 :]
    for level in LEVELS:
        if message.startswith(level):
            message = message[len(level) :]
            break
    cut = message.find("user=<")
    if cut == -1:
        cut = message.find("rip=")
    if cut == -1:
        raise Malformed("no user=<> or rip= element")
    head, fields = message[:cut], parse_elements(message[cut:])
    rip = fields.get("rip", "")
    if not rip:
        raise Malformed("no rip= element")
    lip = fields.get("lip", "")
    user = fields.get("user", "")
    method = fields.get("method", "")
    tls = any(key == "TLS" or key.startswith("TLS ") or key.startswith("TLS:") for key in fields)
    secured = "secured" in fields
    session = fields.get("session", "")
    note = ""
    if secured and not tls:
        note = (
            "rip == lip: Dovecot treats connections from its own address as secured"
            if rip == lip
            else "no TLS, marked secured: client in login_trusted_networks"
        )

    counted = True
    if any(word in head for word in _REFUSAL):
        kind = Kind.REFUSED
        note = note or "cleartext login refused: the client did not use TLS"
        if session and state.seen_refusal(session):
            if not user:
                return None
            counted = False  # "Login failed: ... disabled" then "Disconnected (...disallowed...)": one attempt
    elif session and state.recent_refusals and session in state.recent_refusals:
        # 2.3 with auth_verbose logs "Login failed: Plaintext authentication disabled: user=<>" and then
        # "Disconnected: ... (auth failed, 1 attempts ...): user=<name>" for the same refused attempt.
        if not user:
            return None
        kind, counted = Kind.REFUSED, False
        note = "cleartext login refused: the client did not use TLS"
    elif head.startswith("Login: ") or head == "Login: ":
        kind = Kind.SECURE if tls else Kind.UNVERIFIED if secured else Kind.INSECURE
    elif "auth failed" in head:
        if tls or secured or (method and method.upper() not in CLEARTEXT_MECHS):
            return None  # a failure over TLS says nothing about cleartext use
        kind = Kind.INSECURE_FAILED
    else:
        return None
    return LoginEvent(
        kind=kind,
        address=rip,
        user=user,
        protocol=protocol,
        timestamp=stamp[0],
        method=method,
        source=source,
        line=line,
        local_address=lip,
        note=note,
        counted=counted,
    )


def scan(
    chunk_iter: Iterable[bytes],
    name: str,
    state: DovecotState,
    emit: Callable[[LoginEvent], None],
    on_malformed: Callable[[str, str], None],
) -> int:
    """Feed each relevant line's event to ``emit``, damaged ones to ``on_malformed``; return the line count."""
    line_no = 0
    for chunk in chunk_iter:
        find = chunk.find
        count = chunk.count
        last = 0
        pos = find(MARKER)
        while pos != -1:
            start = chunk.rfind(b"\n", 0, pos) + 1
            end = find(b"\n", pos)
            if end == -1:
                end = len(chunk)
            line_no += count(b"\n", last, start)
            last = start
            raw = chunk[start:end]
            try:
                event = parse_line(raw, f"{name}:{line_no + 1}", state)
            except Malformed as exc:
                on_malformed(f"{name}:{line_no + 1}", f"{exc}: {raw[:200].decode('utf-8', 'replace')}")
                event = None
            if event is not None:
                emit(event)
            pos = find(MARKER, end)
        line_no += count(b"\n", last)
        if not chunk.endswith(b"\n"):
            line_no += 1
    return line_no
