"""What a probe takes from the scan it runs in, handed to it explicitly: ``ScanContext``.

A probe of one endpoint needs five things that belong to the whole scan: the connect wait learnt from the scan's
answers (``ConnectWaits``), the per-host and per-process limit on conversations (``ConversationSlots``), the
legacy-version results the ports of one server share (``LegacyProbes``), the TLS configurations they share
(``TlsEnumerations``), and the reverse lookup of PTR names (``reverse``). They are described here as protocols, so
the probe knows nothing of how a scan keeps them (``scanner.scan`` implements them: ``ConnectTimer``,
``HostSlots``, ``LegacyShare``, ``TlsShare``; the resolver is ``scanner.targets.dns``'s). ``ALONE`` is the context
of a probe outside any scan: the user's connect timeout, no limits, nothing shared, no PTR lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from scanner.model import TlsConfiguration
    from scanner.tls.legacy import LegacyResult

PTR_TIMEOUT = 3.0  # seconds for a PTR answer; without one the row simply has no PTR name


class Deadline(Protocol):
    def cancel(self) -> None: ...


class ConnectWaits(Protocol):
    """The scan's learnt connect wait (``scanner.scan.connect_timer.ConnectTimer``)."""

    def deadline(
        self,
        loop: asyncio.AbstractEventLoop,
        started: float,
        ceiling: float,
        factor: float,
        on_expiry: Callable[[], None],
    ) -> Deadline:
        """Call ``on_expiry`` once the connect begun at ``started`` has waited ``factor`` times the learnt wait
        (never past ``ceiling``), unless cancelled first."""
        ...

    def sample(self, rtt: float) -> None:
        """A round trip the kernel measured (a SYN-ACK)."""
        ...

    def sample_seen(self, elapsed: float) -> None:
        """A round trip the event loop timed (a reset)."""
        ...


class ConversationSlots(Protocol):
    """The limit on conversations (``scanner.scan.hostslots.HostSlots``)."""

    def slot(self, host: str) -> AbstractAsyncContextManager[bool]:
        """Hold one conversation slot of ``host``; the context yields True when it had to wait for it."""
        ...


LegacyKey = tuple[str, str, bytes, str | None, str | None]  # address, protocol, chain digest, version, cipher


class LegacyProbes(Protocol):
    """Legacy-version results shared between the ports of one server (``scanner.scan.legacy_share``)."""

    async def probe(
        self, key: LegacyKey, port: int, run: Callable[[], Awaitable[LegacyResult]]
    ) -> tuple[LegacyResult, int | None]:
        """The result for ``key``: ``run()``'s (and None), or the one another port got (and that port)."""
        ...


class TlsEnumerations(Protocol):
    """TLS configurations shared between the ports of one server (``scanner.scan.tls_share``)."""

    async def enumerate(
        self,
        key: LegacyKey,
        port: int,
        run: Callable[[], Awaitable[TlsConfiguration]],
        confirm: Callable[[TlsConfiguration], Awaitable[TlsConfiguration | None]] | None = None,
    ) -> TlsConfiguration:
        """The configuration for ``key``: ``run()``'s, the one another port got (its ``enumerated_on`` set), or
        one another server got that ``confirm`` found here too (its ``confirmed_from`` set)."""
        ...


ReverseLookup = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class ScanContext:
    """The scan's share of one probe; None for a part the probe does without."""

    timer: ConnectWaits | None = None
    slots: ConversationSlots | None = None
    legacy: LegacyProbes | None = None
    reverse: ReverseLookup | None = None
    tls: TlsEnumerations | None = None

    @contextlib.asynccontextmanager
    async def conversation_slot(self, host: str) -> AsyncIterator[bool]:
        """One conversation slot of ``host`` (True: had to wait for it); no limit without ``slots``."""
        if self.slots is None:
            yield False
            return
        async with self.slots.slot(host) as waited:
            yield waited

    async def ptr_name(self, address: str) -> str | None:
        """The PTR name of ``address``, lower case without the final dot; None without a resolver, without a
        record, or when the lookup fails or takes longer than ``PTR_TIMEOUT``."""
        if self.reverse is None:
            return None
        try:
            name = await asyncio.wait_for(self.reverse(address), PTR_TIMEOUT)
        except Exception:  # a lookup that fails or times out leaves the row without a PTR name
            return None
        return name.lower().rstrip(".") or None if name else None


ALONE = ScanContext()
