"""Brand explorer: read models against facts computed another way, scope, and the page's callbacks."""

from __future__ import annotations

import base64
import inspect
import io
import json
from datetime import date

import numpy as np
import openpyxl
import pandas as pd
import pytest
from dash._utils import split_callback_id
from sqlalchemy import select

from core import brand_explorer as bx
from core.demo import seed_demo
from core.models import Brand, Metric, MetricValue, Organization, Outcome, ProjectBrand, Section, User
from core.security import Forbidden, load_principal
from tests.reference_read_models import stored_scores
from tests.support import csrf_headers, demo_people, make_app, sign_in

MONTHS = 6


@pytest.fixture
def world(db, tmp_path):
    """The demo (two organizations) with the six demo users in the first."""
    seed_demo(db, seed=7, months=MONTHS)
    people = demo_people(db, tmp_path)
    with db.session() as s:
        ids = {c.role: s.scalar(select(User.id).where(User.email == c.email)) for c in people.values()}
        second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[1]
        foreign_brand = s.scalars(select(Brand.id).where(Brand.organization_id == second)).first()
    return {"db": db, "tmp": tmp_path, "people": people, "ids": ids, "foreign_brand": foreign_brand}


def _principal(world, role: str):
    return load_principal(world["db"], world["ids"][role])


def _first_pair(world, role: str) -> tuple[int, int]:
    with world["db"].engine.connect() as conn:
        pairs = bx.explorable(conn, _principal(world, role))
    return int(pairs["brand_id"].iloc[0]), int(pairs["project_id"].iloc[0])


def _stored_total(conn, project_id: int, brand_id: int, period: date, level: str = "total") -> pd.DataFrame:
    return stored_scores(conn, project_id, level, brand_ids=[brand_id], periods=[period])


def test_breakdown_and_waterfall_add_up_to_the_stored_scores(world):
    pm = _principal(world, "Portfolio Manager")
    brand_id, project_id = _first_pair(world, "Portfolio Manager")
    with world["db"].engine.connect() as conn:
        periods = bx.periods(conn, pm, brand_id, project_id)
        assert len(periods) == MONTHS
        p0, p1 = periods[0], periods[-1]
        breakdown = bx.score_breakdown(conn, pm, brand_id, project_id, p1)
        stored = float(_stored_total(conn, project_id, brand_id, p1)["score"].iloc[0])
        assert breakdown["weight"].sum() == pytest.approx(1.0, abs=1e-9)
        assert breakdown["contribution"].sum() == pytest.approx(stored, abs=1e-9)
        assert breakdown["norm"].between(0, 100).all() and len(breakdown) == 60

        # Every section node of the tree carries exactly the section score the engine stored.
        tree = bx.breakdown_tree(breakdown)
        sections = dict(conn.execute(select(Section.id, Section.name)).all())
        stored_sections = _stored_total(conn, project_id, brand_id, p1, "section")
        expected = stored_sections.set_index(stored_sections["node_id"].map(sections))["score"]
        got = tree[tree["level"] == "section"].set_index("label")["score"]
        pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False, atol=1e-9)
        assert tree.loc[tree["level"] == "total", "score"].iloc[0] == pytest.approx(stored, abs=1e-9)

        waterfall = bx.score_waterfall(conn, pm, brand_id, project_id, p0, p1)
        stored0 = float(_stored_total(conn, project_id, brand_id, p0)["score"].iloc[0])
        assert waterfall.score_from == pytest.approx(stored0, abs=1e-9)
        assert waterfall.score_to == pytest.approx(stored, abs=1e-9)
        assert waterfall.frame["contribution"].sum() == pytest.approx(stored - stored0, abs=1e-9)
        effects = waterfall.frame["value_effect"] + waterfall.frame["weight_effect"]
        np.testing.assert_allclose(effects, waterfall.frame["contribution"], atol=1e-9)


def test_gaps_are_direction_aware_and_match_raw_values(world):
    pm = _principal(world, "Portfolio Manager")
    brand_id, project_id = _first_pair(world, "Portfolio Manager")
    with world["db"].engine.connect() as conn:
        period = bx.periods(conn, pm, brand_id, project_id)[-1]
        result = bx.gaps(conn, pm, brand_id, project_id, period)
        comp = bx.competitors(conn, pm, brand_id, project_id)
        raw = pd.DataFrame(conn.execute(
            select(MetricValue.brand_id, MetricValue.metric_id, MetricValue.raw_value)
            .where(MetricValue.period == period, MetricValue.brand_id.in_(comp.visible["brand_id"].tolist()))
        ).all(), columns=["brand_id", "metric_id", "value"])
    assert result.basis == "competitors" and result.competitors_visible == comp.total == 10
    frame = result.frame.set_index("metric_id")
    lower = frame["direction"] == "lower"
    assert lower.any() and (~lower).any()
    by_metric = raw.groupby("metric_id")["value"]
    best = np.where(lower, by_metric.min().reindex(frame.index), by_metric.max().reindex(frame.index))
    np.testing.assert_allclose(frame["best_competitor"], best)
    np.testing.assert_allclose(frame["competitor_avg"], by_metric.mean().reindex(frame.index))
    sign = np.where(lower, -1.0, 1.0)
    np.testing.assert_allclose(frame["gap_to_best"], (frame["value"] - best) * sign)
    # The best competitor is never worse than the average one, whichever way "better" points.
    assert (frame["gap_to_best"] <= frame["gap_to_avg"] + 1e-9).all()
    assert (frame["gap_to_best_points"] <= frame["gap_to_avg_points"] + 1e-9).all()
    # A lower-is-better metric where the brand's value is smaller than the best competitor's is a lead.
    ahead_low = lower & (frame["value"] < frame["best_competitor"])
    assert (frame.loc[ahead_low, "gap_to_best"] > 0).all()


def test_correlations_and_revenue_association(world):
    pm = _principal(world, "Portfolio Manager")
    brand_id, project_id = _first_pair(world, "Portfolio Manager")
    with world["db"].engine.connect() as conn:
        corr = bx.metric_correlations(conn, pm, brand_id)
        matrix = corr.matrix.to_numpy()
        assert corr.n == MONTHS and matrix.shape[0] == matrix.shape[1] > 30 and corr.matrix.index.is_unique
        np.testing.assert_allclose(matrix, matrix.T, atol=1e-12)
        np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-12)
        assert np.nanmax(np.abs(matrix)) <= 1 + 1e-12

        raw = pd.DataFrame(conn.execute(
            select(MetricValue.period, MetricValue.metric_id, MetricValue.raw_value)
            .where(MetricValue.brand_id == brand_id)).all(), columns=["period", "metric_id", "value"])
        weeks = pd.DataFrame(conn.execute(select(Outcome.period, Outcome.revenue)
                                          .where(Outcome.brand_id == brand_id)).all(), columns=["start", "revenue"])
        revenue = bx.monthly_revenue(conn, pm, brand_id)
        assoc = bx.revenue_associations(conn, pm, brand_id)
        competitor = conn.scalar(select(ProjectBrand.brand_id).where(ProjectBrand.project_id == project_id,
                                                                     ProjectBrand.role == "competitor"))
        assert bx.revenue_associations(conn, pm, competitor).empty  # competitors have no revenue

    # A month's revenue is each week's revenue times the share of its seven days inside the month.
    month = revenue.index[1]
    start = pd.to_datetime(weeks["start"])
    month_end = month + pd.offsets.MonthBegin(1)
    overlap = (np.minimum(start + pd.Timedelta(days=7), month_end) - np.maximum(start, month)).dt.days.clip(lower=0)
    assert revenue.loc[month] == pytest.approx((weeks["revenue"] * overlap / 7).sum(), rel=1e-12)

    top = assoc.iloc[0]
    series = raw[raw["metric_id"] == top["metric_id"]].assign(period=lambda f: pd.to_datetime(f["period"]))
    joined = series.set_index("period")["value"].to_frame().join(revenue, how="inner")
    assert top["n"] == len(joined) == corr.n
    assert top["r"] == pytest.approx(np.corrcoef(joined["value"], joined["revenue"])[0, 1], abs=1e-12)
    assert assoc["r"].abs().is_monotonic_decreasing and assoc["small_sample"].all()
    assert (assoc["p_value"].between(0, 1)).all()
    assert ((assoc["p_value"] < 0.05) == (assoc["r"].abs() > assoc["r_critical"])).all()


def test_brand_manager_sees_their_brand_and_its_projects_competitors_as_market_data(world):
    """Competitors are market data (issue 16 item 8): a grant on an own brand reads the project's
    competitors' names, metric values and scores, never their money nor another own brand."""
    bm = _principal(world, "Brand Manager")
    own = world["people"]["Brand Manager"].scope_id
    with world["db"].engine.connect() as conn:
        pairs = bx.explorable(conn, bm)
        assert pairs["brand_id"].unique().tolist() == [own]
        project_id = int(pairs["project_id"].iloc[0])
        comp = bx.competitors(conn, bm, own, project_id)
        assert len(comp.visible) == comp.total == 10
        competitor = int(comp.visible["brand_id"].iloc[0])
        period = bx.periods(conn, bm, own, project_id)[-1]
        series = bx.metric_series(conn, bm, own, project_id, 1, [competitor])
        assert set(series["brand_id"]) == {own, competitor, 0}
        result = bx.gaps(conn, bm, own, project_id, period)
        assert result.basis == "competitors" and result.competitors_visible == 10
        values = conn.scalars(select(MetricValue.raw_value).where(
            MetricValue.brand_id.in_(comp.visible["brand_id"].tolist()), MetricValue.metric_id == 1,
            MetricValue.period == period)).all()
        higher = conn.scalar(select(Metric.direction).where(Metric.id == 1)) == "higher"
        best = max(values) if higher else min(values)
        assert result.frame.set_index("metric_id").loc[1, "best_competitor"] == pytest.approx(best)
        assert not bx.metric_correlations(conn, bm, competitor).matrix.empty  # metric values are market data
        assert bx.monthly_revenue(conn, bm, competitor).empty  # money is not
        other_own = int(conn.scalar(select(ProjectBrand.brand_id).where(
            ProjectBrand.project_id == project_id, ProjectBrand.role == "own", ProjectBrand.brand_id != own)))
        for call in (lambda: bx.score_breakdown(conn, bm, other_own, project_id, period),
                     lambda: bx.metric_correlations(conn, bm, other_own),
                     lambda: bx.monthly_revenue(conn, bm, other_own),
                     lambda: bx.metric_correlations(conn, bm, world["foreign_brand"])):
            with pytest.raises(Forbidden):
                call()


# ---------------------------------------------------------------- the page, through Dash's own endpoint

def _entry(app, fragment: str) -> tuple[str, dict]:
    found = [(k, e) for k, e in app.callback_map.items() if k.startswith(fragment)] or \
        [(k, e) for k, e in app.callback_map.items() if fragment in k]
    assert len(found) == 1, f"{fragment!r} matches {[k for k, _ in found]}"
    return found[0]


def _post(app, client, fragment: str, trigger: str | None = None, **values):
    """Post one callback as the renderer does; `values` by the callback's parameter names."""
    key, entry = _entry(app, fragment)
    names = list(inspect.signature(entry["callback"]).parameters)
    deps = [*entry["inputs"], *entry.get("state", [])]
    filled = [{**dep, "value": values.get(names[i]) if i < len(names) else None} for i, dep in enumerate(deps)]
    first = entry["inputs"][0]
    body = {"output": key, "outputs": split_callback_id(key), "inputs": filled[:len(entry["inputs"])],
            "state": filled[len(entry["inputs"]):],
            "changedPropIds": [trigger or f"{first['id']}.{first['property']}"]}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=csrf_headers(client))


def _ok(response) -> dict:
    assert response.status_code == 200, response.data[:800]
    return response.get_json()["response"]


def _page(app, client, search: str) -> str:
    """The page as the router builds it for `/brand{search}` (JSON of the component tree)."""
    key = next(k for k in app.callback_map if "_pages_content.children" in k)
    body = {"output": key, "outputs": split_callback_id(key),
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/brand"},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "state": [], "changedPropIds": ["_pages_location.pathname"]}
    response = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert response.status_code == 200, response.data[:500]
    return json.dumps(response.get_json()["response"])


@pytest.mark.parametrize("role", ["Brand Manager", "Portfolio Manager"])
def test_page_callbacks_serve_data_and_refuse_foreign_ids(world, role):
    app = make_app(world["db"], world["tmp"])
    client = app.server.test_client()
    assert sign_in(client, world["people"][role].email).status_code == 302
    client.get("/brand")
    brand_id, project_id = _first_pair(world, role)
    with world["db"].engine.connect() as conn:
        periods = [p.isoformat() for p in bx.periods(conn, _principal(world, role), brand_id, project_id)]
    page = _page(app, client, f"?brand={brand_id}&project={project_id}")
    assert '"id": "brand-brand"' in page and f'"value": {brand_id}' in page and "Brand explorer" in page
    pair = {"brand_id": brand_id, "project_id": project_id}

    figure = _ok(_post(app, client, "brand-breakdown-graph.figure", period_to=periods[-1], **pair))
    sunburst = figure["brand-breakdown-graph"]["figure"]["data"][0]
    assert sunburst["type"] == "sunburst" and len(sunburst["ids"]) > 60
    water = _ok(_post(app, client, "brand-waterfall-graph.figure", period_from=periods[0], period_to=periods[-1],
                      **pair))
    trace = water["brand-waterfall-graph"]["figure"]["data"][0]
    assert trace["measure"][0] == "absolute" and trace["measure"][-1] == "total"
    assert len(water["brand-kpis"]["children"]) == 4
    series = _ok(_post(app, client, "brand-series-graph.figure", metric_id=1, competitor_ids=[], **pair))
    assert series["brand-series-graph"]["figure"]["data"]
    gaps = _ok(_post(app, client, "brand-gaps-graph.figure", period_to=periods[-1], **pair))
    assert gaps["brand-gaps-graph"]["figure"]["data"][0]["x"]
    assert "visible competitors" in json.dumps(gaps["brand-gaps-note"])  # the brand manager's too (market data)
    corr = _ok(_post(app, client, "brand-correlation-graph.figure", section="Marketplace", **pair))
    assert corr["brand-correlation-graph"]["figure"]["data"][0]["type"] == "heatmap"
    revenue = _ok(_post(app, client, "brand-revenue-graph.figure", **pair))
    assert revenue["brand-revenue-graph"]["figure"]["data"][0]["x"]
    assert "small sample" in json.dumps(revenue["brand-revenue-note"])

    # Picking a brand that is not in the current project moves to that brand's own project, in the URL.
    with world["db"].engine.connect() as conn:
        pairs = bx.explorable(conn, _principal(world, role))
    elsewhere = pairs[pairs["project_id"] != project_id]
    if len(elsewhere):
        other = elsewhere.iloc[0]
        moved = _ok(_post(app, client, "url.search@", brand_id=int(other["brand_id"]), project_id=project_id,
                          search=f"?brand={brand_id}&project={project_id}"))
        assert moved["url"]["search"] == f"?brand={other['brand_id']}&project={other['project_id']}"
    else:
        assert role == "Brand Manager"

    # Another organization's brand, or another brand of the same organization, straight from a browser.
    with world["db"].engine.connect() as conn:
        other_own = int(conn.scalar(select(ProjectBrand.brand_id).where(
            ProjectBrand.project_id == project_id, ProjectBrand.role == "own", ProjectBrand.brand_id != brand_id)))
    forged = [{"brand_id": world["foreign_brand"], "project_id": project_id}]
    if role == "Brand Manager":
        forged.append({"brand_id": other_own, "project_id": project_id})
    for ids in forged:
        for fragment in ("brand-breakdown-graph.figure", "brand-revenue-graph.figure", "brand-gaps-graph.figure"):
            response = _post(app, client, fragment, period_to=periods[-1], section="Marketplace", **ids)
            assert response.status_code == 403, (fragment, ids, response.data[:200])
            assert b"figure" not in response.data

    # Downloads: CSV text and an XLSX workbook with the same rows.
    state = {**pair, "period_from": periods[0], "period_to": periods[-1], "metric_id": 1, "competitor_ids": [],
             "section": "Marketplace", "csv_clicks": 1, "xlsx_clicks": 1}
    csv = _ok(_post(app, client, "brand-gaps-download.data", trigger="brand-gaps-csv.n_clicks", **state))
    data = csv["brand-gaps-download"]["data"]
    assert data["filename"].endswith(".csv") and not data["base64"]
    table = pd.read_csv(io.StringIO(data["content"]))
    assert len(table) == 60 and "gap_to_best_points" in table.columns
    xlsx = _ok(_post(app, client, "brand-breakdown-download.data", trigger="brand-breakdown-xlsx.n_clicks", **state))
    data = xlsx["brand-breakdown-download"]["data"]
    assert data["filename"].endswith(".xlsx") and data["base64"]
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(data["content"])))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("section", "platform", "metric") and len(rows) == 61
    assert sum(r[rows[0].index("weight")] for r in rows[1:]) == pytest.approx(1.0)
    forged_download = _post(app, client, "brand-breakdown-download.data", trigger="brand-breakdown-xlsx.n_clicks",
                            **{**state, "brand_id": world["foreign_brand"]})
    assert forged_download.status_code == 403
