"""core.budget_inputs: the one schema of a budget run, read the page's way (`BudgetInputs.read`) and
the API's way (strict `model_validate`): friendly numbers, empty fields, the page's messages, ranges."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core import input_ranges as ranges
from core.budget_inputs import MAX_CELLS, BudgetInputError, BudgetInputs

BASE = {"brand_ids": [1], "channels": ["TV"]}


def read(**fields) -> BudgetInputs:
    return BudgetInputs.read({**BASE, **fields})


def refused(**fields) -> str:
    with pytest.raises(BudgetInputError) as error:
        read(**fields)
    return str(error.value)


@pytest.mark.parametrize("typed, number", [
    ("1,000", 1000.0), ("1 000", 1000.0), ("1\u00a0000\u202f000", 1_000_000.0), (" 2,500.5 ", 2500.5),
    (1000, 1000.0), ("1_000", 1000.0), ("", None), ("   ", None), (None, None),
])
def test_money_is_read_as_people_type_it(typed, number):
    assert read(budget=typed).budget == number


@pytest.mark.parametrize("typed, number", [("20 %", 20.0), ("20%", 20.0), ("12.5", 12.5), (7, 7.0), ("", None)])
def test_a_percentage_may_carry_its_sign(typed, number):
    assert read(max_change_pct=typed).max_change_pct == number


def test_empty_fields_mean_their_defaults():
    inputs = read(scenario="", curve_source=None, generations="", frontier_points=None, seed="", risk_front=None,
                  cells=None, brand_bounds=None)
    assert (inputs.scenario, inputs.curve_source) == ("max_outcome", "fitted")
    assert (inputs.generations, inputs.frontier_points, inputs.seed) == (120, 11, 0)
    assert inputs.risk_front is False and inputs.cells == [] and inputs.brand_bounds == []
    assert BudgetInputs.read(BASE).risk_front is True


def test_the_forms_selection_is_normalized():
    inputs = BudgetInputs.read({"brand_ids": ["3", 3, " 1"], "channels": ["TV", " TV ", "", "Search"],
                                "risk_front": ["on"], "generations": "200"})
    assert inputs.brand_ids == [1, 3] and inputs.channels == ["Search", "TV"]
    assert inputs.risk_front is True and inputs.generations == 200
    assert read(risk_front=[]).risk_front is False


def test_grid_rows_keep_only_what_constrains_the_selection():
    """The page's rows carry the brand's name and last year's spend; rows of brands or channels no
    longer selected, and rows left empty, are dropped."""
    inputs = BudgetInputs.read({"brand_ids": [1, 2], "channels": ["TV"], "cells": [
        {"brand_id": 1, "brand": "Acme", "channel": "TV", "current": 5e5, "lower": "1,000", "upper": ""},
        {"brand_id": 2, "brand": "Beta", "channel": "TV", "current": 1e5, "lower": None, "locked": False},
        {"brand_id": 9, "channel": "TV", "lower": 1}, {"brand_id": 1, "channel": "Radio", "lower": 1},
        {"brand_id": "x", "channel": "TV", "lower": 1}, "not a row",
    ], "brand_bounds": [{"brand_id": 2, "brand": "Beta", "current": 1, "upper": "2 000"}, {"brand_id": 1}],
        "channel_bounds": [{"channel": "TV", "lower": 10}, {"channel": "Print", "lower": 10}]})
    assert [(c.brand_id, c.lower, c.upper) for c in inputs.cells] == [(1, 1000.0, None)]
    assert inputs.brand_totals() == {2: (None, 2000.0)} and inputs.channel_totals() == {"TV": (10.0, None)}
    assert read(cells=[{"brand_id": 1, "channel": "TV", "locked": True}]).cell_map()[(1, "TV")].locked


@pytest.mark.parametrize("fields, message", [
    ({"brand_ids": []}, "choose at least one brand"),
    ({"brand_ids": None}, "choose at least one brand"),
    ({"brand_ids": ["B"]}, "brands: expected brand ids"),
    ({"brand_ids": [0]}, "brands: expected brand ids"),
    ({"channels": ["", " "]}, "choose at least one channel"),
    ({"brand_ids": list(range(1, 13)), "channels": [f"c{i}" for i in range(11)]},
     f"at most {MAX_CELLS} brand × channel cells per run"),
    ({"scenario": "teleport"}, "unknown scenario type 'teleport'"),
    ({"curve_source": "guess"}, "unknown curve source 'guess'"),
    ({"budget": "lots"}, "budget: 'lots' is not a number; enter a number from 0 to 1,000,000,000,000,000"),
    ({"budget": "-5"}, "budget: a number from 0 to 1,000,000,000,000,000"),
    ({"scenario": "min_budget"}, "the smallest-budget scenario needs a target outcome"),
    ({"scenario": "min_budget", "target": "0"}, "the smallest-budget scenario needs a target outcome"),
    ({"max_change_pct": "20 percent"}, "max change %: '20 percent' is not a number"),
    ({"max_active_per_brand": 0}, "max active channels: a whole number from 1 to 50"),
    ({"seed": 1.5}, "seed: a whole number from 0 to 2,147,483,647"),
    ({"generations": 5}, "generations: a whole number from 10 to 2,000"),
    ({"frontier_points": "many"}, "frontier points: 'many' is not a number"),
    ({"unit": 1e-320}, "spend unit: a number from 0.01 to 1,000,000,000,000,000"),
    ({"budget": 10, "unit": 100}, "spend unit: 100 is larger than the whole budget of 10"),
    ({"cells": [{"brand_id": 1, "brand": "Acme", "channel": "TV", "lower": 10, "upper": "5"}]},
     "Acme / TV: minimum 10 exceeds maximum 5"),
    ({"cells": [{"brand_id": 1, "channel": "TV", "min_spend": "a lot"}]},
     "1 / TV minimum when on: 'a lot' is not a number"),
    ({"brand_bounds": [{"brand_id": 1, "brand": "Acme", "upper": -1}]}, "brand Acme total maximum: a number from 0"),
    ({"channel_bounds": [{"channel": "TV", "lower": 3, "upper": 2}]}, "channel TV total: minimum 3 exceeds maximum 2"),
    ({"risk_front": "maybe"}, "risk front: input should be a valid boolean"),
])
def test_refusals_read_as_the_page_shows_them(fields, message):
    assert refused(**fields).startswith(message)


def test_a_unit_is_checked_against_a_chosen_budget_only_when_maximizing():
    assert read(scenario="min_budget", target=5, budget=10, unit=100).unit == 100.0  # the run checks its budget
    assert read(unit=100).unit == 100.0  # no budget: last year's spend, checked inside the run


def test_something_that_is_not_an_object_is_no_inputs():
    with pytest.raises(BudgetInputError, match="no inputs"):
        BudgetInputs.read(["brand_ids"])


@pytest.mark.parametrize("field, rng", [
    ("budget", ranges.BUDGET), ("target", ranges.TARGET), ("max_change_pct", ranges.MAX_CHANGE_PCT),
    ("unit", ranges.UNIT), ("max_active_per_brand", ranges.MAX_ACTIVE), ("generations", ranges.GENERATIONS),
    ("frontier_points", ranges.FRONTIER_POINTS), ("seed", ranges.SEED),
])
def test_every_number_keeps_its_range_from_input_ranges(field, rng):
    """The schema publishes core.input_ranges' bounds, and both ends are enforced."""
    prop = BudgetInputs.model_json_schema()["properties"][field]
    bounds = next(s for s in prop.get("anyOf", [prop]) if s.get("type") != "null")
    assert (bounds["minimum"], bounds["maximum"]) == (rng.lo, rng.hi)
    assert bounds["type"] == ("integer" if rng.whole else "number")
    assert getattr(read(**{field: rng.hi}), field) == rng.hi
    assert getattr(read(**{field: rng.lo}), field) == rng.lo
    for outside in (rng.lo - 1, rng.hi * 2):
        assert refused(**{field: outside}).startswith(f"{rng.name}: a ")


def test_cell_money_keeps_the_money_range():
    schema = BudgetInputs.model_json_schema()["$defs"]["CellBound"]["properties"]["min_spend"]["anyOf"][0]
    assert (schema["minimum"], schema["maximum"]) == (ranges.MONEY.lo, ranges.MONEY.hi)


def test_the_api_is_strict_where_the_form_is_lenient():
    """The same class: a form's display columns are dropped by `read`, refused (422) by the API's
    validation, which also names the field a pydantic error is on."""
    row = {"brand_id": 1, "brand": "Acme", "channel": "TV", "lower": 5}
    assert read(cells=[row]).cells[0].lower == 5.0
    with pytest.raises(ValidationError) as strict:
        BudgetInputs.model_validate({**BASE, "cells": [row]})
    assert [e["loc"] for e in strict.value.errors()] == [("cells", 0, "brand")]
    with pytest.raises(ValidationError) as extra:
        BudgetInputs.model_validate({**BASE, "colour": "red"})
    assert BudgetInputs.message(extra.value) == "colour: unknown field 'colour'"
    with pytest.raises(ValidationError) as target:
        BudgetInputs.model_validate({**BASE, "scenario": "min_budget"})
    [error] = target.value.errors()
    assert error["loc"] == ("target",) and error["msg"] == "the smallest-budget scenario needs a target outcome"


def test_what_is_stored_reads_back_to_the_same_inputs():
    """A job stores `model_dump(mode="json")` and a saved scenario keeps it: it must read back as is,
    strictly too (it is the API's shape)."""
    inputs = BudgetInputs.read({"brand_ids": [2, 1], "channels": ["TV", "Search"], "budget": "1,000,000",
                                "max_change_pct": "15 %", "unit": "1 000", "risk_front": [],
                                "cells": [{"brand_id": 1, "brand": "A", "channel": "TV", "min_spend": "500"}],
                                "brand_bounds": [{"brand_id": 2, "upper": 9e5}],
                                "channel_bounds": [{"channel": "Search", "lower": 0}]})
    stored = inputs.model_dump(mode="json")
    assert stored["cells"] == [{"brand_id": 1, "channel": "TV", "lower": None, "upper": None, "locked": False,
                                "min_spend": 500.0}]
    assert BudgetInputs.read(stored) == inputs == BudgetInputs.model_validate(stored)
