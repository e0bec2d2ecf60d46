"""``--ray``: one live scan over the nodes of a Ray cluster, each node probing from where it stands.

The process that runs ``mailprobe scan`` is the driver: it plans the targets, hands endpoints out to one async actor
per node (the same ``Scan`` engine a single machine runs) and merges the rows they stream back, so the results
file, the TUI, validation and the exit code see one scan. Ray is imported only here, and this module only when
``--ray`` is given: the plain install and its start-up do not change.

Which node scans what: with vantage points (``--vantage SELECTOR TARGETS``), an address in a vantage's targets goes
to the nodes its selector picks (a Ray node label ``key=value`` or a custom resource name), because the vantage
decides what is reachable; other addresses go to any node. Within the nodes allowed, an address's endpoints all go
to one node (picked by the address's value), so the per-host limit holds across the cluster.

Nothing lost, no login twice: an actor asks the driver before each conversation (after the first connect was
answered, before anything is sent), and the driver writes the talking line to the results file and records the
grant before it answers. When a node dies, each of its endpoints without a row is either granted (it may have sent
its dummy login: it gets an "interrupted on node X" row and is never probed again) or not (provably nothing was
sent: it goes to another node of its vantage, or gets a "not scanned" row when none is left).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner.errors import UsageError
from scanner.model import Endpoint, EndpointResult
from scanner.probe.options import ProbeOptions
from scanner.results_file import TalkJournal, interrupted_row
from scanner.scan.scheduler import Source
from scanner.targets.intervals import IntervalSet, address_int
from scanner.targets.parsing import parse_located

# Endpoints handed to one node and not yet answered: above the 16,384 connects a node keeps under way by default (a
# dead range is scanned in waves of that many), and bounded, as it is what a dead node leaves to sort out.
WINDOW = 20_000
BATCH = 64  # endpoints per feed call
ENDING = 5.0  # seconds the nodes get to end their scans once every row is in
EVENTS_PER_MESSAGE = 256  # rows and talk requests an actor sends back in one streamed object


class RayUnavailable(UsageError):
    """--ray without Ray installed, or a cluster that cannot be reached."""


@dataclass(frozen=True)
class Vantage:
    """Addresses that must be scanned from the nodes a selector picks."""

    selector: str  # "key=value": a Ray node label; "name": a custom resource the node has
    targets: IntervalSet
    text: str  # as the user gave it

    def picks(self, node: NodeInfo) -> bool:
        key, equals, value = self.selector.partition("=")
        if equals:
            return node.labels.get(key) == value
        return node.resources.get(self.selector, 0) > 0


def parse_vantage(selector: str, targets: str) -> Vantage:
    """``--vantage SELECTOR TARGETS``: TARGETS are addresses, networks and ranges, comma-separated."""
    key, equals, value = selector.partition("=")
    if not key.strip() or (equals and not value.strip()):
        raise UsageError(f"--vantage {selector!r}: expected a node label key=value or a resource name")
    intervals: list[tuple[int, int]] = []
    for token in filter(None, (t.strip() for t in targets.split(","))):
        parsed = parse_located(token, "--vantage")
        if parsed.name is not None or parsed.ports is not None:
            raise UsageError(f"--vantage {selector} {token!r}: addresses, networks or ranges only")
        intervals.extend(parsed.intervals)
    if not intervals:
        raise UsageError(f"--vantage {selector}: no targets given")
    return Vantage(selector.strip(), IntervalSet(intervals), targets)


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    address: str
    labels: dict[str, str] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.address} ({self.node_id[:8]})"


def connect(address: str) -> list[NodeInfo]:
    """Join the cluster (``auto``: the one this machine belongs to, or RAY_ADDRESS) and list its live nodes."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a scanner phones nowhere unless told to
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--ray needs Ray: pip install 'mailprobe[ray]' (on every node)") from None
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                logging_level=logging.WARNING,
                log_to_driver=False,
                configure_logging=True,
                include_dashboard=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailable(f"--ray {address}: cannot join the cluster: {exc}") from None
    nodes = [
        NodeInfo(
            node["NodeID"],
            node.get("NodeManagerAddress", "?"),
            dict(node.get("Labels") or {}),
            dict(node.get("Resources") or {}),
        )
        for node in ray.nodes()
        if node.get("Alive")
    ]
    return sorted(nodes, key=lambda n: (n.address, n.node_id))


# -- the actor (one per node) ----------------------------------------------------------------------------------------


class NodeScanner:
    """Runs on a node: a Scan fed by the driver, rows and requests to talk streamed back. Made a Ray actor class by
    ``_actor_class`` (so that importing this module does not import Ray)."""

    def __init__(self, options: ProbeOptions, limits: dict[str, Any]) -> None:
        self._options = options
        self._limits = limits
        self._inbox: asyncio.Queue[Endpoint | None] | None = None
        self._events: asyncio.Queue[tuple[str, Any]] | None = None
        self._grants: dict[tuple[str, int], asyncio.Future[None]] = {}
        self._scan: Any = None

    def _queues(self) -> tuple[asyncio.Queue[Endpoint | None], asyncio.Queue[tuple[str, Any]]]:
        if self._inbox is None or self._events is None:  # made on the actor's event loop
            self._inbox = asyncio.Queue()
            self._events = asyncio.Queue()
        return self._inbox, self._events

    def version(self) -> str:
        from scanner import __version__

        return __version__

    async def feed(self, endpoints: Sequence[Endpoint] | None) -> None:
        inbox, _ = self._queues()
        if endpoints is None:
            inbox.put_nowait(None)
            return
        for endpoint in endpoints:
            inbox.put_nowait(endpoint)

    async def grant(self, keys: Sequence[tuple[str, int]]) -> None:
        for key in keys:
            waiter = self._grants.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def control(self, what: str) -> None:
        if self._scan is not None:
            getattr(self._scan, what)()  # pause, resume or stop
        if what == "stop":
            self._queues()[0].put_nowait(None)  # a scan waiting for its next endpoint sees the stop too

    async def reprobe(self, endpoint: Endpoint) -> str:
        from scanner.scan.scheduler import Scan

        # the driver wrote the talking line before asking: no permission to wait for
        result: EndpointResult = await Scan([], self._options, **self._limits).reprobe(endpoint)
        return result.to_json()

    async def _ask(self, endpoint: Endpoint) -> None:
        """Before a conversation: the driver's permission (it has recorded that this endpoint may talk)."""
        _, events = self._queues()
        waiter = asyncio.get_running_loop().create_future()
        self._grants[endpoint.key] = waiter
        events.put_nowait(("talk", endpoint.key))
        await waiter

    async def run(self) -> AsyncIterator[list[tuple[str, Any]]]:
        from scanner.scan.scheduler import Scan

        inbox, events = self._queues()

        async def source() -> AsyncIterator[Endpoint]:
            while (endpoint := await inbox.get()) is not None:
                yield endpoint

        self._scan = Scan(source(), self._options, before_talk=self._ask, **self._limits)

        cpu = time.process_time()

        async def produce() -> None:
            try:
                async for result in self._scan.results():
                    events.put_nowait(("row", result.to_json()))
            finally:
                events.put_nowait(("end", time.process_time() - cpu))  # this node's CPU, Ray's threads included

        producer = asyncio.create_task(produce())
        ended = False
        try:
            while not ended:
                batch = [await events.get()]
                while not events.empty() and len(batch) < EVENTS_PER_MESSAGE:
                    batch.append(events.get_nowait())
                ended = batch[-1][0] == "end"
                yield batch
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        producer.result()  # an engine error reaches the driver


_ACTOR: Any = None


def _actor_class() -> Any:
    global _ACTOR
    if _ACTOR is None:
        import ray

        _ACTOR = ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(NodeScanner)
    return _ACTOR


# -- the driver ------------------------------------------------------------------------------------------------------


@dataclass
class _Node:
    info: NodeInfo
    actor: Any
    groups: frozenset[int]  # vantage indexes whose selector picks this node
    outstanding: dict[tuple[str, int], Endpoint] = field(default_factory=dict)
    granted: set[tuple[str, int]] = field(default_factory=set)
    alive: bool = True
    ended: bool = False  # its scan ended (every endpoint fed had its row, or it was stopped)
    room: asyncio.Event = field(default_factory=asyncio.Event)
    rows: int = 0


ANY = -1  # the group of addresses no vantage claims


class RayScan:
    """``Scan``'s interface (``results()``, ``total``, pause/resume/stop, ``reprobe``) over a Ray cluster."""

    def __init__(
        self,
        nodes: Sequence[NodeInfo],
        endpoints: Source,
        options: ProbeOptions,
        *,
        vantages: Sequence[Vantage] = (),
        journal: TalkJournal | None = None,
        concurrency: int | None = None,
        per_host: int = 2,
        rate: float | None = None,
        total: Callable[[], int | None] | None = None,
    ) -> None:
        if not nodes:
            raise RayUnavailable("--ray: the cluster has no live node")
        self.node_infos = list(nodes)
        self.vantages = list(vantages)
        for vantage in self.vantages:
            if not any(vantage.picks(node) for node in nodes):
                raise UsageError(f"--vantage {vantage.selector}: no node of the cluster has that label or resource")
        self._endpoints = endpoints
        self.options = options
        self._journal = journal
        count = len(nodes)
        self._limits: dict[str, Any] = {
            "concurrency": max(1, concurrency // count) if concurrency else None,
            "per_host": per_host,
            "rate": rate / count if rate else None,
        }
        self._total = total
        self._nodes: list[_Node] = []
        self.lost: list[str] = []  # one line per node lost during the scan
        self.rows_by_node: Counter[str] = Counter()
        self.cpu_by_node: dict[str, float] = {}  # CPU seconds each node's scan took (known once it ended)
        self._stopped = False
        self._fed = False  # every endpoint of the targets handed out
        self._running = asyncio.Event()

    @property
    def total(self) -> int | None:
        return self._total() if self._total is not None else None

    # -- control (the TUI's keys) --------------------------------------------------------------------------------

    def pause(self) -> None:
        self._running.clear()
        self._tell("pause")

    def resume(self) -> None:
        self._running.set()
        self._tell("resume")

    def stop(self) -> None:
        self._stopped = True
        self._running.set()
        self._tell("stop")

    def _tell(self, what: str) -> None:
        for node in self._nodes:
            if node.alive:
                node.actor.control.remote(what)

    async def reprobe(self, endpoint: Endpoint) -> EndpointResult:
        node = self._route(endpoint)
        if node is None:
            return _not_scanned(endpoint, "no node of its vantage is left")
        if self._journal is not None:
            self._journal.note(endpoint, where=f"node {node.info.name}")
        try:
            line = await node.actor.reprobe.remote(endpoint)
        except Exception as exc:  # the node died meanwhile
            return interrupted_row(endpoint, f"node {node.info.name}") if _is_death(exc) else _failed(endpoint, exc)
        return EndpointResult.from_json(line, own=True)

    # -- the stream ----------------------------------------------------------------------------------------------

    async def results(self) -> AsyncIterator[EndpointResult]:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        actor_class = _actor_class()
        self._running.set()
        for info in self.node_infos:
            strategy = NodeAffinitySchedulingStrategy(info.node_id, soft=False)
            actor = actor_class.options(scheduling_strategy=strategy).remote(self.options, self._limits)
            groups = frozenset(i for i, v in enumerate(self.vantages) if v.picks(info))
            node = _Node(info, actor, groups)
            node.room.set()
            self._nodes.append(node)
        await self._check_versions()
        out: asyncio.Queue[object] = asyncio.Queue(WINDOW)
        readers = [asyncio.create_task(self._read(node, out)) for node in self._nodes]
        feeder = asyncio.create_task(self._feed(out))
        try:
            while not (out.empty() and self._finished()):
                item = await out.get()
                if item is _TICK:
                    continue
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, EndpointResult)
                yield item
        finally:
            for node in self._nodes:
                if node.alive and not node.ended:
                    node.actor.feed.remote(None)  # its scan ends once idle; the actor stays for re-probes
            try:
                await asyncio.wait(readers, timeout=ENDING)  # each node's last word: the CPU its scan took
            finally:
                for task in (*readers, feeder):
                    task.cancel()
                await asyncio.wait([*readers, feeder])

    def _finished(self) -> bool:
        """Every endpoint has its row (or, after stop(), every node's scan has ended)."""
        working = [node for node in self._nodes if node.alive and not node.ended]
        if self._stopped:
            return not working
        return self._fed and not any(node.outstanding for node in working)

    async def _check_versions(self) -> None:
        from scanner import __version__

        versions = await asyncio.gather(*(node.actor.version.remote() for node in self._nodes))
        wrong = [f"{n.info.name}: {v}" for n, v in zip(self._nodes, versions, strict=True) if v != __version__]
        if wrong:
            raise RayUnavailable(f"--ray: nodes run another mailprobe than this {__version__}: {', '.join(wrong)}")

    def _group_of(self, endpoint: Endpoint) -> int:
        value = address_int(endpoint.address)
        for index, vantage in enumerate(self.vantages):
            if value is not None and value in vantage.targets:
                return index
        return ANY

    def _route(self, endpoint: Endpoint) -> _Node | None:
        group = self._group_of(endpoint)
        allowed = [n for n in self._nodes if n.alive and (group == ANY or group in n.groups)]
        if not allowed:
            return None
        value = address_int(endpoint.address) or 0
        return allowed[value % len(allowed)]  # all ports of an address on one node: the per-host limit holds

    async def _feed(self, out: asyncio.Queue[object]) -> None:
        """Hand every endpoint to its node, at most WINDOW unanswered per node."""
        source = self._endpoints
        pending: dict[int, list[Endpoint]] = {}
        try:
            iterator = aiter(source) if hasattr(source, "__aiter__") else _async(source)  # type: ignore[arg-type]
            async for item in iterator:
                await self._running.wait()
                if self._stopped:
                    break
                if isinstance(item, EndpointResult):  # a DNS failure, an interrupted row owed by --resume
                    await out.put(item)
                    continue
                await self._assign(item, pending, out)
            self._flush(pending)
        except Exception as exc:  # a broken target source ends the stream with its error
            await out.put(exc)
        self._fed = True
        await out.put(_TICK)

    async def _assign(self, endpoint: Endpoint, pending: dict[int, list[Endpoint]], out: asyncio.Queue[object]) -> None:
        while True:
            node = self._route(endpoint)
            if node is None:
                await out.put(_not_scanned(endpoint, self._why_none(endpoint)))
                return
            if len(node.outstanding) >= WINDOW:
                self._flush(pending)
                node.room.clear()
                await node.room.wait()
                continue  # the node may have died meanwhile: route again
            node.outstanding[endpoint.key] = endpoint
            batch = pending.setdefault(id(node), [])
            batch.append(endpoint)
            if len(batch) >= BATCH:
                self._flush(pending)
            return

    def _flush(self, pending: dict[int, list[Endpoint]]) -> None:
        for node in self._nodes:
            batch = pending.pop(id(node), None)
            if batch and node.alive:
                node.actor.feed.remote(batch)  # a dead node's refusal shows in its reader

    def _why_none(self, endpoint: Endpoint) -> str:
        group = self._group_of(endpoint)
        if group == ANY:
            return "no node of the cluster is left"
        return f"no node with {self.vantages[group].selector} is left"

    async def _read(self, node: _Node, out: asyncio.Queue[object]) -> None:
        try:
            stream = node.actor.run.options(num_returns="streaming").remote()
            async for ref in stream:
                grants: list[tuple[str, int]] = []
                for kind, value in await ref:
                    if kind == "talk":
                        key = (str(value[0]), int(value[1]))
                        endpoint = node.outstanding.get(key)
                        if endpoint is not None and self._journal is not None:
                            self._journal.note(endpoint, where=f"node {node.info.name}")  # on disk before the grant
                        node.granted.add(key)
                        grants.append(key)
                    elif kind == "row":
                        row = EndpointResult.from_json(value, own=True)
                        node.outstanding.pop(row.key, None)
                        node.granted.discard(row.key)
                        self.rows_by_node[node.info.name] += 1
                        await out.put(row)
                    elif kind == "end":
                        node.ended = True
                        self.cpu_by_node[node.info.name] = float(value)
                if grants:
                    node.actor.grant.remote(grants)
                if len(node.outstanding) < WINDOW // 2:
                    node.room.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not _is_death(exc):
                await out.put(exc)
                return
            await self._lost(node, out)
        await out.put(_TICK)

    async def _lost(self, node: _Node, out: asyncio.Queue[object]) -> None:
        """A node died: its granted endpoints are reported, the others go to another node (or are reported)."""
        node.alive = False
        node.room.set()
        left = list(node.outstanding.values())
        node.outstanding.clear()
        cut_short = [e for e in left if e.key in node.granted]
        moved = [e for e in left if e.key not in node.granted]
        self.lost.append(
            f"Ray node {node.info.name} was lost: {len(cut_short)} conversations under way reported as "
            f"interrupted, {len(moved)} endpoints not yet probed handed to other nodes"
        )
        for endpoint in cut_short:
            await out.put(interrupted_row(endpoint, f"node {node.info.name}"))
        pending: dict[int, list[Endpoint]] = {}
        for endpoint in moved:
            await self._assign(endpoint, pending, out)
        self._flush(pending)


_TICK = object()  # wakes the merging loop to check whether the scan is finished


def _is_death(exc: BaseException) -> bool:
    try:
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
    except ImportError:
        return False
    return isinstance(exc, (RayActorError, ActorDiedError, ActorUnavailableError))


async def _async(items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _not_scanned(endpoint: Endpoint, why: str) -> EndpointResult:
    return EndpointResult.without_conversation(endpoint, "error", f"not scanned: {why}")


def _failed(endpoint: Endpoint, exc: BaseException) -> EndpointResult:
    return _not_scanned(endpoint, f"re-probe failed: {type(exc).__name__}: {exc}")
