"""Give freed native memory back to the system in long-lived web workers.

A web worker's callbacks build pandas frames, numpy arrays and Plotly figures of a few MB each and
free them again. glibc keeps the freed pages in its heaps (one per thread arena) unless the top of a
heap is free, so a worker's RSS climbs with fragmentation long after Python let go of the objects
(benchmarks/memory.py measures it: the Python heap stays flat, RSS does not). `malloc_trim(0)` walks
every arena and returns whole free pages to the kernel; it costs about a millisecond, so it runs
after every Nth request, not after each one (see docs/OPERATIONS.md, "Worker memory").
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class MallocTrimmer:
    """Counts finished requests and calls `malloc_trim(0)` after every `every`-th one (0: never).

    `trim` is injectable so tests can check the schedule without depending on the C library.
    """

    def __init__(self, every: int, trim: Callable[[int], int] | None = None) -> None:
        if every < 0:
            raise ValueError("every must be 0 (off) or a positive number of requests")
        self.every = every
        self._trim = trim if trim is not None else (_libc_malloc_trim() if every else None)
        self.requests = 0
        self.trims = 0

    @property
    def active(self) -> bool:
        """Whether trimming happens at all (a positive interval and a C library that can trim)."""
        return bool(self.every) and self._trim is not None

    def request_finished(self) -> bool:
        """Count one request; trims (and returns True) when it completes an interval."""
        if not self.active:
            return False
        self.requests += 1
        if self.requests % self.every:
            return False
        self._trim(0)
        self.trims += 1
        return True
