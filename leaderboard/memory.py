"""Give memory freed between the stages of a large computation back to the operating system.

glibc keeps freed heap blocks for reuse, per thread arena, and a refresh over ten million votes frees hundreds of
megabytes between its stages (the read's buffers, each view's copies): without a trim the process's resident
size holds them and the next stage's peak lands on top. Arrow's memory pool keeps its own in the same way.
Cheap (milliseconds); a no-op where the C library has no malloc_trim.

    release_freed_memory()
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _malloc_trim() -> object | None:
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def release_freed_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]
    try:
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
    except ImportError:
        pass
