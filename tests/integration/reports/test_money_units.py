"""An organization's currency reaches every figure: a budget run keeps it, the optimizer's result view,
the portfolio page, the scenario and portfolio PDFs and workbooks write it, and a changed currency
shows on the next page load (the organization's row moves the data token, so no cache serves the
old one). On SQLite and PostgreSQL, with the demo (its money is Indian rupees)."""

from __future__ import annotations

import io
import json
import re

import pytest
from dash._utils import split_callback_id
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from core import portfolio as pf
from core.formatting import Units
from core.models import Organization, Project
from core.reports import render
from core.scenarios import get_scenario
from core.settings import read_settings, save_settings
from dashboard.figures.optimizer import results_view
from tests.integration.reports.conftest import principal
from tests.support import csrf_headers, make_app, sign_in

INR = Units("INR")


@pytest.fixture
def app(world):
    return make_app(world["db"], world["tmp"])


def _text(content: bytes) -> str:
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages))


def _ratio_in(ratio: str, view: str) -> bool:
    """A KPI card prints "₹2.63" and a small " per ₹1" apart (dashboard.components.kpi_card)."""
    head, _, tail = ratio.partition(" per ")
    return head in view and f" per {tail}" in view


def _show_project(app, client, project_id: int) -> dict:
    """Post the portfolio page's main callback as the browser does."""
    key = next(k for k in app.callback_map if "portfolio-kpis.children" in k)
    entry = app.callback_map[key]
    values = {"portfolio-project": project_id, "portfolio-period": None}
    inputs = [{**dep, "value": values.get(dep["id"])} for dep in entry["inputs"]]
    body = {
        "output": key,
        "outputs": split_callback_id(key),
        "inputs": inputs,
        "state": [],
        "changedPropIds": ["portfolio-project.data"],
    }
    response = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["response"]


def test_a_run_keeps_the_currency_and_its_pdf_and_workbook_write_it(world):
    db, bm = world["db"], principal(world, "Brand Manager")
    result = get_scenario(db, bm, world["scenario"])["result"]
    assert result["units"] == {"currency": "INR", "outcome": "revenue"}
    text = _text(render(db, bm, "scenario", {"scenario_id": world["scenario"]}, "pdf").content)
    assert INR.money(result["outcome"]) in text and INR.money(result["budget"]) in text
    assert "ROAS of the plan" in text and INR.roas(result["roi"]) in text and "Terms used" in text
    assert "ROI" not in text  # one name per quantity: ROAS here, MER on the portfolio
    book = load_workbook(io.BytesIO(render(db, bm, "scenario", {"scenario_id": world["scenario"]}, "xlsx").content))
    allocation = book["Allocation"]
    header = [c.value for c in allocation[4]]
    current = allocation.cell(5, header.index("Current") + 1)
    assert current.value == pytest.approx(result["cells"][0]["current"])  # the number stays a number …
    assert current.number_format == INR.xlsx_money()  # … and reads in rupees
    assert allocation.cell(5, header.index("Marginal ROAS") + 1).number_format == INR.xlsx_roas()
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert summary["Money in"] == "INR · outcome: revenue"


def test_the_portfolio_report_names_mer_and_writes_rupees(world):
    db, pm, project = world["db"], principal(world, "Portfolio Manager"), world["project"]
    with db.engine.connect() as conn:
        totals = pf.financial_totals(pf.financials(conn, pm, project))
    text = _text(render(db, pm, "portfolio", {"project_ids": [project]}, "pdf").content)
    assert INR.money(totals["spend"]) in text and INR.roas(totals["roi"]) in text
    assert "MER (revenue ÷ spend)" in text and "ROI" not in text


def test_the_optimizer_result_view_writes_the_runs_currency(world):
    result = get_scenario(world["db"], principal(world, "Brand Manager"), world["scenario"])["result"]
    view = json.dumps(
        results_view(result, can_save=False, can_export=False, default_name="x").to_plotly_json(),
        default=lambda o: o.to_plotly_json(),
        ensure_ascii=False,
    )
    assert INR.outcome_value(result["outcome"]) in view and _ratio_in(INR.roas(result["roi"]), view)
    assert "Predicted revenue, 12 months" in view and "ROAS of the plan" in view and "Return per unit" not in view
    assert "Marginal ROAS" in view and "Marginal ROI" not in view


def test_the_portfolio_page_follows_a_changed_currency(app, world):
    db, project = world["db"], world["project"]
    client = app.server.test_client()
    assert sign_in(client, world["people"]["Portfolio Manager"].email).status_code == 302
    with db.engine.connect() as conn:
        totals = pf.financial_totals(pf.financials(conn, principal(world, "Portfolio Manager"), project))
    first = json.dumps(_show_project(app, client, project), ensure_ascii=False)
    assert (
        INR.money(totals["spend"]) in first
        and _ratio_in(INR.roas(totals["roi"]), first)
        and "Spend, 12 m (INR)" in first
    )
    with db.session() as s:
        organization_id = s.scalar(select(Project.organization_id).where(Project.id == project))
    admin = principal(world, "Organization Administrator")
    security = app.server.extensions["digicadence.accounts"].settings
    values = read_settings(db, admin, organization_id, security).values()
    try:
        save_settings(db, admin, organization_id, {**values, "currency": "EUR"}, security)
        changed = json.dumps(_show_project(app, client, project), ensure_ascii=False)
        assert Units("EUR").money(totals["spend"]) in changed and "Spend, 12 m (EUR)" in changed
        assert "₹" not in changed
    finally:  # the package's other tests read the demo in rupees
        save_settings(db, admin, organization_id, values, security)
    with db.session() as s:
        assert s.get(Organization, organization_id).currency == "INR"


def test_a_count_outcome_reads_as_a_count_in_the_portfolio_report(world):
    db, pm, project = world["db"], principal(world, "Portfolio Manager"), world["project"]
    with db.engine.connect() as conn:
        totals = pf.financial_totals(pf.financials(conn, pm, project))
    with db.session() as s:
        organization_id = s.scalar(select(Project.organization_id).where(Project.id == project))
    admin = principal(world, "Organization Administrator")
    security = make_app(db, world["tmp"]).server.extensions["digicadence.accounts"].settings
    values = read_settings(db, admin, organization_id, security).values()
    counted = Units("USD", "orders")
    try:
        save_settings(db, admin, organization_id, {**values, "currency": "USD", "outcome_unit": "orders"}, security)
        text = _text(render(db, pm, "portfolio", {"project_ids": [project]}, "pdf").content)
    finally:
        save_settings(db, admin, organization_id, values, security)
    assert "Orders, 12 months" in text and counted.outcome_value(totals["revenue"]) in text
    assert counted.money(totals["spend"]) in text and "Orders per spend" in text and "MER" not in text
