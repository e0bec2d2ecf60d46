"""A SYN front end for sparse ranges: a stateless SYN scanner (zmap or masscan) finds the open ports, and each one
it reports goes to the judging engine at once.

A connect scan pays a socket, a kernel connection and a connect wait for every endpoint, answered or not; on a /16
where almost nothing answers that is almost all of the work. zmap and masscan send raw SYNs and keep no state, so
the dead part of a range costs a packet or two. Each endpoint gets two SYNs (zmap ``-P 2``, masscan
``--retries 1``): one lost SYN does not lose an endpoint. Only endpoints that answered are probed and get a row.

Used when asked (``--discover zmap|masscan``) or, for a large range of IPv4 addresses, when one of them is
installed and may send raw packets (root, or file capabilities on the tool); ``--discover off`` keeps the plain
connect scan. The targets are the user's own list after ``--exclude``, so the tools' default blacklists (which
leave out private and loopback ranges) are replaced by an empty one.

Loopback targets (127.0.0.0/8, tests and benchmarks in a network namespace) need the raw frames looped back on
``lo``, addressed to lo's own MAC address (the kernel takes a frame to any other one as not for this host) from
another one (the scanners ignore frames from their own), and the namespace must accept them: ``sysctl
net.ipv4.conf.lo.route_localnet=1 net.ipv4.conf.lo.accept_local=1``. masscan reads an all-zero router MAC as
"unknown" and waits for an ARP reply instead, so it needs lo to have a MAC address other than 00:00:00:00:00:00.

masscan 1.3.2 quirks handled here: its result lines reach a pipe at once only in its console format ("Discovered
open port 143/tcp on 192.0.2.7"), so that is what is read; on a quiet interface it never exits after its wait
(its capture thread waits for one more packet), so it is stopped once its own countdown is over; and its retry
sends ``--retries`` extra passes of ``--rate`` packets over the whole range, so on a range smaller than the rate
every endpoint would get hundreds of SYNs: the rate is capped at the number of endpoints (2-4 SYNs each).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import json
import math
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from scanner.errors import UsageError
from scanner.model import Endpoint
from scanner.targets.intervals import IntervalSet
from scanner.targets.parsing import PortSpec
from scanner.targets.planning import TargetPlan

TOOLS = ("zmap", "masscan")
AUTO_MIN_ENDPOINTS = 65_536  # below this the connect scan is quick enough on its own
DEFAULT_PACKET_RATE = 200_000  # SYNs per second over all ports, unless --rate says otherwise
PROBES = 2  # SYNs per endpoint
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_NO_MAC = "00:00:00:00:00:00"
_MADE_UP_MACS = ("02:00:00:00:00:01", "02:00:00:00:00:02")  # locally administered: never a real card's
_SIOCGIFHWADDR = 0x8927
_MASSCAN_COUNTDOWN = re.compile(r"waiting (-?\d+)-secs")
_MASSCAN_OPEN = re.compile(r"Discovered open port (\d+)/tcp on (\S+)")
_SAID_LINES = 20  # stderr lines kept to explain a failure


class DiscoveryError(Exception):
    """The SYN scanner could not run or failed; ``str()`` is one readable line."""


def raw_sockets_allowed(path: str) -> bool:
    """Whether ``path`` may send raw packets: this process may (root, CAP_NET_RAW), or the tool has file
    capabilities of its own."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
        return True
    except (PermissionError, AttributeError, OSError):
        pass
    try:
        return bool(os.getxattr(path, "security.capability"))
    except OSError:
        return False


def unusable(tool: str) -> str | None:
    """Why ``tool`` cannot be used here, or None when it can."""
    path = shutil.which(tool)
    if path is None:
        return f"{tool} is not installed"
    if not raw_sockets_allowed(path):
        return f"{tool} may not send raw packets here (run as root, or give it CAP_NET_RAW)"
    return None


def ineligible(plan: TargetPlan) -> str | None:
    """Why this plan cannot be fed by a SYN scanner, or None."""
    if plan.names or plan.domains:
        return "names and domains are resolved by mailprobe itself"
    if plan.shard.count > 1:
        return "--shard splits endpoints, not addresses"
    if plan.done:
        return "--resume skips single endpoints"
    if any(start >= 1 << 32 for intervals in plan.literals.values() for start in intervals.starts):
        return "zmap and masscan scan IPv4 only"
    return None


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
        gateway = interface_mac("lo") or _NO_MAC
        return cls(gateway, next(mac for mac in _MADE_UP_MACS if mac != gateway))


def unreachable_loopback(tool: str, plan: TargetPlan) -> str | None:
    """Why ``tool`` cannot scan this plan's loopback targets here, or None."""
    if tool != "masscan" or not plan_loopback(plan) or LoopbackFrames.of_lo().gateway != _NO_MAC:
        return None
    return (
        "masscan cannot scan loopback addresses while lo's MAC address is 00:00:00:00:00:00 (it takes an all-zero "
        "router MAC for unknown and waits for an ARP reply); in a network namespace of your own, give lo one "
        "(ip link set dev lo address 02:00:00:00:00:02), or use --discover zmap"
    )


@dataclass
class _Batch:
    """One run of the tool: some ports over one set of addresses."""

    specs: list[PortSpec]
    intervals: IntervalSet

    @property
    def endpoints(self) -> int:
        return self.intervals.size * len(self.specs)


@dataclass
class _Run:
    """A running tool, its last stderr lines, and whether mailprobe ended it."""

    proc: asyncio.subprocess.Process
    said: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=_SAID_LINES))
    stopped: bool = False  # ended by mailprobe: its work was done
    overran: bool = False  # ended by mailprobe: it ran far past its time

    def stop(self, overran: bool = False) -> None:
        if self.proc.returncode is not None or self.stopped:
            return
        self.stopped, self.overran = True, overran
        with contextlib.suppress(ProcessLookupError):
            if overran:
                self.proc.kill()
            else:
                self.proc.terminate()


@dataclass
class Discovery:
    """One SYN scan over a plan's literal targets. ``endpoints()`` yields each open endpoint once, as it is
    found; ``found`` and ``finished`` tell how far it got."""

    tool: str
    plan: TargetPlan
    wait: float  # seconds to listen for late answers after the last SYN (the connect timeout)
    packet_rate: float = DEFAULT_PACKET_RATE
    source_address: str | None = None
    found: int = 0
    finished: bool = False
    dropped: int = 0  # packets the tool's capture reported dropped (zmap), so open ports may be missing
    _seen: set[tuple[str, PortSpec]] = field(default_factory=set)

    @property
    def asked(self) -> int:
        return self.plan.literal_total

    def total(self) -> int | None:
        """Endpoints to probe: known once the SYN scan is over."""
        return self.found if self.finished else None

    def summary(self) -> str:
        """The closing line about the SYN scan."""
        line = (
            f"mailprobe: {self.tool} found {self.found:,} open of {self.asked:,} endpoints "
            f"({self.asked - self.found:,} did not answer its SYNs and have no row)"
        )
        if self.dropped:
            line += (
                f"; its packet capture dropped {self.dropped:,} packets, so open ports may be missing "
                "(a lower --rate helps)"
            )
        return line

    def batches(self) -> list[_Batch]:
        """zmap 2 scans one port per run; masscan takes every port that shares the same addresses in one run
        (one capture instead of one per port)."""
        if self.tool == "zmap":
            return [_Batch([spec], intervals) for spec, intervals in self.plan.literals.items()]
        batches: dict[tuple[tuple[int, ...], tuple[int, ...]], _Batch] = {}
        for spec, intervals in self.plan.literals.items():
            key = (tuple(intervals.starts), tuple(intervals.ends))
            batches.setdefault(key, _Batch([], intervals)).specs.append(spec)
        return list(batches.values())

    async def endpoints(self) -> AsyncIterator[Endpoint]:
        batches = self.batches()
        if not batches:
            self.finished = True
            return
        import tempfile  # only when a SYN scanner runs: every scan imports this module to choose

        queue: asyncio.Queue[Endpoint | BaseException | None] = asyncio.Queue()
        everything = sum(batch.endpoints for batch in batches)
        with tempfile.TemporaryDirectory(prefix="mailprobe-discover-") as directory:
            runs = [
                asyncio.create_task(self._run(batch, self.batch_rate(batch, everything), directory, str(i), queue))
                for i, batch in enumerate(batches)
            ]
            try:
                running = len(runs)
                while running:
                    item = await queue.get()
                    if item is None:
                        running -= 1
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield item
            finally:
                for run in runs:
                    run.cancel()
                await asyncio.wait(runs)
        self.finished = True

    async def _run(
        self,
        batch: _Batch,
        rate: float,
        directory: str,
        name: str,
        queue: asyncio.Queue[Endpoint | BaseException | None],
    ) -> None:
        ports = ",".join(str(spec.port) for spec in batch.specs)
        by_port: dict[int, list[PortSpec]] = collections.defaultdict(list)
        for spec in batch.specs:
            by_port[spec.port].append(spec)
        target_file = os.path.join(directory, f"{name}.targets")
        metadata_file = os.path.join(directory, f"{name}.json")
        try:
            with open(target_file, "w") as out:
                out.writelines(f"{net}\n" for net in networks(batch.intervals))
            command = self.command(ports, target_file, rate, loopback=all_loopback(batch.intervals))
            if self.tool == "zmap":
                command += ["-m", metadata_file]
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=directory,  # masscan leaves paused.conf behind when interrupted
            )
        except (OSError, ValueError) as exc:
            await queue.put(DiscoveryError(f"{self.tool} could not start: {exc}"))
            return
        run = _Run(proc)
        watch = asyncio.create_task(self._watch(run))
        limit = asyncio.get_running_loop().call_later(self.time_limit(batch.endpoints, rate), run.stop, True)
        try:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                hit = parse_line(self.tool, raw.decode(errors="replace"))
                if hit is None:
                    continue
                address, port = hit
                for spec in by_port.get(batch.specs[0].port if port is None else port, ()):
                    if (address, spec) in self._seen:
                        continue  # zmap's repeats are filtered out already; masscan may say it twice
                    self._seen.add((address, spec))
                    self.found += 1
                    await queue.put(Endpoint(address, address, spec.port, spec.protocol, spec.transport))
            code = await proc.wait()
            await watch
            if run.overran:
                await queue.put(
                    DiscoveryError(f"{self.tool} was still running long after its last SYN was due; stopped it")
                )
                return
            if code != 0 and not run.stopped:
                await queue.put(DiscoveryError(f"{self.tool} failed on port {ports}: {explain(run.said, code)}"))
                return
            self.dropped += capture_drops(metadata_file)
        finally:
            limit.cancel()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            watch.cancel()
        await queue.put(None)

    async def _watch(self, run: _Run) -> None:
        """Keep the tool's last stderr lines; stop masscan once its own countdown after the last SYN is over
        (it may never exit on its own, see the module docstring)."""
        assert run.proc.stderr is not None
        pending = b""
        counting = False  # its countdown has started (it also says "waiting 0-secs" once before it does)
        while chunk := await run.proc.stderr.read(4096):
            *lines, pending = re.split(rb"[\r\n]", pending + chunk)
            for raw in lines:
                line = raw.decode(errors="replace").strip()
                countdown = _MASSCAN_COUNTDOWN.search(line) if self.tool == "masscan" else None
                if countdown is None:
                    if line:
                        run.said.append(line)
                    continue
                left = int(countdown.group(1))
                counting = counting or left > 0
                if left < 0 or (left == 0 and counting):  # at 0 it has stopped reading replies
                    run.stop()

    def batch_rate(self, batch: _Batch, everything: int) -> float:
        """SYNs per second for one run: its share of the rate; for masscan at most one per endpoint, since its
        retry pass is --rate packets long whatever the range."""
        rate = max(1.0, self.packet_rate * batch.endpoints / everything)
        return min(rate, batch.endpoints) if self.tool == "masscan" else rate

    def time_limit(self, endpoints: int, rate: float) -> float:
        """Seconds after which the tool is taken to hang: twice its sending time plus its wait, and a minute."""
        packets = PROBES * (endpoints + rate) if self.tool == "masscan" else PROBES * endpoints
        return 2 * (packets / max(1.0, rate) + self.cooldown) + 60

    @property
    def cooldown(self) -> int:
        return max(1, math.ceil(self.wait))

    def command(self, ports: str, target_file: str, rate: float, *, loopback: bool) -> list[str]:
        frames = LoopbackFrames.of_lo() if loopback else None
        source = self.source_address or ("127.0.0.1" if loopback else None)
        if self.tool == "zmap":
            command = [
                "zmap",
                "-p",
                ports,
                "-P",
                str(PROBES),
                "-r",
                str(int(rate)),
                "-c",
                str(self.cooldown),
                "-b",
                os.devnull,
                "-w",
                target_file,
                "-q",
                "-O",
                "csv",
                "-f",
                "saddr",
                "--output-filter",
                "success = 1 && repeat = 0",
                "-o",
                "-",
            ]
            if frames:
                command += ["-i", "lo", "--gateway-mac", frames.gateway, "--source-mac", frames.source]
            return command + (["--source-ip", source] if source else [])
        command = [
            "masscan",
            "-p",
            ports,
            "--retries",
            str(PROBES - 1),
            "--rate",
            str(int(rate)),
            "--wait",
            str(self.cooldown),
            "-iL",
            target_file,
        ]  # no -o: results come as console lines, which masscan writes out one by one
        if frames:
            command += [
                "-e",
                "lo",
                "--router-mac",
                frames.gateway.replace(":", "-"),
                "--adapter-mac",
                frames.source.replace(":", "-"),
            ]
        return command + (["--adapter-ip", source] if source else [])


def parse_line(tool: str, line: str) -> tuple[str, int | None] | None:
    """(address, port or None when the line does not say) of an open port in one output line: zmap csv
    ``saddr``; masscan's console ``Discovered open port 143/tcp on ADDR`` or list ``open tcp 143 ADDR TIME``.
    None for anything else (headers, comments, closed ports, garbage)."""
    words = line.split()
    candidate: str | None
    port: int | None
    if tool == "zmap":
        candidate, port = (words[0], None) if len(words) == 1 else (None, None)
    elif console := _MASSCAN_OPEN.search(line):
        candidate, port = console.group(2), int(console.group(1))
    elif len(words) >= 4 and words[:2] == ["open", "tcp"] and words[2].isdigit():
        candidate, port = words[3], int(words[2])
    else:
        return None
    if candidate is None:
        return None
    try:
        return str(ipaddress.IPv4Address(candidate)), port
    except ValueError:
        return None


def explain(said: Iterable[str], code: int) -> str:
    """One line for a failed run: the tool's own error line if it gave one, else its last line."""
    lines = list(said)
    for line in reversed(lines):
        if any(mark in line for mark in ("FAIL", "FATAL", "ERROR", "error")):
            return line
    return lines[-1] if lines else f"exit status {code}"


def capture_drops(metadata_file: str) -> int:
    """Packets zmap's capture dropped (its metadata file), 0 when unknown."""
    try:
        with open(metadata_file) as source:
            meta = json.load(source)
        return int(meta.get("pcap_drop") or 0) + int(meta.get("pcap_ifdrop") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def networks(intervals: IntervalSet) -> Iterable[ipaddress.IPv4Network]:
    for start, end in zip(intervals.starts, intervals.ends, strict=True):
        yield from ipaddress.summarize_address_range(ipaddress.IPv4Address(start), ipaddress.IPv4Address(end))


def all_loopback(intervals: IntervalSet) -> bool:
    low, high = int(_LOOPBACK.network_address), int(_LOOPBACK.broadcast_address)
    return all(low <= start and end <= high for start, end in zip(intervals.starts, intervals.ends, strict=True))


def plan_loopback(plan: TargetPlan) -> bool:
    return bool(plan.literals) and all(all_loopback(intervals) for intervals in plan.literals.values())


def choose(requested: str | None, plan: TargetPlan) -> tuple[str | None, str | None]:
    """(the tool to use or None, a line to tell the user or None). ``requested``: a tool, "off", or None for the
    automatic choice. A tool asked for that cannot be used is a UsageError naming why."""
    if requested == "off":
        return None, None
    if requested in TOOLS:
        reason = ineligible(plan) or unusable(requested) or unreachable_loopback(requested, plan)
        if reason:
            raise UsageError(f"--discover {requested}: {reason}")
        return requested, None
    if plan.literal_total < AUTO_MIN_ENDPOINTS or ineligible(plan):
        return None, None
    for tool in TOOLS:
        if unusable(tool) is None and unreachable_loopback(tool, plan) is None:
            return tool, (
                f"mailprobe: {plan.literal_total:,} endpoints: {tool} finds the open ports first (two SYNs "
                "each); only those are probed and get a row (--discover off connects to every endpoint)"
            )
    return None, None
