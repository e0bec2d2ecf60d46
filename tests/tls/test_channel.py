"""TlsChannel/PlainChannel against local asyncio servers (stdlib ssl on the server side)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cryptography import x509

from scanner.certgen import CA, Issued, make_ca
from scanner.tls.channel import PlainChannel, TlsChannel, TlsHandshakeError
from tests.tls.helpers import echo, serve, server_context


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA, Issued]:
    root = make_ca("channel test root")
    sub = make_ca("channel test intermediate", parent=root)
    leaf = sub.issue(["imap.example.test"], ip_addresses=["127.0.0.2"])
    return root, sub, leaf


async def _read_line(chan: PlainChannel | TlsChannel) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        data = await asyncio.wait_for(chan.read(), 2.0)
        if not data:
            break
        buf += data
    return buf


async def test_handshake_echo_sni_and_full_chain(pki: tuple[CA, CA, Issued], tmp_path: Path) -> None:
    root, sub, leaf = pki
    async with serve(echo, ctx=server_context(leaf, tmp_path)) as server:
        reader, writer = await server.connect()
        chan = await TlsChannel.handshake(reader, writer, server_name="imap.example.test", timeout=2.0)
        assert chan.info.version in ("TLSv1.2", "TLSv1.3")
        assert chan.info.cipher
        assert chan.info.server_name == "imap.example.test"
        certs = [x509.load_der_x509_certificate(der) for der in chan.info.chain_der]
        assert [c.subject for c in certs] == [leaf.cert.subject, sub.cert.subject]  # intermediate was presented
        assert await _read_line(chan) == b"hello from server\r\n"
        await chan.write(b"a1 capability\r\n")
        assert await _read_line(chan) == b"A1 CAPABILITY\r\n"
        big = (b"x" * 99 + b"\n") * 2000  # 200 kB: many TLS records, several read chunks
        await chan.write(big)
        got = b""
        while len(got) < len(big):
            data = await asyncio.wait_for(chan.read(), 2.0)
            assert data
            got += data
        assert got == big.upper()
        await chan.close()
    assert server.sni_seen == ["imap.example.test"]


async def test_no_sni_for_an_address(pki: tuple[CA, CA, Issued], tmp_path: Path) -> None:
    *_, leaf = pki
    async with serve(echo, ctx=server_context(leaf, tmp_path)) as server:
        reader, writer = await server.connect()
        chan = await TlsChannel.handshake(reader, writer, server_name="127.0.0.2", timeout=2.0)
        assert chan.info.server_name is None
        await chan.close()
    assert server.sni_seen == [None]


async def test_read_returns_empty_at_eof(pki: tuple[CA, CA, Issued], tmp_path: Path) -> None:
    *_, leaf = pki

    async def greet_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye\r\n")
        await writer.drain()
        writer.close()

    async with serve(greet_and_close, ctx=server_context(leaf, tmp_path)) as server:
        reader, writer = await server.connect()
        chan = await TlsChannel.handshake(reader, writer, server_name=None, timeout=2.0)
        assert await _read_line(chan) == b"bye\r\n"
        assert await asyncio.wait_for(chan.read(), 2.0) == b""
        assert await asyncio.wait_for(chan.read(), 2.0) == b""
        await chan.close()


async def test_handshake_times_out_against_a_silent_server() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # says nothing, waits for the client to give up
        writer.close()

    async with serve(silent) as server:
        reader, writer = await server.connect()
        started = time.monotonic()
        with pytest.raises(TlsHandshakeError) as caught:
            await TlsChannel.handshake(reader, writer, server_name="imap.example.test", timeout=0.3)
        assert caught.value.reason == "TLS handshake timed out"
        assert 0.25 < time.monotonic() - started < 2.0
        writer.close()


async def test_handshake_fails_against_a_plaintext_server() -> None:
    async def plaintext(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK hello\r\n")
        await writer.drain()
        await reader.read(100)
        writer.close()

    async with serve(plaintext) as server:
        reader, writer = await server.connect()
        with pytest.raises(TlsHandshakeError) as caught:
            await TlsChannel.handshake(reader, writer, server_name="imap.example.test", timeout=2.0)
        assert "timed out" not in caught.value.reason
        assert caught.value.reason  # OpenSSL's reason, e.g. "wrong version number"
        writer.close()


async def test_handshake_fails_when_server_closes() -> None:
    async def closer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with serve(closer) as server:
        reader, writer = await server.connect()
        with pytest.raises(TlsHandshakeError) as caught:
            await TlsChannel.handshake(reader, writer, server_name=None, timeout=2.0)
        assert "closed" in caught.value.reason
        writer.close()


async def test_plain_channel_then_starttls_upgrade(pki: tuple[CA, CA, Issued], tmp_path: Path) -> None:
    *_, leaf = pki
    ctx = server_context(leaf, tmp_path)

    async def starttls_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK ready\r\n")
        await writer.drain()
        assert await reader.readline() == b"a1 STARTTLS\r\n"
        writer.write(b"a1 OK begin\r\n")
        await writer.drain()
        await writer.start_tls(ctx)
        line = await reader.readline()
        writer.write(b"over tls: " + line)
        await writer.drain()
        writer.close()

    async with serve(starttls_server) as server:
        reader, writer = await server.connect()
        plain = PlainChannel(reader, writer)
        assert await _read_line(plain) == b"* OK ready\r\n"
        await plain.write(b"a1 STARTTLS\r\n")
        assert await _read_line(plain) == b"a1 OK begin\r\n"
        chan = await TlsChannel.handshake(plain.reader, plain.writer, server_name="imap.example.test", timeout=2.0)
        await chan.write(b"a2 NOOP\r\n")
        assert await _read_line(chan) == b"over tls: a2 NOOP\r\n"
        await chan.close()


async def test_version_bounds_are_applied(pki: tuple[CA, CA, Issued], tmp_path: Path) -> None:
    *_, leaf = pki
    async with serve(echo, ctx=server_context(leaf, tmp_path)) as server:
        reader, writer = await server.connect()
        chan = await TlsChannel.handshake(
            reader, writer, server_name=None, timeout=2.0, min_version="TLSv1.2", max_version="TLSv1.2"
        )
        assert chan.info.version == "TLSv1.2"
        await chan.close()


async def test_sni_is_normalised(pki: tuple[CA, CA, Issued], tmp_path: Path) -> None:
    *_, leaf = pki
    async with serve(echo, ctx=server_context(leaf, tmp_path)) as server:
        for name in ("imap.example.test.", "bücher.example.test"):
            reader, writer = await server.connect()
            chan = await TlsChannel.handshake(reader, writer, server_name=name, timeout=2.0)
            await chan.close()
    assert server.sni_seen == ["imap.example.test", "xn--bcher-kva.example.test"]
