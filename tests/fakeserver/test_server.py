"""The engine against raw asyncio streams: credentials, delays, STARTTLS, recording, the Exchange third strike."""

from __future__ import annotations

import asyncio
import base64
import secrets
import ssl
import time

import pytest

from scanner.fakeserver import FakeServer, bundled_profile, serve_all
from tests.fakeserver.helpers import HOST, read_eof, read_line


def dummy() -> tuple[str, str]:
    return f"mailprobe-{secrets.token_hex(4)}", secrets.token_urlsafe(12)


async def send(writer: asyncio.StreamWriter, line: str) -> None:
    writer.write(line.encode() + b"\r\n")
    await writer.drain()


async def test_dovecot_allowed_checks_dummy_credentials_in_clear_and_over_tls_after_the_delay(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    user, password = dummy()
    async with FakeServer(
        bundled_profile("dovecot-imap-plaintext-allowed"), ssl_context=server_ctx, login_delay=0.2
    ) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        greeting = await read_line(reader)
        assert b"AUTH=PLAIN" in greeting and b"LOGINDISABLED" not in greeting
        started = time.monotonic()
        await send(writer, f"a1 LOGIN {user} {password}")
        assert await read_line(reader) == b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
        assert time.monotonic() - started >= 0.2
        await send(writer, "a2 STARTTLS")
        assert await read_line(reader) == b"a2 OK Begin TLS negotiation now.\r\n"
        await writer.start_tls(client_ctx)
        await send(writer, f'a3 LOGIN "{user}" "{password}"')
        assert await read_line(reader) == b"a3 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
        writer.close()
        await srv.wait_idle()
    session = srv.sessions[0]
    assert session.tls_started
    assert [(c.phase, c.user, c.password) for c in session.credentials] == [
        ("clear", user, password),
        ("tls", user, password),
    ]
    assert session.verbs("clear") == ["LOGIN", "STARTTLS"] and session.verbs("tls") == ["LOGIN"]


async def test_dovecot_refused_answers_policy_at_once(server_ctx: ssl.SSLContext) -> None:
    async with FakeServer(
        bundled_profile("dovecot-imap-plaintext-refused"), ssl_context=server_ctx, login_delay=1.0
    ) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        started = time.monotonic()
        await send(writer, "a1 AUTHENTICATE PLAIN")  # refused before any continuation is offered
        assert await read_line(reader) == b"a1 NO [PRIVACYREQUIRED] Plaintext authentication disabled.\r\n"
        assert time.monotonic() - started < 0.5
        writer.close()


async def test_sasl_plain_continuation_and_payload_are_recorded(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    user, password = dummy()
    payload = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    async with FakeServer(bundled_profile("exchange-pop3s"), ssl_context=server_ctx, login_delay=0) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port, ssl=client_ctx)
        await read_line(reader)
        await send(writer, "AUTH PLAIN")
        assert await read_line(reader) == b"+ \r\n"
        await send(writer, payload)
        assert (await read_line(reader)).startswith(b"-ERR Authentication failure")
        await send(writer, "QUIT")
        assert await read_eof(reader) == b"+OK Microsoft Exchange Server 2013 POP3 server signing off.\r\n"
        await srv.wait_idle()
    assert srv.sessions[0].credentials[0].password == password
    assert srv.sessions[0].closed_by_server


async def test_imap_literals_are_read_and_decoded(server_ctx: ssl.SSLContext) -> None:
    async with FakeServer(bundled_profile("imap-no-tls"), login_delay=0) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        await send(writer, "a1 LOGIN {9}")
        assert await read_line(reader) == b"+ Ready for additional command text.\r\n"
        writer.write(b'mailprobe "pa ss\\"word"\r\n')
        assert await read_line(reader) == b"a1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"
        writer.close()
        await srv.wait_idle()
    assert (srv.sessions[0].credentials[0].user, srv.sessions[0].credentials[0].password) == ("mailprobe", 'pa ss"word')


async def test_no_tls_server_refuses_starttls() -> None:
    async with FakeServer(bundled_profile("imap-no-tls")) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        await send(writer, "a1 CAPABILITY")
        assert b"STARTTLS" not in await read_line(reader)
        await read_line(reader)
        await send(writer, "a2 STARTTLS")
        assert await read_line(reader) == b"a2 BAD Unknown command\r\n"
        writer.close()


async def test_liar_advertises_logindisabled_yet_accepts_login_in_clear(server_ctx: ssl.SSLContext) -> None:
    async with FakeServer(bundled_profile("imap-logindisabled-liar"), ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        await send(writer, "a1 CAPABILITY")
        assert b"LOGINDISABLED" in await read_line(reader)
        await read_line(reader)
        await send(writer, "a2 LOGIN mailprobe-00 x")
        assert await read_line(reader) == b"a2 OK LOGIN completed\r\n"
        await send(writer, "a3 STARTTLS")  # authenticated now: STARTTLS is no longer possible
        assert await read_line(reader) == b"a3 BAD STARTTLS not permitted now\r\n"
        writer.close()


async def test_hidden_starttls_works_without_being_advertised(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    async with FakeServer(bundled_profile("imap-hidden-starttls"), ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        await send(writer, "a1 CAPABILITY")
        assert b"STARTTLS" not in await read_line(reader)
        await read_line(reader)
        await send(writer, "a2 STARTTLS")
        assert await read_line(reader) == b"a2 OK Begin TLS negotiation now\r\n"
        await writer.start_tls(client_ctx)
        await send(writer, "a3 NOOP")
        assert await read_line(reader) == b"a3 OK NOOP completed.\r\n"
        writer.close()


async def test_starttls_over_tls_is_refused(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    async with FakeServer(bundled_profile("dovecot-pop3-plaintext-refused"), ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        await send(writer, "USER mailprobe-1")
        assert await read_line(reader) == (
            b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n"
        )
        await send(writer, "STLS")
        assert await read_line(reader) == b"+OK Begin TLS negotiation now.\r\n"
        await writer.start_tls(client_ctx)
        await send(writer, "CAPA")
        lines = [await read_line(reader) for _ in range(10)]
        assert b"STLS\r\n" not in lines and b"USER\r\n" in lines and lines[-1] == b".\r\n"
        await send(writer, "STLS")
        assert await read_line(reader) == b"-ERR TLS is already active.\r\n"
        writer.close()


@pytest.mark.parametrize("name", ["exchange-imap-securelogin", "exchange-pop3-plaintextauthentication"])
async def test_two_refusals_keep_the_exchange_session_open(name: str, server_ctx: ssl.SSLContext) -> None:
    profile = bundled_profile(name)
    refused = ("a1 LOGIN u p", "a2 LOGIN u p") if profile.protocol == "imap" else ("USER u", "PASS p")
    probe = "a3 NOOP" if profile.protocol == "imap" else "CAPA"
    async with FakeServer(profile, ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        answer = profile.answer(refused[0].split()[-3 if profile.protocol == "imap" else 0], "clear")
        assert answer is not None
        for line in refused:
            await send(writer, line)
            tag = line.split()[0] if profile.protocol == "imap" else ""
            assert await read_line(reader) == answer.lines[0].replace("{tag}", tag).encode() + b"\r\n"
        await send(writer, probe)
        assert (await read_line(reader)).startswith((b"a3 OK", b"+OK"))
        writer.close()
        await srv.wait_idle()
    assert srv.sessions[0].invalid_state_count == 2 and not srv.sessions[0].closed_by_server


async def test_pipelined_commands_after_starttls_are_discarded(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    async with FakeServer(bundled_profile("dovecot-imap-plaintext-refused"), ssl_context=server_ctx) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        writer.write(b"A STARTTLS\r\nINJ NOOP\r\n")
        assert await read_line(reader) == b"A OK Begin TLS negotiation now.\r\n"
        await writer.start_tls(client_ctx)
        await send(writer, "B NOOP")
        assert await read_line(reader) == b"B OK NOOP completed.\r\n"  # no "INJ OK" before it
        writer.close()
        await srv.wait_idle()
    assert srv.sessions[0].pipelined_after_starttls == b"INJ NOOP\r\n"


async def test_several_servers_at_once(server_ctx: ssl.SSLContext) -> None:
    servers = [FakeServer(bundled_profile(n), ssl_context=server_ctx) for n in ("exchange-imaps", "exchange-pop3s")]
    async with serve_all(*servers) as running:
        assert len({s.port for s in running}) == 2
        for srv in running:
            reader, writer = await asyncio.open_connection(HOST, srv.port, ssl=ssl._create_unverified_context())
            assert b"Microsoft Exchange" in await read_line(reader)
            writer.close()


def test_implicit_tls_needs_a_context() -> None:
    with pytest.raises(ValueError):
        FakeServer(bundled_profile("exchange-imaps"))
