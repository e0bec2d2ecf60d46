"""The SYN front end: reading zmap's and masscan's output, when it is chosen, and real zmap and masscan runs
inside network namespaces this test creates (they need root, iproute2 and the tools: skipped without them, except in
CI, where they must run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.errors import UsageError
from scanner.targets import discover, syn_tools
from scanner.targets.planning import build_plan
from scanner.targets.syn_tools import TOOLS
from tests.dovecot import require_installed

ROOT = Path(__file__).resolve().parents[2]


def test_output_lines_give_addresses_and_nothing_else():
    assert TOOLS["zmap"].parse_line("127.9.0.5\n") == ("127.9.0.5", None)
    assert TOOLS["zmap"].parse_line("saddr\n") is None  # the CSV header
    console = "Discovered open port 143/tcp on 127.9.0.5                                    \n"
    assert TOOLS["masscan"].parse_line(console) == ("127.9.0.5", 143)
    assert TOOLS["masscan"].parse_line("Discovered closed port 143/tcp on 127.9.0.5\n") is None
    assert TOOLS["masscan"].parse_line("open tcp 993 127.9.0.5 1700000000\n") == ("127.9.0.5", 993)  # -oL
    assert TOOLS["masscan"].parse_line("#masscan\n") is None
    assert TOOLS["masscan"].parse_line("open tcp 143 not-an-address 1\n") is None
    assert TOOLS["masscan"].parse_line("Discovered open port 143/tcp on 999.1.2.3\n") is None


def test_targets_are_handed_over_as_networks():
    plan = build_plan(["127.9.0.0/23", "127.9.2.7"], ports="143")
    (intervals,) = plan.literals.values()
    assert [str(n) for n in syn_tools.networks(intervals)] == ["127.9.0.0/23", "127.9.2.7/32"]
    assert syn_tools.all_loopback(intervals)


def test_every_endpoint_gets_two_syns_and_no_default_blacklist():
    plan = build_plan(["192.0.2.0/24"], ports="143")
    zmap = discover.Discovery("zmap", plan, wait=1.0).command("143", "/tmp/t", 1000, loopback=False)
    assert zmap[zmap.index("-P") + 1] == "2" and zmap[zmap.index("-b") + 1] == os.devnull
    masscan = discover.Discovery("masscan", plan, wait=1.0).command("143", "/tmp/t", 1000, loopback=False)
    assert masscan[masscan.index("--retries") + 1] == "1"
    assert "-oL" not in masscan  # its console lines are the ones it writes out one by one


def test_masscan_scans_ports_sharing_addresses_in_one_run_and_zmap_one_port_per_run():
    plan = build_plan(["192.0.2.0/24"], ports="110,143,993,995")
    (batch,) = TOOLS["masscan"].batches(plan)
    assert sorted(spec.port for spec in batch.specs) == [110, 143, 993, 995] and batch.endpoints == 1024
    assert len(TOOLS["zmap"].batches(plan)) == 4


def test_masscan_sends_at_most_one_syn_per_endpoint_and_second_so_its_retry_pass_cannot_flood_a_small_range():
    small = build_plan(["192.0.2.0/24"], ports="143")
    (batch,) = TOOLS["masscan"].batches(small)
    rate = discover.DEFAULT_PACKET_RATE
    assert TOOLS["masscan"].batch_rate(batch, 256, rate) == 256
    assert TOOLS["zmap"].batch_rate(batch, 256, rate) == rate
    two_ports = build_plan(["198.51.100.0/24", "203.0.113.0/24"], ports="143,993")
    zmap = TOOLS["zmap"]  # one zmap per port, each with half the rate
    assert [zmap.batch_rate(b, two_ports.literal_total, rate) for b in zmap.batches(two_ports)] == [100_000, 100_000]


def test_masscan_is_not_chosen_for_loopback_targets_while_lo_has_no_mac_address(monkeypatch):
    monkeypatch.setattr(discover, "unusable", lambda tool: None if tool == "masscan" else "zmap is not installed")
    monkeypatch.setattr(syn_tools, "interface_mac", lambda name: "00:00:00:00:00:00")
    loopback = build_plan(["127.200.0.0/16"], ports="143,993", yes=True)
    assert discover.choose(None, loopback) == (None, None)  # the connect scan, as without any SYN scanner
    with pytest.raises(UsageError, match="lo's MAC address is 00:00:00:00:00:00"):
        discover.choose("masscan", loopback)
    monkeypatch.setattr(syn_tools, "interface_mac", lambda name: "02:00:00:00:00:02")
    assert discover.choose(None, loopback)[0] == "masscan"
    frames = syn_tools.LoopbackFrames.of_lo()
    assert frames.gateway == "02:00:00:00:00:02" and frames.source != frames.gateway


def test_a_hung_tool_is_given_up_on_only_long_after_its_sending_time():
    for tool in TOOLS.values():
        assert tool.time_limit(65_536, 50_000, cooldown=1) > 2 * 65_536 / 50_000 + 1


def test_a_capture_that_dropped_packets_is_told(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"pcap_drop": 3, "pcap_ifdrop": 1, "pcap_recv": 100}))
    assert TOOLS["zmap"].capture_drops(str(meta)) == 4
    assert TOOLS["zmap"].capture_drops(str(tmp_path / "missing.json")) == 0
    found = discover.Discovery("zmap", build_plan(["192.0.2.0/24"], ports="143"), wait=1.0, dropped=4)
    assert "dropped 4 packets" in found.summary() and "--rate" in found.summary()
    assert "dropped" not in discover.Discovery("zmap", found.plan, wait=1.0).summary()


def test_a_failed_run_is_explained_by_the_tools_own_error_line():
    said = ["Starting masscan 1.3.2", "FAIL: failed to detect IP of interface", "[hint] try --adapter-ip"]
    assert discover.explain(said, 1) == "FAIL: failed to detect IP of interface"
    assert discover.explain([], 3) == "exit status 3"


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


# -- real zmap and masscan inside namespaces -------------------------------------------------------------------

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
LO_MAC = "02:00:00:00:00:02"  # locally administered; masscan needs lo to have some MAC address


def make_namespace(*, lo_mac: str | None) -> str:
    require_installed(os.geteuid() == 0, "the SYN front end tests need root (raw sockets, network namespaces)")
    require_installed(shutil.which("ip") is not None, "iproute2 is not installed (apt-get install iproute2)")
    name = f"mp-discover-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    inside = ["ip", "netns", "exec", name]
    if lo_mac:
        subprocess.run([*inside, "ip", "link", "set", "dev", "lo", "address", lo_mac], check=True)
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
    return name


@pytest.fixture(params=["zmap", "masscan"])
def tool_namespace(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    tool = request.param
    require_installed(shutil.which(tool) is not None, f"{tool} is not installed (apt-get install {tool})")
    # zmap in a namespace as it comes (lo's MAC all zero); masscan in one whose lo has a MAC address
    name = make_namespace(lo_mac=LO_MAC if tool == "masscan" else None)
    try:
        yield tool, name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def children_named(pid: int, name: str) -> list[int]:
    """Running children of ``pid`` whose command is ``name``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command, after = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if command == name and int(after[1]) == pid and after[0] != "Z":
            found.append(int(entry.name))
    return found


def scan_inside(namespace: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "scanner", "scan", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_syn_scanner_feeds_open_ports_to_the_probe_as_it_finds_them(tool_namespace):
    tool, namespace = tool_namespace
    servers = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", SERVERS, *LIVE],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert servers.stdout is not None and servers.stdout.readline().strip() == "ready"
        # --timeout 5: the SYN scanner listens 5 s for late answers after its last SYN, while the probe judges
        # what it has already found within a fraction of that
        scan = scan_inside(
            namespace, "127.9.0.0/23", "-p", "143", "--discover", tool, "--timeout", "5", "--no-ptr",
            "--format", "jsonl", "--fail-on", "none",
        )  # fmt: skip
        watchdog = threading.Timer(120, scan.kill)  # a hung scan fails the test instead of hanging it
        watchdog.start()
        try:
            assert scan.stdout is not None and scan.stderr is not None
            header = scan.stdout.readline()  # the scan line, written before the scan starts
            first = scan.stdout.readline()
            still_scanning = children_named(scan.pid, tool)
            rest = scan.stdout.read()
            errors = scan.stderr.read()  # a few lines: it cannot fill the pipe while stdout is being read
            scan.wait()
        finally:
            watchdog.cancel()
    finally:
        assert servers.stdin is not None
        servers.stdin.close()
        servers.wait(10)
    assert scan.returncode == 0, errors
    assert first, errors
    assert still_scanning, f"the first row came only after {tool} had ended: results were not streamed"
    assert json.loads(header)["record"] == "scan", header
    rows = [json.loads(line) for line in [first, *rest.splitlines()]]
    assert sorted(r["address"] for r in rows) == sorted(LIVE), errors  # found, and nothing else has a row
    assert all(r["state"] == "open" and r["plaintext_login"]["verdict"] == "refused" for r in rows)
    assert f"{tool} found 3 open of 512 endpoints" in errors
    assert not children_named(scan.pid, tool)


def test_masscan_on_a_loopback_without_mac_address_is_refused_in_one_line():
    require_installed(shutil.which("masscan") is not None, "masscan is not installed (apt-get install masscan)")
    namespace = make_namespace(lo_mac=None)
    try:
        scan = scan_inside(namespace, "127.9.0.0/24", "-p", "143", "--discover", "masscan", "--format", "jsonl")
        out, errors = scan.communicate(timeout=60)
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
    assert scan.returncode == 2 and out == ""
    assert errors.count("\n") == 1 and "lo's MAC address is 00:00:00:00:00:00" in errors
    assert "--discover zmap" in errors
