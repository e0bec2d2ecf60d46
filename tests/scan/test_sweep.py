"""The connect sweep: every endpoint reported exactly once, with the state and reason the probe's own connect gives
(open, refused, dropped), a second try when the learnt wait cut the first one short, and nothing left open."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator

import pytest

from scanner.probe.session import ConnectError, open_tcp
from scanner.scan.connect_timer import WARMUP, ConnectTimer
from scanner.scan.sweep import ConnectSweep


@pytest.fixture()
def closed_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, not listening: the kernel answers SYNs with a reset
        yield holder.getsockname()[1]


@pytest.fixture()
def open_port() -> Iterator[socket.socket]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1024)
        yield server


class Outcomes:
    """What a sweep reported, by tag."""

    def __init__(self) -> None:
        self.connected: dict[object, socket.socket] = {}
        self.unanswered: dict[object, ConnectError] = {}
        self.started: dict[object, float] = {}
        self.reports = 0

    def on_connected(self, tag: object, sock: socket.socket, started: float) -> None:
        self.reports += 1
        self.connected[tag] = sock
        self.started[tag] = started

    def on_unanswered(self, tag: object, failure: ConnectError, started: float) -> None:
        self.reports += 1
        self.unanswered[tag] = failure
        self.started[tag] = started

    def close(self) -> None:
        for sock in self.connected.values():
            sock.close()


def waited_in(reason: str) -> float:
    return float(re.search(r"within ([0-9.]+) s", reason).group(1))  # type: ignore[union-attr]


def words(reason: str) -> str:
    """A reason with its measured wait left out (it varies by a few milliseconds from run to run)."""
    return re.sub(r"within [0-9.]+ s", "within N s", reason)


def new_sweep(outcomes: Outcomes, timer: ConnectTimer | None, ceiling: float) -> ConnectSweep[object]:
    return ConnectSweep(
        asyncio.get_running_loop(),
        timer,
        ceiling=ceiling,
        source=None,
        on_connected=outcomes.on_connected,
        on_unanswered=outcomes.on_unanswered,
    )


def trained(ceiling: float) -> ConnectTimer:
    timer = ConnectTimer(ceiling)
    for _ in range(WARMUP):
        timer.sample(0.001)  # a LAN's answers: the learnt wait is the floor (0.1 s)
    return timer


async def test_open_closed_and_dropped_ports_each_get_their_outcome(open_port, closed_port, silent_port):
    outcomes = Outcomes()
    sweep = new_sweep(outcomes, None, ceiling=0.5)
    try:
        sweep.start("open", "127.0.0.1", open_port.getsockname()[1])
        sweep.start("closed", "127.0.0.1", closed_port)
        sweep.start("dropped", "127.0.0.1", silent_port)
        await asyncio.wait_for(sweep.idle(), 5)
        assert outcomes.reports == 3 and len(sweep) == 0
        sock = outcomes.connected["open"]
        assert sock.getpeername()[1] == open_port.getsockname()[1]  # handed over connected
        closed = outcomes.unanswered["closed"]
        assert (closed.state, closed.reason) == ("closed", "connection refused")
        dropped = outcomes.unanswered["dropped"]
        assert dropped.state == "filtered" and dropped.reason.startswith("no answer to connect within ")
        assert 0.5 <= waited_in(dropped.reason) < 1.0  # the ceiling, not more
    finally:
        outcomes.close()
        sweep.close()


async def test_reasons_match_what_the_probes_own_connect_says(closed_port, silent_port):
    """The sweep and open_tcp word the same outcome the same way: rows do not depend on which path made them."""
    outcomes = Outcomes()
    sweep = new_sweep(outcomes, None, ceiling=0.3)
    try:
        for port in (closed_port, silent_port):
            sweep.start(port, "127.0.0.1", port)
            with pytest.raises(ConnectError) as direct:
                await open_tcp("127.0.0.1", port, timeout=0.3, source_address=None)
            await asyncio.wait_for(sweep.idle(), 5)
            swept = outcomes.unanswered[port]
            assert (swept.state, words(swept.reason)) == (direct.value.state, words(direct.value.reason))
    finally:
        sweep.close()


async def test_a_dropped_port_gets_a_second_try_within_the_learnt_wait(silent_port):
    outcomes = Outcomes()
    timer = trained(3.0)
    sweep = new_sweep(outcomes, timer, ceiling=3.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        sweep.start("dropped", "127.0.0.1", silent_port)
        await asyncio.wait_for(sweep.idle(), 5)
        failure = outcomes.unanswered["dropped"]
        assert failure.state == "filtered" and "2 tries" in failure.reason
        assert loop.time() - began < 2.0  # 0.1 s, then 0.2 s: the learnt wait, never the 3 s ceiling
        assert timer.waiting() == 0  # the sweep no longer waits on the timer
    finally:
        sweep.close()


async def test_thousands_of_connects_each_reported_once(open_port, closed_port, silent_port):
    outcomes = Outcomes()
    sweep = new_sweep(outcomes, trained(1.0), ceiling=1.0)
    ports = {"open": open_port.getsockname()[1], "closed": closed_port, "dropped": silent_port}
    tags = [(kind, n) for n in range(300) for kind in ports]
    try:
        for tag in tags:
            sweep.start(tag, "127.0.0.1", ports[tag[0]])
        await asyncio.wait_for(sweep.idle(), 10)
        assert outcomes.reports == len(tags)
        assert set(outcomes.connected) == {t for t in tags if t[0] == "open"}
        assert {t for t, f in outcomes.unanswered.items() if f.state == "closed"} == {
            t for t in tags if t[0] == "closed"
        }
        assert {t for t, f in outcomes.unanswered.items() if f.state == "filtered"} == {
            t for t in tags if t[0] == "dropped"
        }
    finally:
        outcomes.close()
        sweep.close()


async def test_the_learnt_wait_falling_brings_waiting_deadlines_forward(silent_port):
    outcomes = Outcomes()
    timer = ConnectTimer(5.0)  # untrained: the first connects wait the whole ceiling ...
    sweep = new_sweep(outcomes, timer, ceiling=5.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        sweep.start("dropped", "127.0.0.1", silent_port)
        await asyncio.sleep(0.05)
        for _ in range(WARMUP):
            timer.sample(0.001)  # ... until answers elsewhere teach a short wait
        await asyncio.wait_for(sweep.idle(), 5)
        assert loop.time() - began < 2.0
        assert outcomes.unanswered["dropped"].state == "filtered"
    finally:
        sweep.close()


async def test_close_drops_waiting_connects_without_reporting_them(silent_port):
    outcomes = Outcomes()
    timer = trained(5.0)
    sweep = new_sweep(outcomes, timer, ceiling=5.0)
    sweep.start("dropped", "127.0.0.1", silent_port)
    assert len(sweep) == 1 and timer.waiting() == 1
    sweep.close()
    await asyncio.sleep(0.5)  # past the learnt wait: nothing may fire after close
    assert outcomes.reports == 0 and timer.waiting() == 0
    await asyncio.wait_for(sweep.idle(), 1)


async def test_a_failing_callback_does_not_stop_the_sweep(closed_port, caplog):
    reported: list[object] = []

    def unanswered(tag: object, failure: ConnectError, started: float) -> None:
        reported.append(tag)
        if tag == "first":
            raise RuntimeError("a bug in the caller")

    sweep: ConnectSweep[object] = ConnectSweep(
        asyncio.get_running_loop(),
        None,
        ceiling=1.0,
        source=None,
        on_connected=lambda *_: None,
        on_unanswered=unanswered,
    )
    try:
        sweep.start("first", "127.0.0.1", closed_port)
        sweep.start("second", "127.0.0.1", closed_port)
        await asyncio.wait_for(sweep.idle(), 5)
        assert reported == ["first", "second"]
        assert "not handled" in caplog.text
    finally:
        sweep.close()


async def test_a_local_failure_is_an_error_outcome_not_an_exception(closed_port):
    outcomes = Outcomes()
    sweep: ConnectSweep[object] = ConnectSweep(
        asyncio.get_running_loop(),
        None,
        ceiling=1.0,
        source="::1",  # an IPv6 source for an IPv4 target: the socket cannot even be bound, nothing is sent
        on_connected=outcomes.on_connected,
        on_unanswered=outcomes.on_unanswered,
    )
    try:
        sweep.start("unbindable", "127.0.0.1", closed_port)
        await asyncio.wait_for(sweep.idle(), 5)
        failure = outcomes.unanswered["unbindable"]
        assert failure.state == "error" and failure.reason.startswith("connect failed: ")
        assert outcomes.reports == 1 and len(sweep) == 0
    finally:
        sweep.close()


async def test_a_dead_range_settles_on_one_longer_try_per_port(monkeypatch, silent_port):
    """Once second tries have found nothing, a dropped port costs one connect that waits three learnt waits."""
    from scanner.scan import retry_policy

    monkeypatch.setattr(retry_policy, "PROBATION", 4)
    outcomes = Outcomes()
    sweep = new_sweep(outcomes, trained(3.0), ceiling=3.0)
    try:
        for n in range(4):  # probation: each gets its second try, and none is answered
            sweep.start(("probation", n), "127.0.0.1", silent_port)
        await asyncio.wait_for(sweep.idle(), 5)
        assert all("2 tries" in outcomes.unanswered[("probation", n)].reason for n in range(4))
        sweep.start("later", "127.0.0.1", silent_port)
        await asyncio.wait_for(sweep.idle(), 5)
        later = outcomes.unanswered["later"]
        assert later.state == "filtered" and "tries" not in later.reason  # one connect ...
        assert 0.3 <= waited_in(later.reason) < 3.0  # ... waiting 3 x 0.1 s, still far below the ceiling
    finally:
        sweep.close()


async def test_connects_expiring_together_all_get_their_second_try_in_one_pass(silent_port, caplog):
    """Many connects due at once: each expiry pass retries them all (the first retry opens the queue of second
    tries while the pass is under way), and nothing goes wrong in the event loop's callbacks."""
    outcomes = Outcomes()
    sweep = new_sweep(outcomes, trained(3.0), ceiling=3.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        for n in range(50):
            sweep.start(n, "127.0.0.1", silent_port)
        await asyncio.wait_for(sweep.idle(), 5)
        assert len(outcomes.unanswered) == 50
        assert all("2 tries" in failure.reason for failure in outcomes.unanswered.values())
        assert loop.time() - began < 1.5  # 0.1 s + 0.2 s each, all at once: not one retry per pass
        assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    finally:
        sweep.close()
