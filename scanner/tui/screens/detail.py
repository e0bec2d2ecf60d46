"""Everything about one endpoint: findings with their fix, evidence, capabilities, certificate chain, transcript."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from scanner.model import EndpointResult
from scanner.tui.detail_text import detail_sections, title_of


class DetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("r", "reprobe", "Re-probe"),
    ]

    def __init__(self, result: EndpointResult, changed: list[str] | None = None) -> None:
        super().__init__()
        self.result = result
        self.changed = changed

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-text")
        yield Footer()

    def on_mount(self) -> None:
        self.show(self.result, self.changed)
        self.query_one("#detail-body").focus()

    def show(self, result: EndpointResult, changed: list[str] | None = None) -> None:
        self.result, self.changed = result, changed
        self.query_one("#detail-title", Static).update(Text(title_of(result), style="bold"))
        text = Text()
        for title, lines in detail_sections(result, changed):
            text.append(f"{title}\n", style="bold underline")
            text.append("\n".join(lines) + "\n\n")
        self.query_one("#detail-text", Static).update(text)

    def action_reprobe(self) -> None:
        self.app.reprobe([self.result])  # type: ignore[attr-defined]
