"""How much one process may take on: the file-descriptor limit behind the concurrency, and the garbage collector's
pace while a scan runs. (Handing freed memory back during a scan is ``memory``'s job.)"""

from __future__ import annotations

import contextlib
import gc
import resource
from collections.abc import Iterator

FD_RESERVE = 256  # descriptors kept for files, DNS, the TUI and the odd second connection of a probe


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


PER_PROCESS = 16384  # default endpoints at once in one process (docs/scanning.md, "Why these defaults")


def concurrency_cap() -> int:
    """The most endpoints one process can have under way: each holds a socket, and the descriptor limit is hard."""
    return max(8, raise_fd_limit() - FD_RESERVE)


def default_concurrency() -> int:
    """Endpoints at once in one process: 16,384 (most of a range is waiting on connects, not computing), never
    more than the file-descriptor limit allows. A range's connects go in waves of this size, each wave waiting one
    connect timeout, so the wall time is about endpoints x timeout / concurrency plus the CPU, while a connect
    waiting costs little memory (the connect sweep keeps no task for it)."""
    return min(PER_PROCESS, concurrency_cap())


# Thousands of probes in flight keep hundreds of thousands of objects alive; with CPython's default thresholds
# (700, 10, 10) the collector rescans them again and again (docs/scanning.md, "Why these defaults"). Collections
# stay on, just rarer, while a scan runs.
SCAN_GC_THRESHOLD = (100_000, 50, 100)


@contextlib.contextmanager
def rarer_gc() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*(max(a, b) for a, b in zip(before, SCAN_GC_THRESHOLD, strict=False)))
    try:
        yield
    finally:
        gc.set_threshold(*before)
