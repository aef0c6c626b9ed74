"""The scenario list (Scenarios page, GET /api/v1/scenarios) on both databases: what it shows, and that one
list's memory does not grow with the stored results nor without bound with their number.

Why: every analyst run saved as a scenario made each later Scenarios page load read every scenario's
whole result (tens of kilobytes of cells, curves, frontier and risk front), so a web worker's peak,
and with it its RSS, climbed with no plateau under the load test (issue 13, item 9). The memory test
counts bytes Python allocates (tracemalloc's peak), never wall-clock or RSS.
"""

from __future__ import annotations

import tracemalloc

import pytest
from sqlalchemy import select, update

import core.scenarios as scenarios_module
from core.demo import seed_demo
from core.models import Brand, Scenario, User
from core.scenarios import get_scenario, list_scenarios
from core.security import load_principal
from tests.support import demo_people

HEADLINE_KEYS = ("scenario", "curve_source", "budget", "outcome", "uplift", "uplift_pct", "units", "brands")
# Runs in rupees of revenue, in dollars of conversions, and an older result that named no units.
UNITS = ({"currency": "INR", "outcome": "revenue"}, {"currency": "USD", "outcome": "conversions"}, None)


@pytest.fixture
def world(db, tmp_path):
    seed_demo(db, seed=7, months=2)
    people = demo_people(db, tmp_path)
    manager = people["Brand Manager"]
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.email == manager.email))
        brand = s.get(Brand, manager.scope_id)
        organization_id, brand_name = brand.organization_id, brand.name
    return {
        "db": db,
        "principal": load_principal(db, user_id),
        "org": organization_id,
        "brand": brand_name,
        "brand_id": manager.scope_id,
    }


def _result(i: int, brand: str, padding: int) -> dict:
    """A stored result as core.budget.run_budget writes one, `padding` points of frontier making it heavy."""
    cells = [
        {"brand": name, "channel": channel, "current": 10.0, "optimal": 12.0 + i}
        for name in (brand, f"{brand} (other)")
        for channel in ("TV", "Search")
    ]
    result = {
        "scenario_label": "Most outcome for the budget",
        "curve_source": "truth",
        "budget": 1000.0 + i,
        "outcome": 2000.5 + i,
        "uplift": 10.25 * i,
        "uplift_pct": 0.5 * i,
        "cells": cells,
        "frontier": {"points": [{"budget": float(p), "outcome": float(p) * 1.5} for p in range(padding)]},
    }
    if UNITS[i % 3] is not None:
        result["units"] = UNITS[i % 3]
    if i % 3 == 0:
        del result["uplift"], result["uplift_pct"]  # a minimum-budget run without an uplift: nulls, not errors
    return result


def _store(world, count: int, padding: int) -> list[int]:
    with world["db"].session() as s:
        rows = [
            Scenario(
                organization_id=world["org"],
                owner_id=world["principal"].user_id,
                name=f"Plan {i}",
                kind="budget",
                inputs={"brand_ids": [world["brand_id"]]},
                constraints={},
                result=_result(i, world["brand"], padding),
                status="saved",
            )
            for i in range(count)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_each_row_shows_its_results_headline_as_the_scenario_itself_does(world):
    db, principal = world["db"], world["principal"]
    ids = _store(world, 4, padding=5)
    listed = list_scenarios(db, principal)
    assert [row["id"] for row in listed] == sorted(ids, reverse=True)  # same created_at: newest id first
    for row in listed:
        whole = get_scenario(db, principal, row["id"])
        assert {k: row[k] for k in HEADLINE_KEYS} == {k: whole[k] for k in HEADLINE_KEYS}
        assert row["brands"] == sorted([world["brand"], f"{world['brand']} (other)"])
    by_name = {row["name"]: row for row in listed}
    assert [by_name[f"Plan {i}"]["units"] for i in range(3)] == [
        UNITS[0], UNITS[1], {"currency": None, "outcome": "revenue"}], "each row says what its money is in"
    assert by_name["Plan 0"]["uplift"] is None and by_name["Plan 2"]["uplift"] == pytest.approx(20.5)


def test_one_lists_memory_does_not_grow_with_the_stored_results(world):
    db, principal = world["db"], world["principal"]
    ids = _store(world, 20, padding=5)
    list_scenarios(db, principal)  # first use: statement compilation and caches
    light = _peak_bytes(lambda: list_scenarios(db, principal))
    with db.session() as s:  # the same scenarios, each result now ~250 KB heavier (5 MB in all)
        for ident in ids:
            s.execute(update(Scenario).where(Scenario.id == ident).values(result=_result(ident, world["brand"], 4000)))
    heavy = _peak_bytes(lambda: list_scenarios(db, principal))
    assert heavy - light < 256 * 1024, f"a list's peak grew from {light:,} to {heavy:,} bytes with the results"


def test_the_list_is_bounded_newest_first(world, monkeypatch):
    db, principal = world["db"], world["principal"]
    ids = _store(world, 6, padding=1)
    assert [row["id"] for row in list_scenarios(db, principal, limit=2)] == sorted(ids, reverse=True)[:2]
    monkeypatch.setattr(scenarios_module, "LIST_LIMIT", 4)
    assert len(list_scenarios(db, principal, limit=10**6)) == 4, "no caller can ask past the cap"
