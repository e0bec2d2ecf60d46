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
``lo`` with made-up MAC addresses, and the namespace must accept them: ``sysctl net.ipv4.conf.lo.route_localnet=1
net.ipv4.conf.lo.accept_local=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from scanner.engine.intervals import IntervalSet
from scanner.engine.planning import TargetPlan
from scanner.engine.target_parsing import PortSpec
from scanner.errors import UsageError
from scanner.model import Endpoint

TOOLS = ("zmap", "masscan")
AUTO_MIN_ENDPOINTS = 65_536  # below this the connect scan is quick enough on its own
DEFAULT_PACKET_RATE = 200_000  # SYNs per second over all ports, unless --rate says otherwise
PROBES = 2  # SYNs per endpoint
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_LOOP_SOURCE_MAC = "02:00:00:00:00:01"  # lo has the all-zero MAC; the scanners drop frames "from themselves"


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
    _seen: set[tuple[str, int]] = field(default_factory=set)

    @property
    def asked(self) -> int:
        return self.plan.literal_total

    def total(self) -> int | None:
        """Endpoints to probe: known once the SYN scan is over."""
        return self.found if self.finished else None

    async def endpoints(self) -> AsyncIterator[Endpoint]:
        specs = list(self.plan.literals.items())
        if not specs:
            self.finished = True
            return
        import tempfile  # only when a SYN scanner runs: every scan imports this module to choose

        queue: asyncio.Queue[Endpoint | BaseException | None] = asyncio.Queue()
        rate = max(1.0, self.packet_rate / len(specs))
        with tempfile.TemporaryDirectory(prefix="mailprobe-discover-") as directory:
            runs = [
                asyncio.create_task(self._run(spec, intervals, rate, os.path.join(directory, f"{i}.txt"), queue))
                for i, (spec, intervals) in enumerate(specs)
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
        spec: PortSpec,
        intervals: IntervalSet,
        rate: float,
        target_file: str,
        queue: asyncio.Queue[Endpoint | BaseException | None],
    ) -> None:
        try:
            with open(target_file, "w") as out:
                out.writelines(f"{net}\n" for net in networks(intervals))
            command = self.command(spec.port, target_file, rate, loopback=all_loopback(intervals))
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except (OSError, ValueError) as exc:
            await queue.put(DiscoveryError(f"{self.tool} could not start: {exc}"))
            return
        try:
            errors = asyncio.create_task(proc.stderr.read())  # type: ignore[union-attr]
            assert proc.stdout is not None
            async for line in proc.stdout:
                address = parse_line(self.tool, line.decode(errors="replace"), spec.port)
                if address is None or (address, spec.port) in self._seen:
                    continue
                self._seen.add((address, spec.port))
                self.found += 1
                await queue.put(Endpoint(address, address, spec.port, spec.protocol, spec.transport))
            code = await proc.wait()
            said = (await errors).decode(errors="replace").strip().splitlines()
            if code != 0:
                why = said[-1] if said else f"exit status {code}"
                await queue.put(DiscoveryError(f"{self.tool} failed on port {spec.port}: {why}"))
                return
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        await queue.put(None)

    def command(self, port: int, target_file: str, rate: float, *, loopback: bool) -> list[str]:
        cooldown = max(1, math.ceil(self.wait))
        if self.tool == "zmap":
            command = [
                "zmap",
                "-p",
                str(port),
                "-P",
                str(PROBES),
                "-r",
                str(int(rate)),
                "-c",
                str(cooldown),
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
            if loopback:
                command += ["-i", "lo", "--gateway-mac", "00:00:00:00:00:00", "--source-mac", _LOOP_SOURCE_MAC]
            source = self.source_address or ("127.0.0.1" if loopback else None)
            return command + (["--source-ip", source] if source else [])
        command = [
            "masscan",
            "-p",
            str(port),
            "--retries",
            str(PROBES - 1),
            "--rate",
            str(int(rate)),
            "--wait",
            str(cooldown),
            "-iL",
            target_file,
            "-oL",
            "-",
        ]
        if loopback:
            command += [
                "-e",
                "lo",
                "--router-mac",
                "00-00-00-00-00-00",
                "--adapter-mac",
                _LOOP_SOURCE_MAC.replace(":", "-"),
            ]
        source = self.source_address or ("127.0.0.1" if loopback else None)
        return command + (["--adapter-ip", source] if source else [])


def parse_line(tool: str, line: str, port: int) -> str | None:
    """The address of an open port in one output line (zmap csv ``saddr``; masscan -oL ``open tcp PORT ADDR
    TIME``), None for anything else (headers, comments, other ports)."""
    words = line.split(",")[0].split() if tool == "zmap" else line.split()
    if tool == "zmap":
        candidate = words[0] if len(words) == 1 else None
    elif len(words) >= 4 and words[0] == "open" and words[1] == "tcp" and words[2] == str(port):
        candidate = words[3]
    else:
        candidate = None
    if candidate is None:
        return None
    try:
        return str(ipaddress.IPv4Address(candidate))
    except ValueError:
        return None


def networks(intervals: IntervalSet) -> Iterable[ipaddress.IPv4Network]:
    for start, end in zip(intervals.starts, intervals.ends, strict=True):
        yield from ipaddress.summarize_address_range(ipaddress.IPv4Address(start), ipaddress.IPv4Address(end))


def all_loopback(intervals: IntervalSet) -> bool:
    low, high = int(_LOOPBACK.network_address), int(_LOOPBACK.broadcast_address)
    return all(low <= start and end <= high for start, end in zip(intervals.starts, intervals.ends, strict=True))


def choose(requested: str | None, plan: TargetPlan) -> tuple[str | None, str | None]:
    """(the tool to use or None, a line to tell the user or None). ``requested``: a tool, "off", or None for the
    automatic choice. A tool asked for that cannot be used is a UsageError naming why."""
    if requested == "off":
        return None, None
    if requested in TOOLS:
        reason = ineligible(plan) or unusable(requested)
        if reason:
            raise UsageError(f"--discover {requested}: {reason}")
        return requested, None
    if plan.literal_total < AUTO_MIN_ENDPOINTS or ineligible(plan):
        return None, None
    for tool in TOOLS:
        if unusable(tool) is None:
            return tool, (
                f"mailprobe: {plan.literal_total:,} endpoints: {tool} finds the open ports first (two SYNs "
                "each); only those are probed and get a row (--discover off connects to every endpoint)"
            )
    return None, None
