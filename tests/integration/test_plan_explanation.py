"""A budget run's result carries "Why this plan" (core.optimize.explain) and the odds (core.optimize.odds)."""

from __future__ import annotations

from sqlalchemy import select

from core.budget import run_budget
from core.demo import seed_demo
from core.models import User
from tests.support import demo_people

CHANNELS = ["Meta", "Search", "TV"]


def _run(db, tmp_path, source: str) -> dict:
    seed_demo(db, seed=7, months=14 if source == "fitted" else 2)
    people = demo_people(db, tmp_path)
    with db.session() as s:
        bm = s.scalar(select(User.id).where(User.email == people["Brand Manager"].email))
    brand = people["Brand Manager"].scope_id
    return run_budget(db, bm, {"brand_ids": [brand], "channels": CHANNELS, "curve_source": source,
                               "generations": 20, "frontier_points": 5, "risk_front": False, "max_change_pct": 30,
                               "cells": [{"brand_id": brand, "channel": "TV", "locked": True}]})


def test_a_run_explains_each_cell_and_gives_no_odds_without_draws(db, tmp_path):
    result = _run(db, tmp_path, "truth")
    explanation = result["explanation"]
    cells = {c["channel"]: c for c in explanation["cells"]}
    assert set(cells) == set(CHANNELS) and cells["TV"]["reason"] == "locked"
    for c in result["cells"]:  # a cell at its change limit is named so
        if c["optimal"] >= c["upper"] * (1 - 1e-9) and c["channel"] != "TV":
            assert cells[c["channel"]]["reason"] == "cap"
    summary = explanation["summary"]
    assert summary.startswith("The plan moves") and 2 <= summary.count(". ") + 1 <= 4
    if result["status"] != "optimal":  # the demo's S-shaped curves: a search, and it says so
        assert not explanation["optimal"] and "not proven optimal" in summary
    assert result["odds"] is None  # truth curves carry no draws


def test_a_fitted_run_gives_the_odds_from_the_same_draws(sqlite_db, tmp_path):
    result = _run(sqlite_db, tmp_path, "fitted")
    odds = result["odds"]
    assert odds["draws"] >= 10 and 0.0 <= odds["probability"] <= 1.0 and odds["level"] == 0.8
    low, high = odds["uplift_interval"]
    wide_low, wide_high = result["uplift_interval"]  # 90 % of the same paired uplift draws
    assert wide_low <= low <= high <= wide_high
    assert (odds["probability"] > 0.5) == (low + high > 0) or low < 0 < high
    assert result["explanation"]["cells"] and result["explanation"]["summary"]
