"""The scheduler's limits, through the connect sweep and the real probe, as production runs them: what the servers
see (conversations at once, per host and in all) is what the limits allow; busy hosts do not block others;
cancellation frees every slot."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack

import pytest

from scanner.fakeserver import FakeServer, bundled_profile
from scanner.model import Endpoint, EndpointResult
from scanner.probe.context import ScanContext
from scanner.probe.options import ProbeOptions
from scanner.scan.scheduler import Scan
from scanner.scan.tuning import FD_RESERVE, default_concurrency
from tests.factories import result as shared_result
from tests.waiting import until

OPTIONS = ProbeOptions(connect_timeout=3, read_timeout=3, endpoint_timeout=60, legacy_tls=False)


def ep(address: str, port: int = 143) -> Endpoint:
    return Endpoint(address, address, port, "imap", "starttls")


class Servers:
    """IMAP listeners, ``ports`` on each host, that greet, wait for the probe's first command (a probe sends it only
    once it holds a conversation slot), keep that conversation ``hold(host)`` seconds, then close. They count the
    conversations under way per host and in all, the peaks, and how each ended: held to the end, or cut short by
    the client (a cancelled probe)."""

    def __init__(self, hosts: Iterable[str], ports: int, hold: Callable[[str], float]) -> None:
        self.hosts = list(hosts)
        self.ports = ports
        self.hold = hold
        self.talking: Counter[str] = Counter()
        self.peak_per_host = 0
        self.peak = 0
        self.connected = 0  # connections open now, talking or not
        self.held = 0
        self.cut = 0
        self._servers: list[asyncio.Server] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self.endpoints: list[Endpoint] = []

    @property
    def now(self) -> int:
        return sum(self.talking.values())

    async def __aenter__(self) -> Servers:
        for host in self.hosts:
            for _ in range(self.ports):
                server = await asyncio.start_server(self._serve, host, 0)
                self._servers.append(server)
                self.endpoints.append(ep(host, server.sockets[0].getsockname()[1]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        host = writer.get_extra_info("sockname")[0]
        self.connected += 1
        try:
            writer.write(b"* OK IMAP4rev1 ready\r\n")
            await writer.drain()
            if not await reader.readline():
                return  # a connection left idle while its probe waited for a slot, then dropped
            self.talking[host] += 1
            self.peak_per_host = max(self.peak_per_host, self.talking[host])
            self.peak = max(self.peak, self.now)
            try:
                await asyncio.wait_for(reader.read(1), self.hold(host))  # the probe says nothing until answered
                self.cut += 1
            except TimeoutError:
                self.held += 1
            finally:
                self.talking[host] -= 1
        except (ConnectionError, OSError):
            pass
        finally:
            self.connected -= 1
            writer.close()
            self._handlers.discard(task)


def hosts(first: int, last: int) -> list[str]:
    return [f"127.0.0.{h}" for h in range(first, last + 1)]


async def _collect(scan: Scan) -> list[EndpointResult]:
    return [r async for r in scan.results()]


async def test_every_endpoint_once_within_the_global_limit():
    async with Servers(hosts(2, 13), 4, lambda host: 0.3) as servers:
        scan = Scan(servers.endpoints, OPTIONS, concurrency=8, per_host=4)
        got = await _collect(scan)
    assert sorted(r.key for r in got) == sorted(e.key for e in servers.endpoints)
    assert servers.peak == 8  # conversations at once: the global limit, reached
    assert servers.held == 48 and servers.cut == 0
    assert scan.done == scan.started == 48 and scan.active == 0


async def test_conversations_per_host_stay_within_the_per_host_limit():
    async with Servers(hosts(2, 3), 6, lambda host: 0.3) as servers:
        scan = Scan(servers.endpoints, OPTIONS, concurrency=64, per_host=2)
        got = await _collect(scan)
    assert len(got) == 12
    assert servers.peak_per_host == 2  # --per-host 2: reached, never more
    assert servers.peak == 4
    assert servers.held == 12 and servers.cut == 0


@pytest.fixture()
def silent_ports() -> Iterator[Callable[[str, int], list[int]]]:
    """Listeners whose single backlog slot is taken: the kernel drops every further SYN to them."""
    with ExitStack() as stack:

        def make(host: str, count: int) -> list[int]:
            ports = []
            for _ in range(count):
                server, filler = stack.enter_context(socket.socket()), stack.enter_context(socket.socket())
                server.bind((host, 0))
                server.listen(0)
                filler.connect(server.getsockname())
                ports.append(server.getsockname()[1])
            return ports

        yield make


async def test_a_hosts_dropped_ports_cost_one_connect_timeout_not_one_each(silent_ports):
    """Four dropped ports of each host under --per-host 2 wait in parallel: the SYNs load nothing."""
    endpoints = [ep(host, port) for host in hosts(2, 5) for port in silent_ports(host, 4)]
    options = ProbeOptions(connect_timeout=0.5, adaptive_connect_timeout=False)
    scan = Scan(endpoints, options, concurrency=64, per_host=2)
    started_at_first_row = None
    got = []
    async for row in scan.results():
        started_at_first_row = started_at_first_row or scan.started
        got.append(row)
    assert len(got) == 16 and {r.state for r in got} == {"filtered"}
    assert started_at_first_row == 16  # every port of every host was waiting before the first one timed out


async def test_a_busy_host_does_not_hold_up_the_others():
    slow = "127.0.0.2"  # one host, six slow conversations first
    async with Servers([slow], 6, lambda host: 0.5) as slow_servers, Servers(hosts(3, 22), 1, lambda h: 0) as fast:
        scan = Scan(slow_servers.endpoints + fast.endpoints, OPTIONS, concurrency=8, per_host=1)
        order = [r.address for r in await _collect(scan)]
    assert order.index("127.0.0.22") < order.index(slow)  # fast hosts flow past the parked slow ones
    assert slow_servers.peak_per_host == 1
    assert order.count(slow) == 6


async def test_rate_limit_spaces_the_starts():
    with ExitStack() as stack:
        endpoints = []
        for host in hosts(2, 21):
            refusing = stack.enter_context(socket.socket())
            refusing.bind((host, 0))  # bound, not listening: the connect is refused at once
            endpoints.append(ep(host, refusing.getsockname()[1]))
        scan = Scan(endpoints, OPTIONS, concurrency=50, rate=100)
        start = time.monotonic()
        got = await _collect(scan)
    assert len(got) == 20 and {r.state for r in got} == {"closed"}
    assert time.monotonic() - start >= 0.18  # 20 starts at 100/s: 19 gaps of 10 ms


async def test_cancelling_the_consumer_cancels_probes_and_frees_every_slot():
    async with Servers(hosts(2, 59), 2, lambda host: 0.01 if host.endswith(".2") else 30) as servers:
        scan = Scan(servers.endpoints, OPTIONS, concurrency=20, per_host=2)

        async def consume() -> None:
            async for _ in scan.results():
                pass

        task = asyncio.create_task(consume())
        await until(lambda: scan.done >= 2 and servers.now == 20, "two quick probes done and twenty slow ones talking")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert scan.active == 0 and not scan._host_active
        await until(lambda: servers.connected == 0, "every connection closed by the cancelled probes")
    assert servers.cut == 20  # the twenty slow conversations ended by the client, not by the server


async def test_closing_the_stream_early_frees_every_slot():
    async with Servers(hosts(2, 29), 1, lambda host: 0.01 if host.endswith(".2") else 30) as servers:
        scan = Scan(servers.endpoints, OPTIONS, concurrency=10)
        stream = scan.results()
        first = await anext(stream)
        await stream.aclose()
        assert first.address == "127.0.0.2"
        assert scan.active == 0
        await until(lambda: servers.connected == 0, "every connection closed")


async def test_stop_lets_running_probes_finish_and_starts_nothing_new():
    async with Servers(hosts(2, 99), 1, lambda host: 0.05) as servers:
        scan = Scan(servers.endpoints, OPTIONS, concurrency=5)
        got = []
        started_at_stop = None
        async for result in scan.results():
            got.append(result)
            if len(got) == 1:
                scan.stop()
                started_at_stop = scan.started
    assert started_at_stop is not None and started_at_stop < 20
    assert scan.started == started_at_stop == len(got)  # every probe under way was still yielded, none added
    assert servers.cut == 0  # none was cut short


async def test_pause_holds_new_starts_until_resume():
    async with Servers(hosts(2, 11), 1, lambda host: 0) as servers:
        scan = Scan(servers.endpoints, OPTIONS, concurrency=1)
        scan.pause()
        task = asyncio.create_task(_collect(scan))
        await asyncio.sleep(0.05)
        assert scan.started == 0 and servers.connected == 0
        scan.resume()
        assert len(await task) == 10


async def test_rows_from_the_source_pass_through_and_a_raising_probe_still_gives_a_row():
    # the one test with a probe of its own: the real one never raises, and the scheduler's net is for a bug
    dns_row = shared_result(143, address="nowhere.test", host="nowhere.test", state="error")

    async def source():
        yield dns_row
        yield ep("127.0.0.2")

    async def broken(endpoint: Endpoint, options: ProbeOptions, context: ScanContext) -> EndpointResult:
        raise RuntimeError("boom")

    scan = Scan(source(), OPTIONS, concurrency=2, probe=broken, total_source=lambda: 2)
    got = await _collect(scan)
    assert got[0] is dns_row
    assert got[1].state == "error" and "boom" in (got[1].error or "")
    assert scan.total == 2


async def test_ptr_names_are_asked_for_and_added_to_open_rows_only():
    """An IMAP server answers on one address, the other refuses the connect."""
    asked = []

    async def reverse(address: str) -> str | None:
        asked.append(address)
        return "Mail.Example.Test."

    with socket.socket() as refusing:
        refusing.bind(("127.0.0.3", 0))  # bound, not listening: the kernel refuses every connect
        async with FakeServer(bundled_profile("imap-no-tls"), host="127.0.0.2") as server:
            endpoints = [ep("127.0.0.2", server.port), ep("127.0.0.3", refusing.getsockname()[1])]
            got = await _collect(Scan(endpoints, OPTIONS, concurrency=2, reverse=reverse))
    assert {r.address: (r.state, r.ptr) for r in got} == {
        "127.0.0.2": ("open", "mail.example.test"),
        "127.0.0.3": ("closed", None),
    }
    assert asked == ["127.0.0.2"]


def test_default_concurrency_stays_under_the_descriptor_limit():
    value = default_concurrency()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert 8 <= value <= soft - FD_RESERVE


def test_concurrency_never_exceeds_what_the_descriptor_limit_allows():
    """--concurrency past `ulimit -n` would turn endpoints into "Too many open files" rows: it is lowered."""
    scan = Scan([], OPTIONS, concurrency=10**9)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert 8 <= scan.concurrency <= soft - FD_RESERVE
