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

What differs between the two tools (batches, command lines, output lines, masscan's quirks) is in
``scanner.targets.syn_tools``, one class per tool.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from scanner.errors import UsageError
from scanner.model import Endpoint
from scanner.targets.parsing import PortSpec
from scanner.targets.planning import TargetPlan
from scanner.targets.syn_tools import TOOLS, Batch, Countdown, LoopbackFrames, SynTool, all_loopback, networks

AUTO_MIN_ENDPOINTS = 65_536  # below this the connect scan is quick enough on its own
DEFAULT_PACKET_RATE = 200_000  # SYNs per second over all ports, unless --rate says otherwise
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
    def syn(self) -> SynTool:
        return TOOLS[self.tool]

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

    @property
    def cooldown(self) -> int:
        return max(1, math.ceil(self.wait))

    def command(self, ports: str, target_file: str, rate: float, *, loopback: bool) -> list[str]:
        frames = LoopbackFrames.of_lo() if loopback else None
        source = self.source_address or ("127.0.0.1" if loopback else None)
        return self.syn.command(ports, target_file, rate, self.cooldown, source, frames)

    async def endpoints(self) -> AsyncIterator[Endpoint]:
        batches = self.syn.batches(self.plan)
        if not batches:
            self.finished = True
            return
        import tempfile  # only when a SYN scanner runs: every scan imports this module to choose

        queue: asyncio.Queue[Endpoint | BaseException | None] = asyncio.Queue()
        everything = sum(batch.endpoints for batch in batches)
        with tempfile.TemporaryDirectory(prefix="mailprobe-discover-") as directory:
            runs = [
                asyncio.create_task(
                    self._run(batch, self.syn.batch_rate(batch, everything, self.packet_rate), directory, str(i), queue)
                )
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
        batch: Batch,
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
            command += self.syn.metadata_args(metadata_file)
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
        limit = asyncio.get_running_loop().call_later(
            self.syn.time_limit(batch.endpoints, rate, self.cooldown), run.stop, True
        )
        try:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                hit = self.syn.parse_line(raw.decode(errors="replace"))
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
            self.dropped += self.syn.capture_drops(metadata_file)
        finally:
            limit.cancel()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            watch.cancel()
        await queue.put(None)

    async def _watch(self, run: _Run) -> None:
        """Keep the tool's last stderr lines; stop it once it says it has finished listening."""
        assert run.proc.stderr is not None
        pending = b""
        countdown = Countdown()
        while chunk := await run.proc.stderr.read(4096):
            *lines, pending = re.split(rb"[\r\n]", pending + chunk)
            for raw in lines:
                line = raw.decode(errors="replace").strip()
                done = self.syn.stop_after(line, countdown)
                if done is None:
                    if line:
                        run.said.append(line)
                elif done:
                    run.stop()


def explain(said: Iterable[str], code: int) -> str:
    """One line for a failed run: the tool's own error line if it gave one, else its last line."""
    lines = list(said)
    for line in reversed(lines):
        if any(mark in line for mark in ("FAIL", "FATAL", "ERROR", "error")):
            return line
    return lines[-1] if lines else f"exit status {code}"


def choose(requested: str | None, plan: TargetPlan) -> tuple[str | None, str | None]:
    """(the tool to use or None, a line to tell the user or None). ``requested``: a tool, "off", or None for the
    automatic choice. A tool asked for that cannot be used is a UsageError naming why."""
    if requested == "off":
        return None, None
    if requested in TOOLS:
        reason = ineligible(plan) or unusable(requested) or TOOLS[requested].unreachable(plan)
        if reason:
            raise UsageError(f"--discover {requested}: {reason}")
        return requested, None
    if plan.literal_total < AUTO_MIN_ENDPOINTS or ineligible(plan):
        return None, None
    for tool in TOOLS:
        if unusable(tool) is None and TOOLS[tool].unreachable(plan) is None:
            return tool, (
                f"mailprobe: {plan.literal_total:,} endpoints: {tool} finds the open ports first (two SYNs "
                "each); only those are probed and get a row (--discover off connects to every endpoint)"
            )
    return None, None
