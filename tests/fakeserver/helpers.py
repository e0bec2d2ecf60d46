"""Helpers for the fake-server tests: paths, a line reader."""

from __future__ import annotations

import asyncio
from pathlib import Path

HOST = "127.0.0.2"
REPO = Path(__file__).resolve().parents[2]
SERVER_FIXTURES = REPO / "fixtures" / "servers"
TRANSCRIPTS = REPO / "fixtures" / "transcripts"


async def read_line(reader: asyncio.StreamReader, timeout: float = 2.0) -> bytes:
    """One line with its CRLF, or b"" at EOF."""
    return await asyncio.wait_for(reader.readline(), timeout)


async def read_eof(reader: asyncio.StreamReader, timeout: float = 2.0) -> bytes:
    """Everything until the server closes."""
    return await asyncio.wait_for(reader.read(), timeout)
