"""Synchronisation for tests: wait for a condition, polling, up to a deadline that fails the test with what was
awaited. Never a bare sleep standing for "long enough": a loaded machine makes any fixed pause too short."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEADLINE = 30.0  # seconds: generous for a loaded 2-core machine; a passing test never waits for it


def wait_until(condition: Callable[[], object], what: str, timeout: float = DEADLINE, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout:g} s waiting for {what}"
        time.sleep(poll)


async def until(condition: Callable[[], object], what: str, timeout: float = DEADLINE, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout:g} s waiting for {what}"
        await asyncio.sleep(poll)
