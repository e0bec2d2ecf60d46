"""enumerate_tls against real OpenSSL servers (the stdlib's ssl, set up with known versions, suites and groups),
behind a line-protocol front that can play a server throttling its clients."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scanner.certgen import Issued, make_ca
from scanner.tls.enumerate import EnumerationLimits, Opener, enumerate_tls
from tests.tls.helpers import Server, echo, serve

FAST = EnumerationLimits(hello_timeout=2.0, backoff=0.05)


@pytest.fixture(scope="module")
def leaf() -> Issued:
    return make_ca("enumeration test CA").issue(["imap.example.test"])


def _context(leaf: Issued, directory: Path) -> ssl.SSLContext:
    cert, key = leaf.write(directory, "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


@dataclass
class Front:
    """A STARTTLS-like front on 127.0.0.3: greets "* OK" (or "* BYE" when throttling), then relays the bytes to
    the TLS server behind it. Counts connections and the most open at once."""

    backend: Server
    refuse: set[int] = field(default_factory=set)  # connection numbers (from 1) greeted with BYE
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            if self.connections in self.refuse:
                writer.write(b"* BYE Too many connections from your IP\r\n")
                await writer.drain()
                return
            writer.write(b"* OK ready\r\n")
            await writer.drain()
            up_reader, up_writer = await self.backend.connect()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (ConnectionError, OSError):
            pass
        finally:
            self.open_now -= 1
            writer.close()

    def opener(self) -> Opener:
        async def open_() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection("127.0.0.3", self.port, local_addr=("127.0.0.1", 0))
            greeting = await reader.readline()
            if not greeting.startswith(b"* OK"):
                writer.close()
                raise ConnectionError(f"refused: {greeting.decode().strip()}")
            return reader, writer

        return open_


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def front(backend: Server, refuse: set[int] | None = None) -> AsyncIterator[Front]:
    f = Front(backend, refuse or set())
    server = await asyncio.start_server(f.handle, "127.0.0.3", 0)
    f.port = server.sockets[0].getsockname()[1]
    try:
        yield f
    finally:
        server.close()


def _tls12_server(leaf: Issued, tmp_path: Path) -> ssl.SSLContext:
    ctx = _context(leaf, tmp_path)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA")
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.set_ecdh_curve("secp384r1")
    return ctx


async def test_tls12_server_with_its_own_order_and_one_curve(leaf: Issued, tmp_path: Path) -> None:
    async with serve(echo, ctx=_tls12_server(leaf, tmp_path)) as backend, front(backend) as f:
        config = await enumerate_tls(f.opener(), server_name="imap.example.test", limits=FAST)
    assert config.versions == ("TLSv1.2",)
    (tls12,) = config.suites
    assert tls12.suites == (  # the server's order, as set with set_ciphers
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
    )
    assert tls12.server_order is True
    assert config.groups == ("secp384r1",)
    assert config.forward_secrecy == "some" and config.aead == "some"
    assert config.compression is False
    assert config.secure_renegotiation is True and config.extended_master_secret is True
    assert config.fallback_scsv is None  # one version: nothing to fall back from
    assert config.untested == ()
    assert f.most_open == 1  # one connection at a time
    assert config.handshakes == f.connections  # every connection carried one hello, none was wasted


async def test_client_order_server_and_tls13(leaf: Issued, tmp_path: Path) -> None:
    ctx = _context(leaf, tmp_path)
    ctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256")
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    async with serve(echo, ctx=ctx) as backend, front(backend) as f:
        config = await enumerate_tls(f.opener(), server_name=None, limits=FAST)
    assert config.versions == ("TLSv1.2", "TLSv1.3")
    tls13, tls12 = config.suites
    assert tls13.version == "TLSv1.3"
    assert set(tls13.suites) == {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
    assert set(tls12.suites) == {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}
    assert tls12.server_order is False
    assert config.forward_secrecy == "all" and config.aead == "all"
    assert "x25519" in config.groups and "secp256r1" in config.groups  # OpenSSL's defaults, over TLS 1.3
    # asyncio's TLS server closes on a failed handshake without sending OpenSSL's alert, so RFC 7507 is judged
    # against real Dovecot and Postfix (tests/integration/test_tls_profiles.py), not here


async def test_legacy_versions_are_enumerated_with_hellos_of_our_own(leaf: Issued, tmp_path: Path) -> None:
    ctx = _context(leaf, tmp_path)
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"the local OpenSSL will not serve TLS 1.0: {exc}")
    async with serve(echo, ctx=ctx) as backend, front(backend) as f:
        config = await enumerate_tls(f.opener(), server_name=None, limits=FAST)
    assert {"TLSv1", "TLSv1.1", "TLSv1.2"} <= set(config.versions)
    assert "SSLv3" not in config.versions  # OpenSSL 3 has no SSL 3.0: refused, not "untested"
    tls10 = next(v for v in config.suites if v.version == "TLSv1")
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in tls10.suites
    assert config.forward_secrecy == "some"  # RSA key exchange is among them


async def test_a_throttling_server_is_backed_off_from_and_the_result_is_the_same(leaf: Issued, tmp_path: Path) -> None:
    async with serve(echo, ctx=_tls12_server(leaf, tmp_path)) as backend:
        async with front(backend) as calm:
            expected = await enumerate_tls(calm.opener(), server_name=None, limits=FAST)
        async with front(backend, refuse={3, 4, 9}) as busy:
            loop = asyncio.get_running_loop()
            started = loop.time()
            config = await enumerate_tls(busy.opener(), server_name=None, limits=FAST)
            took = loop.time() - started
    assert config.suites == expected.suites and config.groups == expected.groups
    assert config.untested == ()
    assert busy.connections == calm.connections + 3  # each refusal cost one connection, then the same hello again
    assert took >= 0.05 + 0.1 + 0.05  # the pauses: 0.05 then 0.1 for the pair, 0.05 for the single one
    assert busy.most_open == 1


async def test_a_server_refusing_every_connection_ends_the_enumeration_with_the_reason(
    leaf: Issued, tmp_path: Path
) -> None:
    async with serve(echo, ctx=_tls12_server(leaf, tmp_path)) as backend, front(backend, set(range(1, 100))) as f:
        config = await enumerate_tls(f.opener(), server_name=None, limits=FAST)
    assert f.connections == FAST.retries + 1  # bounded: no storm of reconnects
    assert config.versions == () and config.handshakes == 0
    assert len(config.untested) == 1
    assert config.untested[0].startswith("enumeration incomplete: the server refused 4 connections in a row")
    assert "Too many connections" in config.untested[0]


SSL_OP_PRIORITIZE_CHACHA = 0x00200000  # OpenSSL 1.1.1 and later; Python's ssl has no name for it


async def test_a_server_that_puts_chacha20_first_for_clients_that_do_still_imposes_its_order(
    leaf: Issued, tmp_path: Path
) -> None:
    """OpenSSL's PRIORITIZE_CHACHA (for clients without AES hardware): a server imposing its order takes ChaCha20
    when the client lists it first. The hello that tells the order must not lead with ChaCha20, or such a server
    reads as following the client's order (and the old profile would say it imposes none)."""
    ctx = _context(leaf, tmp_path)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305")
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA
    async with serve(echo, ctx=ctx) as backend, front(backend) as f:
        config = await enumerate_tls(f.opener(), server_name=None, limits=FAST)
    (tls12,) = config.suites
    assert tls12.suites[-1] == "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"  # last in its own order
    assert tls12.server_order is True
