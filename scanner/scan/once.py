"""Work done once per key within a scan, shared with whoever asks for the same key (scanner.scan.legacy_share,
scanner.scan.tls_share).

The first caller for a key does the work; callers arriving while it works, or after, wait for its outcome. An outcome
not worth sharing (``share`` gives None: a timeout, an enumeration cut short) is dropped, and the next caller does
the work itself. Bounded: past ``most`` keys the oldest is forgotten, since a range's servers come and go.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
S = TypeVar("S")  # what is shared
V = TypeVar("V")  # what the work gives its caller


class OncePerKey(Generic[K, S]):
    def __init__(self, most: int) -> None:
        self._most = most
        self._table: OrderedDict[K, asyncio.Future[S | None]] = OrderedDict()

    def taken(self, key: K) -> bool:
        """True when a caller has done, or is doing, the work for ``key`` (and what it shared is still kept)."""
        return key in self._table

    async def shared(self, key: K) -> S | None:
        """What the caller that took ``key`` shared, once it is done; None when it shared nothing."""
        known = self._table.get(key)
        return None if known is None else await asyncio.shield(known)

    async def do(self, key: K, work: Callable[[], Awaitable[V]], share: Callable[[V], S | None]) -> V:
        """Take ``key``: do ``work`` and share what ``share`` makes of its outcome. Call it right after ``taken``
        said False, with no await between, so that no two callers take one key."""
        future: asyncio.Future[S | None] = asyncio.get_running_loop().create_future()
        self._table[key] = future
        while len(self._table) > self._most:
            self._table.popitem(last=False)
        try:
            outcome = await work()
        except BaseException:
            self._table.pop(key, None)
            future.set_result(None)
            raise
        kept = share(outcome)
        if kept is None:
            self._table.pop(key, None)
        future.set_result(kept)
        return outcome
