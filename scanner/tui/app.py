"""The live scan view. Thin: the scan runs in a worker through the result pipeline (scanner.pipeline: host findings,
the -o file, this view), rows are buffered and applied in one batch every flush interval, and all formatting lives in
cells.py / detail_text.py / tally.py."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Footer, Input

from scanner.model import EndpointResult, ScanInfo
from scanner.pipeline import ResultPipeline, ResultSink, Sink
from scanner.scan.scheduler import Scan
from scanner.tui.cells import COLUMN_KEYS, SEVERITY_FILTERS, VERDICT_FILTERS, ViewFilter, changes, next_in
from scanner.tui.export import export_results
from scanner.tui.messages import Reprobed, ScanFinished
from scanner.tui.output import open_output
from scanner.tui.screens.confirm import ConfirmScreen
from scanner.tui.screens.detail import DetailScreen
from scanner.tui.screens.export import ExportScreen
from scanner.tui.tally import Tally, progress_line
from scanner.tui.view import ResultView
from scanner.tui.widgets.results_table import ResultsTable
from scanner.tui.widgets.summary import ScanSummary
from scanner.untrusted import for_terminal

MAX_BATCH = 2048
FREEZE_EVERY = 4096
EXIT_DONE = 0
EXIT_QUIT_EARLY = 130  # the user quit while the scan was still running


class _Inbox(Sink):
    """The view as a sink of the result pipeline: rows wait in the app's inbox until the next flush."""

    def __init__(self, inbox: list[EndpointResult]) -> None:
        self.inbox = inbox

    def add(self, result: EndpointResult) -> None:
        self.inbox.append(result)


class ScanApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "mailprobe"

    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("f1", "help", "Help", show=False),
        Binding("q", "quit_app", "Quit"),
        Binding("slash", "filter_text", "Filter"),
        Binding("v", "cycle_verdict", "Verdict"),
        Binding("w", "cycle_severity", "Severity"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse"),
        Binding("a", "toggle_silent", "Silent"),
        Binding("r", "reprobe_selected", "Re-probe"),
        Binding("R", "reprobe_host", "Host"),
        Binding("p", "pause", "Pause"),
        Binding("x", "stop", "Stop"),
        Binding("e", "export", "Export"),
        Binding("f", "fix", "Fix (demo)"),
    ]

    def __init__(
        self,
        scan: Scan,
        *,
        targets: str = "",
        options_summary: str = "",
        output_path: str | None = None,
        scan_info: ScanInfo | None = None,  # the scan line that starts the output file's block
        title: str = "mailprobe",
        flush_interval: float = 0.15,
        clock: Callable[[], float] = time.monotonic,
        export_default: str = "mailprobe-export.jsonl",
        fixer: Callable[[tuple[str, int]], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.scan = scan
        self.targets = targets
        self.options_summary = options_summary
        self.output_path = output_path
        self.scan_info = scan_info
        self.scan_title = title
        self.flush_interval = flush_interval
        self.clock = clock
        self.export_default = export_default
        self.fixer = fixer  # the demo's "change this server" hook; None outside the demo
        self.view = ResultView()
        self.tally = Tally()
        self.state = "running"  # running, paused, stopping, stopped, finished
        self.error: str | None = None
        self.last_changes: dict[tuple[str, int], list[str]] = {}
        self._inbox: list[EndpointResult] = []
        self._output: ResultSink | None = None
        self.pipeline = ResultPipeline([])
        self._started = 0.0
        self._ended: float | None = None
        self._flush_timer: Timer | None = None
        self._filter_timer: Timer | None = None
        self._frozen_at = 0

    # -- layout and start ----------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ScanSummary(id="summary")
        yield Input(placeholder="/ filter: words all present in the row (Enter or Escape to return)", id="filter")
        yield ResultsTable(self.view, id="results")
        yield Footer()

    def on_mount(self) -> None:
        if self.output_path:
            self._output = open_output(self.output_path, self.scan_info)
        sinks = [] if self._output is None else [self._output]
        self.pipeline = ResultPipeline([*sinks, _Inbox(self._inbox)])
        self._started = self.clock()
        self.query_one(ResultsTable).focus()
        self._update_summary()
        self._flush_timer = self.set_interval(self.flush_interval, self.flush)
        self.set_interval(1.0, self._update_summary)
        self._run_scan()

    async def on_unmount(self) -> None:
        await self.pipeline.aclose()
        if self._frozen_at:
            gc.unfreeze()

    MAIN_SCREEN_ONLY = frozenset(
        {
            "filter_text",
            "cycle_verdict",
            "cycle_severity",
            "cycle_sort",
            "reverse_sort",
            "toggle_silent",
            "reprobe_selected",
            "reprobe_host",
            "export",
            "fix",
        }
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fix" and self.fixer is None:
            return False
        # Table keys mean nothing over the detail screen or a dialog: hide them there.
        return not (action in self.MAIN_SCREEN_ONLY and self.screen is not self.screen_stack[0])

    @property
    def running(self) -> bool:
        return self.state in ("running", "paused", "stopping")

    @property
    def table(self) -> ResultsTable:
        return self.query_one("#results", ResultsTable)

    # -- the scan worker and batching ----------------------------------------------------------------------------

    @work(exclusive=True, group="scan")
    async def _run_scan(self) -> None:
        error = None
        try:
            async for result in self.scan.results():
                await self.pipeline.put(result)
                if len(self._inbox) % 128 == 0:
                    # A queue that is never empty never suspends this loop: let keys and repaints in.
                    await asyncio.sleep(0)
        except Exception as exc:  # the view must survive an engine failure and say what happened
            error = f"{type(exc).__name__}: {exc}"
        self.post_message(ScanFinished(stopped=self.state == "stopping", error=error))

    def flush(self) -> None:
        """Apply every buffered result in one go: one view update, one refresh, however many arrived."""
        if not self._inbox or not self.query("#results"):  # nothing new, or the app is closing
            return
        # At most MAX_BATCH per turn: a burst of tens of thousands is applied in slices with keys and repaints
        # in between (the next slice is queued behind whatever the user pressed meanwhile).
        batch = self._inbox[:MAX_BATCH]
        del self._inbox[:MAX_BATCH]  # the same list: the pipeline's sink appends to it
        if self._inbox:
            self.call_later(self.flush)
        self._apply(batch)
        if len(self.view.results) >= self._frozen_at + FREEZE_EVERY:
            # Results live until the app ends: move them out of the collector's sight, or each full collection
            # walks tens of thousands of them (docs/tui.md, "Large scans").
            gc.freeze()
            self._frozen_at = len(self.view.results)
        table = self.table
        with self.batch_update():
            table.grow_widths([r for r in batch if self.view.is_listed(r)])
            table.rows_changed()
            self._update_summary()

    def _apply(self, batch: list[EndpointResult]) -> None:
        """Results into the view and the header counts; rows replaced (a re-probe, or new host-level findings when
        another port of the host answered: the pipeline sends the row again) move their counts."""
        fresh = [r.key for r in batch if r.key not in self.view.results]
        for old, new in self.view.add(batch):
            self.tally.replace(old, new)
        for key in dict.fromkeys(fresh):
            self.tally.add(self.view.results[key])

    @on(ScanFinished)
    def _scan_finished(self, message: ScanFinished) -> None:
        self.flush()
        self._ended = self.clock()
        self.state = "stopped" if message.stopped else "finished"
        self.error = message.error
        if message.error:
            self.notify(f"scan failed: {message.error}", severity="error", timeout=10, markup=False)
        self._update_summary()

    def _update_summary(self) -> None:
        summary = self.query(ScanSummary)
        if not summary:  # the app is closing: a timer or a queued flush may still fire after the widgets are gone
            return
        end = self._ended if self._ended is not None else self.clock()
        silent = self.tally.counts.states["filtered"]
        closed = self.tally.counts.states["closed"]
        shown = "shown" if self.view.filter.show_silent else "hidden, a shows"
        sort = "arrival order"
        if self.view.sort_column:
            sort = self.view.sort_column + (", reversed" if self.view.reverse else "")
        summary.first().show(
            title=self.scan_title,
            targets=self.targets or "-",
            options=self.options_summary or "defaults",
            progress=progress_line(self.tally.done, self.scan.total, end - self._started, self.state),
            verdicts=self.tally.verdict_line(),
            severities=self.tally.severity_line(),
            hidden=f"silent {silent}  closed {closed} ({shown})"
            + (f"  errors {self.tally.counts.states['error']}" if self.tally.counts.states["error"] else ""),
            view=f"{len(self.view):,} rows   filter: {self.view.filter.describe()}   sort: {sort}",
        )

    # -- view: filter, sort ----------------------------------------------------------------------------------------

    def _set_filter(self, view_filter: ViewFilter) -> None:
        self.view.set_filter(view_filter)
        self.table.rows_changed()
        self._update_summary()

    def action_filter_text(self) -> None:
        self.query_one("#filter", Input).focus()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        # Debounced: one rebuild when typing pauses, not one per key, on a table of tens of thousands of rows.
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(0.2, lambda: self._apply_text(value))

    def _apply_text(self, value: str) -> None:
        if value.strip() != self.view.filter.text:
            self._set_filter(
                ViewFilter(
                    value.strip(), self.view.filter.verdict, self.view.filter.min_severity, self.view.filter.show_silent
                )
            )

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._apply_text(event.value)
        self.table.focus()

    def on_key(self, event) -> None:  # noqa: ANN001 - textual.events.Key
        if event.key == "escape" and self.focused is self.query_one("#filter", Input):
            self.table.focus()
            event.stop()

    def action_cycle_verdict(self) -> None:
        f = self.view.filter
        self._set_filter(ViewFilter(f.text, next_in(VERDICT_FILTERS, f.verdict), f.min_severity, f.show_silent))

    def action_cycle_severity(self) -> None:
        f = self.view.filter
        self._set_filter(ViewFilter(f.text, f.verdict, next_in(SEVERITY_FILTERS, f.min_severity), f.show_silent))

    def action_toggle_silent(self) -> None:
        f = self.view.filter
        self._set_filter(ViewFilter(f.text, f.verdict, f.min_severity, not f.show_silent))

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        self.view.set_sort(column, reverse)
        self.table.rows_changed()
        self._update_summary()

    def action_cycle_sort(self) -> None:
        self.sort_by(next_in((None, *COLUMN_KEYS), self.view.sort_column))

    def action_reverse_sort(self) -> None:
        self.sort_by(self.view.sort_column, not self.view.reverse)

    @on(ResultsTable.HeaderClicked)
    def _header_clicked(self, event: ResultsTable.HeaderClicked) -> None:
        same = event.column == self.view.sort_column
        self.sort_by(event.column, not self.view.reverse if same else False)

    # -- details and re-probe ----------------------------------------------------------------------------------

    @on(ResultsTable.Chosen)
    def _open_detail(self, event: ResultsTable.Chosen) -> None:
        self.push_screen(DetailScreen(event.result, self.last_changes.get(event.result.key)))

    def action_reprobe_selected(self) -> None:
        if (r := self.table.selected) is not None:
            self.reprobe([r])

    def action_reprobe_host(self) -> None:
        if (r := self.table.selected) is not None:
            self.reprobe([x for x in self.view.results.values() if x.address == r.address])

    def reprobe(self, results: list[EndpointResult]) -> None:
        for r in results:
            self.notify(f"re-probing {r.address}:{r.port} ...", timeout=2, markup=False)
            self._reprobe_one(r)

    @work(group="reprobe")
    async def _reprobe_one(self, old: EndpointResult) -> None:
        probed = await self.scan.reprobe(old.endpoint)
        shown = self.view.results.get(old.key, old)  # what the table shows now
        new = await self.pipeline.replace(shown, probed)
        self.post_message(Reprobed(shown, new))

    @on(Reprobed)
    def _reprobed(self, message: Reprobed) -> None:
        self.flush()  # the new row (and the rows of its host it changed) wait in the inbox
        new = self.view.results[message.new.key]
        changed = changes(message.old, new)  # both with their host-level findings
        self.last_changes[new.key] = changed
        self.table.grow_widths([new])
        self.table.rows_changed()
        self._update_summary()
        what = for_terminal("; ".join(changed)) if changed else "no change"  # software names come from servers
        self.notify(f"{new.address}:{new.port} re-probed: {what}", timeout=8, markup=False)
        screen = self.screen
        if isinstance(screen, DetailScreen) and screen.result.key == new.key:
            screen.show(self.view.results[new.key], changed)

    def action_fix(self) -> None:
        if self.fixer is not None and (r := self.table.selected) is not None:
            self._fix(r)

    @work(group="fix")
    async def _fix(self, r: EndpointResult) -> None:
        assert self.fixer is not None
        what = await asyncio.to_thread(self.fixer, r.key)
        if what is None:
            self.notify(f"{r.address}:{r.port}: nothing to fix there", timeout=4, markup=False)
        else:
            self.notify(f"{r.address}:{r.port}: {what}. Press r to re-probe it.", timeout=8, markup=False)

    # -- scan control, export, quit ------------------------------------------------------------------------------

    def action_pause(self) -> None:
        if self.state == "running":
            self.scan.pause()
            self.state = "paused"
        elif self.state == "paused":
            self.scan.resume()
            self.state = "running"
        self._update_summary()

    def action_stop(self) -> None:
        if self.state in ("running", "paused"):
            self.scan.stop()
            self.state = "stopping"
            self._update_summary()

    def action_export(self) -> None:
        self.push_screen(ExportScreen(self.export_default, len(self.view)), self._export_to)

    def _export_to(self, path: str | None) -> None:
        if not path:
            return
        try:
            count = export_results(path, self.view.rows())
        except (OSError, ValueError) as exc:
            self.notify(f"export failed: {exc}", severity="error", timeout=8, markup=False)
            return
        self.notify(f"wrote {count} rows to {path}", markup=False)

    def action_help(self) -> None:
        """? or F1: every key and what it does, in Textual's help panel beside the table (again: hide it)."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_quit_app(self) -> None:
        if not self.running:
            self.exit(EXIT_DONE)
            return
        kept = f" Results so far stay in {self.output_path}." if self.output_path else ""
        self.push_screen(ConfirmScreen(f"The scan is still running. Stop it and quit?{kept}"), self._confirm_quit)

    def _confirm_quit(self, yes: bool | None) -> None:
        if yes:
            self.scan.stop()
            self.exit(EXIT_QUIT_EARLY)
