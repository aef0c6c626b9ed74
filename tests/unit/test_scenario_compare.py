"""Scenario compare says what differs between plans and by how much (issue 16 item 7)."""

from __future__ import annotations

from core.scenario_compare import headline_deltas, input_differences


def _scenario(name: str, inputs: dict, result: dict, brands: list[str]) -> dict:
    return {"name": name, "inputs": inputs, "result": result, "brands": brands}


BASE = {"brand_ids": [3, 1], "channels": ["TV", "Search"], "scenario": "max_outcome", "curve_source": "fitted",
        "budget": None, "max_change_pct": None, "seed": 0}


def test_only_the_inputs_that_differ_are_listed_in_a_marketers_words():
    a = _scenario("Plan A", BASE, {"budget": 100.0, "outcome": 300.0, "uplift": 10.0, "uplift_pct": 3.4},
                  ["Aqua", "Bolt"])
    b = _scenario("Plan B", {**BASE, "brand_ids": [1, 3], "channels": ["Search", "TV"], "budget": 120_000_000.0,
                             "max_change_pct": 30.0},
                  {"budget": 120.0, "outcome": 330.0, "uplift": 40.0, "uplift_pct": 13.8}, ["Aqua", "Bolt"])
    rows = input_differences([a, b])
    assert [r["input"] for r in rows] == ["Budget", "Max change per channel"]  # same brands/channels, reordered
    assert rows[0]["values"] == ["last year's spend", "120 M"]
    assert rows[1]["values"] == ["no limit", "±30 %"]


def test_identical_inputs_give_no_rows_and_unknown_inputs_are_still_shown():
    a = _scenario("A", BASE, {}, [])
    assert input_differences([a, _scenario("B", dict(BASE), {}, [])]) == []
    rows = input_differences([a, _scenario("B", {**BASE, "new_knob": 2}, {}, [])])
    assert rows == [{"input": "new knob", "values": ["—", "2"]}]


def test_deltas_are_against_the_first_scenario_and_missing_figures_stay_missing():
    a = _scenario("A", BASE, {"budget": 100.0, "outcome": 300.0, "uplift": 10.0, "uplift_pct": 3.4}, [])
    b = _scenario("B", BASE, {"budget": 90.0, "outcome": 320.5, "uplift": 30.5, "uplift_pct": None}, [])
    first, second = headline_deltas([a, b])
    assert first == {"budget": 0.0, "outcome": 0.0, "uplift": 0.0, "uplift_pct": 0.0}
    assert second == {"budget": -10.0, "outcome": 20.5, "uplift": 20.5, "uplift_pct": None}
