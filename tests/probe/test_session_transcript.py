"""The transcript of a SASL exchange shows each line the server sent once, in its order: a continuation request is
logged when it arrives, and not again with the answer that ends the command (whose lines repeat it). A replay of
the transcript (tests/corpus) would otherwise send a continuation the server never sent."""

from __future__ import annotations

import asyncio

import pytest

from scanner.probe.dialects import DummyCredentials, dialect_for
from scanner.probe.session import Session
from scanner.probe.transcript import Transcript

HOST = "127.0.0.2"
CREDS = DummyCredentials("mailprobe-0123456789ab", "secret-pw")


async def _exchange(protocol: str, greeting: bytes, answers: list[bytes]) -> list[tuple[str, str]]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        for answer in answers:  # one answer per client line
            if not await reader.readline():
                break
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, HOST, 0)
    async with server:
        reader, writer = await asyncio.open_connection(HOST, server.sockets[0].getsockname()[1])
        transcript = Transcript((CREDS.password,))
        dialect = dialect_for(protocol)  # type: ignore[arg-type]
        session = Session(dialect.new_machine(), reader, writer, transcript, read_timeout=5)
        await session.greeting()

        async def ask(command: bytes, sasl: tuple[bytes, ...]):  # noqa: ANN202 - the dialects' Ask
            return (await session.command(command, sasl_payloads=sasl)).response

        mechanism = {"imap": "AUTHENTICATE PLAIN", "pop3": "AUTH PLAIN", "smtp": "AUTH PLAIN"}[protocol]
        await dialect.login(session.machine, ask, mechanism, CREDS)
        await session.close()
    return [(line.direction, line.text) for line in transcript.lines() if line.direction != "*"]


@pytest.mark.parametrize(
    ("protocol", "greeting", "answers", "server_lines"),
    [
        (
            "imap",
            b"* OK ready\r\n",
            [b"+ \r\n", b"+ \r\n", b"a1 NO authentication failed\r\n"],
            ["* OK ready", "+ ", "+ ", "a1 NO authentication failed"],
        ),
        ("imap", b"* OK ready\r\n", [b"+ \r\n", b"a1 NO failed\r\n"], ["* OK ready", "+ ", "a1 NO failed"]),
        ("pop3", b"+OK ready\r\n", [b"+ \r\n", b"-ERR failed\r\n"], ["+OK ready", "+ ", "-ERR failed"]),
    ],
)
async def test_each_continuation_once(protocol: str, greeting: bytes, answers: list[bytes], server_lines) -> None:
    lines = await _exchange(protocol, greeting, answers)
    assert [text for direction, text in lines if direction == "S"] == server_lines
    assert "secret-pw" not in repr(lines)
