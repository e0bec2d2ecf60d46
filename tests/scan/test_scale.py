"""What keeps a large scan's memory flat: conversations capped per process, one analysis per distinct chain."""

from __future__ import annotations

import asyncio
import dataclasses

from scanner import certgen
from scanner.model import Endpoint, EndpointResult
from scanner.probe import tls_inspect
from scanner.probe.context import ScanContext
from scanner.probe.options import ProbeOptions
from scanner.scan import scheduler as runner
from scanner.scan.scheduler import Scan
from scanner.tls.channel import HandshakeInfo


def row(endpoint: Endpoint) -> EndpointResult:
    return EndpointResult(
        host=endpoint.host,
        address=endpoint.address,
        name=None,
        port=endpoint.port,
        protocol=endpoint.protocol,
        transport=endpoint.transport,
        state="open",
    )


async def test_conversations_are_capped_while_connects_are_not(monkeypatch):
    monkeypatch.setattr(runner, "MAX_CONVERSATIONS", 8)
    talking = peak = 0
    started = asyncio.Event()
    connecting = 0

    async def probe(endpoint: Endpoint, options: ProbeOptions, context: ScanContext) -> EndpointResult:
        nonlocal talking, peak, connecting
        connecting += 1
        if connecting == 64:
            started.set()
        await started.wait()  # every endpoint "connects" at once: the global limit is 64
        async with context.conversation_slot(endpoint.address):
            talking += 1
            peak = max(peak, talking)
            await asyncio.sleep(0.005)
            talking -= 1
        return row(endpoint)

    endpoints = [
        Endpoint(f"127.0.{i // 200}.{i % 200 + 2}", f"127.0.{i // 200}.{i % 200 + 2}", 143, "imap", "starttls")
        for i in range(64)
    ]
    got = [r async for r in Scan(endpoints, ProbeOptions(), concurrency=64, probe=probe).results()]
    assert len(got) == 64
    assert connecting == 64 and peak == 8


async def test_a_chain_is_analysed_once_however_many_addresses_present_it(monkeypatch):
    ca = certgen.make_ca("scale test CA")
    issued = ca.issue(["mail.example.test"], ip_addresses=["127.0.5.1"])
    calls = []
    real = tls_inspect.analyse_chain
    monkeypatch.setattr(tls_inspect, "analyse_chain", lambda *a, **k: calls.append(1) or real(*a, **k))
    tls_inspect._chain_facts.cache_clear()
    handshake = HandshakeInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", issued.chain_der, None)
    options = ProbeOptions(legacy_tls=False)
    infos = []
    for address in ("127.0.5.1", "127.0.5.2", "127.0.5.3"):
        endpoint = Endpoint(address, address, 993, "imap", "implicit")
        info, _ = await tls_inspect.inspect_tls(endpoint, options, handshake, software=None, opener=None)
        infos.append(info.certificate)
    assert len(calls) == 1
    # the names are still judged per endpoint: only the first address is in the certificate
    assert [c.name_match for c in infos] == [True, False, False]
    assert [c.names_checked for c in infos] == [("127.0.5.1",), ("127.0.5.2",), ("127.0.5.3",)]
    # exactly what a fresh analysis for that address says
    fresh = real(list(issued.chain_der), names=[], address="127.0.5.2", trust=tls_inspect.trust_store(None))
    assert dataclasses.replace(infos[1], days_left=fresh.days_left) == fresh
