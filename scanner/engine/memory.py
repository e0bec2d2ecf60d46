"""Handing freed memory back to the system.

glibc's allocator keeps the heap it has grown: after a burst of TLS conversations the freed buffers stay in the
process (a 4,096-endpoint scan held three times what it used). ``trim()`` asks glibc to return what is free
(``malloc_trim``); elsewhere it does nothing. ``release()`` collects garbage cycles first.
"""

from __future__ import annotations

import functools
import gc
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


def release() -> None:
    """Collect cyclic garbage (a finished conversation leaves cycles of frames, exceptions and TLS objects, which
    the rarer collections of a scan reach late), then hand the freed heap back."""
    gc.collect()
    trim()
