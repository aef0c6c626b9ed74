"""benchmarks/memory.py's measurements: the growth fit and the two memory readings it adds to RSS."""

from __future__ import annotations

import sys

import pytest

from benchmarks.memory import _anonymous_mb, _pymalloc_arenas_mb, _slope


def test_slope_is_the_least_squares_growth_rate():
    assert _slope([0, 1, 2, 3], [10, 12, 14, 16]) == pytest.approx(2.0)
    assert _slope([0, 1, 2, 3], [5, 9, 5, 9]) == pytest.approx(0.8)  # noise, not last minus first (4)
    assert _slope([1, 1], [3, 7]) == 0.0


def test_pymalloc_arenas_grow_with_live_small_objects():
    before = _pymalloc_arenas_mb()
    held = [(i,) for i in range(400_000)]  # ~19 MB of 48-byte tuples in CPython's arenas
    assert _pymalloc_arenas_mb() - before > 4
    del held


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/smaps_rollup")
def test_anonymous_memory_counts_touched_heap():
    before = _anonymous_mb()
    block = bytearray(64 * 2**20)  # zero-filled: every page touched
    assert _anonymous_mb() - before > 48
    del block
