"""The two SYN scanners mailprobe can put in front of a scan, one class each: how a run is split into batches, the
command line, the rate and time limit, how an output line names an open port, and each tool's quirks.
``scanner.targets.discover`` runs them; see its docstring for why and when."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from scanner.targets.intervals import IntervalSet
from scanner.targets.parsing import PortSpec
from scanner.targets.planning import TargetPlan

PROBES = 2  # SYNs per endpoint
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
NO_MAC = "00:00:00:00:00:00"
_MADE_UP_MACS = ("02:00:00:00:00:01", "02:00:00:00:00:02")  # locally administered: never a real card's
_SIOCGIFHWADDR = 0x8927
_MASSCAN_COUNTDOWN = re.compile(r"waiting (-?\d+)-secs")
_MASSCAN_OPEN = re.compile(r"Discovered open port (\d+)/tcp on (\S+)")


def interface_mac(name: str) -> str | None:
    """The hardware address of interface ``name`` in this network namespace (aa:bb:cc:dd:ee:ff), None if unknown.
    Asked of the kernel, not /sys, which may belong to another namespace."""
    import fcntl
    import struct

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            answer = fcntl.ioctl(sock.fileno(), _SIOCGIFHWADDR, struct.pack("256s", name.encode()))
    except OSError:
        return None
    return answer[18:24].hex(":")  # struct ifreq: 16 bytes of name, then sa_family, then the address


@dataclass(frozen=True)
class LoopbackFrames:
    """Ethernet addresses for raw frames looped back on lo."""

    gateway: str  # lo's own: the kernel takes a frame to any other address as not for this host
    source: str  # another one: the scanners drop frames that come from their own address

    @classmethod
    def of_lo(cls) -> LoopbackFrames:
        gateway = interface_mac("lo") or NO_MAC
        return cls(gateway, next(mac for mac in _MADE_UP_MACS if mac != gateway))


@dataclass
class Batch:
    """One run of the tool: some ports over one set of addresses."""

    specs: list[PortSpec]
    intervals: IntervalSet

    @property
    def endpoints(self) -> int:
        return self.intervals.size * len(self.specs)


@dataclass
class Countdown:
    """What a tool's stderr said so far about its wait after the last SYN."""

    started: bool = False


class SynTool:
    """What differs between the SYN scanners; one instance per tool in ``TOOLS``."""

    name: ClassVar[str]

    def batches(self, plan: TargetPlan) -> list[Batch]:
        raise NotImplementedError

    def command(
        self,
        ports: str,
        target_file: str,
        rate: float,
        cooldown: int,
        source: str | None,
        frames: LoopbackFrames | None,
    ) -> list[str]:
        raise NotImplementedError

    def parse_line(self, line: str) -> tuple[str, int | None] | None:
        """(address, port or None when the line does not say) of an open port in one output line; None for
        anything else (headers, comments, closed ports, garbage)."""
        raise NotImplementedError

    def batch_rate(self, batch: Batch, everything: int, packet_rate: float) -> float:
        """SYNs per second for one run: its share of the rate."""
        return max(1.0, packet_rate * batch.endpoints / everything)

    def packets(self, endpoints: int, rate: float) -> float:
        """SYNs one run sends."""
        return PROBES * endpoints

    def time_limit(self, endpoints: int, rate: float, cooldown: int) -> float:
        """Seconds after which the tool is taken to hang: twice its sending time plus its wait, and a minute."""
        return 2 * (self.packets(endpoints, rate) / max(1.0, rate) + cooldown) + 60

    def stop_after(self, line: str, countdown: Countdown) -> bool | None:
        """For a stderr line: None when it is not about the wait after the last SYN, else whether the tool has
        finished listening and may be stopped."""
        return None

    def metadata_args(self, metadata_file: str) -> list[str]:
        return []

    def capture_drops(self, metadata_file: str) -> int:
        """Packets the tool's capture dropped, 0 when unknown."""
        return 0

    def unreachable(self, plan: TargetPlan) -> str | None:
        """Why this tool cannot scan the plan's targets from here, or None."""
        return None


class Zmap(SynTool):
    """zmap 2: one port per run, results as CSV ``saddr`` lines, capture drops in its metadata file."""

    name = "zmap"

    def batches(self, plan: TargetPlan) -> list[Batch]:
        return [Batch([spec], intervals) for spec, intervals in plan.literals.items()]

    def command(
        self,
        ports: str,
        target_file: str,
        rate: float,
        cooldown: int,
        source: str | None,
        frames: LoopbackFrames | None,
    ) -> list[str]:
        command = ["zmap", "-p", ports, "-P", str(PROBES), "-r", str(int(rate)), "-c", str(cooldown)]
        command += ["-b", os.devnull, "-w", target_file, "-q", "-O", "csv", "-f", "saddr"]
        command += ["--output-filter", "success = 1 && repeat = 0", "-o", "-"]
        if frames:
            command += ["-i", "lo", "--gateway-mac", frames.gateway, "--source-mac", frames.source]
        return command + (["--source-ip", source] if source else [])

    def parse_line(self, line: str) -> tuple[str, int | None] | None:
        words = line.split()
        return _address(words[0], None) if len(words) == 1 else None

    def metadata_args(self, metadata_file: str) -> list[str]:
        return ["-m", metadata_file]

    def capture_drops(self, metadata_file: str) -> int:
        try:
            with open(metadata_file) as source:
                meta = json.load(source)
            return int(meta.get("pcap_drop") or 0) + int(meta.get("pcap_ifdrop") or 0)
        except (OSError, ValueError, TypeError, AttributeError):
            return 0


class Masscan(SynTool):
    """masscan 1.3.2: every port sharing the same addresses in one run (one capture instead of one per port);
    console lines read as they come; stopped after its countdown; its rate capped so a retry pass cannot flood a
    small range; it needs lo to have a MAC address for loopback targets."""

    name = "masscan"

    def batches(self, plan: TargetPlan) -> list[Batch]:
        batches: dict[tuple[tuple[int, ...], tuple[int, ...]], Batch] = {}
        for spec, intervals in plan.literals.items():
            key = (tuple(intervals.starts), tuple(intervals.ends))
            batches.setdefault(key, Batch([], intervals)).specs.append(spec)
        return list(batches.values())

    def command(
        self,
        ports: str,
        target_file: str,
        rate: float,
        cooldown: int,
        source: str | None,
        frames: LoopbackFrames | None,
    ) -> list[str]:
        command = ["masscan", "-p", ports, "--retries", str(PROBES - 1), "--rate", str(int(rate))]
        command += ["--wait", str(cooldown), "-iL", target_file]  # no -o: console lines come out one by one
        if frames:
            router, adapter = frames.gateway.replace(":", "-"), frames.source.replace(":", "-")
            command += ["-e", "lo", "--router-mac", router, "--adapter-mac", adapter]
        return command + (["--adapter-ip", source] if source else [])

    def parse_line(self, line: str) -> tuple[str, int | None] | None:
        """The console ``Discovered open port 143/tcp on ADDR`` or the list format ``open tcp 143 ADDR TIME``."""
        if console := _MASSCAN_OPEN.search(line):
            return _address(console.group(2), int(console.group(1)))
        words = line.split()
        if len(words) >= 4 and words[:2] == ["open", "tcp"] and words[2].isdigit():
            return _address(words[3], int(words[2]))
        return None

    def batch_rate(self, batch: Batch, everything: int, packet_rate: float) -> float:
        """At most one SYN per endpoint and second, since its retry pass is --rate packets long whatever the
        range."""
        return min(super().batch_rate(batch, everything, packet_rate), batch.endpoints)

    def packets(self, endpoints: int, rate: float) -> float:
        return PROBES * (endpoints + rate)

    def stop_after(self, line: str, countdown: Countdown) -> bool | None:
        """On a quiet interface masscan never exits after its wait (its capture thread waits for one more packet):
        stop it once its own countdown is over. It also says "waiting 0-secs" once before counting starts."""
        match = _MASSCAN_COUNTDOWN.search(line)
        if match is None:
            return None
        left = int(match.group(1))
        countdown.started = countdown.started or left > 0
        return left < 0 or (left == 0 and countdown.started)  # at 0 it has stopped reading replies

    def unreachable(self, plan: TargetPlan) -> str | None:
        if not plan_loopback(plan) or LoopbackFrames.of_lo().gateway != NO_MAC:
            return None
        return (
            "masscan cannot scan loopback addresses while lo's MAC address is 00:00:00:00:00:00 (it takes an "
            "all-zero router MAC for unknown and waits for an ARP reply); in a network namespace of your own, give lo "
            "one (ip link set dev lo address 02:00:00:00:00:02), or use --discover zmap"
        )


TOOLS: dict[str, SynTool] = {tool.name: tool for tool in (Zmap(), Masscan())}  # in the automatic choice's order


def _address(candidate: str, port: int | None) -> tuple[str, int | None] | None:
    try:
        return str(ipaddress.IPv4Address(candidate)), port
    except ValueError:
        return None


def networks(intervals: IntervalSet) -> Iterable[ipaddress.IPv4Network]:
    for start, end in zip(intervals.starts, intervals.ends, strict=True):
        yield from ipaddress.summarize_address_range(ipaddress.IPv4Address(start), ipaddress.IPv4Address(end))


def all_loopback(intervals: IntervalSet) -> bool:
    low, high = int(_LOOPBACK.network_address), int(_LOOPBACK.broadcast_address)
    return all(low <= start and end <= high for start, end in zip(intervals.starts, intervals.ends, strict=True))


def plan_loopback(plan: TargetPlan) -> bool:
    return bool(plan.literals) and all(all_loopback(intervals) for intervals in plan.literals.values())
