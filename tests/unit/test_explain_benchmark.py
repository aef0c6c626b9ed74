"""benchmarks.explain runs end to end: its shadow prices meet the target and its naive baseline does not."""

from __future__ import annotations

import contextlib
import io
import json
import sys

from benchmarks.explain import TARGET, main, measure


def test_a_small_run_meets_the_target_beside_a_baseline_that_misses_it():
    out = measure(instances=6, cells=10)
    assert out["instances"] >= 4 and out["limits"] > out["instances"]  # every instance binds the budget and more
    assert out["max_rel_error"] <= TARGET < out["naive_max_rel_error"]
    assert out["median_rel_error"] < out["naive_median_rel_error"]


def test_json_is_the_last_line(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["explain", "--json", "--instances", "2", "--cells", "6"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main()
    last = json.loads(printed.getvalue().strip().splitlines()[-1])
    assert {"max_rel_error", "naive_max_rel_error", "instances", "meets_target"} <= set(last)
