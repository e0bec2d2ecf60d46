"""The bounded line buffer shared by the IMAP and POP3 machines."""

from __future__ import annotations

import pytest

from scanner.protocols.events import ProtocolError
from scanner.protocols.lines import LineBuffer, split_code


def test_lines_crlf_and_bare_lf_and_partial() -> None:
    buffer = LineBuffer(max_line=100, max_buffer=1000)
    buffer.feed(b"one\r\ntwo\nthr")
    assert [buffer.next_line(), buffer.next_line(), buffer.next_line()] == [b"one", b"two", None]
    buffer.feed(b"ee\r\n")
    assert buffer.next_line() == b"three"
    assert buffer.next_line() is None


def test_take_exact_bytes_for_literals() -> None:
    buffer = LineBuffer(max_line=100, max_buffer=1000)
    buffer.feed(b"ab\r\n")
    assert buffer.take(6) is None
    buffer.feed(b"cdXY\r\n")
    assert buffer.take(6) == b"ab\r\ncd"
    assert buffer.next_line() == b"XY"


def test_buffer_never_holds_more_than_max_buffer() -> None:
    buffer = LineBuffer(max_line=100, max_buffer=1000)
    buffer.feed(b"ok\r\n")
    for _ in range(50):
        buffer.feed(b"x" * 99 + b"\n")
    assert len(buffer) == 1000 and buffer.overflowed
    lines = 0
    with pytest.raises(ProtocolError, match="too much data"):
        while buffer.next_line() is not None:
            lines += 1
    assert lines == 10  # "ok" and nine whole lines that fitted; the cut tenth one is never handed out as a line


def test_restart_forgets_an_overflow() -> None:
    buffer = LineBuffer(max_line=10, max_buffer=20)
    buffer.feed(b"y" * 50)
    assert buffer.restart() == b"y" * 20
    assert not buffer.overflowed and len(buffer) == 0
    buffer.feed(b"fresh\r\n")
    assert buffer.next_line() == b"fresh"


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        (
            "[PRIVACYREQUIRED] Plaintext authentication disabled.",
            ("PRIVACYREQUIRED", "Plaintext authentication disabled."),
        ),
        ("[ALERT]", ("ALERT", "")),
        ("no code [here]", (None, "no code [here]")),
        ("[unterminated code", (None, "[unterminated code")),
    ],
)
def test_split_code(rest: str, expected: tuple[str | None, str]) -> None:
    assert split_code(rest) == expected
