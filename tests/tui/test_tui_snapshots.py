"""Snapshots of the main screen and the detail screen over deterministic data (fixed clock, canned results).

Update after an intended change of the look: pytest tests/tui/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

from textual.pilot import Pilot

from scanner.tui.app import ScanApp
from tests.tui.tui_fakes import demo_like, fake_scan, fixed_clock

SIZE = (170, 30)


def app() -> ScanApp:
    scan, _ = fake_scan(demo_like())
    return ScanApp(
        scan,
        targets="127.0.0.2-11",
        options_summary="login probe, legacy TLS",
        clock=fixed_clock(),
        flush_interval=0.05,
    )


async def finished(pilot: Pilot) -> None:
    for _ in range(200):
        if pilot.app.state == "finished":  # type: ignore[attr-defined]
            break
        await pilot.pause(0.02)
    await pilot.pause()


def test_main_screen(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=finished)


def test_main_screen_sorted_by_severity_accepted_only(snap_compare) -> None:
    async def before(pilot: Pilot) -> None:
        await finished(pilot)
        await pilot.press("v", *"s" * 11)

    assert snap_compare(app(), terminal_size=SIZE, run_before=before)


def test_detail_screen(snap_compare) -> None:
    async def before(pilot: Pilot) -> None:
        await finished(pilot)
        await pilot.press("down", "down", "enter")
        await pilot.pause()

    assert snap_compare(app(), terminal_size=(120, 60), run_before=before)
