"""The header: what is scanned with which options, progress, and counts by verdict and of findings by severity."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ScanSummary(Static):
    def show(
        self,
        *,
        title: str,
        targets: str,
        options: str,
        progress: str,
        verdicts: str,
        severities: str,
        hidden: str,
        view: str,
    ) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{title}  ", style="bold")
        text.append(f"targets: {targets}  options: {options}\n")
        text.append(progress, style="bold")
        text.append(f"  {hidden}\n")
        text.append(f"login in clear: {verdicts}   findings: {severities}\n")
        text.append(f"view: {view}", style="dim")
        self.update(text)
