"""The list of rows the table shows: every result by endpoint, the filtered subset kept sorted as results arrive.

Pure (no Textual). Rows are kept in ascending order of (sort key, arrival number) with bisect, so a new result costs
O(log n) comparisons plus one list insert; the widget reads the list backwards for a reversed sort.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable

from scanner.model import EndpointResult
from scanner.tui.cells import SORT_KEYS, Cell, ViewFilter, matches, row_cells, search_text

Key = tuple[str, int]


class ResultView:
    def __init__(self) -> None:
        self.results: dict[Key, EndpointResult] = {}  # every result received, arrival order
        self.filter = ViewFilter()
        self._no_text = self.filter
        self.sort_column: str | None = None  # None: arrival order
        self.reverse = False
        self._rows: list[EndpointResult] = []  # the listed results, ascending by _sort_key
        self._seq: dict[Key, int] = {}
        self._keys: dict[Key, tuple[object, int]] = {}
        self._cells: dict[Key, tuple[Cell, ...]] = {}

    # -- reading -------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def row(self, index: int) -> EndpointResult:
        return self._rows[-1 - index] if self.reverse else self._rows[index]

    def rows(self) -> list[EndpointResult]:
        """The listed results in display order."""
        return list(reversed(self._rows)) if self.reverse else list(self._rows)

    def cells(self, r: EndpointResult) -> tuple[Cell, ...]:
        """The cells of r's endpoint as the view holds it (its latest row)."""
        cells = self._cells.get(r.key)
        if cells is None:
            cells = self._cells[r.key] = row_cells(self.results.get(r.key, r))
        return cells

    def is_listed(self, r: EndpointResult) -> bool:
        """Whether r passes the current filter (it is a row of the table)."""
        return self._matches(r)

    def index_of(self, key: Key) -> int | None:
        r = self.results.get(key)
        if r is None or not self._matches(r):
            return None
        i = bisect.bisect_left(self._rows, self._sort_key(r), key=self._sort_key)
        if i < len(self._rows) and self._rows[i].key == key:
            return len(self._rows) - 1 - i if self.reverse else i
        return None

    # -- changing ------------------------------------------------------------------------------------------------

    def add(self, results: Iterable[EndpointResult]) -> list[tuple[EndpointResult, EndpointResult]]:
        """Add new results; a result for an endpoint already known replaces it (a re-probe, or the row again with the
        host findings another port of its host brought: scanner.pipeline). Returns the (old, new) replaced."""
        arrived = {r.key: r for r in results}
        replaced = []
        for r in arrived.values():
            old = self.results.get(r.key)
            if old is not None:
                self._remove_row(old)
                replaced.append((old, r))
            else:
                self._seq[r.key] = len(self._seq)
            self.results[r.key] = r
            self._cells.pop(r.key, None)
            self._keys[r.key] = self._key_for(r)
            if self._matches(r):
                bisect.insort(self._rows, r, key=self._sort_key)
        return replaced

    def set_filter(self, view_filter: ViewFilter) -> None:
        self.filter = view_filter
        self._no_text = dataclasses.replace(view_filter, text="")
        self._rebuild()

    def set_sort(self, column: str | None, reverse: bool = False) -> None:
        if column is not None and column not in SORT_KEYS:
            raise ValueError(f"unknown column {column!r}")
        self.sort_column = column
        self.reverse = reverse
        self._keys = {}  # made again lazily: only for the rows listed (others when a filter lists them)
        self._rebuild()

    # -- internals -----------------------------------------------------------------------------------------------

    def _matches(self, r: EndpointResult) -> bool:
        if not self.filter.text:
            return matches(r, self.filter)
        # The cheap tests first: the row's text is made only for rows that pass them.
        if not matches(r, self._no_text):
            return False
        return matches(r, self.filter, search_text(r, self.cells(r)))

    def _key_for(self, r: EndpointResult) -> tuple[object, int]:
        primary = SORT_KEYS[self.sort_column](r) if self.sort_column else ()
        return (primary, self._seq[r.key])

    def _sort_key(self, r: EndpointResult) -> tuple[object, int]:
        key = self._keys.get(r.key)
        if key is None:
            key = self._keys[r.key] = self._key_for(r)
        return key

    def _remove_row(self, old: EndpointResult) -> None:
        i = bisect.bisect_left(self._rows, self._sort_key(old), key=self._sort_key)
        if i < len(self._rows) and self._rows[i].key == old.key:
            del self._rows[i]

    def _rebuild(self) -> None:
        listed = [r for r in self.results.values() if self._matches(r)]
        listed.sort(key=self._sort_key)
        self._rows = listed
