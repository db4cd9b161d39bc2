"""Freed memory given back to the system.

glibc keeps the heap blocks that a large conversion frees (an Arrow table's columns once copied into a
batch) for its next allocations; the process's resident size, by which a worker is sized, counts them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


def release_freed_memory() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``; nothing elsewhere)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, looked up once (``find_library`` runs a program), or None elsewhere."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
