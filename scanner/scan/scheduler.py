"""A scan: endpoints in, an async stream of results out.

Limits: a global concurrency limit (default sized to the machine and its file-descriptor limit), a per-host limit
and an optional start rate. The per-host limit counts conversations (``hostslots``: taken by the probe once its
first connect is answered), so a host's dropped or closed ports never queue behind each other; at most twice as
many endpoints of one address are started at once. An endpoint whose host has that many is parked and the scan
moves on to other hosts, so one slow host never holds up the rest; when a host frees a start, that host's parked
endpoint goes first. Every slot is released in a ``finally``, so a cancelled scan leaves nothing held.

The CLI and the TUI both consume ``Scan.results()``; neither knows how probes are scheduled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import socket
import time
from collections import Counter, deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scanner.model import Endpoint, EndpointResult
from scanner.probe.context import ReverseLookup, ScanContext
from scanner.probe.options import ProbeOptions
from scanner.scan import connect_timer, hostslots, legacy_share, memory, tls_share
from scanner.scan.tuning import concurrency_cap, default_concurrency, rarer_gc

if TYPE_CHECKING:
    from scanner.probe.session import ConnectError
    from scanner.scan.chain_board import ChainBoard
    from scanner.scan.sweep import ConnectSweep

ProbeFunc = Callable[[Endpoint, ProbeOptions, ScanContext], Awaitable[EndpointResult]]
TalkHook = Callable[[Endpoint], Awaitable[None]]  # awaited once an endpoint answered, before its conversation
Source = Iterable[Endpoint | EndpointResult] | AsyncIterable[Endpoint | EndpointResult]

# Conversations at once (open ports being talked to; connects waiting are not counted). Past a few hundred a
# process is CPU-bound anyway, while each one holds buffers and TLS state: this is what keeps memory flat on a live
# range (docs/scanning.md, "Why these defaults").
MAX_CONVERSATIONS = 192
QUEUE_SIZE = 512  # results waiting for the consumer; past this, probes wait with their slots held
RELEASE_EVERY = 128  # open endpoints between two collections + malloc_trim (memory.release)
YIELD_EVERY = 256  # starts between two turns of the event loop


def _default_probe() -> ProbeFunc:
    from scanner.probe.conversation import probe_endpoint

    return probe_endpoint


_END = object()


@dataclass
class _Slot:
    """One global slot and one slot of a host, held by one probe; released exactly once."""

    host: str
    held: bool = True


_Tag = tuple[Endpoint, _Slot]  # what the connect sweep carries for each endpoint


class Scan:
    def __init__(
        self,
        endpoints: Source | Callable[[], Source],
        options: ProbeOptions,
        *,
        concurrency: int | None = None,
        per_host: int = 2,
        rate: float | None = None,
        probe: ProbeFunc | None = None,
        total: int | None = None,
        total_source: Callable[[], int | None] | None = None,
        reverse: ReverseLookup | None = None,
        before_talk: TalkHook | None = None,
        tls_board: ChainBoard | None = None,
    ) -> None:
        if concurrency is not None and concurrency < 1 or per_host < 1:
            raise ValueError("concurrency and per_host must be at least 1")
        self._endpoints = endpoints
        self.options = options
        self.concurrency = min(concurrency or default_concurrency(), concurrency_cap())  # never EMFILE rows
        self.per_host = per_host
        self._host_slots = hostslots.HostSlots(per_host, conversations=min(self.concurrency, MAX_CONVERSATIONS))
        self._starts_per_host = 2 * per_host  # connecting ones included: see the module's docstring
        self._connect_timer = (
            connect_timer.ConnectTimer(options.connect_timeout) if options.adaptive_connect_timeout else None
        )
        self.rate = rate
        self._probe = probe or _default_probe()
        self._sweeping = probe is None  # the default probe's first connects are made by a ConnectSweep
        self._total = total
        self._total_source = total_source
        # what every probe of this scan shares: handed to each one (the probe imports nothing of the scan)
        self._context = ScanContext(
            timer=self._connect_timer,
            slots=self._host_slots,
            legacy=legacy_share.LegacyShare(),
            reverse=reverse,
            tls=tls_share.TlsShare(board=tls_board),  # the board: the other processes of a --workers scan
        )
        # Awaited before each conversation (after the first connect was answered, before any login): the results
        # file's talking journal, or a distributed scan's permission to talk. Raising means "do not talk".
        self._before_talk = before_talk
        self._running = asyncio.Event()
        self._running.set()
        self._stopped = False
        self._changed = asyncio.Event()
        # counters and scheduling state
        self.started = 0
        self.done = 0
        self._talked = 0  # open endpoints finished
        self.active = 0
        self._host_active: Counter[str] = Counter()
        self._parked: dict[str, deque[Endpoint]] = {}
        self._parked_count = 0
        self._ready: deque[Endpoint] = deque()  # parked endpoints whose host slot is already reserved
        self._next_start = 0.0

    # -- control -------------------------------------------------------------------------------------------------

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        """No new endpoint starts; probes under way finish and are still yielded."""
        self._stopped = True
        self._running.set()
        self._changed.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def total(self) -> int | None:
        if self._total_source is not None:
            value = self._total_source()
            if value is not None:
                return value
        return self._total

    async def reprobe(self, endpoint: Endpoint) -> EndpointResult:
        """``endpoint`` probed again, as the scan probed it (the TUI's re-probe), under the scan's limits and learnt
        connect wait. Its legacy TLS versions are probed afresh, not taken from what the scan remembers: a
        re-probe is asked for to see what the server does now."""
        if self._before_talk is not None:
            await self._before_talk(endpoint)
        return await self._probe(endpoint, self.options, dataclasses.replace(self._context, legacy=None, tls=None))

    # -- the stream ----------------------------------------------------------------------------------------------

    async def results(self) -> AsyncIterator[EndpointResult]:
        """Results as they come. Every probe runs in one task group owned by a feeder task, and leaving this
        generator (its end, an error, ``aclose()`` or a cancelled consumer) cancels the feeder and waits for it:
        nothing of the scan outlives the stream. The queue is bounded: a slow consumer holds probes back (a probe
        keeps its slot until its result is queued), so memory does not grow with the range."""
        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE)
        feeder = asyncio.create_task(self._feed(queue))
        with rarer_gc():
            try:
                while (item := await queue.get()) is not _END:
                    if isinstance(item, Exception):
                        raise item
                    assert isinstance(item, EndpointResult)
                    yield item
            finally:
                feeder.cancel()
                await asyncio.wait([feeder])  # a new cancellation of the consumer still propagates

    async def _feed(self, queue: asyncio.Queue[object]) -> None:
        sweep: ConnectSweep[_Tag] | None = None
        try:
            async with asyncio.TaskGroup() as group:
                if self._sweeping:
                    sweep = self._new_sweep(queue, group)
                await self._schedule(queue, group, sweep)
                if sweep is not None:
                    await sweep.idle()  # after stop(), the connects already started still get their rows
        except Exception as exc:  # a broken target source ends the stream with its error
            while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                exc = exc.exceptions[0]  # type: ignore[assignment]
            await queue.put(exc)
            return
        finally:
            if sweep is not None:
                sweep.close()
        await queue.put(_END)

    def _new_sweep(self, queue: asyncio.Queue[object], group: asyncio.TaskGroup) -> ConnectSweep[_Tag]:
        """The default probe's connects go through one sweep: an endpoint gets a task only once it answered."""
        from scanner.probe.conversation import endpoint_label, probe_connected, unanswered
        from scanner.scan.sweep import ConnectSweep

        options = self.options

        def connected(tag: _Tag, sock: socket.socket, started: float) -> None:
            endpoint, slot = tag
            task = self._spawn(group, slot, self._one(endpoint, queue, slot, probe_connected, sock, started))
            task.add_done_callback(lambda _task: sock.close())  # a no-op once the probe closed it

        def refused(tag: _Tag, failure: ConnectError, started: float) -> None:
            endpoint, slot = tag
            result = unanswered(endpoint, options, failure, started)
            self._count(result)
            if queue.full():  # the consumer is behind: the slot stays held until the row is queued
                self._spawn(group, slot, self._deliver(result, queue, slot))
            else:
                queue.put_nowait(result)
                self._release_slot(slot)

        return ConnectSweep(
            asyncio.get_running_loop(),
            self._connect_timer,
            ceiling=options.connect_timeout,
            source=options.source_address,
            on_connected=connected,
            on_unanswered=refused,
            label=lambda tag: endpoint_label(tag[0]),
        )

    def _spawn(self, group: asyncio.TaskGroup, slot: _Slot, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = group.create_task(work)
        # a task cancelled before its first step never runs its finally: release from the callback too
        task.add_done_callback(functools.partial(self._release_slot, slot))
        return task

    async def _deliver(self, result: EndpointResult, queue: asyncio.Queue[object], slot: _Slot) -> None:
        try:
            await queue.put(result)
        finally:
            self._release_slot(slot)

    def _source(self) -> AsyncIterator[Endpoint | EndpointResult]:
        source = self._endpoints
        if callable(source) and not isinstance(source, Iterable | AsyncIterable):
            source = source()
        if isinstance(source, AsyncIterable):
            return aiter(source)

        async def wrap() -> AsyncIterator[Endpoint | EndpointResult]:
            for item in source:  # type: ignore[union-attr]
                yield item

        return wrap()

    async def _wait_change(self) -> None:
        await self._changed.wait()
        self._changed.clear()

    async def _schedule(
        self, queue: asyncio.Queue[object], group: asyncio.TaskGroup, sweep: ConnectSweep[_Tag] | None
    ) -> None:
        source = self._source()
        exhausted = False
        max_parked = max(self.concurrency * 4, 64)  # bounds memory when many endpoints share few hosts
        while True:
            await self._running.wait()
            if self._stopped:
                return
            if self.active >= self.concurrency:
                await self._wait_change()
                continue
            if self._ready:
                endpoint = self._ready.popleft()
            elif exhausted or self._parked_count >= max_parked:
                if exhausted and self.active == 0 and not self._parked_count:
                    return
                await self._wait_change()
                continue
            else:
                try:
                    item = await anext(source)
                except StopAsyncIteration:
                    exhausted = True
                    continue
                if isinstance(item, EndpointResult):  # e.g. a DNS failure: already a result
                    self._count(item)
                    await queue.put(item)
                    continue
                host = item.address
                if self._host_active[host] >= self._starts_per_host:
                    self._parked.setdefault(host, deque()).append(item)
                    self._parked_count += 1
                    continue
                self._host_active[host] += 1
                endpoint = item
            await self._rate_wait()
            if self._stopped:  # stop() during a rate wait: give the reserved host slot back
                self._release_host(endpoint.address)
                return
            self.active += 1
            self.started += 1
            slot = _Slot(endpoint.address)
            if sweep is not None:
                sweep.start((endpoint, slot), endpoint.address, endpoint.port)
            else:
                self._spawn(group, slot, self._one(endpoint, queue, slot, self._probe))
            if self.started % YIELD_EVERY == 0:
                # Starting a wave of thousands takes a while: answers already in are seen (and teach the connect
                # timer) meanwhile, instead of after the whole wave.
                await asyncio.sleep(0)

    async def _rate_wait(self) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        if self._next_start > now:
            await asyncio.sleep(self._next_start - now)
            now = time.monotonic()
        self._next_start = max(self._next_start, now) + 1.0 / self.rate

    def _release_host(self, host: str) -> None:
        self._host_active[host] -= 1
        waiting = self._parked.get(host)
        if waiting:
            self._ready.append(waiting.popleft())  # the freed host slot passes straight to it
            self._host_active[host] += 1
            self._parked_count -= 1
            if not waiting:
                del self._parked[host]
        if self._host_active[host] <= 0:
            del self._host_active[host]
        self._changed.set()

    def _release_slot(self, slot: _Slot, _done: object = None) -> None:
        if not slot.held:
            return
        slot.held = False
        self.active -= 1
        self._release_host(slot.host)

    async def _one(
        self,
        endpoint: Endpoint,
        queue: asyncio.Queue[object],
        slot: _Slot,
        probe: Callable[..., Awaitable[EndpointResult]],
        *probe_args: Any,
    ) -> None:
        """Probe (``probe(endpoint, options, context, *probe_args)``), queue the result; the slot is held throughout
        (a full queue holds further starts back)."""
        try:
            try:
                if self._before_talk is not None:
                    try:
                        await self._before_talk(endpoint)
                    except Exception as exc:
                        raise _NotTalking(f"not probed: {exc}") from exc
                result = await probe(endpoint, self.options, self._context, *probe_args)
            except _NotTalking as exc:
                result = _error_result(endpoint, str(exc))
            except Exception as exc:  # the probe promises not to raise; a bug must still leave a row
                result = _error_result(endpoint, f"internal error: {type(exc).__name__}: {exc}")
            self._count(result)
            await queue.put(result)
        finally:
            self._release_slot(slot)

    def _count(self, result: EndpointResult) -> None:
        self.done += 1
        if result.state == "open":
            self._talked += 1
            if self._talked % RELEASE_EVERY == 0:
                memory.release()  # conversations leave cycles and freed TLS buffers behind: give them back


class _NotTalking(Exception):
    """The before_talk hook refused (or failed): the endpoint gets a row without a conversation."""


def _error_result(endpoint: Endpoint, error: str) -> EndpointResult:
    return EndpointResult.without_conversation(endpoint, "error", error)
