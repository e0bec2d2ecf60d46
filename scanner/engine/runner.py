"""A scan: endpoints in, an async stream of results out, with bounded concurrency, pause/resume and stop.

The CLI and the TUI both consume ``Scan.results()``; neither knows how probes are scheduled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from scanner.engine.options import ProbeOptions
from scanner.model import Endpoint, EndpointResult

ProbeFunc = Callable[[Endpoint, ProbeOptions], Awaitable[EndpointResult]]


def _default_probe() -> ProbeFunc:
    from scanner.engine.probe import probe_endpoint

    return probe_endpoint


class Scan:
    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        options: ProbeOptions,
        *,
        concurrency: int = 256,
        probe: ProbeFunc | None = None,
        total: int | None = None,
    ) -> None:
        self._endpoints = endpoints
        self.options = options
        self.concurrency = concurrency
        self._probe = probe or _default_probe()
        self.total = total
        self._running = asyncio.Event()
        self._running.set()
        self._stopped = False

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        """No new endpoint starts; probes under way finish and are still yielded."""
        self._stopped = True
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    async def reprobe(self, endpoint: Endpoint) -> EndpointResult:
        return await self._probe(endpoint, self.options)

    async def results(self) -> AsyncIterator[EndpointResult]:
        queue: asyncio.Queue[EndpointResult | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self.concurrency)

        async def one(endpoint: Endpoint) -> None:
            try:
                await queue.put(await self._probe(endpoint, self.options))
            finally:
                slots.release()

        async def feed() -> None:
            async with asyncio.TaskGroup() as group:
                for endpoint in self._endpoints:
                    await self._running.wait()
                    if self._stopped:
                        break
                    await slots.acquire()
                    group.create_task(one(endpoint))
            await queue.put(None)

        feeder = asyncio.create_task(feed())
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            if not feeder.done():
                feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
