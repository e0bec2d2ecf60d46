"""Messages posted by the scan and re-probe workers to the app (workers never touch widgets)."""

from __future__ import annotations

from textual.message import Message

from scanner.model import EndpointResult


class ScanFinished(Message):
    """The results stream ended: every endpoint done, or the scan was stopped."""

    def __init__(self, stopped: bool, error: str | None = None) -> None:
        super().__init__()
        self.stopped = stopped
        self.error = error


class Reprobed(Message):
    """A re-probe of one endpoint finished; old is what the table showed before."""

    def __init__(self, old: EndpointResult, new: EndpointResult) -> None:
        super().__init__()
        self.old = old
        self.new = new
