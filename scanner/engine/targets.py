"""Targets: parse what the user typed into address intervals and names, then expand lazily into endpoints.

Literal addresses, CIDR blocks and ranges become sorted, merged integer intervals per port spec, so duplicates
vanish exactly and a /8 costs a few integers, not sixteen million objects. Names are resolved by DNS only when
the endpoint stream is consumed. Every token is checked while planning: a bad one raises UsageError naming it
before any packet is sent.

Port rules: a bare target gets the ``-p`` list (default 110,143,993,995). ``HOST:PORT`` is allowed for the four
standard ports, whose protocol and TLS mode are known (scanner.model.DEFAULT_PORTS). Any other port needs a scheme
(``imap://HOST:PORT``, ``imaps://``, ``pop3://``, ``pop3s://``) or a ``-p`` entry such as ``imaps:10993``.
"""

from __future__ import annotations

import argparse
import bisect
import ipaddress
import os
import re
import sys
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scanner.cli import positive_float, positive_int  # argparse glue; moves to the CLI with the targets split
from scanner.errors import UsageError
from scanner.model import DEFAULT_PORTS, Endpoint, EndpointResult, Protocol, Transport

GUARD_ADDRESSES = 1 << 16  # more addresses than a /16 needs --yes
_V6_BASE = 1 << 32  # IPv6 integers are shifted above the IPv4 space so one sorted list holds both families
_NAME_BASE = 1 << 160  # resume keys of names (DNS failures) live above every address

SCHEMES: dict[str, tuple[Protocol, Transport, int]] = {
    "imap": ("imap", "starttls", 143),
    "imaps": ("imap", "implicit", 993),
    "pop3": ("pop3", "starttls", 110),
    "pop3s": ("pop3", "implicit", 995),
}

_NUMERIC = re.compile(r"^[0-9./\-]+$")
_SHORT_RANGE = re.compile(r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.)(\d{1,3})-(\d{1,3})$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True, order=True)
class PortSpec:
    port: int
    protocol: Protocol
    transport: Transport


def standard_port(port: int, token: str) -> PortSpec:
    if port not in DEFAULT_PORTS:
        raise UsageError(
            f"{token}: port {port} is not a standard POP3/IMAP port; say what to speak there with "
            f"imap://, imaps://, pop3:// or pop3s:// (e.g. imaps://HOST:{port}), or -p imaps:{port}"
        )
    protocol, transport = DEFAULT_PORTS[port]
    return PortSpec(port, protocol, transport)


def _port_number(text: str, token: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port in {token!r}: {text!r} (1-65535)")
    return int(text)


def parse_ports(text: str) -> tuple[PortSpec, ...]:
    """``-p``: comma-separated standard ports (110,143,993,995) or SCHEME:PORT entries (imaps:10993)."""
    specs: list[PortSpec] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        scheme, sep, number = item.partition(":")
        if sep:
            if scheme.lower() not in SCHEMES:
                raise UsageError(f"-p {text}: unknown scheme {scheme!r} in {item!r} (imap, imaps, pop3, pop3s)")
            protocol, transport, _ = SCHEMES[scheme.lower()]
            spec = PortSpec(_port_number(number, item), protocol, transport)
        else:
            spec = standard_port(_port_number(item, item), f"-p {text}")
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise UsageError(f"-p {text!r}: no ports")
    return tuple(specs)


# -- address intervals ---------------------------------------------------------------------------------------------


def to_int(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    return int(address) if address.version == 4 else _V6_BASE + int(address)


def to_address(value: int) -> str:
    if value < _V6_BASE:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value - _V6_BASE))


def address_int(text: str) -> int | None:
    """The interval integer of an address string, or None when it is not an address."""
    try:
        return to_int(ipaddress.ip_address(text))
    except ValueError:
        return None


class IntervalSet:
    """Sorted, disjoint, inclusive integer intervals with prefix counts: membership and rank in O(log n)."""

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for start, end in sorted(intervals):
            if ends and start <= ends[-1] + 1:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        self.starts = starts
        self.ends = ends
        self._before: list[int] = []  # addresses in the intervals before index i
        total = 0
        for start, end in zip(starts, ends, strict=True):
            self._before.append(total)
            total += end - start + 1
        self.size = total

    def __contains__(self, value: int) -> bool:
        return self.rank(value) is not None

    def __bool__(self) -> bool:
        return bool(self.starts)

    def rank(self, value: int) -> int | None:
        """Position of value in the enumeration, or None when it is not in the set."""
        i = bisect.bisect_right(self.starts, value) - 1
        if i < 0 or value > self.ends[i]:
            return None
        return self._before[i] + value - self.starts[i]

    def minus(self, other: IntervalSet) -> IntervalSet:
        if not other:
            return self
        result: list[tuple[int, int]] = []
        for start, end in zip(self.starts, self.ends, strict=True):
            j = max(bisect.bisect_right(other.ends, start - 1), 0)  # first exclusion that may overlap
            cur = start
            while j < len(other.starts) and other.starts[j] <= end and cur <= end:
                if other.ends[j] >= cur:
                    if other.starts[j] > cur:
                        result.append((cur, other.starts[j] - 1))
                    cur = other.ends[j] + 1
                j += 1
            if cur <= end:
                result.append((cur, end))
        return IntervalSet(result)

    def values(self, start_rank: int = 0, step: int = 1) -> Iterator[int]:
        """Every value whose rank is congruent to start_rank modulo step, in order, lazily."""
        for first_rank, start, end in zip(self._before, self.starts, self.ends, strict=True):
            yield from range(start + (start_rank - first_rank) % step, end + 1, step)


# -- token parsing -------------------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """One token: address intervals or a name, with explicit port specs (None: use the -p list)."""

    token: str
    intervals: list[tuple[int, int]] = field(default_factory=list)
    name: str | None = None
    ports: tuple[PortSpec, ...] | None = None


def _address_form(text: str, token: str) -> list[tuple[int, int]] | None:
    """Intervals of an address, CIDR block or range; None when text is not written as one."""
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            if _NUMERIC.match(text) or ":" in text:
                raise UsageError(f"bad network {token!r}") from None
            return None
        return [(to_int(net.network_address), to_int(net.broadcast_address))]
    short = _SHORT_RANGE.match(text)
    if short:
        prefix, low, high = short.groups()
        try:
            first = ipaddress.IPv4Address(prefix + low)
            last = ipaddress.IPv4Address(prefix + high)
        except ValueError:
            raise UsageError(f"bad range {token!r}") from None
        return _range(first, last, token)
    if "-" in text and (_NUMERIC.match(text) or ":" in text):
        left, _, right = text.partition("-")
        try:
            first, last = ipaddress.ip_address(left), ipaddress.ip_address(right)
        except ValueError:
            raise UsageError(f"bad range {token!r}") from None
        if first.version != last.version:
            raise UsageError(f"bad range {token!r}: mixes IPv4 and IPv6")
        return _range(first, last, token)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if _NUMERIC.match(text) or ":" in text:
            raise UsageError(f"bad address {token!r}") from None
        return None
    value = to_int(address)
    return [(value, value)]


def _range(first: Any, last: Any, token: str) -> list[tuple[int, int]]:
    if int(last) < int(first):
        raise UsageError(f"range {token!r} expands to nothing: {last} comes before {first}")
    return [(to_int(first), to_int(last))]


def _valid_name(text: str) -> bool:
    name = text[:-1] if text.endswith(".") else text
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def _split_port(text: str, token: str) -> tuple[str, int | None]:
    """HOST, HOST:PORT, [V6], [V6]:PORT, bare IPv6 (no port)."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise UsageError(f"bad target {token!r}: missing ']'")
        host, rest = text[1:close], text[close + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise UsageError(f"bad target {token!r}")
        return host, _port_number(rest[1:], token)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port_number(port, token)
    return text, None


def parse_target(token: str) -> Parsed:
    """One target token. Raises UsageError naming it when it is malformed."""
    text = token.strip()
    if not text:
        raise UsageError("empty target")
    scheme_spec: tuple[Protocol, Transport, int] | None = None
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() not in SCHEMES:
            raise UsageError(f"bad target {token!r}: unknown scheme {scheme!r} (imap, imaps, pop3, pop3s)")
        scheme_spec = SCHEMES[scheme.lower()]
        text = text[:-1] if text.endswith("/") else text  # imap://host/
    host, port = _split_port(text, token)
    ports: tuple[PortSpec, ...] | None = None
    if scheme_spec is not None:
        protocol, transport, default = scheme_spec
        ports = (PortSpec(port or default, protocol, transport),)
    elif port is not None:
        ports = (standard_port(port, token),)
    if not host:
        raise UsageError(f"bad target {token!r}: no host")
    intervals = _address_form(host, token)
    if intervals is not None:
        return Parsed(token, intervals=intervals, ports=ports)
    if not _valid_name(host):
        raise UsageError(f"bad target {token!r}: not an address, network, range or host name")
    return Parsed(token, name=host.rstrip(".").lower(), ports=ports)


def _tokens_of_line(line: str) -> list[str]:
    text = line.split("#", 1)[0].strip()
    if not text:
        return []
    fields = text.split()
    # masscan -oL: "open tcp 143 192.0.2.7 1700000000"
    if len(fields) == 5 and fields[0] == "open" and fields[1] == "tcp" and fields[2].isdigit():
        address = fields[3]
        return [f"[{address}]:{fields[2]}" if ":" in address else f"{address}:{fields[2]}"]
    return [f.strip(",") for f in fields if f.strip(",")]


def read_list(path: str, *, flag: str = "-iL") -> Iterator[tuple[str, str]]:
    """(token, where) pairs of a target file: one or more targets a line, # comments; '-' is stdin."""
    if path == "-":
        lines: Iterable[str] = sys.stdin
        label = "<stdin>"
        for number, line in enumerate(lines, 1):
            for token in _tokens_of_line(line):
                yield token, f"{label}:{number}"
        return
    try:
        handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 (closed below, generator)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            for token in _tokens_of_line(line):
                yield token, f"{path}:{number}"


def _expand_sources(tokens: Iterable[str], lists: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    for token in tokens:
        if token == "-":
            yield from read_list("-")
        elif token.startswith("@") and len(token) > 1:
            yield from read_list(token[1:], flag=token[:1])
        else:
            yield token, None
    for path in lists:
        yield from read_list(path)


def _parse_located(token: str, where: str | None) -> Parsed:
    try:
        return parse_target(token)
    except UsageError as exc:
        if where is None:
            raise
        raise UsageError(f"{where}: {exc}") from None


# -- the plan ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            raise UsageError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 2/4")
        return cls(int(m.group(1)) - 1, int(m.group(2)))

    def count_of(self, size: int, offset: int = 0) -> int:
        """How many of the global ranks offset .. offset+size-1 fall to this shard."""
        def upto(n: int) -> int:  # ranks 0 .. n-1
            return (n - self.index + self.count - 1) // self.count if n > self.index else 0

        return upto(offset + size) - upto(offset)

    def takes_rank(self, rank: int) -> bool:
        return rank % self.count == self.index

    def takes_name(self, name: str) -> bool:
        return zlib.crc32(name.encode()) % self.count == self.index


ALL = Shard(0, 1)


@dataclass
class TargetPlan:
    """What to scan: literal intervals per port spec (exact count), names and domains (resolved lazily).

    ``endpoints`` is an async iterator of Endpoint; a name that DNS cannot resolve yields an EndpointResult
    (state "error", error "DNS: ...") in its place, which the runner passes through unprobed.
    """

    literals: dict[PortSpec, IntervalSet]
    names: dict[str, tuple[PortSpec, ...]]  # name -> port specs, in the order given
    excluded: IntervalSet
    excluded_names: frozenset[str] = frozenset()
    domains: tuple[str, ...] = ()
    default_ports: tuple[PortSpec, ...] = tuple(PortSpec(p, *pt) for p, pt in DEFAULT_PORTS.items())
    shard: Shard = ALL
    done: frozenset[int] | set[int] = frozenset()  # resume: packed (address int, port) keys already in the file
    resolver: Any = None  # scanner.engine.dns.Resolver, made on first use
    scan_kwargs: dict[str, Any] = field(default_factory=dict)
    resolved_endpoints: int = 0  # endpoints produced from names so far
    names_finished: bool = False

    def __post_init__(self) -> None:
        # ranks run on across port specs, so a shard split stays balanced however many specs there are
        self.offsets: dict[PortSpec, int] = {}
        running = 0
        for spec, intervals in self.literals.items():
            self.offsets[spec] = running
            running += intervals.size
        self.literal_total = self._literal_total()

    # counts -----------------------------------------------------------------------------------------------------

    def _literal_total(self) -> int:
        total = sum(self.shard.count_of(s.size, self.offsets[spec]) for spec, s in self.literals.items())
        for packed in self.done:
            value, port = packed >> 16, packed & 0xFFFF
            for spec, intervals in self.literals.items():
                if spec.port == port:
                    rank = intervals.rank(value)
                    if rank is not None and self.shard.takes_rank(rank + self.offsets[spec]):
                        total -= 1
        return total

    @property
    def literal_addresses(self) -> int:
        return max((s.size for s in self.literals.values()), default=0)

    @property
    def total(self) -> int | None:
        """Endpoints to scan: exact for literal targets; None until every name has been resolved."""
        if (self.names or self.domains) and not self.names_finished:
            return None
        return self.literal_total + self.resolved_endpoints

    def current_total(self) -> int | None:
        return self.total

    # expansion --------------------------------------------------------------------------------------------------

    def _is_done(self, value: int, port: int) -> bool:
        return bool(self.done) and (value << 16 | port) in self.done

    def literal_endpoints(self, skip: Callable[[int, int], bool] | None = None) -> Iterator[Endpoint]:
        """Port-major order: every address on the first port, then the next port; one host's ports are far
        apart in time, so per-host limits rarely hold the scan up."""
        for spec, intervals in self.literals.items():
            start = (self.shard.index - self.offsets[spec]) % self.shard.count
            for value in intervals.values(start, self.shard.count):
                if self._is_done(value, spec.port) or (skip is not None and skip(value, spec.port)):
                    continue
                address = to_address(value)
                yield Endpoint(address, address, spec.port, spec.protocol, spec.transport)

    @property
    def endpoints(self) -> AsyncIterator[Endpoint | EndpointResult]:
        """A fresh async iterator over every endpoint to scan (and DNS failure results)."""
        return self.iter_endpoints()

    async def iter_endpoints(self) -> AsyncIterator[Endpoint | EndpointResult]:
        named: set[int] = set()  # (address, port) keys produced from names, preferred for their SNI name
        if self.names or self.domains:
            async for item in self._named_endpoints():
                if isinstance(item, Endpoint):
                    value = address_int(item.address)
                    if value is not None:
                        named.add(value << 16 | item.port)
                self.resolved_endpoints += 1
                yield item
            self.names_finished = True
            # a literal endpoint already produced from a name is not scanned twice
            self.literal_total -= sum(
                1 for packed in named if self._literal_contains(packed >> 16, packed & 0xFFFF)
            )
        for endpoint in self.literal_endpoints(skip=(lambda v, p: (v << 16 | p) in named) if named else None):
            yield endpoint

    def _literal_contains(self, value: int, port: int) -> bool:
        for spec, intervals in self.literals.items():
            if spec.port == port:
                rank = intervals.rank(value)
                if rank is not None and self.shard.takes_rank(rank + self.offsets[spec]) and not self._is_done(
                    value, port
                ):
                    return True
        return False

    def _skip_failed_name(self, row: EndpointResult) -> bool:
        if not self.shard.takes_name(row.host) or row.host in self.excluded_names:
            return True
        return bool(self.done) and name_key(row.host, row.port) in self.done

    async def _named_endpoints(self) -> AsyncIterator[Endpoint | EndpointResult]:
        from scanner.engine.dns import expand_names

        if self.resolver is None:
            from scanner.engine.dns import Resolver

            self.resolver = Resolver()
        seen: set[tuple[str, int, str]] = set()
        async for item in expand_names(self.resolver, self.names, self.domains, self.default_ports):
            if isinstance(item, Endpoint):
                value = address_int(item.address)
                if item.name and (not self.shard.takes_name(item.name) or item.name in self.excluded_names):
                    continue
                if value is None or value in self.excluded or self._is_done(value, item.port):
                    continue
                identity = (item.address, item.port, item.protocol)
                if identity in seen:
                    continue
                seen.add(identity)
            elif self._skip_failed_name(item):
                continue
            yield item


def name_key(name: str, port: int) -> int:
    """Resume key of a DNS failure line (its address field holds the name), above every address key."""
    return (_NAME_BASE + zlib.crc32(name.encode())) << 16 | port


def build_plan(
    tokens: Iterable[str],
    *,
    ports: tuple[PortSpec, ...] | str = "110,143,993,995",
    lists: Iterable[str] = (),
    excludes: Iterable[str] = (),
    exclude_files: Iterable[str] = (),
    domains: Iterable[str] = (),
    yes: bool = False,
    shard: Shard | str | None = None,
    done: Iterable[tuple[str, int]] = (),
) -> TargetPlan:
    """Parse and check every target, exclusion and option; nothing is resolved or sent yet."""
    default_ports = parse_ports(ports) if isinstance(ports, str) else ports
    per_spec: dict[PortSpec, list[tuple[int, int]]] = {}
    names: dict[str, list[PortSpec]] = {}
    count = 0
    for token, where in _expand_sources(tokens, lists):
        parsed = _parse_located(token, where)
        count += 1
        specs = parsed.ports or default_ports
        if parsed.name is not None:
            bucket = names.setdefault(parsed.name, [])
            bucket.extend(s for s in specs if s not in bucket)
        else:
            for spec in specs:
                per_spec.setdefault(spec, []).extend(parsed.intervals)
    excluded_intervals: list[tuple[int, int]] = []
    excluded_names: set[str] = set()
    for token, where in _expand_sources(excludes, exclude_files):
        parsed = _parse_located(token, where or "--exclude")
        if parsed.ports is not None:
            raise UsageError(f"--exclude {token!r}: exclusions are addresses, networks, ranges or names, no ports")
        if parsed.name is not None:
            excluded_names.add(parsed.name)
        excluded_intervals.extend(parsed.intervals)
    domain_list = tuple(dict.fromkeys(d.strip().rstrip(".").lower() for d in domains if d.strip()))
    for domain in domain_list:
        if not _valid_name(domain) or _address_form(domain, domain) is not None:
            raise UsageError(f"--domain {domain!r}: not a domain name")
    if count == 0 and not domain_list:
        raise UsageError("no targets given (addresses, networks, ranges, names, @FILE, -iL FILE, - or --domain)")
    excluded = IntervalSet(excluded_intervals)
    literals = {spec: IntervalSet(iv).minus(excluded) for spec, iv in per_spec.items()}
    literals = {spec: s for spec, s in literals.items() if s}
    kept_names = {n: tuple(s) for n, s in names.items() if n not in excluded_names}
    if not literals and not kept_names and not domain_list:
        raise UsageError("the targets expand to nothing: every address given is excluded")
    chosen_shard = Shard.parse(shard) if isinstance(shard, str) else (shard or ALL)
    plan = TargetPlan(
        literals=literals,
        names=kept_names,
        excluded=excluded,
        excluded_names=frozenset(excluded_names),
        domains=domain_list,
        default_ports=default_ports,
        shard=chosen_shard,
        done=_pack_done(done),
    )
    addresses = plan.literal_addresses
    if addresses > GUARD_ADDRESSES and not yes:
        raise UsageError(
            f"the targets cover {addresses:,} addresses, more than a /16 ({GUARD_ADDRESSES:,}); "
            "add --yes if you mean it"
        )
    if not kept_names and not domain_list and not chosen_shard.count_of(sum(x.size for x in literals.values())):
        raise UsageError(f"shard {chosen_shard.index + 1}/{chosen_shard.count} of these targets is empty")
    return plan


def _pack_done(keys: Iterable[tuple[str, int]]) -> set[int]:
    packed: set[int] = set()
    for address, port in keys:
        value = address_int(address)
        packed.add(value << 16 | port if value is not None else name_key(address, port))
    return packed


# -- argparse glue -------------------------------------------------------------------------------------------------


def add_range_arguments(parser: argparse.ArgumentParser) -> None:
    """The target, DNS, engine and resume options of `mailprobe scan`."""
    group = parser.add_argument_group("targets")
    group.add_argument("-iL", "--input-list", dest="input_list", action="append", default=[], metavar="FILE",
                       help="read targets from FILE, one or more a line, # comments; - is stdin")
    group.add_argument("--exclude", action="append", default=[], metavar="TARGET",
                       help="never scan these addresses, networks, ranges or names (repeatable, comma-separated)")
    group.add_argument("--exclude-file", action="append", default=[], metavar="FILE",
                       help="never scan the targets listed in FILE")
    group.add_argument("--yes", action="store_true", help="allow target sets larger than a /16")
    group.add_argument("--shard", metavar="K/N", help="scan only part K of N of the targets (deterministic split)")
    group.add_argument("--domain", action="append", default=[], metavar="DOMAIN",
                       help="discover a domain's mail servers: SRV (RFC 6186), MX, imap./pop./mail. names")
    dns_group = parser.add_argument_group("DNS")
    dns_group.add_argument("--nameserver", metavar="HOST[:PORT]",
                           help="DNS server to ask instead of the system resolver")
    dns_group.add_argument("--no-ptr", action="store_true", help="do not look up reverse DNS names of open endpoints")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--concurrency", type=positive_int, metavar="N",
                        help="endpoints probed at once (default: sized to this machine's file-descriptor limit)")
    engine.add_argument("--per-host", type=positive_int, default=2, metavar="N",
                        help="endpoints of one address probed at once (default 2)")
    engine.add_argument("--rate", type=positive_float, metavar="N", help="start at most N endpoints per second")
    engine.add_argument("--workers", type=positive_int, metavar="N",
                        help="processes sharing the scan (default: one per CPU, at most 8, for address targets of "
                        "512+ endpoints per process; 1 for names, domains and the TUI)")
    engine.add_argument("--resume", metavar="FILE",
                        help="skip endpoints already in FILE (JSON Lines) and append the rest to it")


def _split_commas(values: Iterable[str]) -> list[str]:
    return [part for value in values for part in value.split(",") if part.strip()]


def plan_endpoints(args: argparse.Namespace) -> TargetPlan:
    """Everything `mailprobe scan` needs from its arguments: the plan (``plan.endpoints()``, ``plan.total``) and
    ``plan.scan_kwargs`` for scanner.engine.runner.Scan. With --resume and no -o, results go to the resume file
    (args.output is set to it). Raises UsageError before any packet is sent."""
    done: list[tuple[str, int]] = []
    resume = getattr(args, "resume", None)
    if resume:
        from scanner.engine.jsonl import read_keys

        if os.path.exists(resume):
            done = read_keys(resume)
        if not getattr(args, "output", None):
            args.output = resume
    plan = build_plan(
        args.targets,
        ports=getattr(args, "ports", None) or "110,143,993,995",
        lists=args.input_list,
        excludes=_split_commas(args.exclude),
        exclude_files=args.exclude_file,
        domains=_split_commas(args.domain),
        yes=args.yes,
        shard=args.shard,
        done=done,
    )
    from scanner.engine.runner import default_concurrency

    if plan.names or plan.domains or args.nameserver or not args.no_ptr:
        from scanner.engine.dns import Resolver, parse_nameserver  # dnspython: imported only when DNS is used

        nameserver = parse_nameserver(args.nameserver) if args.nameserver else None
        timeout = float(getattr(args, "timeout", 5.0) or 5.0)
        plan.resolver = Resolver(nameserver=nameserver, timeout=max(timeout, 2.0))
    plan.scan_kwargs = {
        "concurrency": args.concurrency or default_concurrency(),
        "per_host": args.per_host,
        "rate": args.rate,
        "total_source": plan.current_total,
        "reverse": None if args.no_ptr else plan.resolver.reverse_for_scan,
    }
    return plan
