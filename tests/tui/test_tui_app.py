"""The app driven as a user would, with Pilot, over a fake engine (a fake probe behind the real Scan runner)."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from scanner.model import EndpointResult
from scanner.tui.app import EXIT_QUIT_EARLY, ScanApp
from scanner.tui.screens.confirm import ConfirmScreen
from scanner.tui.screens.detail import DetailScreen
from scanner.tui.widgets.results_table import ResultsTable
from scanner.tui.widgets.summary import ScanSummary
from tests.tui.tui_fakes import SECRET, cert, demo_like, fake_scan, fixed_clock, result

SIZE = (170, 40)


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met in time")


def screen_rows(app: ScanApp) -> list[str]:
    """The table's lines as drawn (header excluded), blank lines dropped."""
    table = app.query_one(ResultsTable)
    lines = [table.render_line(y).text.rstrip() for y in range(1, table.size.height)]
    return [line for line in lines if line]


def summary(app: ScanApp) -> str:
    return str(app.query_one(ScanSummary).render())


def make_app(results: list[EndpointResult] | None = None, **kwargs: object) -> tuple[ScanApp, object]:
    scan, probe = fake_scan(results or demo_like(), delay=0.005)
    return ScanApp(
        scan, targets="127.0.0.2-11", options_summary="login probe", clock=fixed_clock(), flush_interval=0.05, **kwargs
    ), probe  # type: ignore[arg-type]


async def test_rows_appear_as_endpoints_answer_and_silent_ones_are_counted() -> None:
    app, probe = make_app()
    late = [("127.0.0.8", 143), ("127.0.0.9", 143)]
    probe.held.update(late)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(screen_rows(app)) == 6)
        assert app.state == "running"
        # the summary is redrawn on its own timer: the two silent endpoints may be counted a moment after the rows
        await until(pilot, lambda: "RUNNING  8/10 (80%)" in summary(app))
        assert not any("127.0.0.8" in row for row in screen_rows(app))
        probe.release()
        await until(pilot, lambda: app.state == "finished")
        rows = screen_rows(app)
        assert len(rows) == 8 and "127.0.0.9" in rows[-1]
        text = summary(app)
        assert "FINISHED  10/10 (100%)" in text
        assert "silent 1  closed 1 (hidden" in text
        # findings are counted, not endpoints (as the table and stderr count them): 127.0.0.5 has two critical ones
        assert "✗ ACCEPTED 3" in text and "critical 4  high 2  medium 1" in text and "without any: 2" in text
        assert "targets: 127.0.0.2-11" in text
        await pilot.press("a")
        await until(pilot, lambda: len(screen_rows(app)) == 10)
        assert any("- silent" in row for row in screen_rows(app))


async def test_sort_by_key_and_by_clicking_a_header() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state == "finished")
        await pilot.press("s")  # first column: host
        assert app.view.sort_column == "host"
        await pilot.press("S")
        assert screen_rows(app)[0].startswith("127.0.0.9 ")
        table = app.query_one(ResultsTable)
        worst_x = sum(table.widths[:-1]) + 2 * (len(table.widths) - 1) + 1
        await pilot.click(ResultsTable, offset=(worst_x, 0))
        assert app.view.sort_column == "severity" and not app.view.reverse
        assert [row.split()[-1] for row in screen_rows(app)][:3] == ["critical"] * 3
        assert summary(app).rstrip().endswith("sort: severity")


async def test_filter_by_text_verdict_and_severity() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state == "finished")
        await pilot.press("slash", *"expired", "enter")
        assert [row.split()[0] for row in screen_rows(app)] == ["127.0.0.7"]
        assert isinstance(app.focused, ResultsTable)
        await pilot.press("slash", *["backspace"] * 7, "enter")
        assert len(screen_rows(app)) == 8
        await pilot.press("v")  # only "accepted"
        assert [row.split()[0] for row in screen_rows(app)] == ["127.0.0.3", "127.0.0.4", "127.0.0.5"]
        assert "verdict accepted" in summary(app)
        await pilot.press("v", "w", "w")  # verdict: inconclusive; severity >= high
        assert screen_rows(app) == []
        await pilot.press(*"vvvv")  # verdict cycles back to all
        assert [row.split()[0] for row in screen_rows(app)] == [f"127.0.0.{i}" for i in range(3, 8)]


async def test_enter_opens_the_detail_screen() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state == "finished")
        await pilot.press("down", "enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert screen.result.address == "127.0.0.3"
        text = str(screen.query_one("#detail-text").render())
        assert "[plaintext-login-accepted] Plaintext login accepted" in text
        assert "Fix: Dovecot: set disable_plaintext_auth" in text
        assert "clear: NO [PRIVACYREQUIRED]" in text
        assert 'after TLS:  "IMAP4rev1 AUTH=PLAIN' in text
        assert '1. "CN=Demo CA <- CN=Demo CA"' in text
        assert "a1 LOGIN mailprobe-3f9a ********" in text and SECRET not in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


async def test_reprobe_shows_what_changed() -> None:
    app, probe = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state == "finished")
        await pilot.press("down")
        assert screen_rows(app)[1].startswith("127.0.0.3 ")
        probe.answers[("127.0.0.3", 143)] = result(3, name="plaintext.demo.test", software="Microsoft Exchange")
        await pilot.press("enter", "r")
        await until(pilot, lambda: ("127.0.0.3", 143) in app.last_changes)
        assert app.last_changes[("127.0.0.3", 143)][0] == "plaintext login: accepted -> refused"
        text = str(app.screen.query_one("#detail-text").render())
        assert "Re-probe: what changed\n  plaintext login: accepted -> refused" in text
        assert any("plaintext login: accepted -> refused" in n.message for n in app._notifications)
        await pilot.press("escape")
        assert "✓ refused" in screen_rows(app)[1]
        assert "✗ ACCEPTED 2" in summary(app) and "10/10" in summary(app)


async def test_reprobe_host_probes_every_port_of_that_address() -> None:
    rows = [result(2, 143), result(2, 993), result(3, 143)]
    app, probe = make_app(rows)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state == "finished")
        probe.calls.clear()
        await pilot.press("R")
        await until(pilot, lambda: len(app.last_changes) == 2)
        assert sorted(probe.calls) == [("127.0.0.2", 143), ("127.0.0.2", 993)]
        assert app.last_changes[("127.0.0.2", 993)] == []


async def test_pause_resume_and_stop() -> None:
    results = [result(i) for i in range(2, 40)]
    app, probe = make_app(results)
    app.scan.concurrency = 2
    probe.held.update(r.key for r in results[2:])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.view) == 2)
        await pilot.press("p")
        assert app.scan.paused and "PAUSED" in summary(app)
        await pilot.press("p")
        assert not app.scan.paused and "RUNNING" in summary(app)
        await pilot.press("x")
        assert "STOPPING" in summary(app)
        probe.release()
        await until(pilot, lambda: app.state == "stopped")
        assert "STOPPED" in summary(app)
        assert len(app.view) < len(results)  # no new endpoint started after the stop
        assert len(probe.calls) == len(app.view)


async def test_quit_while_running_asks_first_and_keeps_written_results(tmp_path) -> None:
    out = tmp_path / "scan.jsonl"
    results = demo_like()
    app, probe = make_app(results, output_path=str(out))
    probe.held.add(("127.0.0.9", 143))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.tally.done == 9)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen) and app.is_running
        await pilot.press("q", "y")
        await until(pilot, lambda: not app.is_running)
    assert app.return_value == EXIT_QUIT_EARLY
    written = [EndpointResult.from_json(line) for line in out.read_text().splitlines()]
    assert len(written) == 9 and ("127.0.0.9", 143) not in {r.key for r in written}
    probe.release()


async def test_quit_after_the_end_needs_no_question() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state == "finished")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.return_value == 0


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
async def test_export_writes_what_is_shown(tmp_path, suffix: str) -> None:
    path = tmp_path / f"export{suffix}"
    app, _ = make_app(export_default=str(path))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state == "finished")
        await pilot.press("v")  # only the three "accepted"
        await pilot.press("e", "enter")
        await until(pilot, path.exists)
    text = path.read_text()
    if suffix == ".jsonl":
        addresses = [EndpointResult.from_json(line).address for line in text.splitlines()]
    elif suffix == ".json":
        addresses = [EndpointResult.from_dict(d).address for d in json.loads(text)]
    else:
        table = list(csv.DictReader(text.splitlines()))
        addresses = [row["address"] for row in table]
        assert {row["Plaintext login"] for row in table} == {"✗ ACCEPTED"}
    assert addresses == ["127.0.0.3", "127.0.0.4", "127.0.0.5"]


async def test_narrow_terminal_scrolls_by_column_and_keeps_the_host() -> None:
    app, _ = make_app()
    async with app.run_test(size=(90, 30)) as pilot:
        await until(pilot, lambda: app.state == "finished")
        assert "Plaintext login" not in app.query_one(ResultsTable).render_line(0).text
        await pilot.press(*["right"] * 5)  # Name, Port, Proto, Mode, Software scrolled away
        header = app.query_one(ResultsTable).render_line(0).text
        assert header.split()[:3] == ["Host", "Plaintext", "login"]
        assert screen_rows(app)[1].split()[:3] == ["127.0.0.3", "✗", "ACCEPTED"]
        await pilot.press("left")
        assert app.query_one(ResultsTable).render_line(0).text.split()[:2] == ["Host", "Software"]


async def test_help_key_is_shown_and_opens_the_key_list() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.state == "finished")
        shown = {b.binding.key: b.binding.description for b in app.active_bindings.values() if b.binding.show}
        assert shown.get("question_mark") == "Help"  # in the footer, beside Quit
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await until(pilot, lambda: bool(app.screen.query("HelpPanel")))
            await pilot.press(key)
            await until(pilot, lambda: not app.screen.query("HelpPanel"))


async def test_worst_column_stays_in_view_at_160_columns() -> None:
    long_name = "a-very-long-host-name-that-fills-its-column.mail.example.com"
    rows = [result(i, 143, name=long_name, software="Microsoft Exchange Server 2019 CU14 build") for i in range(2, 6)]
    app, _ = make_app(rows)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.state == "finished")
        table = app.query_one(ResultsTable)
        assert sum(table.widths) + 2 * len(table.widths) > 160  # wider than the terminal: columns must scroll
        header = table.render_line(0).text
        assert header.rstrip().endswith("Worst")
        for _ in range(6):  # scrolled sideways as far as it goes: Host and Worst stay
            await pilot.press("right")
        assert table.render_line(0).text.rstrip().endswith("Worst") and table.render_line(0).text.startswith("Host")


async def test_a_cut_certificate_cell_never_runs_into_worst_at_160_columns() -> None:
    """The Certificate cell cut by the right edge ends with an ellipsis and two blanks before Worst, at every
    sideways position (it used to end mid-word against Worst: "self-si✓ none")."""
    bad = cert(days_left=-3, trusted=False, self_signed=True, name_match=False)
    long_name = "a-very-long-host-name-that-fills-its-column.mail.example.com"
    rows = [
        result(i, 143, name=long_name, software="Microsoft Exchange Server 2019 CU14", certificate=bad) for i in (2, 3)
    ]
    app, _ = make_app(rows)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.state == "finished" and len(screen_rows(app)) == 2)
        table = app.query_one(ResultsTable)
        worst_at = 160 - table.widths[-1] - 2
        assert table.render_line(1).text[:worst_at].rstrip().endswith("…")  # at the start, Certificate is cut
        for _ in range(8):
            for y in (1, 2):
                line = table.render_line(y).text
                assert line[worst_at - 2 : worst_at] == "  " and line[worst_at:].startswith("✓ none"), line
            await pilot.press("right")
            await pilot.pause()


async def test_host_level_findings_reach_rows_and_header_counts() -> None:
    # 143 answers first; 993 of the same host shows another certificate: both rows get the info finding (as in the
    # table and reports) and the header counts them once each, not as a third endpoint.
    other = dataclasses.replace(cert(subject="CN=other.example.test"), sha256="cd" * 32)
    app, _ = make_app([result(7, 143), result(7, 993, certificate=other)])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state == "finished")
        await until(pilot, lambda: "FINISHED  2/2 (100%)" in summary(app))
        assert all("cert-differs-across-ports" in {f.id for f in r.findings} for r in app.view.results.values())
        assert "info 2  (endpoints without any: 0)" in summary(app), summary(app)
        assert [row.split()[-2:] for row in screen_rows(app)] == [["i", "info"], ["i", "info"]], screen_rows(app)


async def test_a_summary_tick_while_the_app_closes_is_harmless() -> None:
    # The 1 s summary timer (or a queued flush) can fire after the widgets are gone; that must not raise.
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state == "finished")
        await app.query_one(ScanSummary).remove()
        await app.query_one(ResultsTable).remove()
        app._update_summary()
        app._inbox.append(result(12))
        app.flush()
