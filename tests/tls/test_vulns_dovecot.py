"""Heartbleed and CCS injection against a real Dovecot (OpenSSL 3: no heartbeat, early ChangeCipherSpec refused),
through the enumeration a scan runs, on an implicit-TLS port and after STARTTLS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from scanner.certgen import make_ca
from scanner.tls.enumerate import EnumerationLimits, Opener, enumerate_tls
from tests.conftest import DovecotFactory

pytestmark = pytest.mark.dovecot

NAME = "imap.mailprobe.test"


def _implicit(address: str, port: int) -> Opener:
    async def open_() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(address, port, local_addr=("127.0.0.1", 0))

    return open_


def _starttls(address: str, port: int) -> Opener:
    async def open_() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(address, port, local_addr=("127.0.0.1", 0))
        await reader.readline()  # the greeting
        writer.write(b"a STARTTLS\r\n")
        if not (await reader.readline()).startswith(b"a OK"):
            writer.close()
            raise ConnectionError("STARTTLS refused")
        return reader, writer

    return open_


@pytest.mark.parametrize("transport", ["implicit", "starttls"])
async def test_dovecot_is_not_vulnerable_to_heartbleed_or_ccs_injection(
    dovecot_factory: DovecotFactory, dovecot_files: Path, transport: str
) -> None:
    cert_path, key_path = make_ca("mailprobe vulns CA").issue([NAME]).write(dovecot_files, "imap")
    dv = dovecot_factory("plaintext_refused", cert_path=cert_path, key_path=key_path)
    opener = _implicit(dv.address, dv.ports.imaps) if transport == "implicit" else _starttls(dv.address, dv.ports.imap)
    config = await enumerate_tls(opener, server_name=NAME, limits=EnumerationLimits(hello_timeout=5.0))
    assert config.untested == ()
    assert "TLSv1.2" in config.versions
    assert config.heartbleed.verdict == "not_vulnerable"
    assert "echoed the heartbeat" in config.heartbleed.evidence
    assert config.ccs_injection.verdict == "not_vulnerable"
    assert config.ccs_injection.version == "TLSv1.2"
