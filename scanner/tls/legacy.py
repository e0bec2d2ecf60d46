"""Are legacy protocol versions (SSLv3, TLS 1.0, TLS 1.1) still accepted? One short handshake per version.

    async def opener():                      # a connection ready for TLS (for 110/143: after STARTTLS/STLS)
        return await asyncio.open_connection(address, port)
    result = await probe_legacy_versions(opener, server_name="mail.example.com", timeout=5.0)
    result.accepted    # ("TLSv1",)
    result.untested    # ("SSLv3: the local OpenSSL cannot offer it",)

Each attempt pins min = max = the version and uses OpenSSL security level 0, because OpenSSL 3 refuses TLS 1.0/1.1
at its default level: without that, "refused" would be our own library's choice, not the server's. A version the
local OpenSSL cannot offer at all is reported untested, never refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from OpenSSL import SSL

from scanner.tls.channel import TlsChannel, TlsHandshakeError, client_context

LEGACY_VERSIONS: tuple[str, ...] = ("SSLv3", "TLSv1", "TLSv1.1")

Opener = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@dataclass(frozen=True)
class LegacyResult:
    accepted: tuple[str, ...] = ()  # versions the server completed a handshake with
    refused: tuple[str, ...] = ()  # versions the server turned down
    untested: tuple[str, ...] = ()  # "<version>: <reason>"


@functools.cache
def local_support(version: str) -> str | None:
    """None when the local OpenSSL can send a ClientHello for ``version`` alone; else the reason it cannot."""
    try:
        conn = SSL.Connection(client_context(version, version, 0), None)
        conn.set_connect_state()
        conn.do_handshake()
    except SSL.WantReadError:
        return None if conn.bio_read(65536) else "the local OpenSSL produced no ClientHello"
    except (SSL.Error, ValueError):
        return "the local OpenSSL cannot offer it"
    return "the local OpenSSL cannot offer it"


async def probe_legacy_versions(
    opener: Opener,
    *,
    server_name: str | None,
    timeout: float,
    versions: Sequence[str] = LEGACY_VERSIONS,
) -> LegacyResult:
    """Try each version in turn on a fresh connection from ``opener``; never raises for what the server does."""
    accepted: list[str] = []
    refused: list[str] = []
    untested: list[str] = []
    for version in versions:
        reason = local_support(version)
        if reason:
            untested.append(f"{version}: {reason}")
            continue
        outcome = await _attempt(opener, version, server_name, timeout)
        if outcome == "accepted":
            accepted.append(version)
        elif outcome == "refused":
            refused.append(version)
        else:
            untested.append(f"{version}: {outcome}")
    return LegacyResult(tuple(accepted), tuple(refused), tuple(untested))


async def _attempt(opener: Opener, version: str, server_name: str | None, timeout: float) -> str:
    """ "accepted", "refused", or the reason the attempt says nothing."""
    try:
        reader, writer = await asyncio.wait_for(opener(), timeout)
    except TimeoutError:
        return "could not open a connection in time"
    except Exception as exc:  # the opener is the caller's code (connect, STARTTLS): any failure means untested
        return f"could not open a connection ({exc or type(exc).__name__})"
    try:
        chan = await TlsChannel.handshake(
            reader,
            writer,
            server_name=server_name,
            timeout=timeout,
            min_version=version,
            max_version=version,
            security_level=0,
        )
    except TlsHandshakeError as exc:
        if not writer.is_closing():
            writer.close()
        if exc.reason == "TLS handshake timed out":
            return f"no answer within {timeout:g} s"
        return "refused"
    with contextlib.suppress(OSError, ConnectionError, TimeoutError):
        await asyncio.wait_for(chan.close(), 1.0)
    return "accepted" if chan.info.version == version else "refused"
