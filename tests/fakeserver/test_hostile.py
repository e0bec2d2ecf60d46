"""Hostile fixture servers do what their names say."""

from __future__ import annotations

import asyncio
import ssl
import time

from scanner.fakeserver import FakeServer, Profile, load_profile
from tests.fakeserver.helpers import HOST, SERVER_FIXTURES, read_eof, read_line


def fixture(name: str) -> Profile:
    return load_profile(SERVER_FIXTURES / f"{name}.toml")


async def test_http_on_143_answers_400_and_closes() -> None:
    async with FakeServer(fixture("http-on-143")) as srv:
        reader, _ = await asyncio.open_connection(HOST, srv.port)
        data = await read_eof(reader)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n") and data.endswith(b"\r\n\r\n")


async def test_smtp_on_143_rejects_every_imap_command() -> None:
    async with FakeServer(fixture("smtp-on-143")) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        assert await read_line(reader) == b"220 mail.example.com ESMTP\r\n"
        writer.write(b"a1 CAPABILITY\r\n")
        assert await read_line(reader) == b"502 5.5.2 Error: command not recognized\r\n"
        writer.close()


async def test_silent_never_speaks() -> None:
    async with FakeServer(fixture("silent"), idle_timeout=5) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        try:
            data = await asyncio.wait_for(reader.read(1), 0.3)
        except TimeoutError:
            data = None
        assert data is None  # neither bytes nor EOF: the connection is held open
        writer.close()


async def test_endless_line_has_no_crlf() -> None:
    async with FakeServer(fixture("endless-line")) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        got = b""
        while len(got) < 200_000:
            got += await asyncio.wait_for(reader.read(65536), 2)
        assert got.startswith(b"* OK AAAA") and b"\n" not in got
        writer.close()
        await srv.wait_idle()


async def test_endless_untagged_lines() -> None:
    async with FakeServer(fixture("endless-untagged")) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        assert await read_line(reader) == b"* OK IMAP4rev1 ready\r\n"
        writer.write(b"a1 CAPABILITY\r\n")
        lines = [await read_line(reader) for _ in range(2000)]
        assert set(lines) == {b"* OK [ALERT] still here\r\n"}
        writer.close()
        await srv.wait_idle()


async def test_close_after_greeting() -> None:
    async with FakeServer(fixture("close-after-greeting")) as srv:
        reader, _ = await asyncio.open_connection(HOST, srv.port)
        assert await read_eof(reader) == b"* OK IMAP4rev1 ready\r\n"


async def test_garbage_then_close() -> None:
    profile = fixture("garbage")
    async with FakeServer(profile) as srv:
        reader, _ = await asyncio.open_connection(HOST, srv.port)
        assert await read_eof(reader) == bytes.fromhex(profile.hostile.stream_hex)


async def test_starttls_injection_sends_plaintext_after_the_ok(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    async with FakeServer(fixture("starttls-injection"), ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        writer.write(b"a1 STARTTLS\r\n")
        assert await read_line(reader) == b"a1 OK Begin TLS negotiation now.\r\n"
        # The injected line is already in the clear read buffer: a careless client would take it as post-TLS data.
        assert await read_line(reader) == b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
        await writer.start_tls(client_ctx)
        writer.write(b"a2 NOOP\r\n")
        assert await read_line(reader) == b"a2 OK NOOP completed.\r\n"
        writer.close()


async def test_starttls_command_injection_runs_pipelined_commands_inside_tls(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    async with FakeServer(fixture("starttls-command-injection"), ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        writer.write(b"A STARTTLS\r\nX7Q NOOP\r\n")  # one segment, as the EAST tester sends it
        assert await read_line(reader) == b"A OK Begin TLS negotiation now.\r\n"
        await writer.start_tls(client_ctx)
        assert await read_line(reader) == b"X7Q OK NOOP completed.\r\n"  # answered without being sent over TLS
        writer.close()


async def test_preauth_in_clear_refuses_starttls(server_ctx: ssl.SSLContext) -> None:
    async with FakeServer(fixture("preauth-in-clear"), ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        assert (await read_line(reader)).startswith(b"* PREAUTH ")
        writer.write(b"a1 STARTTLS\r\n")
        assert await read_line(reader) == b"a1 BAD STARTTLS not allowed in authenticated state\r\n"
        writer.close()


async def test_slow_drip_sends_one_byte_at_a_time() -> None:
    profile = fixture("slow-drip")
    async with FakeServer(profile) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        started = time.monotonic()
        first = await asyncio.wait_for(reader.read(100), 1)
        assert len(first) == 1
        line = first + await read_line(reader, timeout=5)
        assert line == profile.greeting[0].encode() + b"\r\n"
        assert time.monotonic() - started >= (len(line) - 1) * profile.hostile.drip_interval
        writer.close()


def _with(profile: Profile, **hostile: object) -> Profile:
    import dataclasses

    from scanner.fakeserver.profile import Hostile

    return dataclasses.replace(profile, hostile=Hostile(**hostile))  # type: ignore[arg-type]


async def test_answer_pipelined_in_clear_sends_the_answer_with_the_ok_before_tls(server_ctx: ssl.SSLContext) -> None:
    profile = _with(fixture("starttls-command-injection"), answer_pipelined_in_clear=True)
    async with FakeServer(profile, ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        writer.write(b"A STARTTLS\r\nX7Q NOOP\r\n")
        assert await read_line(reader) == b"A OK Begin TLS negotiation now.\r\n"
        assert await read_line(reader) == b"X7Q OK NOOP completed.\r\n"  # in clear, before the handshake
        writer.close()
    assert srv.sessions[0].verbs("clear") == ["STARTTLS", "NOOP"]


async def test_say_after_tls_speaks_unprompted(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    profile = _with(fixture("starttls-command-injection"), say_after_tls="* OK [ALERT] hello\r\n")
    async with FakeServer(profile, ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        writer.write(b"A STARTTLS\r\n")
        await read_line(reader)
        await writer.start_tls(client_ctx)
        assert await read_line(reader) == b"* OK [ALERT] hello\r\n"
        writer.close()


async def test_a_safe_server_discards_a_command_that_came_while_its_ok_was_delayed(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    """STARTTLS, then the injected command in a segment of its own while the server still waits to answer: it lies
    unread in the server's stream buffer and must not be run inside TLS (Apache James CVE-2022-28220)."""
    profile = _with(fixture("starttls-command-injection"), reply_delay=0.2)  # no process_pipelined: a safe server
    async with FakeServer(profile, ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        writer.write(b"A STARTTLS\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"X7Q NOOP\r\n")
        assert await read_line(reader) == b"A OK Begin TLS negotiation now.\r\n"
        await writer.start_tls(client_ctx)
        writer.write(b"B NOOP\r\n")
        assert await read_line(reader) == b"B OK NOOP completed.\r\n"  # the first answer inside TLS is B's
        writer.close()
    assert srv.sessions[0].pipelined_after_starttls == b"X7Q NOOP\r\n"
