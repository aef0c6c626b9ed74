"""Issue 13 item 4: the What-if page, the API and the optimization job describe a budget run with ONE
model, core.budget_inputs.BudgetInputs; the OpenAPI document publishes it with the ranges of
core.input_ranges. (The job's use of it is tested by behaviour in tests/integration/jobs/test_job_queue.py.)"""

from __future__ import annotations

import sys

import dash

from api.v1.resources.jobs import OptimizationPayload
from core import input_ranges as ranges
from core.budget_inputs import BudgetInputs
from core.jobs import builtin
from tests.support import make_app


def test_the_page_and_the_api_share_the_inputs_class(sqlite_db, tmp_path):
    make_app(sqlite_db, tmp_path)  # Dash imports the pages (under its own module names) and registers them
    [name] = [p["module"] for p in dash.page_registry.values() if p["path"] == "/optimizer"]
    page = sys.modules[name]
    # the page submits the optimization job kind, which reads its inputs with the one model
    assert builtin.OPTIMIZATION.name == page.KIND and builtin.BudgetInputs is BudgetInputs
    assert OptimizationPayload.model_fields["inputs"].annotation is BudgetInputs


def test_the_openapi_document_lists_the_one_schema(sqlite_db, tmp_path):
    client = make_app(sqlite_db, tmp_path).server.test_client()
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "OptimizationInputs" not in schemas
    assert schemas["OptimizationPayload"]["properties"]["inputs"] == {"$ref": "#/components/schemas/BudgetInputs"}
    budget = schemas["BudgetInputs"]["properties"]["budget"]["anyOf"][0]
    assert (budget["minimum"], budget["maximum"]) == (ranges.BUDGET.lo, ranges.BUDGET.hi)
    assert schemas["BudgetInputs"]["properties"]["cells"]["items"] == {"$ref": "#/components/schemas/CellBound"}
    assert schemas["BudgetInputs"]["additionalProperties"] is False


def test_a_run_that_leaves_out_the_change_cap_gets_the_pages_default_and_null_means_no_limit(sqlite_db, tmp_path):
    """Issue 16 item 4 for API clients too: one default change cap (±30 %), published in the schema."""
    from core.budget_inputs import DEFAULT_MAX_CHANGE_PCT

    base = {"brand_ids": [1], "channels": ["TV"]}
    assert BudgetInputs.read(base).max_change_pct == DEFAULT_MAX_CHANGE_PCT == 30.0
    assert BudgetInputs.read({**base, "max_change_pct": None}).max_change_pct is None
    assert BudgetInputs.read({**base, "max_change_pct": ""}).max_change_pct is None  # a cleared form field
    assert BudgetInputs.read({**base, "max_change_pct": "15 %"}).max_change_pct == 15.0
    client = make_app(sqlite_db, tmp_path).server.test_client()
    field = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["BudgetInputs"]["properties"][
        "max_change_pct"]
    assert field.get("default") == 30.0 and "null for no limit" in field.get("description", ""), field
