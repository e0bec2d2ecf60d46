"""ResultView keeps the listed rows sorted and filtered as results arrive, and replaces re-probed endpoints."""

from __future__ import annotations

import random

from scanner.tui.cells import SORT_KEYS, ViewFilter
from scanner.tui.view import ResultView
from tests.tui.tui_fakes import ACCEPTED, demo_like, result


def addresses(view: ResultView) -> list[str]:
    return [r.address for r in view.rows()]


def test_arrival_order_hides_silent_and_closed() -> None:
    view = ResultView()
    view.add(demo_like())
    assert addresses(view) == [f"127.0.0.{i}" for i in range(2, 10)]
    view.set_filter(ViewFilter(show_silent=True))
    assert len(view) == 10


def test_incremental_inserts_match_a_full_sort_for_every_column() -> None:
    rows = demo_like()
    rng = random.Random(7)
    for column in SORT_KEYS:
        for reverse in (False, True):
            incremental = ResultView()
            incremental.set_sort(column, reverse)
            shuffled = rows[:]
            rng.shuffle(shuffled)
            for r in shuffled:
                incremental.add([r])
            at_once = ResultView()
            at_once.add(shuffled)
            at_once.set_sort(column, reverse)
            assert addresses(incremental) == addresses(at_once), column


def test_sort_by_severity_puts_the_worst_first_and_ports_numerically() -> None:
    view = ResultView()
    view.add(demo_like())
    view.set_sort("severity")
    assert [r.worst_severity for r in view.rows()][:3] == ["critical"] * 3
    assert view.rows()[-1].worst_severity is None
    view.set_sort("port", reverse=True)
    assert [r.port for r in view.rows()][:2] == [995, 993]


def test_replacing_a_result_moves_its_row_and_returns_the_old_one() -> None:
    view = ResultView()
    view.add(demo_like())
    view.set_filter(ViewFilter(verdict="accepted"))
    assert "127.0.0.3" in addresses(view)
    fixed = result(3, verdict="refused")
    replaced = view.add([fixed])
    assert [(old.plaintext_login.verdict, new.plaintext_login.verdict) for old, new in replaced] == [
        ("accepted", "refused")
    ]
    assert "127.0.0.3" not in addresses(view)
    assert view.results[fixed.key] is fixed
    view.add([result(3, verdict="accepted", findings=(ACCEPTED,))])
    assert addresses(view).count("127.0.0.3") == 1


def test_index_of_follows_the_display_order() -> None:
    view = ResultView()
    view.add(demo_like())
    view.set_sort("host", reverse=True)
    key = ("127.0.0.9", 143)
    assert view.row(view.index_of(key)).key == key
    assert view.index_of(("127.0.0.10", 143)) is None  # silent: not listed


def test_host_sort_is_numeric_for_addresses() -> None:
    view = ResultView()
    view.add([result(10), result(9), result(100)])
    view.set_sort("host")
    assert addresses(view) == ["127.0.0.9", "127.0.0.10", "127.0.0.100"]
