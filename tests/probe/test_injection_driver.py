"""The injection try on one connection, byte by byte: what is written and how (one write, or two writes each flushed
before the next, on a socket without Nagle's delay so that the second is a segment of its own), before STARTTLS's
answer is read; and what it makes of fake servers that run the command inside TLS, or discard it."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from typing import Any

import pytest

from scanner import certgen
from scanner.fakeserver import FakeServer, Profile, bundled_profile
from scanner.fakeserver.profile import Hostile
from scanner.fakeserver.tls import context_for
from scanner.model import InjectionTry, InjectionVariant
from scanner.probe.dialects import dialect_for
from scanner.probe.injection import listen_wait, ready_for_starttls, try_injection
from scanner.probe.options import ProbeOptions
from scanner.probe.session import Session, open_tcp
from scanner.probe.transcript import Transcript

HOST = "127.0.0.3"
OPTIONS = ProbeOptions(read_timeout=2, tls_timeout=3, injection_wait=0.3)
SAFE = {
    "imap": bundled_profile("dovecot-imap-plaintext-refused"),
    "pop3": bundled_profile("dovecot-pop3-plaintext-refused"),
    "smtp": bundled_profile("exchange-submission-clientfrontend"),
}


def vulnerable(profile: Profile) -> Profile:
    return dataclasses.replace(profile, hostile=Hostile(process_pipelined=True))


class RecordingWriter:
    """The stream writer the session writes to, recording each write and each flush in order."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.calls: list[bytes | str] = []

    def write(self, data: bytes) -> None:
        self.calls.append(bytes(data))
        self._writer.write(data)

    async def drain(self) -> None:
        self.calls.append("drain")
        await self._writer.drain()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


@pytest.fixture(scope="module")
def server_ctx(tmp_path_factory):  # type: ignore[no-untyped-def]
    return context_for("ca-signed", "mail.example.test", HOST, tmp_path_factory.mktemp("certs"), ca=certgen.make_ca())


async def one_try(
    profile: Profile, ctx: Any, variant: InjectionVariant
) -> tuple[InjectionTry, list[bytes | str], FakeServer, Transcript]:
    async with FakeServer(profile, host=HOST, port=0, ssl_context=ctx) as server:
        reader, writer = await open_tcp(HOST, server.port, timeout=2, source_address="127.0.0.1")
        recorder = RecordingWriter(writer)
        transcript = Transcript()
        dialect = dialect_for(profile.protocol)
        session = Session(dialect.new_machine(), reader, recorder, transcript, read_timeout=2)  # type: ignore[arg-type]
        await ready_for_starttls(session, dialect)
        recorder.calls.clear()
        done = await try_injection(session, dialect, variant, OPTIONS, None)
        nodelay = writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        # a separate segment needs Nagle's algorithm off: each write then leaves as it is written
        assert bool(nodelay) == (variant == "separate-segment")
        await session.close()
        await server.wait_idle()
    return done, recorder.calls, server, transcript


def clear_writes(calls: list[bytes | str]) -> list[bytes | str]:
    """The writes and flushes before the TLS handshake (whose first write is a TLS record, 0x16)."""
    out: list[bytes | str] = []
    for call in calls:
        if isinstance(call, bytes) and call[:1] == b"\x16":
            break
        out.append(call)
    return out


STARTTLS = {"imap": b"a1 STARTTLS\r\n", "pop3": b"STLS\r\n", "smtp": b"STARTTLS\r\n"}
ANSWER = {"imap": "OK NOOP completed.", "pop3": ".", "smtp": "250 2.0.0 OK"}


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
async def test_same_write_sends_starttls_and_the_command_in_one_write(protocol: str, server_ctx: Any) -> None:
    done, calls, server, _ = await one_try(vulnerable(SAFE[protocol]), server_ctx, "same-write")
    injected = done.sent.encode() + b"\r\n"
    assert clear_writes(calls) == [STARTTLS[protocol] + injected, "drain"]
    assert server.sessions[0].pipelined_after_starttls == injected  # arrived with STARTTLS, in clear
    assert done.outcome == "answered-in-tls", done
    assert done.evidence[-1].endswith(ANSWER[protocol]) or done.evidence[-1] == ANSWER[protocol]


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
async def test_separate_segment_flushes_starttls_before_the_command(protocol: str, server_ctx: Any) -> None:
    done, calls, _, transcript = await one_try(vulnerable(SAFE[protocol]), server_ctx, "separate-segment")
    injected = done.sent.encode() + b"\r\n"
    assert clear_writes(calls) == [STARTTLS[protocol], "drain", injected, "drain"]
    # written before STARTTLS's answer was read: the transcript has both commands before the server's OK
    lines = transcript.lines()
    start = next(i for i, line in enumerate(lines) if line.text.startswith("STARTTLS command-injection test"))
    said = [(line.direction, line.text) for line in lines[start:] if line.direction in "CS"]
    assert said[:3] == [("C", STARTTLS[protocol].decode().strip()), ("C", done.sent), said[2]]
    assert said[2][0] == "S"
    assert done.outcome in ("answered-in-tls", "broke-handshake"), done  # depends on when the segment lands


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
@pytest.mark.parametrize("variant", ["same-write", "separate-segment"])
async def test_a_server_that_discards_what_came_in_clear_is_silent(
    protocol: str, variant: InjectionVariant, server_ctx: Any
) -> None:
    done, _, server, transcript = await one_try(SAFE[protocol], server_ctx, variant)
    assert done.outcome in ("silent", "broke-handshake"), done
    if done.outcome == "silent":
        assert done.waited_ms >= OPTIONS.injection_wait * 1000 * 0.9
        assert any("no answer to the injected command" in line.text for line in transcript.lines())
    assert not done.evidence
    assert "NOOP" not in [r.verb for s in server.sessions for r in s.received if r.phase == "tls"]


def test_the_wait_follows_the_round_trip_within_its_bounds() -> None:
    options = ProbeOptions(read_timeout=5, injection_wait=0.15)
    assert listen_wait(0.001, options) == 0.15  # loopback: the floor
    assert listen_wait(0.2, options) == pytest.approx(0.8)  # a far server: four round trips
    assert listen_wait(3.0, options) == 5  # never more than the read timeout
