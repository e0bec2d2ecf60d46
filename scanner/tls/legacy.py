"""Are legacy protocol versions (SSLv3, TLS 1.0, TLS 1.1) still accepted? Usually one short handshake.

    async def opener():                      # a connection ready for TLS (for 110/143: after STARTTLS/STLS)
        return await asyncio.open_connection(address, port)
    result = await probe_legacy_versions(opener, server_name="mail.example.com", timeout=5.0)
    result.accepted    # ("TLSv1",)
    result.untested    # ("SSLv3: the local OpenSSL cannot offer it",)

Each attempt offers legacy versions only (never TLS 1.2 or later) at OpenSSL security level 0, because OpenSSL 3
refuses TLS 1.0/1.1 at its default level: without that, "refused" would be our own library's choice, not the
server's. A version the local OpenSSL cannot offer at all is reported untested, never refused.
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
    """Which of ``versions`` (oldest first) the server still accepts; never raises for what the server does.

    One handshake offers the whole range: a server picks the highest version it shares with the client, so a
    refusal settles every version at once (the usual answer, one connection), and an accepted version V settles
    the ones above V as refused; only the versions below V need another try."""
    untested = [f"{v}: {reason}" for v in versions if (reason := local_support(v))]
    pending = [v for v in versions if local_support(v) is None]
    accepted: list[str] = []
    refused: list[str] = []
    while pending:
        outcome, negotiated = await _attempt(opener, pending[0], pending[-1], server_name, timeout)
        if outcome == "accepted" and negotiated in pending:
            accepted.append(negotiated)
            cut = pending.index(negotiated)
            refused.extend(pending[cut + 1 :])
            pending = pending[:cut]
        elif outcome in ("accepted", "refused"):  # "accepted" outside the range offered counts as refused
            refused.extend(pending)
            pending = []
        else:
            untested.extend(f"{v}: {outcome}" for v in pending)
            pending = []
    order = {v: i for i, v in enumerate(versions)}
    return LegacyResult(
        tuple(sorted(accepted, key=order.__getitem__)), tuple(sorted(refused, key=order.__getitem__)), tuple(untested)
    )


async def _attempt(
    opener: Opener, lowest: str, highest: str, server_name: str | None, timeout: float
) -> tuple[str, str | None]:
    """("accepted", version negotiated), ("refused", None), or (the reason the attempt says nothing, None)."""
    try:
        # In this task, not wait_for's: a connection the opener made just as the probe was cancelled cannot be
        # left behind in a task nobody awaits.
        async with asyncio.timeout(timeout):
            reader, writer = await opener()
    except TimeoutError:
        return "could not open a connection in time", None
    except Exception as exc:  # the opener is the caller's code (connect, STARTTLS): any failure means untested
        return f"could not open a connection ({exc or type(exc).__name__})", None
    try:
        chan = await TlsChannel.handshake(
            reader,
            writer,
            server_name=server_name,
            timeout=timeout,
            min_version=lowest,
            max_version=highest,
            security_level=0,
        )
    except TlsHandshakeError as exc:
        writer.close()
        if exc.reason == "TLS handshake timed out":
            return f"no answer within {timeout:g} s", None
        return "refused", None
    except BaseException:  # cancelled mid-handshake: the connection goes with it
        writer.close()
        raise
    try:
        with contextlib.suppress(OSError, ConnectionError, TimeoutError):
            await asyncio.wait_for(chan.close(), 1.0)
    finally:
        writer.close()  # a no-op once closed; closes it when the polite close was cut short
    return "accepted", chan.info.version
