"""The TLS channel, chain analysis and legacy probes against a real Dovecot serving certgen certificates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from scanner.certgen import make_ca
from scanner.model import TlsInfo
from scanner.tls.certificate import analyse_chain
from scanner.tls.channel import PlainChannel, TlsChannel
from scanner.tls.legacy import probe_legacy_versions
from scanner.tls.trust import load_trust_store
from scanner.verdicts.certificates import certificate_findings
from tests.conftest import DovecotFactory

pytestmark = pytest.mark.dovecot

NAME = "imap.mailprobe.test"


async def _line(chan: PlainChannel | TlsChannel) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n"):
        data = await asyncio.wait_for(chan.read(), 5.0)
        assert data, f"EOF after {buf!r}"
        buf += data
    return buf


async def test_dovecot_chain_on_993_and_143(dovecot_factory: DovecotFactory, dovecot_files: Path) -> None:
    root = make_ca("mailprobe dovecot-test root")
    leaf = make_ca("mailprobe dovecot-test intermediate", parent=root).issue([NAME])
    cert_path, key_path = leaf.write(dovecot_files, "imap")
    dv = dovecot_factory("plaintext_refused", cert_path=cert_path, key_path=key_path)
    trust = load_trust_store([root.write(dovecot_files, "root")], defaults=False)

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(dv.address, port, local_addr=("127.0.0.1", 0))

    reader, writer = await connect(dv.ports.imaps)
    implicit = await TlsChannel.handshake(reader, writer, server_name=NAME, timeout=5.0)
    assert (await _line(implicit)).startswith(b"* OK")
    await implicit.write(b"a1 LOGOUT\r\n")
    assert (await _line(implicit)).startswith(b"* BYE")
    await implicit.close()
    assert len(implicit.info.chain_der) == 2
    info = analyse_chain(implicit.info.chain_der, names=[NAME], address=None, trust=trust)
    assert (info.trusted, info.name_match, info.chain_length) == (True, True, 2)
    assert certificate_findings(TlsInfo(implicit.info.version, implicit.info.cipher, info)) == []

    reader, writer = await connect(dv.ports.imap)
    plain = PlainChannel(reader, writer)
    assert b"STARTTLS" in await _line(plain)
    await plain.write(b"a1 STARTTLS\r\n")
    assert (await _line(plain)).startswith(b"a1 OK")
    upgraded = await TlsChannel.handshake(reader, writer, server_name=NAME, timeout=5.0)
    await upgraded.write(b"a2 CAPABILITY\r\n")
    assert b"IMAP4rev1" in await _line(upgraded)
    await upgraded.close()
    assert upgraded.info.chain_der == implicit.info.chain_der

    legacy = await probe_legacy_versions(
        lambda: connect(dv.ports.imaps), server_name=NAME, timeout=5.0, versions=("TLSv1", "TLSv1.1")
    )
    assert legacy.accepted == ()  # Dovecot's default ssl_min_protocol is TLSv1.2
    assert set(legacy.refused) == {"TLSv1", "TLSv1.1"}
