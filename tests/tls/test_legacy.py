"""probe_legacy_versions against local stdlib-ssl servers that do and do not allow TLS 1.0/1.1."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from scanner.certgen import Issued, make_ca
from scanner.tls.legacy import LegacyResult, Opener, local_support, probe_legacy_versions
from tests.tls.helpers import Server, echo, serve, server_context


@pytest.fixture(scope="module")
def leaf() -> Issued:
    return make_ca("legacy test CA").issue(["imap.example.test"])


def _opener(server: Server, connections: list[int] | None = None) -> Opener:
    async def opener() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if connections is not None:
            connections.append(1)
        return await server.connect()

    return opener


def _server_allows_tls10(ctx: ssl.SSLContext) -> bool:
    """Whether the local OpenSSL lets the stdlib server side accept TLS 1.0 at all (distribution policy)."""
    return ctx.minimum_version <= ssl.TLSVersion.TLSv1 and local_support("TLSv1") is None


async def test_legacy_server_accepts_tls10_and_11(leaf: Issued, tmp_path: Path) -> None:
    try:
        ctx = server_context(leaf, tmp_path, minimum=ssl.TLSVersion.TLSv1)
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"the local OpenSSL will not serve TLS 1.0: {exc}")
    if not _server_allows_tls10(ctx):
        pytest.skip("the local OpenSSL will not serve TLS 1.0")
    connections: list[int] = []
    async with serve(echo, ctx=ctx) as server:
        result = await probe_legacy_versions(_opener(server, connections), server_name="imap.example.test", timeout=2.0)
    assert result.accepted == ("TLSv1", "TLSv1.1")
    assert result.refused == ()
    assert len(connections) == 2  # TLS 1.1 picked from the range, then TLS 1.0 alone
    if local_support("SSLv3"):
        assert result.untested == (f"SSLv3: {local_support('SSLv3')}",)
    assert server.sni_seen and set(server.sni_seen) == {"imap.example.test"}


async def test_modern_server_refuses_legacy(leaf: Issued, tmp_path: Path) -> None:
    ctx = server_context(leaf, tmp_path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    connections: list[int] = []
    async with serve(echo, ctx=ctx) as server:
        result = await probe_legacy_versions(
            _opener(server, connections), server_name="imap.example.test", timeout=2.0, versions=("TLSv1", "TLSv1.1")
        )
    assert result == LegacyResult(accepted=(), refused=("TLSv1", "TLSv1.1"), untested=())
    assert len(connections) == 1  # one refused handshake over the whole range settles both


async def test_server_with_tls10_only_has_11_refused(leaf: Issued, tmp_path: Path) -> None:
    try:
        ctx = server_context(leaf, tmp_path, minimum=ssl.TLSVersion.TLSv1)
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"the local OpenSSL will not serve TLS 1.0: {exc}")
    if not _server_allows_tls10(ctx):
        pytest.skip("the local OpenSSL will not serve TLS 1.0")
    async with serve(echo, ctx=ctx) as server:
        result = await probe_legacy_versions(
            _opener(server), server_name="imap.example.test", timeout=2.0, versions=("TLSv1", "TLSv1.1")
        )
    assert result == LegacyResult(accepted=("TLSv1",), refused=("TLSv1.1",), untested=())


async def test_silent_server_and_failing_opener_are_untested() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async with serve(silent) as server:
        result = await probe_legacy_versions(_opener(server), server_name=None, timeout=0.3, versions=("TLSv1",))
    assert result.accepted == () and result.refused == ()
    assert result.untested == ("TLSv1: no answer within 0.3 s",)

    async def refused_starttls() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise RuntimeError("STARTTLS refused: a1 NO not now")

    result = await probe_legacy_versions(refused_starttls, server_name=None, timeout=1.0, versions=("TLSv1.1",))
    assert result.untested == ("TLSv1.1: could not open a connection (STARTTLS refused: a1 NO not now)",)


def test_local_support_reports_a_reason() -> None:
    assert local_support("TLSv1.2") is None
    assert local_support("TLSv9") == "the local OpenSSL cannot offer it"
