"""Conversations per host: how many endpoints of one address talk to it at once (``--per-host``).

The slot is taken after the first connect has been answered, not before: a SYN costs the host nothing, and a
dropped or closed port must cost one connect timeout or one round trip, never a wait behind its host's other
ports. The scan hands its ``HostSlots`` to every probe in the probe's ``ScanContext`` (scanner.probe.context); a
probe run outside a scan is simply not limited.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class HostSlots:
    """``per_host`` conversations per address and, when ``conversations`` is given, that many in all: a
    conversation holds buffers, TLS state and a transcript, so their number (not the number of connects waiting)
    sets the memory a scan needs. Dropped and closed ports never take a slot."""

    def __init__(self, per_host: int, conversations: int | None = None) -> None:
        if per_host < 1 or conversations is not None and conversations < 1:
            raise ValueError("per_host and conversations must be at least 1")
        self.per_host = per_host
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}
        self._all = asyncio.Semaphore(conversations) if conversations else None

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[bool]:
        """Hold one of the host's slots (and one of all); yields True when it had to wait."""
        semaphore = self._semaphores.setdefault(host, asyncio.Semaphore(self.per_host))
        self._users[host] = self._users.get(host, 0) + 1
        overall = self._all or contextlib.nullcontext()
        waited = semaphore.locked() or self._all is not None and self._all.locked()
        try:
            async with semaphore, overall:
                yield waited
        finally:
            self._users[host] -= 1
            if not self._users[host]:  # forget idle hosts: a /16 must not leave 65,536 semaphores behind
                del self._users[host]
                del self._semaphores[host]
