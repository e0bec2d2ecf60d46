"""A virtual table over a ResultView: only the lines on screen are rendered, so 65,536 rows cost no more than 30.

A line-API widget (ScrollView) rather than DataTable: rows are kept sorted by the view as they arrive, and
filtering or re-sorting never rebuilds widget state row by row.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from scanner.model import EndpointResult
from scanner.tui.cells import COLUMNS, Cell
from scanner.tui.view import Key, ResultView

# Widest a column grows as results arrive; longer text is cut with an ellipsis.
MAX_WIDTH: dict[str, int] = {"host": 32, "name": 36, "software": 26, "certificate": 34, "plaintext": 15}
LIMITS: tuple[int, ...] = tuple(MAX_WIDTH.get(c.key, 20) for c in COLUMNS)
GAP = 2


class ResultsTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"results-table--header", "results-table--cursor", "results-table--sorted"}

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("left", "column(-1)", "Column left", show=False),
        Binding("right", "column(1)", "Column right", show=False),
        Binding("enter", "choose", "Details"),
    ]

    class Chosen(Message):
        """Enter (or a click on the cursor row) on a result."""

        def __init__(self, result: EndpointResult) -> None:
            super().__init__()
            self.result = result

    class HeaderClicked(Message):
        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, view: ResultView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view
        self.cursor = 0
        self._cursor_key: Key | None = None
        self.widths = [len(c.label) for c in COLUMNS]
        self._styles: dict[str, Style] = {}

    # -- public --------------------------------------------------------------------------------------------------

    @property
    def selected(self) -> EndpointResult | None:
        if 0 <= self.cursor < len(self.view):
            return self.view.row(self.cursor)
        return None

    def grow_widths(self, results: list[EndpointResult]) -> None:
        """Widen columns for these rows (only listed rows are measured; others when first drawn)."""
        for r in results:
            self._measure(self.view.cells(r))

    def _measure(self, cells: tuple[Cell, ...]) -> bool:
        grown = False
        for i, cell in enumerate(cells):
            width = min(len(cell.text), LIMITS[i])
            if width > self.widths[i]:
                self.widths[i] = width
                grown = True
        return grown

    def rows_changed(self, keep_selection: bool = True) -> None:
        """The view's rows changed (new results, filter, sort): keep the cursor on the same endpoint if still shown."""
        if keep_selection and self._cursor_key is not None:
            index = self.view.index_of(self._cursor_key)
            if index is not None:
                self.cursor = index
        self._clamp()
        total = sum(self.widths) + GAP * len(self.widths)
        # Room to scroll until the last column sits at the left edge, so sideways steps always land on a column.
        last_start = total - self.widths[-1] - GAP - self.widths[0] - GAP
        wide = total if total <= self.size.width else max(total, last_start + self.size.width)
        self.virtual_size = Size(wide, len(self.view) + 1)
        self._remember()
        self._scroll_to_cursor()
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self.rows_changed()

    def move_to(self, index: int) -> None:
        self.cursor = index
        self._clamp()
        self._remember()
        self._scroll_to_cursor()
        self.refresh()

    # -- actions -------------------------------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.size.height - 2))

    def action_jump(self, index: int) -> None:
        self.move_to(len(self.view) - 1 if index < 0 else index)

    def action_column(self, direction: int) -> None:
        """Scroll sideways by one whole column."""
        edges, edge = [0], 0
        for width in self.widths[1:]:
            edge += width + GAP
            edges.append(edge)
        x = int(self.scroll_x)
        target = next((e for e in edges if e > x), x) if direction > 0 else max((e for e in edges if e < x), default=0)
        self.scroll_to(x=target, animate=False)

    def action_choose(self) -> None:
        if (r := self.selected) is not None:
            self.post_message(self.Chosen(r))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            fixed = self.widths[0] + GAP
            x = event.x if event.x < fixed else event.x + int(self.scroll_x)
            edge = 0
            for i, width in enumerate(self.widths):
                edge += width + GAP
                if x < edge:
                    self.post_message(self.HeaderClicked(COLUMNS[i].key))
                    return
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self.view):
            if index == self.cursor and event.chain > 1:
                self.action_choose()
            self.move_to(index)

    # -- rendering -----------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = int(self.scroll_x)
        base = self.rich_style
        if y == 0:
            strip = self._header_strip(base)
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self.view):
                return Strip.blank(width, base)
            strip = self._row_strip(self.view.row(index), index == self.cursor, base)
        # The Host column stays put on the left and Worst on the right edge; the others scroll sideways when the
        # table is wider than the terminal (a 160-column terminal cannot show every column at its widest).
        fixed = min(self.widths[0] + GAP, width)
        total = sum(self.widths) + GAP * len(self.widths)
        pinned = self.widths[-1] + GAP
        if total <= width or fixed + pinned >= width:
            moving = strip.crop_extend(fixed + scroll_x, fixed + scroll_x + width - fixed, base)
            return Strip.join([strip.crop_extend(0, fixed, base), moving])
        last = total - pinned  # where Worst starts in the full row
        start = fixed + scroll_x
        # a gap always separates the moving columns from Worst, and a cell cut by the edge says so with an ellipsis
        end = max(min(start + width - fixed - pinned - GAP, last), start)
        moving = strip.crop_extend(start, end, base)
        if end > start and self._cuts_a_cell(end) and strip.crop(end - 1, end).text.strip():
            moving = Strip.join([moving.crop(0, end - start - 1), Strip([Segment("…", _style_at(strip, end - 1))])])
        gap = Strip.blank(width - fixed - pinned - moving.cell_length, base)
        return Strip.join([strip.crop_extend(0, fixed, base), moving, gap, strip.crop_extend(last, total, base)])

    def _cuts_a_cell(self, x: int) -> bool:
        """Whether an edge at x (in the full row) falls inside a column's text rather than on a gap or a boundary."""
        edge = 0
        for width in self.widths:
            if edge < x < edge + width:
                return True
            edge += width + GAP
        return False

    def _header_strip(self, base: Style) -> Strip:
        header = base + self.get_component_rich_style("results-table--header")
        sorted_style = header + self.get_component_rich_style("results-table--sorted")
        segments = []
        for column, width in zip(COLUMNS, self.widths, strict=True):
            label = column.label
            style = header
            if column.key == self.view.sort_column:
                label = f"{label} {'v' if self.view.reverse else '^'}"
                style = sorted_style
            segments.append(Segment(_fit(label, width + GAP), style))
        return Strip(segments)

    def _row_strip(self, r: EndpointResult, is_cursor: bool, base: Style) -> Strip:
        cursor = self.get_component_rich_style("results-table--cursor") if is_cursor else None
        cells = self.view.cells(r)
        if self._measure(cells):
            # A row not measured yet (it became visible through a filter change) widened a column: draw again.
            self.call_after_refresh(self.rows_changed)
        segments = []
        for cell, width in zip(cells, self.widths, strict=True):
            style = base + self._style(cell.style)
            if cursor is not None:
                style += cursor
            segments.append(Segment(_fit(cell.text, width), style))
            segments.append(Segment(" " * GAP, base + cursor if cursor is not None else base))
        return Strip(segments)

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = Style.parse(name) if name else Style()
        return style

    # -- internals -----------------------------------------------------------------------------------------------

    def _clamp(self) -> None:
        self.cursor = max(0, min(self.cursor, len(self.view) - 1))

    def _remember(self) -> None:
        r = self.selected
        self._cursor_key = r.key if r is not None else None

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)


def _style_at(strip: Strip, x: int) -> Style | None:
    """The style of the cell at x of a strip (so an ellipsis put there keeps the cell's colour)."""
    segments = list(strip.crop(x, x + 1))
    return segments[0].style if segments else None


def _fit(text: str, width: int) -> str:
    if len(text) > width:
        return text[: max(0, width - 1)] + "…"
    return text.ljust(width)
