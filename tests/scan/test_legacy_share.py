"""One legacy-version probe per server: ports that share a TLS configuration wait for the first one's result."""

from __future__ import annotations

import asyncio

import pytest

from scanner.scan.legacy_share import LegacyShare
from scanner.tls.legacy import LegacyResult, local_support

KEY = ("192.0.2.10", "imap", b"chain digest", "TLSv1.3", "TLS_AES_256_GCM_SHA384")


class Prober:
    """A stand-in for probe_legacy_versions that counts its calls (each one would be a connection)."""

    def __init__(self, result: LegacyResult, delay: float = 0.05) -> None:
        self.result = result
        self.delay = delay
        self.calls = 0

    async def __call__(self) -> LegacyResult:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.result


async def test_ports_of_one_server_share_one_probe():
    share = LegacyShare()
    prober = Prober(LegacyResult(accepted=("TLSv1",), refused=("TLSv1.1",)))
    first, second = await asyncio.gather(share.probe(KEY, 143, prober), share.probe(KEY, 993, prober))
    assert prober.calls == 1  # one connection for both ports
    assert first == (prober.result, None)  # probed on its own port
    assert second == (prober.result, 143)  # taken from 143, and saying so


async def test_another_server_or_protocol_probes_for_itself():
    share = LegacyShare()
    prober = Prober(LegacyResult(refused=("TLSv1", "TLSv1.1")))
    await share.probe(KEY, 143, prober)
    await share.probe(("192.0.2.11", *KEY[1:]), 143, prober)  # another address
    await share.probe((KEY[0], "pop3", *KEY[2:]), 110, prober)  # another protocol
    await share.probe((*KEY[:2], b"another chain", *KEY[3:]), 993, prober)  # another certificate
    assert prober.calls == 4


async def test_submission_ports_never_share():
    """Postfix sets TLS per master.cf service: 587 and 465 of one server may differ, so each probes for itself."""
    share = LegacyShare()
    prober = Prober(LegacyResult(refused=("TLSv1", "TLSv1.1")))
    smtp = (KEY[0], "smtp", *KEY[2:])
    results = await asyncio.gather(share.probe(smtp, 587, prober), share.probe(smtp, 465, prober))
    assert prober.calls == 2
    assert [source for _, source in results] == [None, None]


async def test_a_result_of_the_moment_is_not_shared():
    share = LegacyShare()
    momentary = Prober(LegacyResult(untested=("TLSv1: timeout", "TLSv1.1: timeout")))
    assert local_support("TLSv1") is None or pytest.skip("this OpenSSL cannot offer TLS 1.0")
    results = await asyncio.gather(share.probe(KEY, 143, momentary), share.probe(KEY, 993, momentary))
    assert momentary.calls == 2  # the second port got its own try
    assert [source for _, source in results] == [None, None]


async def test_a_failed_probe_leaves_the_others_to_probe_themselves():
    share = LegacyShare()

    async def broken() -> LegacyResult:
        await asyncio.sleep(0.05)
        raise RuntimeError("the first port's probe failed")

    prober = Prober(LegacyResult(refused=("TLSv1", "TLSv1.1")))
    first = asyncio.create_task(share.probe(KEY, 143, broken))
    second = asyncio.create_task(share.probe(KEY, 993, prober))
    with pytest.raises(RuntimeError):
        await first
    assert await second == (prober.result, None)
    assert prober.calls == 1


async def test_memory_stays_bounded():
    share = LegacyShare(max_servers=8)
    prober = Prober(LegacyResult(refused=("TLSv1",)), delay=0)
    for n in range(100):
        await share.probe((f"192.0.2.{n}", *KEY[1:]), 993, prober)
    assert prober.calls == 100
    _, recent = await share.probe(("192.0.2.99", *KEY[1:]), 143, prober)  # among the last 8: still shared
    assert recent == 993 and prober.calls == 100
    _, oldest = await share.probe(("192.0.2.0", *KEY[1:]), 143, prober)  # forgotten: probed again
    assert oldest is None and prober.calls == 101
