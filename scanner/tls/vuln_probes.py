"""Heartbleed and CCS injection, asked on connections an enumeration or a confirmation opens anyway: after a TLS
1.2-or-older hello the server accepted and its first flight, before the connection is closed (the verdicts are
scanner.tls.vulns's). So a server's checks are its own, and they cost no connection while its hellos give one.

On one connection: the heartbeat requests first when its ServerHello echoed the extension, then the early
ChangeCipherSpec when the server is still talking (it answered a heartbeat request); otherwise the
ChangeCipherSpec waits for the next accepted hello, or ``finish_checks`` asks one more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from scanner.model import VulnerabilityCheck
from scanner.tls.hello import EXT_HEARTBEAT, VERSION_CODES, ServerAnswer
from scanner.tls.vulns import (
    HANDSHAKE,
    CcsJudge,
    HeartbleedJudge,
    NotTls,
    RecordReader,
    early_change_cipher_spec,
    heartbeat_requests,
)

_BEFORE_TLS13 = ("TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3")


@dataclass
class StackChecks:
    """The checks of one server, filled in by the connections its hellos open."""

    timeout: float  # per step: the server answers a probe as fast as a hello
    heartbleed: VulnerabilityCheck | None = None
    ccs_injection: VulnerabilityCheck | None = None
    offered: int = 0  # accepted TLS 1.x hellos, each of which offered the heartbeat extension

    def wants(self, answer: ServerAnswer) -> bool:
        return (
            answer.outcome == "accepted"
            and answer.version in _BEFORE_TLS13
            and (self.ccs_injection is None or (self.heartbleed is None and answer.version != "SSLv3"))
        )

    async def on_connection(
        self,
        answer: ServerAnswer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        unread: bytes,
        *,
        hello_done: bool,
    ) -> None:
        """Runs what is still to ask on this connection (``unread``: the bytes after the flight's answer;
        ``hello_done``: its ServerHelloDone was among those read)."""
        if not self.wants(answer) or answer.version is None:
            return
        version, code = answer.version, VERSION_CODES[answer.version]
        records = RecordReader(unread)
        if not (hello_done or await self._rest_of_flight(reader, records)) or not _quiet(records):
            return  # the server ended it (an alert, a close) on its own: a later connection answers instead
        talking = True
        if version != "SSLv3":  # SSL 3.0 hellos carry no extensions, so no echo to read
            self.offered += 1
            if self.heartbleed is None and EXT_HEARTBEAT in answer.extensions:
                judge = HeartbleedJudge(version)
                self.heartbleed = await self._step(reader, writer, records, heartbeat_requests(code), judge)
                talking = judge.still_talking
        if self.ccs_injection is None and talking:
            ccs = early_change_cipher_spec(code)
            self.ccs_injection = await self._step(reader, writer, records, ccs, CcsJudge(version))

    async def _rest_of_flight(self, reader: asyncio.StreamReader, records: RecordReader) -> bool:
        """Reads to the flight's ServerHelloDone, so that nothing the server sent unasked reads as an answer."""
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    while (found := records.next()) is not None:
                        if found.kind != HANDSHAKE:
                            return False
                        if found.ends_flight:
                            return True
                    data = await reader.read(65536)
                    if not data:
                        return False
                    records.feed(data)
        except (TimeoutError, OSError, ConnectionError, NotTls):
            return False

    async def _step(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        records: RecordReader,
        probe: bytes,
        judge: HeartbleedJudge | CcsJudge,
    ) -> VulnerabilityCheck:
        try:
            async with asyncio.timeout(self.timeout):
                writer.write(probe)
                await writer.drain()
                while (verdict := judge.read(records)) is None:
                    data = await reader.read(65536)
                    if not data:
                        return judge.eof(records)
                    records.feed(data)
                return verdict
        except TimeoutError:
            return judge.timeout(self.timeout)
        except (OSError, ConnectionError):
            return judge.eof(records)

    def results(self, *, before_tls13: bool, stopped: str | None) -> tuple[VulnerabilityCheck, VulnerabilityCheck]:
        """(heartbleed, ccs_injection) for the configuration. ``before_tls13``: the server accepts a version older
        than TLS 1.3; ``stopped``: why the enumeration stopped early, if it did."""
        heartbleed = self.heartbleed
        if heartbleed is None:
            if self.offered:
                heartbleed = VulnerabilityCheck(
                    "not_vulnerable",
                    "no ServerHello echoed the heartbeat extension (RFC 6520) mailprobe offered: the server does not "
                    "do heartbeats, and Heartbleed needs them",
                )
            else:
                heartbleed = _unasked(before_tls13, stopped, "no TLS 1.0-1.2 hello was accepted (SSL 3.0 has no "
                                      "extensions to offer the heartbeat in)")  # fmt: skip
        ccs = self.ccs_injection or _unasked(before_tls13, stopped, "no connection was left to ask it on")
        return heartbleed, ccs


def _quiet(records: RecordReader) -> bool:
    """Nothing but handshake records came after the flight before mailprobe sent anything: what comes next answers
    the probe."""
    try:
        while (found := records.next()) is not None:
            if found.kind != HANDSHAKE:
                return False
    except NotTls:
        return False
    return True


def _unasked(before_tls13: bool, stopped: str | None, otherwise: str) -> VulnerabilityCheck:
    if stopped is not None:
        return VulnerabilityCheck("inconclusive", f"not asked: {stopped}")
    if not before_tls13:
        return VulnerabilityCheck("not_applicable", "TLS 1.3 only: the bug needs TLS 1.2 or older")
    return VulnerabilityCheck("inconclusive", f"not asked: {otherwise}")


def versions_to_finish(
    checks: StackChecks, suites: Sequence[tuple[str, Sequence[str]]]
) -> tuple[str, Sequence[str]] | None:
    """The (version, suites) of one more hello when a check is still open and a TLS 1.2-or-older version can answer
    it: the newest such one (``suites``: newest first)."""
    for version, names in suites:
        if version not in _BEFORE_TLS13 or not names:
            continue
        if checks.ccs_injection is None or (checks.heartbleed is None and not checks.offered and version != "SSLv3"):
            return version, names
        return None
    return None
