"""The connect wait learnt from the scan: the estimate itself, and open_tcp against a port whose SYNs go
unanswered (a listener with a full backlog drops them, as a firewall would)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.probe.session import ConnectError, open_tcp
from scanner.scan.connect_timer import FLOOR, WARMUP, ConnectDeadline, ConnectTimer

ROOT = Path(__file__).resolve().parents[2]


def test_the_ceiling_holds_until_enough_answers_are_in():
    timer = ConnectTimer(5.0)
    for _ in range(WARMUP - 1):
        timer.sample(0.001)
    assert timer.current() == 5.0 == timer.ceiling
    timer.sample(0.001)
    assert timer.current() == FLOOR < timer.ceiling  # a LAN's sub-millisecond answers: down to the floor


def test_slow_or_jittery_answers_keep_the_wait_long():
    timer = ConnectTimer(5.0)
    for rtt in [0.2, 0.6] * 8:
        timer.sample(rtt)
    assert 0.6 < timer.current() < 5.0  # srtt + 4 * rttvar covers the slow ones
    for _ in range(20):
        timer.sample(9.0)  # a very slow network: never past the user's own timeout
    assert timer.current() == 5.0


async def test_waiting_connects_follow_the_wait_down():
    loop = asyncio.get_running_loop()
    timer = ConnectTimer(5.0)
    expired = asyncio.Event()
    deadline = ConnectDeadline(loop, timer, loop.time(), 5.0, 1, expired.set)
    assert timer.waiting() == 1 and deadline.when() > loop.time() + 4
    for _ in range(WARMUP):
        timer.sample(0.001)  # the offer falls to the floor: the pending deadline moves with it
    assert deadline.when() <= loop.time() + FLOOR
    await asyncio.wait_for(expired.wait(), 2.0)
    assert timer.waiting() == 0  # an expired deadline leaves nothing behind


async def test_a_deadline_that_is_cancelled_never_fires_and_is_forgotten():
    loop = asyncio.get_running_loop()
    timer = ConnectTimer(0.05, floor=0.01)
    fired: list[bool] = []
    deadlines = [ConnectDeadline(loop, timer, loop.time(), 0.05, 1, lambda: fired.append(True)) for _ in range(100)]
    assert timer.waiting() == 100
    for deadline in deadlines:
        deadline.cancel()
    assert timer.waiting() == 0
    # a twin set up after them, left to run: once it has fired, theirs would have too
    twin_fired = asyncio.Event()
    ConnectDeadline(loop, timer, loop.time(), 0.05, 1, twin_fired.set)
    await asyncio.wait_for(twin_fired.wait(), 30)
    assert fired == []


async def test_a_deadline_waits_on_when_the_offer_grows_again():
    loop = asyncio.get_running_loop()
    timer = ConnectTimer(2.0)
    for _ in range(WARMUP):
        timer.sample(0.001)
    expired = asyncio.Event()
    started = loop.time()
    ConnectDeadline(loop, timer, started, 2.0, 1, expired.set)
    for _ in range(40):
        timer.sample(0.5)  # slower answers come in before the short deadline is due
    assert timer.current() > 0.3
    await asyncio.wait_for(expired.wait(), 3.0)
    assert loop.time() - started >= 0.3  # it waited for the grown offer, not the first short one


@pytest.fixture()
def trained_timer() -> ConnectTimer:
    timer = ConnectTimer(3.0)
    for _ in range(WARMUP):
        timer.sample(0.001)
    return timer


async def test_a_silent_port_gets_two_tries_within_the_learnt_wait(silent_port, trained_timer):
    with pytest.raises(ConnectError) as caught:
        await open_tcp("127.0.0.1", silent_port, timeout=3.0, source_address=None, timer=trained_timer)
    assert caught.value.state == "filtered"
    assert "2 tries" in caught.value.reason  # a lost SYN is tried again before "filtered"
    waited = float(caught.value.reason.split("within ")[1].split(" s")[0])
    assert waited < 3.0  # the learnt wait (and its doubled retry), not the user's ceiling


async def test_answered_connects_teach_the_timer(trained_timer):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        before = trained_timer.samples
        port = server.getsockname()[1]
        reader, writer = await open_tcp("127.0.0.1", port, timeout=3.0, source_address=None, timer=trained_timer)
        writer.close()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]  # bound, not listening: the kernel answers with a reset
            with pytest.raises(ConnectError) as caught:
                await open_tcp("127.0.0.1", closed, timeout=3.0, source_address=None, timer=trained_timer)
        assert caught.value.state == "closed"
        assert trained_timer.samples == before + 2  # the SYN-ACK and the RST both count


async def test_without_a_scan_the_users_timeout_applies(silent_port):
    with pytest.raises(ConnectError) as caught:
        await open_tcp("127.0.0.1", silent_port, timeout=0.3, source_address=None)
    assert caught.value.state == "filtered"
    assert "tries" not in caught.value.reason  # one SYN, the kernel's own retransmission only


def test_scan_learns_the_wait_unless_told_not_to(silent_port):
    """End to end: 30 closed ports teach the timer, so the silent one is given up after two short tries; with
    --fixed-timeout it waits the whole --timeout."""
    common = [
        "scan",
        "127.0.0.1",
        "127.0.7.1-30",
        "-p",
        f"imap:{silent_port}",
        "--timeout",
        "2",
        "--no-tui",
        "--no-ptr",
        "--format",
        "jsonl",
        "--workers",
        "1",
    ]

    def silent_row(*extra: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "scanner", *common, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        scan_line, *rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert scan_line["record"] == "scan" and len(rows) == 31
        return next(r for r in rows if r["address"] == "127.0.0.1")

    learnt = silent_row()
    assert learnt["state"] == "filtered" and "2 tries" in learnt["error"]
    fixed = silent_row("--fixed-timeout")
    assert fixed["state"] == "filtered" and "tries" not in fixed["error"]
    assert float(fixed["error"].split("within ")[1].split(" s")[0]) >= 2.0  # the whole --timeout


async def test_a_busy_event_loop_does_not_stretch_the_learnt_wait():
    """The loop stalls for 0.3 s while each connect is answered: a SYN-ACK's round trip is the kernel's own
    measurement, so the wait learnt stays at the floor instead of growing with the stall."""
    timer = ConnectTimer(3.0)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        loop = asyncio.get_running_loop()
        for _ in range(WARMUP):
            attempt = asyncio.create_task(
                open_tcp("127.0.0.1", server.getsockname()[1], timeout=3.0, source_address=None, timer=timer)
            )
            await asyncio.sleep(0)  # the connect is under way
            loop.call_soon(time.sleep, 0.3)  # the loop is busy when the answer comes in
            _, writer = await attempt
            writer.close()
    assert timer.samples == WARMUP
    assert timer.current() == FLOOR


def test_a_reset_seen_late_counts_without_the_loops_measured_lag():
    timer = ConnectTimer(3.0)
    timer.lag = 0.25
    timer.sample_seen(0.3)
    assert timer.srtt is not None and abs(timer.srtt - 0.05) < 1e-9
