"""End to end: the real demo servers on 127.0.0.2-10, the real probe, the app; then fix one server and re-probe."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.pilot import Pilot

from scanner.demo import DEMO_SERVERS, Demo, running_demo
from scanner.scan.scheduler import Scan
from scanner.tui.app import ScanApp
from scanner.tui.cells import certificate_cell
from scanner.tui.widgets.results_table import ResultsTable

EXPECTED_VERDICT = {
    "securelogin": "refused",
    "plaintextlogin": "accepted",
    "dovecot": "accepted",
    "notls": "accepted",
    "exchange-cert": "not_applicable",  # implicit TLS: there is no login in clear to try
    "expired": "refused",
    "wrongname": "refused",
    "liar": "accepted",
    "injection": "refused",
}


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    with running_demo(login_delay=0.05) as running:
        yield running


async def until(pilot: Pilot, condition, timeout: float) -> None:  # noqa: ANN001
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def test_demo_servers_through_the_app(demo: Demo) -> None:
    assert len(demo.endpoints) == len(DEMO_SERVERS) == len(EXPECTED_VERDICT)
    scan = Scan(demo.endpoints, demo.options(legacy_tls=False), total=len(demo.endpoints))
    app = ScanApp(scan, targets="demo", options_summary="demo", flush_interval=0.05, fixer=demo.fix)
    async with app.run_test(size=(180, 30)) as pilot:
        await until(pilot, lambda: app.state == "finished", timeout=30)
        labels = {r.key: r.name.split(".")[0] for r in app.view.results.values()}
        verdicts = {labels[r.key]: r.plaintext_login.verdict for r in app.view.results.values()}
        assert verdicts == EXPECTED_VERDICT
        certificates = {labels[r.key]: certificate_cell(r).text for r in app.view.results.values()}
        assert certificates["securelogin"].startswith("✓ trusted")
        assert certificates["notls"] == "- none"
        assert "Exchange default" in certificates["exchange-cert"]
        assert "expired" in certificates["expired"]
        assert "wrong name" in certificates["wrongname"]
        table = app.query_one(ResultsTable)
        drawn = "\n".join(table.render_line(y).text for y in range(1, 10))
        assert drawn.count("✗ ACCEPTED") == 4 and drawn.count("✓ refused") == 4

        # Fix the Exchange PlainTextLogin server (it becomes SecureLogin) and re-probe it from the app.
        index = next(i for i in range(len(app.view)) if app.view.row(i).name.startswith("plaintextlogin."))
        table.move_to(index)
        await pilot.press("f")
        await pilot.pause(0.5)
        await pilot.press("r")
        key = app.view.row(index).key
        await until(pilot, lambda: key in app.last_changes, timeout=15)
        assert "plaintext login: accepted -> refused" in app.last_changes[key]
        assert "✗ ACCEPTED 3" in str(app.query_one("#summary").render())


async def test_demo_detail_explains_and_a_certificate_fix_shows(demo: Demo) -> None:
    scan = Scan(demo.endpoints, demo.options(legacy_tls=False), total=len(demo.endpoints))
    app = ScanApp(scan, targets="demo", options_summary="demo", flush_interval=0.05, fixer=demo.fix)
    async with app.run_test(size=(180, 40)) as pilot:
        await until(pilot, lambda: app.state == "finished", timeout=30)
        table = app.query_one(ResultsTable)
        index = next(i for i in range(len(app.view)) if app.view.row(i).name.startswith("expired."))
        key = app.view.row(index).key
        table.move_to(index)
        await pilot.press("enter")
        text = str(app.screen.query_one("#detail-text").render())
        expired = next(f for f in app.view.results[key].findings if "expired" in f.id)
        assert f"[{expired.id}]" in text and "Fix: " in text
        assert "chain (" in text and "<-" in text
        await pilot.press("escape", "f")
        await pilot.pause(0.5)
        await pilot.press("r")
        await until(pilot, lambda: key in app.last_changes, timeout=15)
        changed = app.last_changes[key]
        assert any(line.startswith("certificate: ") and "expired" in line.split("->")[0] for line in changed), changed
        assert f"finding gone: {expired.id}" in changed
