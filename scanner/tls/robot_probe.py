"""The ROBOT check of one server: one connection per premaster, through the opener the enumeration uses.

    configuration = await with_robot(configuration, opener, server_name=..., limits=EnumerationLimits())

Only for a server whose enumerated (or confirmed) configuration accepts RSA key exchange in TLS 1.2 or older;
otherwise the result is ``not_applicable`` at no cost. Each connection makes a handshake with that suite up to the
server's ServerHelloDone, takes the RSA key from its Certificate, and sends a ClientKeyExchange with one of the five
premasters (scanner.tls.robot), a ChangeCipherSpec and a Finished the server cannot verify, then notes how the
server reacted. Five connections when the reactions are all the same; five more when they are not (an oracle must
show twice, a fluke does not), so 5 or 10. Connections are strictly sequential, refused ones backed off from as the
enumeration does, and the check stops (inconclusive, with the reason) when the server keeps refusing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from scanner.model import RobotCheck, RobotOracle, RobotReaction, RobotVerdict, TlsConfiguration
from scanner.tls.enumerate import EnumerationLimits, EnumerationStopped, Opener, open_backing_off
from scanner.tls.hello import client_hello
from scanner.tls.robot import (
    HANDSHAKE_FAILED,
    MIN_KEY_BYTES,
    VARIANTS,
    FlightAnswer,
    RsaFlight,
    answers_by_variant,
    applicability,
    client_flight,
    encrypt,
    needs_second_round,
    premaster_plaintexts,
    public_key,
    reaction_at_eof,
    reaction_of,
    verdict,
)
from scanner.tls.suites import SUITE_CODES

Run = Callable[[], Awaitable[TlsConfiguration]]
Confirm = Callable[[TlsConfiguration], Awaitable[TlsConfiguration | None]]


class _Stopped(Exception):
    """The check cannot go on (refused connections, the time cap, no usable key): the reason is the result's note."""


@dataclass
class _Prober:
    opener: Opener
    server_name: str | None
    limits: EnumerationLimits
    version: str
    suite: str
    started: float = field(default_factory=time.monotonic)
    connections: int = 0
    key: tuple[int, int] | None = None
    ciphertexts: dict[str, bytes] = field(default_factory=dict)

    async def round(self) -> dict[str, str]:
        return {variant: await self.react(variant) for variant in VARIANTS}

    async def react(self, variant: str) -> str:
        reader, writer = await self._connect()
        try:
            return await self._exchange(reader, writer, variant)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            opened = await open_backing_off(self.opener, self.limits, self.started)
        except EnumerationStopped as stop:
            raise _Stopped(str(stop)) from None
        self.connections += 1
        return opened

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, variant: str) -> str:
        hello = client_hello(self.version, [SUITE_CODES[self.suite]], [], self.server_name, compression=False)
        try:
            flight = await self._flight(reader, writer, hello)
        except TimeoutError:
            return HANDSHAKE_FAILED + "timeout"
        except (OSError, ConnectionError):
            return HANDSHAKE_FAILED + "reset"
        if flight.outcome != "ready" or flight.version is None or flight.certificate is None:
            return HANDSHAKE_FAILED + flight.outcome
        if flight.suite != SUITE_CODES[self.suite]:
            return HANDSHAKE_FAILED + "another-suite"
        key = public_key(flight.certificate)
        if key is None:
            raise _Stopped("the server's certificate has no RSA key mailprobe could read")
        if self.key is None:
            self._prepare(key)
        elif key != self.key:
            return HANDSHAKE_FAILED + "another-key"
        data = client_flight(
            self.ciphertexts[variant], flight.version, self.suite, certificate_requested=flight.certificate_requested
        )
        return await self._reaction(reader, writer, data)

    def _prepare(self, key: tuple[int, int]) -> None:
        modulus, exponent = key
        size = (modulus.bit_length() + 7) // 8
        if size < MIN_KEY_BYTES:
            raise _Stopped(f"an RSA key of {modulus.bit_length()} bits is too small to hold a premaster")
        blocks = premaster_plaintexts(size, self.version, modulus)
        self.key = key
        self.ciphertexts = {variant: encrypt(block, modulus, exponent) for variant, block in blocks.items()}

    async def _flight(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: bytes) -> FlightAnswer:
        flight = RsaFlight()
        async with asyncio.timeout(self.limits.hello_timeout):
            writer.write(hello)
            await writer.drain()
            while True:
                data = await reader.read(65536)
                answer = flight.feed(data) if data else flight.eof()
                if answer is not None:
                    return answer

    async def _reaction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> str:
        seen = b""
        try:
            async with asyncio.timeout(self.limits.hello_timeout):
                writer.write(data)
                await writer.drain()
                while True:
                    chunk = await reader.read(4096)
                    if not chunk:
                        return reaction_at_eof(seen)
                    seen = (seen + chunk)[:64]  # the first record header and alert are all that is read
                    found = reaction_of(seen)
                    if found is not None:
                        return found
        except TimeoutError:
            return "timeout"
        except (OSError, ConnectionError):
            return reaction_of(seen) or "reset"


async def check_robot(
    opener: Opener, configuration: TlsConfiguration, *, server_name: str | None, limits: EnumerationLimits
) -> RobotCheck:
    """This server's ROBOT result; never raises for what the server does."""
    choice = applicability(configuration)
    if isinstance(choice, RobotCheck):
        return choice
    version, suite = choice
    prober = _Prober(opener, server_name, limits, version, suite)
    rounds: list[dict[str, str]] = []
    try:
        rounds.append(await prober.round())
        if needs_second_round(rounds[0]):
            rounds.append(await prober.round())
    except _Stopped as stop:
        done = [r for r in rounds if r]
        return _result("inconclusive", None, str(stop), prober, done)
    judged = verdict(rounds[0], rounds[1] if len(rounds) > 1 else None)
    return _result(judged.verdict, judged.oracle, judged.note, prober, rounds)


def _result(
    verdict_: RobotVerdict, oracle: RobotOracle | None, note: str, prober: _Prober, rounds: list[dict[str, str]]
) -> RobotCheck:
    reactions = tuple(RobotReaction(v, answers) for v, answers in answers_by_variant(rounds).items() if answers)
    return RobotCheck(
        verdict_,
        oracle,
        prober.version,
        prober.suite,
        reactions,
        prober.connections,
        note,
    )


async def with_robot(
    configuration: TlsConfiguration, opener: Opener, *, server_name: str | None, limits: EnumerationLimits
) -> TlsConfiguration:
    """``configuration`` with this server's own ROBOT result (whatever ``robot`` it carried: a confirmed server
    starts from the known one's, which is another server's)."""
    robot = await check_robot(opener, configuration, server_name=server_name, limits=limits)
    return replace(configuration, robot=robot)


def robot_checked(
    run: Run, confirm: Confirm, opener: Opener, server_name: str | None, limits: EnumerationLimits
) -> tuple[Run, Confirm]:
    """``run`` (a full enumeration) and ``confirm`` (a confirmation against a known configuration), each followed by
    this server's ROBOT check, so that every server in a pool gets a result of its own."""

    async def run_and_check() -> TlsConfiguration:
        return await with_robot(await run(), opener, server_name=server_name, limits=limits)

    async def confirm_and_check(known: TlsConfiguration) -> TlsConfiguration | None:
        confirmed = await confirm(known)
        if confirmed is None:
            return None
        return await with_robot(confirmed, opener, server_name=server_name, limits=limits)

    return run_and_check, confirm_and_check
