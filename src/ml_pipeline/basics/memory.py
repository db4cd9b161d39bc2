"""Freed memory given back to the system.

glibc keeps the heap blocks that a large conversion frees (an Arrow table's columns once copied into a
batch) for its next allocations; the process's resident size, by which a worker is sized, counts them.
"""

from __future__ import annotations

import ctypes
import ctypes.util


def release_freed_memory() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``; nothing elsewhere)."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
