"""Keep freed memory in the process, so that large tensor temporaries are not page-faulted back in every call.

glibc's malloc serves blocks above its mmap threshold (at most 32 MiB) with fresh mmap pages and unmaps them on
free. A 20k-point PointNet++ forward allocates and frees tens of tensors of 30-70 MB per plan, so each plan
faults every page of them in again: on this project's 2-core VM that doubled the time of the batch norms and
concatenations (53 vs 9 ms for one 64 MB batch norm). Serving every block from the heap and never trimming it
keeps those pages mapped; the cost is that the process keeps its peak heap (a few hundred MB for the point-cloud
network).
"""
from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_applied = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to serve large blocks from the heap and keep freed memory (once per process).
    False where the C library is not glibc (nothing is changed there)."""
    global _applied
    if _applied:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl): its allocator keeps its own policy
        return False
    _applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 ** 30))
    return _applied
