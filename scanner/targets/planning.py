"""The scan plan: parsed targets minus exclusions, split into shards, minus what a resumed file already holds, and
expanded lazily into endpoints (names are resolved by DNS only when the endpoint stream is consumed).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from scanner.errors import UsageError
from scanner.model import DEFAULT_PORTS, Endpoint, EndpointResult
from scanner.targets.intervals import IntervalSet, address_int, to_address
from scanner.targets.parsing import PortSpec, address_form, expand_sources, parse_located, parse_ports, valid_name

GUARD_ADDRESSES = 1 << 16  # more addresses than a /16 needs --yes
_NAME_BASE = 1 << 160  # resume keys of names (DNS failures) live above every address

# -- the plan ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based
    count: int

    @classmethod
    def parse(cls, text: str, environ: Mapping[str, str] | None = None) -> Shard:
        """``K/N`` (1-based), or ``auto``: a Kubernetes Indexed Job's pod, whose 0-based index the Job controller
        sets in JOB_COMPLETION_INDEX; the count (the Job's completions) comes from MAILPROBE_SHARD_COUNT."""
        if text.strip() == "auto":
            return cls.from_environment(os.environ if environ is None else environ)
        m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            raise UsageError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 2/4")
        return cls(int(m.group(1)) - 1, int(m.group(2)))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Shard:
        values = []
        for name in (INDEX_VARIABLE, COUNT_VARIABLE):
            raw = environ.get(name)
            if raw is None or not raw.strip().isdigit():
                state = "is not set" if raw is None else f"is {raw!r}, not a whole number"
                hint = (
                    "the Job controller sets it in the pods of an Indexed Job (completionMode: Indexed)"
                    if name == INDEX_VARIABLE
                    else "set it to the Job's completions"
                )
                raise UsageError(f"--shard auto: {name} {state} ({hint})")
            values.append(int(raw))
        index, count = values
        if not 0 <= index < count:
            raise UsageError(f"--shard auto: {INDEX_VARIABLE}={index} is not below {COUNT_VARIABLE}={count}")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"

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
INDEX_VARIABLE = "JOB_COMPLETION_INDEX"  # set by Kubernetes in each pod of an Indexed Job, 0-based
COUNT_VARIABLE = "MAILPROBE_SHARD_COUNT"


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
    # resume: rows owed for endpoints whose conversation began but never finished (never probed again); they come
    # first in the endpoint stream and count in the total
    interrupted: tuple[EndpointResult, ...] = ()
    resolver: Any = None  # scanner.targets.dns.Resolver, made on first use
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
        return self.literal_total + self.resolved_endpoints + len(self.interrupted)

    def current_total(self) -> int | None:
        return self.total

    # expansion --------------------------------------------------------------------------------------------------

    def _is_done(self, value: int, port: int) -> bool:
        return bool(self.done) and (value << 16 | port) in self.done

    def literal_endpoints(self, skip: Callable[[int, int], bool] | None = None) -> Iterator[Endpoint]:
        """Port-major order: every address on the first port, then the next port; one host's ports are far
        apart in time, so per-host limits rarely hold the scan up. Implicit-TLS ports go first: the first port of
        a server to reach its TLS checks makes the server's TLS enumeration, and there each hello costs a connect
        alone, not a greeting and a STARTTLS too."""
        for spec, intervals in sorted(self.literals.items(), key=lambda item: item[0].transport != "implicit"):
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
        for row in self.interrupted:
            yield row
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
            self.literal_total -= sum(1 for packed in named if self._literal_contains(packed >> 16, packed & 0xFFFF))
        for endpoint in self.literal_endpoints(skip=(lambda v, p: (v << 16 | p) in named) if named else None):
            yield endpoint

    def _literal_contains(self, value: int, port: int) -> bool:
        for spec, intervals in self.literals.items():
            if spec.port == port:
                rank = intervals.rank(value)
                if (
                    rank is not None
                    and self.shard.takes_rank(rank + self.offsets[spec])
                    and not self._is_done(value, port)
                ):
                    return True
        return False

    def _skip_failed_name(self, row: EndpointResult) -> bool:
        if not self.shard.takes_name(row.host) or row.host in self.excluded_names:
            return True
        return bool(self.done) and name_key(row.host, row.port) in self.done

    async def _named_endpoints(self) -> AsyncIterator[Endpoint | EndpointResult]:
        from scanner.targets.dns import expand_names

        if self.resolver is None:
            from scanner.targets.dns import Resolver

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
    interrupted: Iterable[EndpointResult] = (),
) -> TargetPlan:
    """Parse and check every target, exclusion and option; nothing is resolved or sent yet."""
    default_ports = parse_ports(ports) if isinstance(ports, str) else ports
    per_spec: dict[PortSpec, list[tuple[int, int]]] = {}
    names: dict[str, list[PortSpec]] = {}
    count = 0
    for token, where in expand_sources(tokens, lists):
        parsed = parse_located(token, where)
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
    for token, where in expand_sources(excludes, exclude_files):
        parsed = parse_located(token, where or "--exclude")
        if parsed.ports is not None:
            raise UsageError(f"--exclude {token!r}: exclusions are addresses, networks, ranges or names, no ports")
        if parsed.name is not None:
            excluded_names.add(parsed.name)
        excluded_intervals.extend(parsed.intervals)
    domain_list = tuple(dict.fromkeys(d.strip().rstrip(".").lower() for d in domains if d.strip()))
    for domain in domain_list:
        if not valid_name(domain) or address_form(domain, domain) is not None:
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
        interrupted=tuple(interrupted),
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
