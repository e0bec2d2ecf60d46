"""Replay a corpus conversation through the real probe: a server on loopback answers mailprobe with the recorded
server lines, connection by connection, command by command, after the recorded delays (capped), and starts TLS
where the recording did. The probe, its protocol machines and the verdict rules run unchanged
(scanner.probe.conversation.probe_endpoint), so the verdict is what mailprobe would say to that real server today.

What the replaying server adapts, and nothing else: the IMAP tags and the dummy user name mailprobe sends now
(both random or counted) replace the recorded ones in the server's lines. The certificate is a test one: the
corpus keeps conversations, not certificates. Where mailprobe now says something the recording does not have
(another command, another connection, more lines), the server records a divergence and closes that connection;
``Replayed.divergences`` lists them, so a test can say which real conversation the probe no longer has.

    replayed = await replay(entry)            # or replay_all(entries), concurrently
    replayed.verdict, replayed.result, replayed.divergences
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scanner.certgen import make_ca
from scanner.model import Endpoint, EndpointResult, TranscriptLine
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions
from tests.corpus import DUMMY_USER, CorpusEntry

HOST = "127.0.0.2"  # never 127.0.0.1, the probe's own address
SERVER_NAME = "mail.example.test"
DELAY_CAP = 1.0  # seconds: a recorded pause (a failed password check: 2-5 s) is replayed as at most this long.
# The verdict rules only ask whether an answer took longer than scanner.verdicts.plaintext.SLOW_MS (0.8 s).
READ_WAIT = 30.0  # the most the server waits for mailprobe's next line
SASL_MASKED = "<SASL credentials, base64, masked>"


@dataclass(frozen=True)
class Replayed:
    entry: CorpusEntry
    result: EndpointResult
    divergences: tuple[str, ...]

    @property
    def verdict(self) -> str:
        return self.result.plaintext_login.verdict

    def explain(self) -> str:
        """What a failing test prints: the file, the verdicts, the evidence, where the conversation diverged."""
        lines = [
            f"{self.entry.name}: {self.entry.server} {self.entry.version}, {self.entry.config} "
            f"({self.entry.setting}), {self.entry.protocol} port {self.entry.port}",
            f"expected {self.entry.expected_verdict}, replayed {self.verdict} (recorded {self.entry.recorded_verdict})",
            *(f"  evidence: {e}" for e in self.result.plaintext_login.evidence),
            *(f"  diverged: {d}" for d in self.divergences),
        ]
        if self.result.error:
            lines.append(f"  error: {self.result.error}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Expect:
    line: TranscriptLine


@dataclass(frozen=True)
class _Send:
    lines: tuple[str, ...]
    delay: float


@dataclass(frozen=True)
class _Tls:
    pass


_Step = _Expect | _Send | _Tls


def steps(connection: tuple[TranscriptLine, ...], delay_cap: float | None = DELAY_CAP) -> list[_Step]:
    """One connection's part of a transcript as what the server does: wait for a client line, send lines after a
    delay (the recorded time from the line before them to the last of them), start TLS."""
    out: list[_Step] = []
    previous_ms = connection[0].t_ms if connection else 0
    pending: list[TranscriptLine] = []

    def flush() -> None:
        if pending:
            delay = max(0, pending[-1].t_ms - previous_ms) / 1000
            out.append(_Send(tuple(p.text for p in pending), delay if delay_cap is None else min(delay, delay_cap)))
            pending.clear()

    for line in connection:
        if line.direction == "S":
            pending.append(line)
            continue
        flush()
        if line.direction == "C":
            out.append(_Expect(line))
        elif line.text.startswith("TLS established"):
            out.append(_Tls())
        previous_ms = line.t_ms
    flush()
    return out


def _command(words: list[str]) -> list[str]:
    """What must match between a recorded and a live client line: the command, and the mechanism of AUTH."""
    upper = [w.upper() for w in words[:2]]
    return upper if upper[:1] in (["AUTH"], ["AUTHENTICATE"]) else upper[:1]


def _words(text: str, protocol: str) -> tuple[str, list[str]]:
    """The tag (IMAP) and the words after it."""
    words = text.split()
    if protocol == "imap" and len(words) > 1 and text != SASL_MASKED:
        return words[0], words[1:]
    return "", words


class ReplayServer:
    """Serves one corpus entry: the n-th connection mailprobe opens gets the recording's n-th connection."""

    def __init__(self, entry: CorpusEntry, context: ssl.SSLContext, delay_cap: float | None) -> None:
        self.entry = entry
        self.context = context
        self.delay_cap = delay_cap
        self.connections = entry.connections()
        self.divergences: list[str] = []
        self._opened = 0
        self._user = entry.dummy_user
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> ReplayServer:
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def _diverged(self, number: int, what: str) -> None:
        self.divergences.append(f"connection {number}: {what}")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._opened += 1
        number = self._opened
        try:
            if number > len(self.connections):
                self._diverged(number, f"mailprobe opened it; the recording has {len(self.connections)}")
                return
            await self._converse(number, reader, writer)
        except (ConnectionError, OSError, TimeoutError, ssl.SSLError) as exc:
            self._diverged(number, f"{type(exc).__name__}: {exc}")
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _converse(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol = self.entry.protocol
        tags: dict[str, str] = {}
        user = None
        for step in steps(self.connections[number - 1], self.delay_cap):
            if isinstance(step, _Tls):
                await writer.start_tls(self.context)
            elif isinstance(step, _Send):
                await asyncio.sleep(step.delay)
                writer.write(b"".join(_adapt(t, tags, self._user, user).encode() + b"\r\n" for t in step.lines))
                await writer.drain()
            else:
                got = await asyncio.wait_for(reader.readline(), READ_WAIT)
                said = got.decode("utf-8", "replace").rstrip("\r\n")
                if not got:
                    self._diverged(number, f"mailprobe closed it where the recording has C: {step.line.text!r}")
                    return
                recorded_tag, recorded = _words(step.line.text, protocol)
                tag, words = _words(said, protocol)
                if step.line.text != SASL_MASKED and _command(recorded) != _command(words):
                    self._diverged(number, f"mailprobe said {said!r} where the recording has {step.line.text!r}")
                    return
                if recorded_tag:
                    tags[recorded_tag] = tag
                if self._user and self._user in step.line.text and (live := DUMMY_USER.search(said)):
                    user = live.group(0)
        # The recording ends here: whatever mailprobe still says is beyond it (a goodbye is not waited for).
        rest = await asyncio.wait_for(reader.read(), READ_WAIT)
        extra = [t for t in rest.decode("utf-8", "replace").splitlines() if t.strip()]
        if extra:
            self._diverged(number, f"mailprobe said more than the recording: {extra[:3]!r}")


def _adapt(text: str, tags: dict[str, str], recorded_user: str | None, user: str | None) -> str:
    tag, _, rest = text.partition(" ")
    if tag in tags:
        text = f"{tags[tag]} {rest}"
    if recorded_user and user:
        text = text.replace(recorded_user, user)
    return text


@functools.cache
def _pki() -> tuple[ssl.SSLContext, str]:
    """The replaying servers' TLS context, and the CA file the probe trusts for it (made once per process)."""
    directory = Path(tempfile.mkdtemp(prefix="mp-corpus-replay-"))
    ca = make_ca("mailprobe corpus replay CA")
    ca_file = ca.write(directory, "ca")
    cert, key = ca.issue([SERVER_NAME]).write(directory, "leaf")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, str(ca_file)


def options(ca_file: str) -> ProbeOptions:
    # The corpus keeps the login conversation; the STARTTLS command-injection test (its own connection and tries,
    # tests/integration/test_injection_*.py) is left out, as when it was recorded.
    return ProbeOptions(
        legacy_tls=False, ca_file=ca_file, source_address="127.0.0.1", expect_name=SERVER_NAME, injection_test=False
    )


async def replay(entry: CorpusEntry, *, delay_cap: float | None = DELAY_CAP) -> Replayed:
    """mailprobe's probe against a server replaying ``entry``; the result and where the conversation diverged."""
    context, ca_file = _pki()
    transport: Literal["starttls", "implicit"] = "implicit" if entry.transport == "implicit" else "starttls"
    async with ReplayServer(entry, context, delay_cap) as server:
        endpoint = Endpoint(HOST, HOST, server.port, entry.protocol, transport, name=SERVER_NAME)  # type: ignore[arg-type]
        result = await probe_endpoint(endpoint, options(ca_file))
    return Replayed(entry, result, tuple(server.divergences))


async def replay_all(entries: Iterable[CorpusEntry], *, delay_cap: float | None = DELAY_CAP) -> list[Replayed]:
    """Every entry at once (each has its own server and port): the corpus takes as long as its slowest file."""
    return list(await asyncio.gather(*(replay(e, delay_cap=delay_cap) for e in entries)))
