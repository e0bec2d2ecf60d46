"""The Textual TUI of mailprobe: a live view of a scan (``run_scan_tui``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from scanner.model import EndpointResult, ScanInfo
    from scanner.scan.scheduler import Scan


def run_scan_tui(
    scan: Scan,
    *,
    title: str = "mailprobe",
    targets: str = "",
    options_summary: str = "",
    output_path: str | None = None,
    scan_info: ScanInfo | None = None,
    fixer: Callable[[tuple[str, int]], str | None] | None = None,
    exit_code: Callable[[list[EndpointResult]], int] | None = None,
) -> int:
    """Run the scan inside the TUI until the user quits. Every result is appended to output_path (JSON Lines) as it
    arrives, re-probes included (a later line for the same endpoint supersedes the earlier one).

    Returns 0 when the user quits after the scan ended (finished or stopped with x), 130 when they quit while it was
    still running (after confirming). Must be called outside a running event loop (it starts its own).
    ``fixer`` is the demo's hook behind the f key (change the selected server so a re-probe shows a difference).
    ``exit_code``, when given, decides the status after a normal quit from every result held (re-probes included),
    e.g. the scan command's --fail-on / policy evaluation."""
    from scanner.tui.app import ScanApp  # Textual is imported only when the TUI is used

    # The scan command passes its targets as ``title``; the header shows them after "targets:".
    app = ScanApp(
        scan,
        targets=targets or title,
        options_summary=options_summary,
        output_path=output_path,
        fixer=fixer,
        scan_info=scan_info,
    )
    code = app.run()
    code = int(code) if code is not None else 0
    if exit_code is not None and code == 0:
        return exit_code(list(app.view.results.values()))
    return code
