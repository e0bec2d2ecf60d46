"""The SYN front end: reading zmap's and masscan's output, when it is chosen, and a real zmap run inside a network
namespace this test creates (skipped where that is not possible: not root, no zmap, no `ip`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.engine import discover
from scanner.engine.planning import build_plan
from scanner.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def test_output_lines_give_addresses_and_nothing_else():
    assert discover.parse_line("zmap", "127.9.0.5\n", 143) == "127.9.0.5"
    assert discover.parse_line("zmap", "saddr\n", 143) is None  # the CSV header
    assert discover.parse_line("masscan", "open tcp 143 127.9.0.5 1700000000\n", 143) == "127.9.0.5"
    assert discover.parse_line("masscan", "open tcp 993 127.9.0.5 1700000000\n", 143) is None  # another port
    assert discover.parse_line("masscan", "#masscan\n", 143) is None
    assert discover.parse_line("masscan", "open tcp 143 not-an-address 1\n", 143) is None


def test_targets_are_handed_over_as_networks():
    plan = build_plan(["127.9.0.0/23", "127.9.2.7"], ports="143")
    (intervals,) = plan.literals.values()
    assert [str(n) for n in discover.networks(intervals)] == ["127.9.0.0/23", "127.9.2.7/32"]
    assert discover.all_loopback(intervals)


def test_every_endpoint_gets_two_syns_and_no_default_blacklist():
    plan = build_plan(["127.9.0.0/24"], ports="143")
    zmap = discover.Discovery("zmap", plan, wait=1.0).command(143, "/tmp/t", 1000, loopback=False)
    assert zmap[zmap.index("-P") + 1] == "2" and zmap[zmap.index("-b") + 1] == os.devnull
    masscan = discover.Discovery("masscan", plan, wait=1.0).command(143, "/tmp/t", 1000, loopback=False)
    assert masscan[masscan.index("--retries") + 1] == "1"


def test_the_automatic_choice_is_for_large_ipv4_ranges_only(monkeypatch):
    monkeypatch.setattr(discover, "unusable", lambda tool: None)  # as if zmap were installed and allowed
    small = build_plan(["127.200.0.0/24"], ports="143")
    assert discover.choose(None, small) == (None, None)
    large = build_plan(["127.200.0.0/16"], ports="143,993", yes=True)
    tool, note = discover.choose(None, large)
    assert tool == "zmap" and note and "131,072 endpoints" in note and "--discover off" in note
    assert discover.choose("off", large) == (None, None)
    named = build_plan(["127.200.0.0/16", "mail.example.com"], ports="143,993", yes=True)
    assert discover.choose(None, named) == (None, None)


def test_a_tool_asked_for_that_cannot_run_is_a_usage_error(monkeypatch):
    monkeypatch.setattr(discover.shutil, "which", lambda tool: None)
    with pytest.raises(UsageError, match="--discover masscan: masscan is not installed"):
        discover.choose("masscan", build_plan(["127.200.0.0/24"], ports="143"))
    with pytest.raises(UsageError, match="IPv4 only"):
        discover.choose("zmap", build_plan(["2001:db8::/120"], ports="143"))


# -- a real zmap inside a namespace ------------------------------------------------------------------------------

LIVE = ("127.9.0.5", "127.9.0.77", "127.9.1.200")
SERVERS = r"""
import asyncio, sys
from scanner.fakeserver import FakeServer, bundled_profile

async def main():
    for address in sys.argv[1:]:
        await FakeServer(bundled_profile("dovecot-imap-plaintext-refused"), host=address, port=143).start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@pytest.fixture()
def namespace() -> Iterator[str]:
    if os.geteuid() != 0 or not shutil.which("ip") or discover.unusable("zmap"):
        pytest.skip("needs root, iproute2 and zmap with raw sockets")
    name = f"mp-discover-{uuid.uuid4().hex[:8]}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        inside = ["ip", "netns", "exec", name]
        subprocess.run([*inside, "ip", "link", "set", "lo", "up"], check=True)
        subprocess.run(
            [
                *inside,
                "sysctl",
                "-qw",
                "net.ipv4.conf.lo.route_localnet=1",
                "net.ipv4.conf.all.route_localnet=1",
                "net.ipv4.conf.lo.accept_local=1",
            ],
            check=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_zmap_feeds_the_open_ports_to_the_probe(namespace):
    inside = ["ip", "netns", "exec", namespace]
    servers = subprocess.Popen(
        [*inside, sys.executable, "-c", SERVERS, *LIVE],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert servers.stdout is not None and servers.stdout.readline().strip() == "ready"
        done = subprocess.run(
            [
                *inside,
                sys.executable,
                "-m",
                "scanner",
                "scan",
                "127.9.0.0/23",
                "-p",
                "143",
                "--discover",
                "zmap",
                "--timeout",
                "1",
                "--no-ptr",
                "--format",
                "jsonl",
                "--fail-on",
                "none",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    finally:
        assert servers.stdin is not None
        servers.stdin.close()
        servers.wait(10)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(r["address"] for r in rows) == sorted(LIVE)  # found, and nothing else has a row
    assert all(r["state"] == "open" and r["plaintext_login"]["verdict"] == "refused" for r in rows)
    assert "zmap found 3 open of 512 endpoints" in done.stderr
