"""The conversation as the result shows it: bounded, timed, with the dummy password masked."""

from __future__ import annotations

import base64
import time
from typing import Literal

from scanner.model import TranscriptLine

MAX_LINES = 400
MAX_LINE_CHARS = 300
MASK = "********"


class Transcript:
    def __init__(self, secrets: tuple[str, ...] = (), *, started: float | None = None) -> None:
        self._start = time.monotonic() if started is None else started
        self._lines: list[TranscriptLine] = []
        self._dropped = 0
        self._secrets = tuple(s for s in secrets if s)

    def hide(self, secret: str) -> None:
        """Mask ``secret`` in every line added from now on."""
        if secret:
            self._secrets = (*self._secrets, secret)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self._start) * 1000)

    def add(self, direction: Literal["C", "S", "*"], text: str, *, tls: bool) -> None:
        if len(self._lines) >= MAX_LINES:
            self._dropped += 1
            return
        text = self.mask(text)
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + f"... ({len(text)} chars)"
        self._lines.append(TranscriptLine(direction, text, tls, self.elapsed_ms()))

    def client(self, data: bytes, *, tls: bool, sasl: bool = False) -> None:
        for line in data.decode("utf-8", "replace").splitlines():
            self.add("C", "<SASL credentials, base64, masked>" if sasl else line, tls=tls)

    def server(self, lines: tuple[str, ...] | list[str], *, tls: bool) -> None:
        for line in lines:
            self.add("S", line, tls=tls)

    def note(self, text: str, *, tls: bool = False) -> None:
        self.add("*", text, tls=tls)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
            encoded = base64.b64encode(secret.encode()).decode()
            if encoded in text:
                text = text.replace(encoded, MASK)
        return text

    def lines(self) -> tuple[TranscriptLine, ...]:
        if self._dropped:
            return (*self._lines, TranscriptLine("*", f"{self._dropped} more lines not kept", False, self.elapsed_ms()))
        return tuple(self._lines)
