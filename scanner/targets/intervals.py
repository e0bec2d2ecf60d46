"""Address intervals: IPv4 and IPv6 addresses as integers in one sorted space, and sets of inclusive intervals.

A /8 costs a few integers, not sixteen million objects; membership and rank are O(log n), so a shard split and a
resume check never expand the targets.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Iterator

_V6_BASE = 1 << 32  # IPv6 integers are shifted above the IPv4 space so one sorted list holds both families


def to_int(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    return int(address) if address.version == 4 else _V6_BASE + int(address)


def to_address(value: int) -> str:
    if value < _V6_BASE:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value - _V6_BASE))


def address_int(text: str) -> int | None:
    """The interval integer of an address string, or None when it is not an address."""
    try:
        return to_int(ipaddress.ip_address(text))
    except ValueError:
        return None


class IntervalSet:
    """Sorted, disjoint, inclusive integer intervals with prefix counts: membership and rank in O(log n)."""

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for start, end in sorted(intervals):
            if ends and start <= ends[-1] + 1:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        self.starts = starts
        self.ends = ends
        self._before: list[int] = []  # addresses in the intervals before index i
        total = 0
        for start, end in zip(starts, ends, strict=True):
            self._before.append(total)
            total += end - start + 1
        self.size = total

    def __contains__(self, value: int) -> bool:
        return self.rank(value) is not None

    def __bool__(self) -> bool:
        return bool(self.starts)

    def rank(self, value: int) -> int | None:
        """Position of value in the enumeration, or None when it is not in the set."""
        i = bisect.bisect_right(self.starts, value) - 1
        if i < 0 or value > self.ends[i]:
            return None
        return self._before[i] + value - self.starts[i]

    def minus(self, other: IntervalSet) -> IntervalSet:
        if not other:
            return self
        result: list[tuple[int, int]] = []
        for start, end in zip(self.starts, self.ends, strict=True):
            j = max(bisect.bisect_right(other.ends, start - 1), 0)  # first exclusion that may overlap
            cur = start
            while j < len(other.starts) and other.starts[j] <= end and cur <= end:
                if other.ends[j] >= cur:
                    if other.starts[j] > cur:
                        result.append((cur, other.starts[j] - 1))
                    cur = other.ends[j] + 1
                j += 1
            if cur <= end:
                result.append((cur, end))
        return IntervalSet(result)

    def values(self, start_rank: int = 0, step: int = 1) -> Iterator[int]:
        """Every value whose rank is congruent to start_rank modulo step, in order, lazily."""
        for first_rank, start, end in zip(self._before, self.starts, self.ends, strict=True):
            yield from range(start + (start_rank - first_rank) % step, end + 1, step)
