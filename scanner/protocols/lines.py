"""A bounded receive buffer that hands out CRLF-terminated lines (and raw byte runs for IMAP literals).

Servers are untrusted: a line may never end, a peer may stream forever. The buffer therefore refuses to hold more
than ``max_buffer`` bytes (excess is dropped and remembered as an overflow) and reports a pending partial line as
soon as it passes ``max_line``, instead of waiting for a CRLF that may never come.
"""

from __future__ import annotations

import base64
import re

from scanner.protocols.events import LocalProtocolError, ProtocolError

FIRST_BYTES = 64  # how much of an offending input a ProtocolError carries


class LineBuffer:
    """Bytes in, lines out. Lines end with LF (CRLF or bare LF); the terminator is stripped."""

    def __init__(self, max_line: int, max_buffer: int) -> None:
        self.max_line = max_line
        self.max_buffer = max_buffer
        self._buf = bytearray()
        self._scanned = 0  # bytes already searched for LF, so byte-by-byte feeding stays linear
        self.eof = False
        self.overflowed = False
        self.received = 0  # total bytes ever offered, for "was anything received yet?"

    def feed(self, data: bytes) -> None:
        """Append data; ``b""`` marks EOF. Bytes beyond ``max_buffer`` are dropped and flag an overflow."""
        if not data:
            self.eof = True
            return
        self.received += len(data)
        room = self.max_buffer - len(self._buf)
        if len(data) > room:
            self.overflowed = True
            data = data[: max(room, 0)]
        self._buf += data

    def __len__(self) -> int:
        return len(self._buf)

    def peek(self, n: int) -> bytes:
        return bytes(self._buf[:n])

    def next_line(self) -> bytes | None:
        """The next complete line without its terminator, or None when more data is needed.

        Raises ProtocolError for a line (complete or still pending) longer than ``max_line``, and for an overflowed
        buffer that holds no further complete line.
        """
        end = self._buf.find(b"\n", self._scanned)
        if end < 0:
            self._scanned = len(self._buf)
            if len(self._buf) > self.max_line:
                raise ProtocolError(
                    f"line too long: more than {self.max_line} bytes without a line end", bytes(self._buf[:FIRST_BYTES])
                )
            if self.overflowed:
                raise ProtocolError(f"too much data: more than {self.max_buffer} bytes unread", self.peek(FIRST_BYTES))
            return None
        line = bytes(self._buf[:end])
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.max_line:
            raise ProtocolError(f"line too long: {len(line)} bytes (limit {self.max_line})", line[:FIRST_BYTES])
        del self._buf[: end + 1]
        self._scanned = 0
        return line

    def take(self, n: int) -> bytes | None:
        """Exactly n raw bytes (an IMAP literal), or None when they have not all arrived yet."""
        if len(self._buf) < n:
            if self.overflowed:
                raise ProtocolError(f"too much data: more than {self.max_buffer} bytes unread", self.peek(FIRST_BYTES))
            return None
        chunk = bytes(self._buf[:n])
        del self._buf[:n]
        self._scanned = 0
        return chunk

    def take_all(self) -> bytes:
        """Everything still buffered (complete lines and a partial one), clearing the buffer."""
        data = bytes(self._buf)
        self._buf.clear()
        self._scanned = 0
        return data

    def restart(self) -> bytes:
        """Start a new byte stream (after a TLS handshake): drop and return what is buffered, forget an overflow."""
        self.overflowed = False
        return self.take_all()


def decode(raw: bytes) -> str:
    """Text for humans and for matching: UTF-8, never failing on a server's stray bytes."""
    return raw.decode("utf-8", errors="replace")


def split_code(rest: str) -> tuple[str | None, str]:
    """Split ``[CODE args] text`` into (code, text); (None, rest) when no bracketed code leads the text."""
    if not rest.startswith("["):
        return None, rest
    close = rest.find("]")
    if close < 0:
        return None, rest
    return rest[1:close], rest[close + 1 :].strip()


def has_capability(capabilities: tuple[str, ...] | None, name: str) -> bool:
    """Capabilities keep the server's spelling; compare them case-insensitively."""
    wanted = name.upper()
    return any(cap.upper() == wanted for cap in capabilities or ())


def check_text_argument(value: str, what: str) -> bytes:
    """A command argument as UTF-8, refusing bytes that would break the line framing."""
    if any(ch in value for ch in "\r\n\0"):
        raise LocalProtocolError(f"{what} must not contain CR, LF or NUL")
    return value.encode("utf-8")


_SASL_NAME = re.compile(r"[A-Z0-9_-]{1,20}")


def sasl_mechanism(name: str) -> bytes:
    """A SASL mechanism name (RFC 4422 3.1: upper-case letters, digits, hyphen, underscore; at most 20)."""
    if not _SASL_NAME.fullmatch(name):
        raise LocalProtocolError(f"not a SASL mechanism name: {name!r}")
    return name.encode("ascii")


def sasl_plain_arguments(user: str, password: str, initial_response: bool) -> bytes:
    """``PLAIN`` for AUTHENTICATE/AUTH, with the base64 RFC 4616 payload appended when sent as an initial response."""
    if not initial_response:
        return b"PLAIN"
    payload = b"\0" + check_text_argument(user, "user") + b"\0" + check_text_argument(password, "password")
    return b"PLAIN " + base64.b64encode(payload)
