"""What a probe takes from its scan, on its own: the PTR lookup's failures are no PTR name, and without a scan
there is no limit."""

from __future__ import annotations

import asyncio

from scanner.probe import context as context_module
from scanner.probe.context import ALONE, ScanContext
from scanner.scan.hostslots import HostSlots


async def test_a_ptr_name_is_normalised_and_a_failed_or_slow_lookup_is_none(monkeypatch):
    monkeypatch.setattr(context_module, "PTR_TIMEOUT", 0.05)

    async def named(address: str) -> str | None:
        return "Mail.Example.Test."

    async def broken(address: str) -> str | None:
        raise OSError("resolver gone")

    async def silent(address: str) -> str | None:
        await asyncio.sleep(10)
        return "late.example.test"

    assert await ScanContext(reverse=named).ptr_name("192.0.2.10") == "mail.example.test"
    assert await ScanContext(reverse=broken).ptr_name("192.0.2.10") is None
    assert await ScanContext(reverse=silent).ptr_name("192.0.2.10") is None
    assert await ALONE.ptr_name("192.0.2.10") is None  # no resolver: nothing asked


async def test_conversation_slots_limit_only_within_a_scan():
    async with ALONE.conversation_slot("192.0.2.10") as waited, ALONE.conversation_slot("192.0.2.10") as again:
        assert (waited, again) == (False, False)  # a probe on its own waits for nobody
    scan = ScanContext(slots=HostSlots(per_host=1))
    async with scan.conversation_slot("192.0.2.10") as first:
        second = asyncio.create_task(_hold(scan))
        await asyncio.sleep(0.01)
        assert not first and not second.done()  # the host's one slot is taken
    assert await second is True  # it had to wait, and says so


async def _hold(context: ScanContext) -> bool:
    async with context.conversation_slot("192.0.2.10") as waited:
        return waited
