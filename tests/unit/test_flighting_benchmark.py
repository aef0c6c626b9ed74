"""benchmarks.flighting runs end to end at a tiny size and reports every figure (its timing is not checked)."""

from __future__ import annotations

import contextlib
import io
import json
import sys

from benchmarks.flighting import main, measure


def test_a_tiny_run_reports_every_figure_and_matches_trust_constr():
    out = measure(weeks=8, channels=3, brands=2, seeds=1, slsqp_cap=30.0, small=(6, 3))
    assert out["gap_pct"] <= out["gap_target_pct"]
    assert out["small_statuses"] == ["optimal"] and out["status"] == "optimal"
    assert out["kkt_violation"] <= 1e-6
    assert out["spends"] == 8 * 3 * 2 and out["slsqp_spends"] == 8 * 3
    assert out["slsqp_gap_pct"] >= -1e-6  # SLSQP never beats the exact plan by more than rounding
    assert out["flat_feasible"] and out["uplift_vs_flat_pct"] >= 0  # a plan the solver could have chosen
    assert {"time_s", "slsqp_s", "speedup", "meets_targets"} <= set(out)


def test_json_is_the_last_line(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["flighting", "--json", "--weeks", "6", "--channels", "2", "--brands", "1",
                                      "--seeds", "1"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main()
    last = json.loads(printed.getvalue().strip().splitlines()[-1])
    assert {"gap_pct", "time_s", "slsqp_s", "speedup", "uplift_vs_flat_pct"} <= set(last)
