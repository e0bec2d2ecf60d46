"""The logs TUI (Pilot): the same rows as the table output, filtered by address and by user."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from scanner.logs.analyser import analyse
from scanner.tui.logs_app import LogsApp

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "logs"


def keys(table: DataTable) -> list[str]:
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def test_table_filter_by_address_and_user() -> None:
    report = analyse([str(FIXTURES)], year=2025)
    app = LogsApp(report)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(DataTable)
        assert keys(table) == [row.key for row in report.rows]  # same order: clients to fix first
        first = table.get_row_at(0)
        assert (str(first[0]), str(first[1])) == ("198.51.100.23", str(report.rows[0].insecure_logins))
        evidence = str(app.query_one("#evidence", Static).render())
        assert "198.51.100.23" in evidence  # the deciding lines of the highlighted row

        await pilot.press("slash", *"203.0.113")
        await pilot.pause()
        assert keys(table) == [r.key for r in report.rows if "203.0.113" in r.key]
        assert keys(table) and all(k.startswith("203.0.113.") for k in keys(table))

        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == len(report.rows)

        await pilot.press("slash", *"CAROL")  # a user name, case-insensitive
        await pilot.pause()
        assert set(keys(table)) == {"198.51.100.41", "198.51.100.50"}
        assert "2 of" in str(app.query_one("#summary", Static).render())


async def test_by_user_view() -> None:
    report = analyse([str(FIXTURES / "exchange")], by="user")
    app = LogsApp(report)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(DataTable)
        assert str(table.get_row_at(0)[0]) == "bob"
        await pilot.press("slash", *"198.51.100.72")  # filter by an address seen with the user
        await pilot.pause()
        assert keys(table) == ["eve"]  # refused at USER: the name comes from the command itself
