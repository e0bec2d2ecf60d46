"""DNS with dnspython's async resolver: names to addresses, addresses to PTR names, and --domain discovery.

Every failure is a value, never an exception that ends the scan: the target layer turns an unresolvable name into
a result row with state "error" and error "DNS: ...".
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver
import dns.reversename

from scanner.errors import UsageError
from scanner.model import Endpoint, EndpointResult, Protocol, Transport

# RFC 6186 services -> (protocol, transport)
SRV_SERVICES: dict[str, tuple[str, str]] = {
    "_imap._tcp": ("imap", "starttls"),
    "_imaps._tcp": ("imap", "implicit"),
    "_pop3._tcp": ("pop3", "starttls"),
    "_pop3s._tcp": ("pop3", "implicit"),
}
# the usual names tried under a domain -> which protocols of the -p list they get
USUAL_NAMES: dict[str, tuple[str, ...]] = {"imap": ("imap",), "pop": ("pop3",), "mail": ("imap", "pop3")}
_NAME_BATCH = 32  # names resolved at once


class DnsError(Exception):
    """One lookup failed; str() is the reason shown after 'DNS: '."""


class NoSuchName(DnsError):
    """NXDOMAIN."""


def parse_nameserver(text: str) -> tuple[str, int]:
    """--nameserver ADDRESS, ADDRESS:PORT or [V6]:PORT."""
    host, port = text.strip(), 53
    if host.startswith("["):
        inner, bracket, rest = host[1:].partition("]")
        if not bracket:
            raise UsageError(f"--nameserver {text!r}: missing ']'")
        host = inner
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise UsageError(f"--nameserver {text!r}: expected ADDRESS[:PORT]")
            port = int(rest[1:])
    elif host.count(":") == 1:
        host, _, number = host.partition(":")
        if not number.isdigit():
            raise UsageError(f"--nameserver {text!r}: bad port")
        port = int(number)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--nameserver {text!r}: give the server's address, not a name") from None
    if not 0 < port < 65536:
        raise UsageError(f"--nameserver {text!r}: bad port")
    return host, port


def _reason(exc: BaseException, qname: str, rdtype: str) -> str:
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return f"{qname}: no such name"
    if isinstance(exc, dns.resolver.NoAnswer):
        return f"{qname}: no {rdtype} record"
    if isinstance(exc, dns.resolver.LifetimeTimeout | dns.exception.Timeout):
        return f"{qname} {rdtype}: timed out"
    if isinstance(exc, dns.resolver.NoNameservers):
        return f"{qname} {rdtype}: no name server answered (SERVFAIL or refused)"
    return f"{qname} {rdtype}: {type(exc).__name__}: {exc}"


class Resolver:
    """A thin, failure-as-value layer over dns.asyncresolver.Resolver, created on first use."""

    def __init__(self, nameserver: tuple[str, int] | None = None, timeout: float = 5.0) -> None:
        self.nameserver = nameserver
        self.timeout = timeout
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._ptr_cache: dict[str, asyncio.Future[str | None]] = {}

    def _get(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            if self.nameserver is not None:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [self.nameserver[0]]
                resolver.port = self.nameserver[1]
            else:
                try:
                    resolver = dns.asyncresolver.Resolver()
                except dns.resolver.NoResolverConfiguration as exc:
                    raise DnsError(f"no system resolver configured ({exc}); use --nameserver") from None
            resolver.lifetime = self.timeout
            resolver.timeout = min(self.timeout, 2.0)
            self._resolver = resolver
        return self._resolver

    async def query(self, qname: str, rdtype: str) -> list[object]:
        """Records of one type; [] for an empty answer, NoSuchName for NXDOMAIN, DnsError for anything else."""
        try:
            answer = await self._get().resolve(qname, rdtype, search=False)
        except dns.resolver.NoAnswer:
            return []
        except dns.resolver.NXDOMAIN:
            raise NoSuchName(f"{qname}: no such name") from None
        except DnsError:
            raise
        except Exception as exc:  # dnspython raises several unrelated types; all mean "no answer here"
            raise DnsError(_reason(exc, qname, rdtype)) from None
        return list(answer)

    async def addresses(self, name: str) -> list[str]:
        """A and AAAA of a name, IPv4 first. DnsError when there are none (with the reason)."""
        if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: never asked of a server
            return ["127.0.0.1", "::1"]
        results = await asyncio.gather(self.query(name, "A"), self.query(name, "AAAA"), return_exceptions=True)
        found: list[str] = []
        errors: list[str] = []
        for result in results:
            if isinstance(result, DnsError):
                errors.append(str(result))
            elif isinstance(result, BaseException):
                raise result
            else:
                found.extend(str(record) for record in result)
        if found:
            return list(dict.fromkeys(found))
        raise DnsError(errors[0] if errors else f"{name}: no A or AAAA record")

    async def reverse(self, address: str) -> str | None:
        """The PTR name of an address, or None."""
        try:
            records = await self.query(dns.reversename.from_address(address).to_text(), "PTR")
        except (DnsError, ValueError):
            return None
        return str(records[0]).rstrip(".").lower() if records else None

    async def reverse_for_scan(self, address: str) -> str | None:
        """PTR for result rows, once per address. Loopback addresses are asked only of an explicit --nameserver
        (a system resolver has nothing to say about them)."""
        if self.nameserver is None and ipaddress.ip_address(address).is_loopback:
            return None
        future = self._ptr_cache.get(address)
        if future is None:
            future = asyncio.ensure_future(self.reverse(address))
            self._ptr_cache[address] = future
        return await asyncio.shield(future)

    async def optional(self, qname: str, rdtype: str) -> list[object]:
        """Like query, but a missing name is just no records."""
        try:
            return await self.query(qname, rdtype)
        except NoSuchName:
            return []

    async def srv(self, qname: str) -> list[tuple[str, int, int, int]]:
        """(target, port, priority, weight); a '.' target (service not offered, RFC 2782) is left out."""
        records = await self.optional(qname, "SRV")
        out = []
        for record in records:
            target = str(record.target).rstrip(".").lower()  # type: ignore[attr-defined]
            if target:
                out.append((target, int(record.port), int(record.priority), int(record.weight)))  # type: ignore[attr-defined]
        return sorted(out, key=lambda r: (r[2], -r[3], r[0]))

    async def mx(self, domain: str) -> list[str]:
        records = await self.optional(domain, "MX")
        hosts = sorted(records, key=lambda r: int(r.preference))  # type: ignore[attr-defined]
        return [str(r.exchange).rstrip(".").lower() for r in hosts if str(r.exchange).rstrip(".")]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Discovered:
    """A host found under a domain, the port specs to probe there, and where it came from."""

    host: str
    ports: tuple  # tuple[PortSpec, ...]
    source: str  # "SRV _imaps._tcp", "MX", "name"
    advertised: bool  # SRV and MX are published; guessed names are not (their failures are not reported)


async def discover_domain(resolver: Resolver, domain: str, default_ports: tuple) -> tuple[list[Discovered], list[str]]:
    """RFC 6186 SRV records, MX hosts and the usual names of a domain. Returns (found, lookup errors)."""
    from scanner.targets.parsing import PortSpec

    errors: list[str] = []
    found: list[Discovered] = []

    async def safe(coro: object) -> list:
        try:
            return await coro  # type: ignore[misc]
        except DnsError as exc:
            errors.append(str(exc))
            return []

    services = list(SRV_SERVICES)
    srv_answers = await asyncio.gather(*(safe(resolver.srv(f"{s}.{domain}")) for s in services))
    for service, answer in zip(services, srv_answers, strict=True):
        protocol, transport = SRV_SERVICES[service]
        for target, port, _, _ in answer:
            found.append(Discovered(target, (PortSpec(port, protocol, transport),), f"SRV {service}", True))  # type: ignore[arg-type]
    for host in await safe(resolver.mx(domain)):
        found.append(Discovered(host, default_ports, "MX", True))
    for prefix, protocols in USUAL_NAMES.items():
        specs = tuple(s for s in default_ports if s.protocol in protocols)
        if specs:
            found.append(Discovered(f"{prefix}.{domain}", specs, "name", False))
    return found, errors


def _error_rows(host: str, specs: Iterable, reason: str) -> Iterable[EndpointResult]:
    for spec in specs:
        yield _unresolved(host, spec.port, spec.protocol, spec.transport, f"DNS: {reason}")


def _unresolved(name: str, port: int, protocol: Protocol, transport: Transport, error: str) -> EndpointResult:
    """The row of a name that gave no address to connect to: the name stands in for the address."""
    return EndpointResult.without_conversation(Endpoint(name, name, port, protocol, transport, name), "error", error)


async def _resolve_all(resolver: Resolver, hosts: list[str]) -> dict[str, list[str] | DnsError]:
    out: dict[str, list[str] | DnsError] = {}
    for i in range(0, len(hosts), _NAME_BATCH):
        batch = hosts[i : i + _NAME_BATCH]
        results = await asyncio.gather(*(resolver.addresses(h) for h in batch), return_exceptions=True)
        for host, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, DnsError):
                result = DnsError(f"{host}: {type(result).__name__}: {result}")
            out[host] = result
    return out


async def expand_names(
    resolver: Resolver, names: dict[str, tuple], domains: Iterable[str], default_ports: tuple
) -> AsyncIterator[Endpoint | EndpointResult]:
    """Endpoints of named targets and discovered domains; unresolvable names become error results."""
    wanted: dict[str, list] = {}  # host -> port specs
    advertised: set[str] = set(names)
    for name, given in names.items():
        wanted.setdefault(name, []).extend(given)
    domain_hosts: dict[str, tuple[list[str], list[str]]] = {}  # domain -> (its hosts, lookup errors)
    srv_domains: dict[str, str] = {}  # host named by an SRV record -> the domain (both are names clients check)
    for domain in domains:
        try:
            found, errors = await discover_domain(resolver, domain, default_ports)
        except DnsError as exc:
            found, errors = [], [str(exc)]
        for item in found:
            bucket = wanted.setdefault(item.host, [])
            bucket.extend(s for s in item.ports if s not in bucket)
            if item.advertised:
                advertised.add(item.host)
            if item.source.startswith("SRV"):
                srv_domains.setdefault(item.host, domain)
        domain_hosts[domain] = ([item.host for item in found], errors)
    hosts = list(wanted)
    resolved = await _resolve_all(resolver, hosts)
    for domain, (found_hosts, errors) in domain_hosts.items():
        if not any(isinstance(resolved.get(h), list) or h in advertised for h in found_hosts):
            detail = "; ".join(errors) if errors else "no SRV or MX record, no imap./pop./mail. name"
            yield _unresolved(domain, 0, "imap", "starttls", f"DNS: no mail service found for {domain}: {detail}")
    for host in hosts:
        result = resolved[host]
        specs = wanted[host]
        if isinstance(result, DnsError):
            if host in advertised:
                for row in _error_rows(host, specs, str(result)):
                    yield row
            continue
        for spec in specs:
            for address in result:
                yield Endpoint(
                    host=host,
                    address=address,
                    port=spec.port,
                    protocol=spec.protocol,
                    transport=spec.transport,
                    name=host,
                    srv_domain=srv_domains.get(host),
                )
