"""Byte channels over asyncio streams: plain, and TLS through pyOpenSSL memory BIOs.

pyOpenSSL (not the stdlib ``ssl`` module) because a scanner needs what stdlib hides: the full chain the server
presented (``get_peer_cert_chain``), per-connection protocol bounds down to TLS 1.0 and OpenSSL security level 0
for the legacy probes. The memory BIOs keep all socket I/O on asyncio: OpenSSL only ever touches bytes in memory,
so nothing blocks the event loop.

No certificate verification happens here (VERIFY_NONE): the handshake must succeed against broken certificates so
that ``scanner.tls.certificate`` can judge them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress

from OpenSSL import SSL, crypto

from scanner.tls.plain import _READ_CHUNK, HandshakeInfo, PlainChannel, TlsHandshakeError, _close_writer

__all__ = ["VERSIONS", "HandshakeInfo", "PlainChannel", "TlsChannel", "TlsError", "TlsHandshakeError", "client_context"]


VERSIONS: dict[str, int] = {
    "SSLv3": SSL.SSL3_VERSION,
    "TLSv1": SSL.TLS1_VERSION,
    "TLSv1.1": SSL.TLS1_1_VERSION,
    "TLSv1.2": SSL.TLS1_2_VERSION,
    "TLSv1.3": SSL.TLS1_3_VERSION,
}


class TlsError(ConnectionError):
    """A TLS failure after the handshake (bad record, fatal alert)."""


class TlsChannel:
    """A TLS client channel. Create it with ``await TlsChannel.handshake(...)``."""

    is_tls = True

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: SSL.Connection, info: HandshakeInfo
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.info = info
        self._conn = conn
        self._eof = False

    @classmethod
    async def handshake(
        cls,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        server_name: str | None,
        timeout: float,
        min_version: str | None = None,
        max_version: str | None = None,
        security_level: int | None = None,
    ) -> TlsChannel:
        """Run a client handshake over the streams (fresh connection, or right after STARTTLS/STLS).

        ``server_name`` is sent as SNI when it is a DNS name (never for an IP address literal). ``min_version`` /
        ``max_version``: keys of ``VERSIONS`` ("TLSv1" ... "TLSv1.3"). ``security_level``: OpenSSL security level
        (0 lets OpenSSL 3 offer TLS 1.0/1.1 and weak ciphers). Raises ``TlsHandshakeError`` on any failure.
        """
        sni = _sni_name(server_name)
        try:
            conn = SSL.Connection(client_context(min_version, max_version, security_level), None)
        except (SSL.Error, ValueError) as exc:
            raise TlsHandshakeError(f"local TLS setup failed: {_reason(exc)}") from None
        conn.set_connect_state()
        if sni:
            try:
                conn.set_tlsext_host_name(sni.encode("idna"))
            except (UnicodeError, ValueError, SSL.Error):
                sni = None  # a name that cannot be an SNI host name: go without, like a client would
        try:
            await asyncio.wait_for(_drive_handshake(conn, reader, writer), timeout)
        except TimeoutError:
            raise TlsHandshakeError("TLS handshake timed out") from None
        except (OSError, ConnectionError) as exc:
            raise TlsHandshakeError(f"connection error during TLS handshake: {exc}") from None
        info = HandshakeInfo(
            version=conn.get_protocol_version_name(),
            cipher=conn.get_cipher_name() or "",
            chain_der=_presented_chain(conn),
            server_name=sni,
        )
        return cls(reader, writer, conn, info)

    async def read(self, n: int = _READ_CHUNK) -> bytes:
        """Up to ``n`` bytes of application data; b"" at EOF (close_notify or the TCP connection closed)."""
        while True:
            if self._eof:
                return b""
            try:
                data = self._conn.recv(n)
            except SSL.WantReadError:
                await self._flush()  # post-handshake messages may need an answer (key update)
                incoming = await self.reader.read(_READ_CHUNK)
                if not incoming:
                    self._eof = True
                    return b""
                self._conn.bio_write(incoming)
                continue
            except SSL.ZeroReturnError:
                self._eof = True
                return b""
            except SSL.SysCallError:  # EOF without close_notify
                self._eof = True
                return b""
            except SSL.Error as exc:
                raise TlsError(f"TLS error: {_reason(exc)}") from None
            await self._flush()
            if data:
                return data

    async def write(self, data: bytes) -> None:
        try:
            self._conn.sendall(data)
        except SSL.Error as exc:
            raise TlsError(f"TLS error: {_reason(exc)}") from None
        await self._flush()

    async def close(self) -> None:
        """Send close_notify (best effort) and close the connection."""
        try:
            with contextlib.suppress(SSL.Error):
                self._conn.shutdown()
            with contextlib.suppress(OSError, ConnectionError):
                await self._flush()
        finally:
            await _close_writer(self.writer)  # also when the close_notify could not be sent or was cancelled

    async def _flush(self) -> None:
        await _flush(self._conn, self.writer)


def _presented_chain(conn: SSL.Connection) -> tuple[bytes, ...]:
    """The chain as DER, straight from OpenSSL: never parsed here, since a hostile certificate (a version out of
    range, a negative serial) makes the Python parsers raise or warn; scanner.tls.certificate judges it later."""
    chain = conn.get_peer_cert_chain() or []
    if not chain and (leaf := conn.get_peer_certificate()) is not None:
        chain = [leaf]
    return tuple(crypto.dump_certificate(crypto.FILETYPE_ASN1, c) for c in chain)


def _sni_name(server_name: str | None) -> str | None:
    if not server_name:
        return None
    name = server_name.rstrip(".")
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name or None
    return None  # RFC 6066 3: literal addresses are not permitted in SNI


@functools.lru_cache(maxsize=64)
def client_context(min_version: str | None, max_version: str | None, security_level: int | None) -> SSL.Context:
    """A pyOpenSSL client context without verification, with optional version bounds and security level.

    Shared: one context per set of parameters serves every connection (a context costs far more memory and CPU
    to build than a connection, and nothing per connection is set on it). Callers must not change it."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)
    # A connection waiting on its server (a failed login's delay, a slow reply) gives its 34 KB of record buffers
    # back: hundreds of conversations at once wait far more than they read.
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
    if security_level is not None:
        # At level 0 offer everything OpenSSL still has, so a legacy-only server finds a common cipher.
        base = "ALL:COMPLEMENTOFDEFAULT" if security_level == 0 else "DEFAULT"
        ctx.set_cipher_list(f"{base}:@SECLEVEL={int(security_level)}".encode())
    if min_version is not None:
        ctx.set_min_proto_version(_version(min_version))
    if max_version is not None:
        ctx.set_max_proto_version(_version(max_version))
    return ctx


def _version(name: str) -> int:
    try:
        return VERSIONS[name]
    except KeyError:
        raise ValueError(f"unknown TLS version {name!r}; one of {', '.join(VERSIONS)}") from None


async def _drive_handshake(conn: SSL.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            conn.do_handshake()
        except SSL.WantReadError:
            await _flush(conn, writer)
            data = await reader.read(_READ_CHUNK)
            if not data:
                raise TlsHandshakeError("connection closed during TLS handshake") from None
            conn.bio_write(data)
            continue
        except SSL.Error as exc:
            with contextlib.suppress(OSError, ConnectionError):
                await _flush(conn, writer)  # our alert, if OpenSSL produced one
            raise TlsHandshakeError(_reason(exc)) from None
        await _flush(conn, writer)
        return


async def _flush(conn: SSL.Connection, writer: asyncio.StreamWriter) -> None:
    """Send whatever OpenSSL has written to its outgoing memory BIO."""
    while True:
        try:
            data = conn.bio_read(_READ_CHUNK)
        except SSL.WantReadError:
            break
        if not data:
            break
        writer.write(data)
    await writer.drain()


def _reason(exc: Exception) -> str:
    """OpenSSL's error queue as short text: reasons only, e.g. "wrong version number"."""
    args = exc.args[0] if exc.args else None
    if isinstance(args, list) and args:
        reasons = [str(item[-1]) for item in args if isinstance(item, tuple) and item]
        if reasons:
            return "; ".join(dict.fromkeys(reasons))
    if isinstance(exc, SSL.SysCallError):
        return "connection closed during TLS handshake"
    return str(exc) or type(exc).__name__
