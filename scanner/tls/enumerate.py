"""Enumerate a server's TLS configuration: versions, suites per version with the server's order, groups, DH size,
compression, RFC 5746/7627/7507 support. One ClientHello per connection (scanner.tls.hello), one connection at a time.

    config = await enumerate_tls(opener, server_name="mail.example.com", limits=EnumerationLimits())

Cost, kept low on purpose (mail servers limit connections per client: Dovecot's login processes, Exchange's
throttling): suites are found by elimination (offer all, drop the one chosen, ask again), so a version costs one
hello per accepted suite plus one, and the order they come in is the server's preference (one more hello, the
accepted suites reversed, tells whether the server imposes it or follows the client). Groups likewise. A version
the server refuses costs one hello. Connections are strictly sequential; a connection the server refuses (connect
refused, reset, STARTTLS refused, a throttling greeting) is retried after a growing pause, and after a few the
enumeration stops and says what it could not ask. There is a cap on hellos and on time too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from scanner.model import Coverage, TlsConfiguration, VersionSuites, VulnerabilityCheck
from scanner.tls.hello import ServerAnswer, ServerFlight, client_hello
from scanner.tls.suites import (
    GROUPS,
    LEGACY_SUITES,
    SUITE_CODES,
    SUITE_NAMES,
    TLS12_EC_GROUPS,
    TLS13_SUITES,
    aead,
    ephemeral_ec,
    forward_secret,
)
from scanner.tls.vuln_probes import StackChecks, versions_to_finish

Opener = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
VERSIONS_NEWEST_FIRST = ("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3")
_ORDER = {v: i for i, v in enumerate(reversed(VERSIONS_NEWEST_FIRST))}


@dataclass(frozen=True)
class EnumerationLimits:
    hello_timeout: float = 5.0  # one connection: connect (and STARTTLS) plus the server's answer
    max_hellos: int = 120  # a server accepting everything in every version still fits (about 100)
    max_seconds: float = 45.0  # the whole enumeration
    retries: int = 3  # a refused connection is tried again this many times ...
    backoff: float = 0.5  # ... after this pause, doubled each time
    max_timeouts: int = 2  # silent answers before the enumeration gives up (a server that drops what it dislikes)


class EnumerationStopped(Exception):
    """The enumeration cannot go on: the reason is recorded, what was found stands."""


@dataclass
class HelloAsker:
    opener: Opener
    server_name: str | None
    limits: EnumerationLimits
    started: float = field(default_factory=time.monotonic)
    hellos: int = 0
    timeouts: int = 0
    answers: list[ServerAnswer] = field(default_factory=list)
    checks: StackChecks | None = None  # Heartbleed and CCS injection, asked on these connections before they close
    stops: list[str] = field(default_factory=list)  # why asking stopped, when it did

    def _stop(self, why: str) -> EnumerationStopped:
        self.stops.append(why)
        return EnumerationStopped(why)

    async def ask(
        self, version: str, suites: Sequence[int], groups: Sequence[int], *, fallback: bool = False
    ) -> ServerAnswer:
        hello = client_hello(version, suites, groups, self.server_name, fallback=fallback)
        if self.hellos >= self.limits.max_hellos:
            raise self._stop(f"stopped after {self.hellos} handshakes (the cap per server)")
        try:
            reader, writer = await open_backing_off(self.opener, self.limits, self.started)
        except EnumerationStopped as stop:
            raise self._stop(str(stop)) from None
        self.hellos += 1
        try:
            answer = await self._exchange(reader, writer, hello)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
        if answer is None:
            self.timeouts += 1
            if self.timeouts >= self.limits.max_timeouts:
                raise self._stop(f"no answer to {self.timeouts} hellos within {self.limits.hello_timeout:g} s")
            return ServerAnswer("timeout", detail=f"no answer within {self.limits.hello_timeout:g} s")
        self.answers.append(answer)
        return answer

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: bytes
    ) -> ServerAnswer | None:
        flight = ServerFlight()
        try:
            async with asyncio.timeout(self.limits.hello_timeout):
                writer.write(hello)
                await writer.drain()
                while True:
                    data = await reader.read(65536)
                    answer = flight.feed(data) if data else flight.eof()
                    if answer is not None:
                        break
        except TimeoutError:
            return None
        except (OSError, ConnectionError):
            return flight.eof()
        if data and not flight.alerted and self.checks is not None and self.checks.wants(answer):
            await self.checks.on_connection(answer, reader, writer, flight.unread(), hello_done=flight.hello_done())
        return answer


async def open_backing_off(
    opener: Opener, limits: EnumerationLimits, started: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection through ``opener``. One the server refuses (connect refused, reset, STARTTLS refused, a
    throttling greeting) is tried again after a pause that doubles each time; EnumerationStopped, with the reason,
    after ``limits.retries`` more tries or past ``limits.max_seconds`` since ``started``. Every probe that opens
    connections of its own to a server (the enumeration's hellos, ROBOT's key exchanges) opens them so."""
    pause = limits.backoff
    for attempt in range(limits.retries + 1):
        if time.monotonic() - started > limits.max_seconds:
            raise EnumerationStopped(f"stopped after {limits.max_seconds:g} s (the cap per server)")
        try:
            async with asyncio.timeout(limits.hello_timeout):
                return await opener()
        except Exception as exc:
            if attempt == limits.retries:
                why = f"the server refused {attempt + 1} connections in a row ({_why(exc)})"
                raise EnumerationStopped(why) from None
            await asyncio.sleep(pause)
            pause *= 2
    raise AssertionError("unreachable")


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def enumerate_tls(
    opener: Opener, *, server_name: str | None, limits: EnumerationLimits | None = None
) -> TlsConfiguration:
    """The server's TLS configuration; never raises for what the server does (what could not be asked is listed in
    ``untested``)."""
    limits = limits or EnumerationLimits()
    asker = HelloAsker(opener, server_name, limits, checks=StackChecks(limits.hello_timeout))
    found = _Found()
    try:
        await _enumerate(asker, found)
        await finish_checks(asker, [(v, found.suites[v]) for v in VERSIONS_NEWEST_FIRST if v in found.suites])
    except EnumerationStopped as stop:
        found.untested.append(f"enumeration incomplete: {stop}")
    return found.configuration(asker)


@dataclass
class _Found:
    suites: dict[str, list[str]] = field(default_factory=dict)  # version -> accepted suites in preference order
    server_order: dict[str, bool | None] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    fallback_scsv: bool | None = None
    untested: list[str] = field(default_factory=list)

    def configuration(self, asker: HelloAsker) -> TlsConfiguration:
        versions = tuple(sorted(self.suites, key=_ORDER.__getitem__))
        accepted = [s for names in self.suites.values() for s in names]
        legacy = [a for a in asker.answers if a.outcome == "accepted" and a.version not in (None, "TLSv1.3")]
        dh = sorted((a.dh_bits, a.dh_group) for a in asker.answers if a.dh_bits)
        heartbleed, ccs = checks_found(asker, versions)
        return TlsConfiguration(
            versions=versions,
            suites=tuple(VersionSuites(v, tuple(self.suites[v]), self.server_order.get(v)) for v in reversed(versions)),
            groups=tuple(self.groups),
            dh_bits=dh[0][0] if dh else None,
            dh_group=dh[0][1] if dh else None,
            forward_secrecy=_coverage([forward_secret(s) for s in accepted]),
            aead=_coverage([aead(s) for s in accepted]),
            compression=any(a.compression for a in legacy) if legacy else None,
            secure_renegotiation=all(0xFF01 in a.extensions for a in legacy) if legacy else None,
            extended_master_secret=(
                all(0x0017 in a.extensions for a in legacy if a.version != "SSLv3") if legacy else None
            ),
            fallback_scsv=self.fallback_scsv,
            untested=tuple(self.untested),
            handshakes=asker.hellos,
            duration_ms=int((time.monotonic() - asker.started) * 1000),
            heartbleed=heartbleed,
            ccs_injection=ccs,
        )


async def finish_checks(asker: HelloAsker, suites: Sequence[tuple[str, Sequence[str]]]) -> None:
    """One more hello when Heartbleed or CCS injection is still open and a TLS 1.2-or-older version could answer it
    (the hellos so far were all TLS 1.3, or the heartbeat step ended the only connection). ``suites``: the accepted
    ones per version, newest first."""
    if asker.checks is None or (wanted := versions_to_finish(asker.checks, suites)) is None:
        return
    version, names = wanted
    await asker.ask(version, [SUITE_CODES[n] for n in names if n in SUITE_CODES], list(GROUPS))


def checks_found(asker: HelloAsker, versions: Sequence[str]) -> tuple[VulnerabilityCheck, VulnerabilityCheck]:
    """(heartbleed, ccs_injection) of the configuration, from this asker's own connections."""
    if asker.checks is None:
        return VulnerabilityCheck(), VulnerabilityCheck()
    stopped = asker.stops[0] if asker.stops else None
    return asker.checks.results(before_tls13=any(v != "TLSv1.3" for v in versions), stopped=stopped)


def _coverage(flags: list[bool]) -> Coverage | None:
    if not flags:
        return None
    return "all" if all(flags) else "some" if any(flags) else "none"


async def _enumerate(asker: HelloAsker, found: _Found) -> None:
    for version in VERSIONS_NEWEST_FIRST:
        offered = list(TLS13_SUITES) if version == "TLSv1.3" else list(LEGACY_SUITES)
        order = await _eliminate(asker, version, offered, list(GROUPS))
        if order is None:
            found.refused.append(version)
            continue
        found.suites[version] = [SUITE_NAMES.get(code, f"0x{code:04X}") for code in order]
        found.server_order[version] = await _server_order(asker, version, order)
    await _groups(asker, found)
    await _fallback(asker, found)


async def _eliminate(asker: HelloAsker, version: str, suites: list[int], groups: list[int]) -> list[int] | None:
    """The suites ``version`` accepts, in the order the server chose them; None when it refuses the version."""
    chosen: list[int] = []
    remaining = list(suites)
    while remaining:
        answer = await asker.ask(version, remaining, groups)
        if answer.outcome != "accepted" or answer.version != version or answer.suite not in remaining:
            break  # refused, another version (the server does not have this one), or a suite never offered
        chosen.append(answer.suite)
        remaining.remove(answer.suite)
    return chosen or None


async def _server_order(asker: HelloAsker, version: str, order: list[int]) -> bool | None:
    """True when the server picks by its own preference: offered the accepted suites reversed, it still picks
    its first. None with fewer than two suites."""
    if len(order) < 2:
        return None
    answer = await asker.ask(version, order_probe(order), list(GROUPS))
    if answer.outcome != "accepted":
        return None
    return answer.suite == order[0]


def order_probe(order: Sequence[int]) -> list[int]:
    """The accepted suites (``order``: the server's first first) in an order that tells whether the server imposes
    its own: reversed, so that its first is not ours. Not led by a ChaCha20 suite where another one will do:
    OpenSSL's PRIORITIZE_CHACHA has a server that imposes its order still take ChaCha20 when the client lists it
    first (for clients without AES hardware), which would read as following ours."""
    offer = list(reversed(order))
    if offer and chacha20(SUITE_NAMES.get(offer[0], "")):
        lead = next((c for c in offer if c != order[0] and not chacha20(SUITE_NAMES.get(c, ""))), None)
        if lead is not None:
            offer = [lead, *(c for c in offer if c != lead)]
    return offer


def chacha20(suite: str) -> bool:
    return "CHACHA20" in suite


async def _groups(asker: HelloAsker, found: _Found) -> None:
    """Key-exchange groups by elimination: over TLS 1.3 (a HelloRetryRequest names the group) when the server has
    it, then over the newest older version with an ECDHE suite (its ServerKeyExchange names the curve) for the
    curves not found yet: OpenSSL still takes in TLS 1.2 curves RFC 8446 dropped (secp224r1, brainpool r1, ...),
    which a TLS 1.3 hello cannot show."""
    if "TLSv1.3" in found.suites:
        await _eliminate_groups(asker, found, "TLSv1.3", list(TLS13_SUITES), list(GROUPS))
    with_ecdhe = [v for v in VERSIONS_NEWEST_FIRST[1:] if any(ephemeral_ec(s) for s in found.suites.get(v, []))]
    if with_ecdhe:
        version = with_ecdhe[0]
        suites = [code for code, name in LEGACY_SUITES.items() if name in found.suites[version] and ephemeral_ec(name)]
        known = set(found.groups)
        candidates = [code for code in TLS12_EC_GROUPS if GROUPS[code].name not in known]
        await _eliminate_groups(asker, found, version, suites, candidates)


async def _eliminate_groups(
    asker: HelloAsker, found: _Found, version: str, suites: list[int], candidates: list[int]
) -> None:
    while candidates:
        answer = await asker.ask(version, suites, candidates)
        if answer.outcome != "accepted" or answer.group not in candidates:
            break
        found.groups.append(GROUPS[answer.group].name)
        candidates.remove(answer.group)


async def _fallback(asker: HelloAsker, found: _Found) -> None:
    """TLS_FALLBACK_SCSV (RFC 7507): offered with the second-newest version, a server that has a newer one must
    answer inappropriate_fallback. Only asked when there is something to fall back from. The hello is one the
    server accepted without the signal, so any refusal is the signal's doing: some servers (Dovecot) close the
    connection without sending the alert."""
    versions = [v for v in VERSIONS_NEWEST_FIRST if v in found.suites]
    if len(versions) < 2:
        return
    lower = versions[1]
    offered = [code for code, name in SUITE_NAMES.items() if name in found.suites[lower]]
    answer = await asker.ask(lower, offered, list(GROUPS), fallback=True)
    if answer.outcome == "accepted":
        found.fallback_scsv = False
    elif answer.outcome == "timeout":
        found.untested.append(f"TLS_FALLBACK_SCSV: {answer.detail}")
    else:
        found.fallback_scsv = True
