"""Ask for a file name; the format follows its extension (.jsonl, .json, .csv)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from scanner.tui.export import FORMATS


class ExportScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default_path: str, shown: int) -> None:
        super().__init__()
        self.default_path = default_path
        self.shown = shown

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Export the {self.shown} rows shown. Format by extension: {', '.join(FORMATS)}")
            yield Input(value=self.default_path, id="export-path")
            yield Label("Enter: write   Escape: cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
