"""The scheduler with a fake probe: limits hold, busy hosts do not block others, cancellation frees every slot."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections import Counter

import pytest

from scanner.fakeserver import FakeServer, bundled_profile
from scanner.model import Endpoint, EndpointResult
from scanner.probe.context import ScanContext
from scanner.probe.options import ProbeOptions
from scanner.scan.scheduler import Scan
from scanner.scan.tuning import FD_RESERVE, default_concurrency
from tests.factories import result as shared_result
from tests.waiting import until

OPTIONS = ProbeOptions()


def ep(address: str, port: int = 143) -> Endpoint:
    return Endpoint(address, address, port, "imap", "starttls")


def row(endpoint: Endpoint, state: str = "closed") -> EndpointResult:
    return shared_result(
        endpoint.port,
        address=endpoint.address,
        host=endpoint.host,
        protocol=endpoint.protocol,
        transport=endpoint.transport,
        state=state,
    )


class FakeProbe:
    """Records concurrency overall and per host. Like the real probe, an endpoint whose connect is answered takes
    its host's conversation slot and talks for delay(endpoint) seconds; a dropped one (answers(endpoint) false)
    waits delay(endpoint) seconds, a connect timeout, without any slot."""

    def __init__(self, delay=lambda e: 0.01, answers=lambda e: True) -> None:
        self.delay = delay
        self.answers = answers
        self.active = 0
        self.peak = 0
        self.per_host: Counter[str] = Counter()  # conversations
        self.peak_per_host = 0
        self.finished: list[Endpoint] = []
        self.cancelled = 0
        self.waiting_on_connect: Counter[str] = Counter()
        self.peak_connecting_per_host = 0

    async def __call__(self, endpoint: Endpoint, options: ProbeOptions, context: ScanContext) -> EndpointResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if not self.answers(endpoint):
                self.waiting_on_connect[endpoint.address] += 1
                self.peak_connecting_per_host = max(
                    self.peak_connecting_per_host, self.waiting_on_connect[endpoint.address]
                )
                await asyncio.sleep(self.delay(endpoint))
                self.waiting_on_connect[endpoint.address] -= 1
                return row(endpoint, "filtered")
            async with context.conversation_slot(endpoint.address):
                self.per_host[endpoint.address] += 1
                self.peak_per_host = max(self.peak_per_host, self.per_host[endpoint.address])
                try:
                    await asyncio.sleep(self.delay(endpoint))
                finally:
                    self.per_host[endpoint.address] -= 1
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1
            self.finished.append(endpoint)
        return row(endpoint)


async def test_every_endpoint_once_within_global_and_per_host_limits():
    endpoints = [ep(f"127.0.0.{h}", port) for h in range(2, 42) for port in (110, 143, 993, 995)]
    probe = FakeProbe(lambda e: 0.005)
    scan = Scan(endpoints, OPTIONS, concurrency=16, per_host=2, probe=probe)
    got = [r.key async for r in scan.results()]
    assert sorted(got) == sorted(e.key for e in endpoints)
    assert probe.peak == 16
    assert probe.peak_per_host == 2
    assert scan.done == scan.started == 160 and scan.active == 0
    assert scan.stats.states == {"closed": 160}


async def test_a_hosts_dropped_ports_cost_one_connect_timeout_not_one_each():
    """Four dropped ports of one host under --per-host 2 wait in parallel: the SYNs load nothing."""
    endpoints = [ep(f"127.0.0.{h}", port) for h in range(2, 6) for port in (110, 143, 993, 995)]
    probe = FakeProbe(lambda e: 0.05, answers=lambda e: False)
    got = [r async for r in Scan(endpoints, OPTIONS, concurrency=64, per_host=2, probe=probe).results()]
    assert len(got) == 16 and {r.state for r in got} == {"filtered"}
    assert probe.peak_connecting_per_host == 4  # all four ports of a host wait out their connect together


async def test_a_busy_host_does_not_hold_up_the_others():
    slow = [ep("127.0.0.2", port) for port in range(1000, 1012)]  # one host, twelve slow endpoints first
    fast = [ep(f"127.0.0.{h}") for h in range(3, 23)]
    probe = FakeProbe(lambda e: 0.2 if e.address == "127.0.0.2" else 0.001)
    scan = Scan(slow + fast, OPTIONS, concurrency=8, per_host=1, probe=probe)
    order = [r.address async for r in scan.results()]
    assert order.index("127.0.0.22") < order.index("127.0.0.2")  # fast hosts flow past the parked slow ones
    assert probe.peak_per_host == 1
    assert order.count("127.0.0.2") == 12


async def test_rate_limit_spaces_the_starts():
    probe = FakeProbe(lambda e: 0)
    scan = Scan([ep(f"127.0.0.{h}") for h in range(2, 22)], OPTIONS, concurrency=50, rate=100, probe=probe)
    start = time.monotonic()
    assert len([r async for r in scan.results()]) == 20
    assert time.monotonic() - start >= 0.18  # 20 starts at 100/s: 19 gaps of 10 ms


async def test_cancelling_the_consumer_cancels_probes_and_frees_every_slot():
    probe = FakeProbe(lambda e: 0.01 if e.address.endswith(".2") else 30)
    scan = Scan(
        [ep(f"127.0.0.{h}", p) for h in range(2, 60) for p in (110, 143)],
        OPTIONS,
        concurrency=20,
        per_host=2,
        probe=probe,
    )

    async def consume() -> None:
        async for _ in scan.results():
            pass

    task = asyncio.create_task(consume())
    await until(lambda: scan.done >= 2 and probe.active == 20, "two quick probes done and twenty slow ones running")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert probe.active == 0 and probe.cancelled == 20
    assert scan.active == 0 and not scan._host_active


async def test_closing_the_stream_early_frees_every_slot():
    probe = FakeProbe(lambda e: 0.001 if e.address.endswith(".2") else 30)
    scan = Scan([ep(f"127.0.0.{h}") for h in range(2, 30)], OPTIONS, concurrency=10, probe=probe)
    stream = scan.results()
    first = await anext(stream)
    await stream.aclose()
    assert first.address == "127.0.0.2"
    assert probe.active == 0 and scan.active == 0


async def test_stop_lets_running_probes_finish_and_starts_nothing_new():
    probe = FakeProbe(lambda e: 0.05)
    scan = Scan([ep(f"127.0.0.{h}") for h in range(2, 100)], OPTIONS, concurrency=5, probe=probe)
    got = []
    started_at_stop = None
    async for result in scan.results():
        got.append(result)
        if len(got) == 1:
            scan.stop()
            started_at_stop = scan.started
    assert started_at_stop is not None and started_at_stop < 20
    assert scan.started == started_at_stop == len(got)  # every probe under way was still yielded, none added
    assert probe.cancelled == 0


async def test_pause_holds_new_starts_until_resume():
    probe = FakeProbe(lambda e: 0.001)
    scan = Scan([ep(f"127.0.0.{h}") for h in range(2, 12)], OPTIONS, concurrency=1, probe=probe)
    scan.pause()
    task = asyncio.create_task(_collect(scan))
    await asyncio.sleep(0.05)
    assert scan.started == 0
    scan.resume()
    assert len(await task) == 10


async def _collect(scan: Scan) -> list[EndpointResult]:
    return [r async for r in scan.results()]


async def test_rows_from_the_source_pass_through_and_a_raising_probe_still_gives_a_row():
    dns_row = row(ep("nowhere.test"), "error")

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
    """Through the sweep and the real probe: an IMAP server answers on one address, the other refuses the connect."""
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
