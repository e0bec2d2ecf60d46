"""Handing freed memory back to the system.

glibc's allocator keeps the heap it has grown: after a burst of TLS conversations the freed buffers stay in the
process (a 4,096-endpoint scan held three times what it used). ``trim()`` asks glibc to return what is free
(``malloc_trim``); elsewhere it does nothing. ``release()`` collects garbage cycles first.
"""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes  # on the first trim, not at start-up

    try:
        libc = ctypes.CDLL("libc.so.6")  # not ctypes.util.find_library: it forks ldconfig
        function = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


def trim() -> None:
    function = _malloc_trim()
    if function is not None:
        function(0)


FULL_COLLECTION_EVERY = 2.0  # seconds between two full collections by release()
_last_full = 0.0


def release() -> None:
    """Collect cyclic garbage (a finished conversation leaves cycles of frames, exceptions and TLS objects, which
    the rarer collections of a scan reach late), then hand the freed heap back. A full collection walks every
    object the process holds (tens of milliseconds in a busy scan: an eighth of a live range's CPU when it ran
    every 128 conversations), so between two of them, at most every ``FULL_COLLECTION_EVERY`` seconds, only the
    young generations are collected."""
    global _last_full
    now = time.monotonic()
    if now - _last_full >= FULL_COLLECTION_EVERY:
        _last_full = now
        gc.collect()
    else:
        gc.collect(1)
    trim()
