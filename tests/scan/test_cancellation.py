"""Scans cancelled at random points leave no file descriptor open: every socket of every probe (first connection,
TLS connection, legacy-TLS tries, the connect still waiting on a silent port) is closed on every way out.

The servers run in a child process, so every descriptor counted here belongs to the scanning side.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.model import Endpoint
from scanner.probe.options import ProbeOptions
from scanner.scan.scheduler import Scan

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.4"

# Fake servers in a child process: an IMAP and a POP3 server with STARTTLS, an IMAP server over implicit TLS and a
# slow one (its login answer takes a while), so that a cancellation lands in every phase of a conversation.
SERVERS = r"""
import asyncio, json, sys, tempfile
from scanner.fakeserver import FakeServer, bundled_profile
from scanner.fakeserver.tls import context_for

async def main():
    ctx = context_for("self-signed", "mail.example.test", sys.argv[1], tempfile.mkdtemp())
    servers = [
        FakeServer(bundled_profile("dovecot-imap-plaintext-refused"), host=sys.argv[1], ssl_context=ctx),
        FakeServer(bundled_profile("dovecot-pop3-plaintext-refused"), host=sys.argv[1], ssl_context=ctx),
        FakeServer(bundled_profile("exchange-imaps"), host=sys.argv[1], ssl_context=ctx),
        FakeServer(bundled_profile("dovecot-imap-plaintext-allowed"), host=sys.argv[1], ssl_context=ctx,
                   login_delay=0.3),
    ]
    for server in servers:
        await server.start()
    print(json.dumps([[s.port, s.profile.protocol, s.profile.implicit_tls] for s in servers]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def servers() -> Iterator[list[Endpoint]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVERS, HOST], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        ports = json.loads(proc.stdout.readline())
        yield [
            Endpoint(HOST, HOST, port, protocol, "implicit" if implicit else "starttls")
            for port, protocol, implicit in ports
        ]
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(10)


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A listener whose single backlog slot is taken: the kernel drops every further SYN to it."""
    with socket.socket() as server, socket.socket() as filler:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        filler.connect(server.getsockname())
        yield server.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once this socket is gone: the kernel resets


def open_descriptors() -> set[str]:
    """Open descriptors, leaving out the one the listing itself used (gone once listed)."""
    return {fd for fd in os.listdir("/proc/self/fd") if os.path.lexists(f"/proc/self/fd/{fd}")}


def describe(fds: set[str]) -> list[str]:
    """What each descriptor is: a socket with its TCP endpoints, when it is one."""
    tcp = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                tcp[fields[9]] = f"{fields[1]} -> {fields[2]} state {fields[3]}"
    described = []
    for fd in sorted(fds):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        inode = target.removeprefix("socket:[").removesuffix("]")
        described.append(f"{fd}: {target} {tcp.get(inode, '')}".strip())
    return described


async def settled(baseline: set[str], deadline: float) -> set[str]:
    """The descriptors opened since ``baseline`` once closing transports have had their turn (polled)."""
    while (extra := open_descriptors() - baseline) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return extra


def endpoints(live: list[Endpoint], silent: int, closed: int) -> list[Endpoint]:
    extra = [
        Endpoint("127.0.0.1", "127.0.0.1", silent, "imap", "starttls"),
        Endpoint("127.0.0.1", "127.0.0.1", closed, "pop3", "implicit"),
    ]
    return [*live, *live, *extra]  # each live server twice: the second waits for its host's slot


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count descriptors")
def test_scans_cancelled_at_random_points_leave_no_descriptor_open(servers, silent_port):
    seed = int(os.environ.get("MAILPROBE_TEST_SEED") or random.randrange(1 << 30))  # a failure names its seed
    rng = random.Random(seed)
    options = ProbeOptions(
        connect_timeout=1.0,
        read_timeout=2.0,
        login_timeout=2.0,
        tls_timeout=2.0,
        endpoint_timeout=10.0,
        source_address="127.0.0.1",
    )
    targets = endpoints(servers, silent_port, closed_port())

    async def consume(scan: Scan, stop_after: int | None) -> int:
        seen = 0
        async for _ in scan.results():
            seen += 1
            if stop_after is not None and seen >= stop_after:
                break  # leaving the loop closes the stream (aclose)
        return seen

    async def one_round(how: str, delay: float, stop_after: int) -> set[str]:
        baseline = open_descriptors()
        scan = Scan(targets, options, concurrency=rng.choice([2, 4, 16]), per_host=1)
        if how == "cancel":
            task = asyncio.create_task(consume(scan, None))
            await asyncio.sleep(delay)
            task.cancel()
            await asyncio.wait([task])
        else:
            await consume(scan, stop_after)
        return await settled(baseline, time.monotonic() + 5.0)

    async def main() -> list[tuple[str, float, int, set[str]]]:
        leaks = []
        for _ in range(14):
            how = rng.choice(["cancel", "cancel", "break"])
            delay = rng.uniform(0.0, 0.8)
            stop_after = rng.randint(1, len(targets) - 1)
            extra = await one_round(how, delay, stop_after)
            if extra:
                leaks.append((how, round(delay, 3), stop_after, describe(extra)))
        return leaks

    gc.collect()  # garbage of earlier tests in this worker (their event loops, say) is theirs, not this scan's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)  # an unclosed socket found by the collector is a leak
        # asyncio.run closes its own loop; an unclosed loop here is one a test plugin left in the policy (older
        # pytest-asyncio does), dropped when asyncio.run replaces it: not a descriptor of the scan
        warnings.filterwarnings("ignore", "unclosed event loop", ResourceWarning)
        leaks = asyncio.run(main())
        gc.collect()
    assert leaks == [], f"descriptors left open (seed {seed})"
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == [], f"seed {seed}"


def test_a_finished_scan_leaves_no_descriptor_open(servers, silent_port):
    options = ProbeOptions(
        connect_timeout=0.5,
        read_timeout=2.0,
        login_timeout=2.0,
        tls_timeout=2.0,
        endpoint_timeout=10.0,
        source_address="127.0.0.1",
    )

    async def main() -> tuple[dict[str, int], set[str]]:
        baseline = open_descriptors()
        states: dict[str, int] = {}
        async for result in Scan(endpoints(servers, silent_port, closed_port()), options, concurrency=8).results():
            states[result.state] = states.get(result.state, 0) + 1
        return states, await settled(baseline, time.monotonic() + 5.0)

    states, extra = asyncio.run(main())
    assert states == {"open": 8, "filtered": 1, "closed": 1}
    assert extra == set()
