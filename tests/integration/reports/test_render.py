"""core.reports.render on SQLite and PostgreSQL: every report in both formats shows the read models'
own figures, the PDF has its charts, the workbook's cells equal the read model, and out-of-scope or
unknown ids, a missing report:export and bad parameters are refused."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from core import brand_explorer as bx
from core import portfolio as pf
from core.formatting import compact
from core.models import AuditEvent, Brand, DCScore, ProjectBrand
from core.reports import Report, ReportNotFound, render
from core.scenarios import get_scenario
from core.security import Forbidden
from tests.integration.reports.conftest import params, principal

KINDS = ["portfolio", "brand", "scenario"]


def _pdf_text(report: Report) -> tuple[list[str], PdfReader]:
    reader = PdfReader(io.BytesIO(report.content))
    return [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages], reader


def _sheet(workbook, name: str) -> list[dict]:
    """A table sheet's rows as dicts (headers on row 4, as core/reports/xlsx.py writes them)."""
    rows = list(workbook[name].iter_rows(min_row=4, values_only=True))
    header, out = rows[0], []
    for row in rows[1:]:
        if all(v is None for v in row):
            break  # a note may follow the table after an empty row
        out.append(dict(zip(header, row, strict=True)))
    return out


def _summary(workbook) -> dict:
    return {row[0]: row[1] for row in workbook["Summary"].iter_rows(values_only=True) if row[0]}


@pytest.mark.parametrize("kind", KINDS)
def test_pdf_carries_header_footer_and_charts_on_every_page(world, kind):
    report = render(world["db"], principal(world, "Portfolio Manager"), kind, params(world, kind), "pdf")
    assert report.media_type == "application/pdf" and report.filename.endswith(".pdf")
    pages, reader = _pdf_text(report)
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert world["organization"] in text and f"Page {number} of {len(pages)}" in text
    charts = {"portfolio": 3, "brand": 3, "scenario": 2}[kind]  # trend, heatmap, sections / sections, moved,
    assert sum(len(page.images) for page in reader.pages) == charts  # gaps / allocation, outcome: as images


def test_portfolio_pdf_and_xlsx_show_the_ranking(world):
    db, pm, project = world["db"], principal(world, "Portfolio Manager"), world["project"]
    with db.engine.connect() as conn:
        ranking = pf.brand_ranking(conn, pm, project)
        period = pd_month(pf.project_periods(conn, pm, project)[-1])
    own = ranking[ranking.role == "own"]
    pages, _ = _pdf_text(render(db, pm, "portfolio", {"project_ids": [project]}, "pdf"))
    text = " ".join(pages)
    assert f"{own['score'].mean():.1f}" in text and period in text
    for row in ranking.head(5).itertuples():
        assert row.brand in text and f"{row.score:.1f}" in text
    book = load_workbook(io.BytesIO(render(db, pm, "portfolio", {"project_ids": [project]}, "xlsx").content))
    rows = {r["Brand"]: r for r in _sheet(book, "Ranking")}
    assert set(rows) == set(ranking["brand"])
    for row in ranking.itertuples():
        assert rows[row.brand]["DC score"] == pytest.approx(row.score, abs=1e-9)
        assert rows[row.brand]["#"] == row.rank
    assert _summary(book)["Portfolio DC score (own brands' average)"] == pytest.approx(own["score"].mean(), abs=1e-9)
    assert book["Ranking"]._charts and book["Trend"]._charts  # native Excel charts
    assert {"Sections", "Own vs competitors", "Movers", "Alerts"} <= set(book.sheetnames)


def pd_month(value) -> str:
    import pandas as pd

    return f"{pd.Timestamp(value):%B %Y}"


def test_brand_card_adds_up_to_the_stored_dc_score(world):
    db, pm, brand, project = world["db"], principal(world, "Portfolio Manager"), world["brand"], world["project"]
    params_ = {"brand_id": brand, "project_id": project}
    with db.engine.connect() as conn:
        periods = bx.periods(conn, pm, brand, project)
        breakdown = bx.score_breakdown(conn, pm, brand, project, periods[-1])
        name = bx.explorable(conn, pm).set_index("brand_id").loc[brand, "brand"]
        name = name if isinstance(name, str) else name.iloc[0]
        stored = conn.execute(select(DCScore.score).where(
            DCScore.brand_id == brand, DCScore.project_id == project, DCScore.level == "total",
            DCScore.period == periods[-1])).scalar_one()
    pages, _ = _pdf_text(render(db, pm, "brand", params_, "pdf"))
    text = " ".join(pages)
    assert name in text and f"{stored:.1f}" in text and "What moved the score" in text and "Metric gaps" in text
    book = load_workbook(io.BytesIO(render(db, pm, "brand", params_, "xlsx").content))
    sections = _sheet(book, "Sections")
    assert sum(r["DC points"] for r in sections) == pytest.approx(stored, abs=1e-6)
    expected = breakdown.groupby("section")["contribution"].sum()
    for r in sections:
        assert r["DC points"] == pytest.approx(expected[r["Section"]], abs=1e-9)
    metrics = _sheet(book, "Metrics")
    assert len(metrics) == len(breakdown)
    assert _summary(book)["DC score"] == pytest.approx(stored, abs=1e-6)
    assert {"What moved", "Gaps"} <= set(book.sheetnames) and book["Sections"]._charts


def test_scenario_report_shows_allocation_outcome_and_constraints(world):
    db, bm = world["db"], principal(world, "Brand Manager")  # the owner
    result = get_scenario(db, bm, world["scenario"])["result"]
    pages, _ = _pdf_text(render(db, bm, "scenario", {"scenario_id": world["scenario"]}, "pdf"))
    text = " ".join(pages)
    assert "Plan A" in text and compact(result["outcome"]) in text and "Binding constraints" in text
    lo, hi = result["outcome_interval"]
    assert f"{compact(lo).split()[0]}" in text and f"{compact(hi).split()[0]}" in text
    book = load_workbook(io.BytesIO(render(db, bm, "scenario", {"scenario_id": world["scenario"]}, "xlsx").content))
    cells = _sheet(book, "Allocation")
    assert [(c["Channel"], c["Current"], c["Optimized"]) for c in cells] == \
        [(c["channel"], pytest.approx(c["current"]), pytest.approx(c["optimal"])) for c in result["cells"]]
    outcome = {r["Mix"]: r for r in _sheet(book, "Outcome")}
    assert outcome["Optimized"]["Predicted"] == pytest.approx(result["outcome"])
    assert (outcome["Optimized"]["90 % low"], outcome["Optimized"]["90 % high"]) == (pytest.approx(lo),
                                                                                   pytest.approx(hi))
    assert len(_sheet(book, "Binding")) == len(result["binding"]) and book["Allocation"]._charts


@pytest.mark.parametrize("fmt", ["pdf", "xlsx"])
def test_the_same_data_gives_the_same_bytes(world, fmt):
    db, bm = world["db"], principal(world, "Brand Manager")
    first = render(db, bm, "scenario", {"scenario_id": world["scenario"]}, fmt)
    again = render(db, bm, "scenario", {"scenario_id": world["scenario"]}, fmt)
    assert first == again and first.filename == f"scenario-{world['scenario']}.{fmt}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_viewer_without_report_export_is_refused(world, kind):
    viewer = principal(world, "Viewer")
    with pytest.raises(Forbidden) as refused:
        render(world["db"], viewer, kind, params(world, kind), "pdf")
    assert not isinstance(refused.value, ReportNotFound) and refused.value.reason == "permission not held"


@pytest.mark.parametrize("kind", KINDS)
def test_another_organizations_ids_are_refused_like_unknown_ones(world, kind):
    db, pm = world["db"], principal(world, "Portfolio Manager")
    with pytest.raises(ReportNotFound) as foreign:
        render(db, pm, kind, params(world, kind, foreign=True), "xlsx")
    unknown = {k: [10**6] if isinstance(v, list) else 10**6 for k, v in params(world, kind).items()}
    with pytest.raises(ReportNotFound) as missing:
        render(db, pm, kind, unknown, "xlsx")
    assert foreign.value.reason == missing.value.reason == "not found"
    assert str(foreign.value).replace(str(foreign.value.ident), "#") == str(missing.value).replace(
        str(missing.value.ident), "#")
    with db.session() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "authz.denied",
                                                    AuditEvent.actor_id == pm.user_id))


def test_a_brand_manager_exports_their_brand_and_the_competitors_market_data_only(world):
    db, bm = world["db"], principal(world, "Brand Manager")
    book = load_workbook(io.BytesIO(render(db, bm, "portfolio", {"project_ids": [world["project"]]}, "xlsx").content))
    ranking = _sheet(book, "Ranking")
    with db.session() as s:
        roles = dict(s.execute(select(ProjectBrand.brand_id, ProjectBrand.role)
                               .where(ProjectBrand.project_id == world["project"])).all())
        names = dict(s.execute(select(Brand.id, Brand.name).where(Brand.id.in_(roles))).all())
    own = world["people"]["Brand Manager"].scope_id
    expected = {names[own]} | {names[b] for b, r in roles.items() if r == "competitor"}
    assert {r["Brand"] for r in ranking} == expected  # competitors are market data (docs/SECURITY.md)
    assert all(r["Spend, 12 m"] in (None, "") for r in ranking if r["Brand"] != names[own])  # their money is not
    other_own = world["foreign"]["brand"]
    with pytest.raises(ReportNotFound):
        render(db, bm, "brand", {"brand_id": other_own, "project_id": world["project"]}, "pdf")


@pytest.mark.parametrize(("kind", "bad", "reason"), [
    ("sales", {}, "unknown report"),
    ("portfolio", {}, "either project_ids or organization_id"),
    ("portfolio", {"project_ids": [1], "organization_id": 1}, "either project_ids or organization_id"),
    ("portfolio", {"project_ids": ["one"]}, "integer"),
    ("portfolio", {"project_ids": [1], "as_of": "May"}, "month like"),
    ("portfolio", {"project_ids": [1], "as_of": "1999-01"}, "no DC scores for January 1999"),
    ("portfolio", {"project_ids": [1], "colour": "red"}, "unknown parameter"),
    ("brand", {"brand_id": 1}, "project_id is required"),
    ("scenario", {"scenario_id": -3}, "positive"),
])
def test_bad_parameters_say_why(world, kind, bad, reason):
    pm = principal(world, "Portfolio Manager")
    if "project_ids" in bad and bad["project_ids"] == [1]:
        bad = {**bad, "project_ids": [world["project"]]}
    with pytest.raises(ValueError, match=reason):
        render(world["db"], pm, kind, bad, "pdf")
    with pytest.raises(ValueError, match="unknown format"):
        render(world["db"], pm, "scenario", {"scenario_id": world["scenario"]}, "docx")
