"""Process-wide memory allocator setting for large array work.

Large NumPy arrays (event windows of 50,000 events x 140 sessions are ~60 MB each) are allocated
by glibc with ``mmap`` and returned to the kernel when freed, so every new array page-faults its
memory in again; on a busy or memory-managed host that kernel time can exceed the computation
(measured: 31.8 s of system time in a 13 s lab benchmark). :func:`keep_freed_memory` raises
glibc's mmap and trim thresholds so freed blocks are reused by the next allocation instead. It is
called once by the CLI (the edge) and by the benchmarks; library code never changes it. On other
C libraries or platforms it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_MAX_BYTES = 1 << 30  # above the array sizes the lab allocates
_TRIM_BYTES = 1 << 34


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (True when the setting was applied)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, min(_MMAP_MAX_BYTES, 2**31 - 1)) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, min(_TRIM_BYTES, 2**31 - 1)) == 1
    ok &= mallopt(_M_TOP_PAD, 64 << 20) == 1
    return bool(ok)


__all__ = ["keep_freed_memory"]
