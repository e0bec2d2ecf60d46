"""`mailprobe logs --tui`: the per-client (or per-user) table of a log analysis, with a filter by address and user.

A small App of its own: it only shows a finished ``scanner.logs.model.Report``; the scan TUI lives in app.py.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from scanner.logs.model import Report, Summary
from scanner.untrusted import for_terminal

COLUMNS = ("insecure", "failed-clear", "refused", "secure", "unverified", "protocols", "first seen", "last seen",
           "labels")  # fmt: skip


def row_matches(row: Summary, needle: str) -> bool:
    """Case-insensitive substring match on the key (address or user) and the names seen with it."""
    if not needle:
        return True
    needle = needle.lower()
    return needle in row.key.lower() or any(needle in name.lower() for name in row.users)


class LogsApp(App[None]):
    TITLE = "mailprobe logs"
    CSS = """
    #filter { dock: top; }
    #summary { height: auto; padding: 0 1; }
    #evidence { height: auto; max-height: 12; padding: 0 1; border-top: solid $accent; }
    """
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report
        self.shown: list[Summary] = []

    def compose(self) -> ComposeResult:
        yield Header()
        placeholder = "filter by address or user" if self.report.by == "address" else "filter by user or address"
        yield Input(placeholder=placeholder, id="filter")
        yield DataTable(id="clients", cursor_type="row", zebra_stripes=True)
        yield Static(id="evidence")
        yield Static(id="summary")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        key = "address" if self.report.by == "address" else "user"
        others = "users" if self.report.by == "address" else "addresses"
        table.add_column(key, key="key")
        for name in COLUMNS[:5]:
            table.add_column(name, key=name)
        table.add_column(others, key="others")
        for name in COLUMNS[5:]:
            table.add_column(name, key=name)
        self._fill("")
        table.focus()

    def _fill(self, needle: str) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.shown = [row for row in self.report.rows if row_matches(row, needle)]
        for row in self.shown:
            users = ", ".join(row.users[:3]) + (f" (+{len(row.users) - 3})" if len(row.users) > 3 else "")
            cells = (
                row.key, str(row.insecure_logins), str(row.insecure_failed_logins), str(row.refused_attempts),
                str(row.secure_logins), str(row.unverified_logins), users, ",".join(row.protocols),
                row.first_seen, row.last_seen, ",".join(row.labels),
            )  # fmt: skip
            # User names are attacker-chosen: escaped, and Text so they are never parsed as markup.
            table.add_row(*(Text(for_terminal(cell)) for cell in cells), key=row.key)
        to_fix = sum(1 for row in self.shown if row.to_fix)
        self.query_one("#summary", Static).update(
            f"{len(self.shown)} of {len(self.report.rows)} rows, {to_fix} to fix; {self.report.lines} lines in "
            f"{len(self.report.files)} files, {self.report.malformed} malformed lines skipped"
        )
        self._show_evidence(0)

    def _show_evidence(self, index: int) -> None:
        panel = self.query_one("#evidence", Static)
        if not 0 <= index < len(self.shown):
            panel.update("")
            return
        row = self.shown[index]
        lines = [for_terminal(note) for note in row.notes]
        for e in row.evidence:
            lines.append(for_terminal(f"{e.kind}: {e.source}{'  (' + e.note + ')' if e.note else ''}"))
            lines.append("  " + for_terminal(e.line))  # the raw log line, escaped: one line whatever it holds
        panel.update(Text("\n".join(lines)))  # Text: log lines are not markup

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value.strip())

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_evidence(event.cursor_row)

    def action_focus_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one(Input).value = ""
        self.query_one(DataTable).focus()
