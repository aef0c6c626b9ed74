"""Portfolio read models against hand-checkable facts, on both databases, and the page's callbacks.

A small hand-built project checks the arithmetic (ROI windows, drop threshold, movers); the demo
(seeded once per database for the module) checks that the planted anomalies are found and that
the callbacks answer signed-in people with data and other organizations' ids with 403.
"""

from __future__ import annotations

import itertools
import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from core import portfolio as pf
from core import portfolio_alerts as alerts
from core.demo import seed_demo
from core.models import (
    Brand,
    Channel,
    DCScore,
    Metric,
    Organization,
    Outcome,
    Project,
    ProjectBrand,
    Section,
    Spend,
    User,
)
from core.scoring.engine import decompose_change, effective_weights
from core.scoring.service import load_inputs, score_change
from core.security import load_principal
from core.security.permissions import ALL_PERMISSIONS
from core.security.principal import Principal
from tests import reference_read_models as reference
from tests.support import csrf_headers, demo_people, make_app, sign_in

EVERYTHING = Principal(user_id=None, organization_id=None, system=ALL_PERMISSIONS)
DEMO_MONTHS = 14


# ---------------------------------------------------------------- a project small enough to check by hand

@pytest.fixture
def small(db):
    """Project P: own brands A and B, competitor C; scores for Sep and Oct 2026; spend and revenue."""
    with db.session() as s:
        org = Organization(name="Hand Co", slug="hand")
        s.add(org)
        s.flush()
        project = Project(organization_id=org.id, name="P")
        brands = {n: Brand(organization_id=org.id, name=n) for n in "ABC"}
        s.add(project)
        s.add_all(brands.values())
        s.add(Section(organization_id=org.id, name="Marketplace", position=0))
        channel = Channel(organization_id=org.id, name="Search")
        s.add(channel)
        s.flush()
        section = s.scalar(select(Section.id))
        ids = {n: b.id for n, b in brands.items()}
        project_id = project.id
        s.add_all([ProjectBrand(project_id=project.id, brand_id=ids[n], role=r)
                   for n, r in (("A", "own"), ("B", "own"), ("C", "competitor"))])
        sep, oct_ = date(2026, 9, 1), date(2026, 10, 1)
        # A falls 6 points, B falls 4, C rises 8.
        for name, before, after in (("A", 70.0, 64.0), ("B", 50.0, 46.0), ("C", 40.0, 48.0)):
            for period, score in ((sep, before), (oct_, after)):
                s.add(DCScore(project_id=project.id, period=period, brand_id=ids[name], level="total", node_id=0,
                              score=score, coverage=1.0))
                s.add(DCScore(project_id=project.id, period=period, brand_id=ids[name], level="section",
                              node_id=section, score=score + 1, coverage=1.0))
        # Window for Oct 2026: current = Nov 2025 … Oct 2026, previous = Nov 2024 … Oct 2025.
        rows = [
            ("A", date(2026, 10, 26), 100.0, 400.0),  # last week that starts in the window
            ("A", date(2025, 11, 3), 50.0, 150.0),
            ("A", date(2025, 10, 27), 80.0, 160.0),  # previous window
            ("A", date(2024, 10, 28), 999.0, 999.0),  # before both windows
            ("A", date(2026, 11, 2), 999.0, 999.0),  # after the latest month
            ("B", date(2026, 1, 5), 200.0, 300.0),
            ("C", date(2026, 1, 5), 1000.0, 9000.0),  # competitor: never in the portfolio's money
        ]
        for name, week, amount, revenue in rows:
            s.add(Spend(brand_id=ids[name], channel_id=channel.id, period=week, amount=amount, granularity="week"))
            s.add(Outcome(brand_id=ids[name], period=week, revenue=revenue, granularity="week"))
    return {"db": db, "project": project_id, **ids}


def test_roi_is_revenue_over_spend_within_the_twelve_month_windows(small):
    with small["db"].engine.connect() as conn:
        money = pf.financials(conn, EVERYTHING, small["project"]).set_index("brand_id")
        scoped = Principal(user_id=None, organization_id=None, brands={small["B"]: frozenset({pf.READ})})
        only_b = pf.financials(conn, scoped, small["project"])
    assert set(money.index) == {small["A"], small["B"]}  # competitors carry no portfolio money
    a = money.loc[small["A"]]
    assert (a["spend"], a["revenue"], a["roi"]) == (150.0, 550.0, pytest.approx(550 / 150))
    assert (a["spend_prev"], a["revenue_prev"], a["roi_prev"]) == (80.0, 160.0, 2.0)
    assert money.loc[small["B"], "roi"] == 1.5 and pd.isna(money.loc[small["B"], "spend_prev"])
    assert money.attrs["start"] == date(2025, 11, 1) and money.attrs["end"] == date(2026, 11, 1)
    totals = pf.financial_totals(money.reset_index())
    assert totals["spend"] == 350.0 and totals["revenue"] == 850.0
    assert totals["roi"] == pytest.approx(850 / 350)  # a ratio of sums, not a mean of ratios
    assert only_b["brand_id"].tolist() == [small["B"]]  # the scope filter narrows the money too


def test_drop_alerts_respect_the_threshold_and_movers_are_sorted(small):
    with small["db"].engine.connect() as conn:
        ranking = pf.brand_ranking(conn, EVERYTHING, small["project"])
    by_name = ranking.set_index("brand")["change_1m"]
    assert by_name.to_dict() == {"A": -6.0, "B": -4.0, "C": 8.0}
    assert alerts.score_drop_alerts(ranking)["brand"].tolist() == ["A"]  # default 5 points
    assert alerts.score_drop_alerts(ranking, threshold=4.0)["brand"].tolist() == ["A", "B"]  # worst first
    assert alerts.score_drop_alerts(ranking, threshold=6.5).empty
    assert alerts.score_drop_alerts(ranking, threshold=1.0)["brand"].tolist() == ["A", "B"]  # competitor C never
    moved = pf.movers(ranking, n=2)
    assert moved["brand"].tolist() == ["C", "A"]  # |+8| before |−6|; n respected


def test_section_heatmap_and_comparison_come_from_the_ranking(small):
    with small["db"].engine.connect() as conn:
        ranking = pf.brand_ranking(conn, EVERYTHING, small["project"])
        trend = pf.score_trend(conn, EVERYTHING, small["project"], [small["A"]], own_average=True)
    matrix = pf.section_matrix(ranking)
    assert matrix.index.tolist() == ["A", "B", "C"] and matrix.columns.tolist() == ["Marketplace"]
    assert matrix.loc["A", "Marketplace"] == 65.0
    comparison = pf.section_comparison(ranking).set_index("section")
    assert comparison.loc["Marketplace", "own"] == pytest.approx((65 + 47) / 2)
    assert comparison.loc["Marketplace", "competitor"] == 49.0
    assert comparison.loc["Marketplace", "gap"] == pytest.approx(56 - 49)
    own_avg = trend[trend["brand_id"] == -1].set_index("period")["score"]
    assert own_avg.tolist() == [60.0, 55.0]  # (70+50)/2, (64+46)/2
    assert set(trend["brand"]) == {"A", "Competitor average", "Own brands' average"}


# ---------------------------------------------------------------- the demo, seeded once per database

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request, tmp_path_factory):
    """The demo with DEMO_MONTHS of history and the six demo users (first organization)."""
    from tests.conftest import _empty

    db = request.getfixturevalue("_sqlite_db" if request.param == "sqlite" else "_pg_db")
    _empty(db)
    summary = seed_demo(db, seed=7, months=DEMO_MONTHS)
    tmp = tmp_path_factory.mktemp("portfolio")
    people = demo_people(db, tmp)
    with db.session() as s:
        ids = {c.role: s.scalar(select(User.id).where(User.email == c.email)) for c in people.values()}
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        foreign_project = s.scalars(select(Project.id).where(Project.organization_id == second)).first()
    yield {"db": db, "summary": summary, "people": people, "ids": ids, "tmp": tmp, "first": first,
           "foreign_project": foreign_project}
    _empty(db)


def _projects_of(conn, brand_id: int) -> list[int]:
    return list(conn.execute(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == brand_id)).scalars())


def test_planted_latest_month_anomalies_are_found(demo):
    summary = demo["summary"]
    latest = [a for a in summary.anomalies if a["period"] == summary.last_period.isoformat()]
    assert len(latest) >= 2
    with demo["db"].engine.connect() as conn:
        # The brand's organization's metric of that code (each organization has its own framework).
        codes = {(org, code): mid for org, code, mid in conn.execute(
            select(Metric.organization_id, Metric.code, Metric.id)).all()}
        for planted in latest:
            org = conn.execute(select(Brand.organization_id).where(Brand.id == planted["brand_id"])).scalar_one()
            for project_id in _projects_of(conn, planted["brand_id"]):
                found = alerts.metric_anomalies(conn, EVERYTHING, project_id)
                assert (found["z"].abs() >= alerts.ANOMALY_Z).all()
                assert found["z"].abs().is_monotonic_decreasing
                hit = found[(found["brand_id"] == planted["brand_id"])
                            & (found["metric_id"] == codes[org, planted["metric"]])]
                assert len(hit) == 1, f"planted anomaly not found: {planted}"
                assert hit["value"].iloc[0] == pytest.approx(planted["actual"])
                worse = (hit["z"].iloc[0] < 0) == (hit["direction"].iloc[0] == "higher")
                assert worse == (planted["effect"] == "worse")
                # A stricter threshold keeps fewer alerts, never more.
                assert len(alerts.metric_anomalies(conn, EVERYTHING, project_id, z_threshold=6.0)) <= len(found)


def test_faster_read_models_return_the_numbers_of_the_previous_ones(demo):
    """Anomalies, effective weights, the ranking and the money were rewritten for speed: the same
    rows and numbers as the pandas versions (tests/reference_read_models.py), for any period, scope
    and threshold (0 lets every series with enough history through)."""
    bm = load_principal(demo["db"], demo["ids"]["Brand Manager"])
    own = demo["people"]["Brand Manager"].scope_id
    with demo["db"].engine.connect() as conn:
        project_ids = [*conn.execute(select(Project.id).order_by(Project.id)).scalars().all()[:2],
                       _projects_of(conn, own)[0]]
        for project_id in project_ids:
            periods = pf.project_periods(conn, EVERYTHING, project_id)
            for principal in (EVERYTHING, bm):
                for period in (periods[-1], periods[len(periods) // 2]):
                    for z in (alerts.ANOMALY_Z, 0.0):
                        new = alerts.metric_anomalies(conn, principal, project_id, period, z_threshold=z)
                        old = reference.metric_anomalies_before(conn, principal, project_id, period, z_threshold=z)
                        if z == 0.0 and principal is EVERYTHING and period == periods[-1]:
                            assert len(old) > 20
                        assert len(new) == len(old)
                        if len(old):
                            pd.testing.assert_frame_equal(new, old, check_dtype=False, rtol=1e-12, atol=1e-12)
            for principal in (EVERYTHING, bm):
                for period in (None, periods[-1], periods[0]):
                    money = pf.financials(conn, principal, project_id, period)
                    before = reference.financials_before(conn, principal, project_id, period)
                    assert money.attrs == before.attrs
                    pd.testing.assert_frame_equal(money, before, check_dtype=False, check_index_type=False)
                    new = pf.brand_ranking(conn, principal, project_id, period)
                    old = reference.brand_ranking_before(conn, principal, project_id, period)
                    assert len(new) == len(old)
                    if len(old):
                        pd.testing.assert_frame_equal(new, old, check_dtype=False, check_names=False)
            inputs = load_inputs(conn, [project_id], periods=periods[-2:])
            pd.testing.assert_frame_equal(effective_weights(inputs), reference.effective_weights_before(inputs),
                                          check_dtype=False, rtol=1e-12, atol=1e-12)


def test_drivers_match_the_engines_decomposition(demo):
    with demo["db"].engine.connect() as conn:
        project_id = conn.execute(select(Project.id).order_by(Project.id)).scalars().first()
        periods = pf.project_periods(conn, EVERYTHING, project_id)
        ranking = pf.brand_ranking(conn, EVERYTHING, project_id)
        moved = pf.movers(ranking, n=3)
        drivers = pf.score_drivers(conn, project_id, moved["brand_id"].tolist(), periods[-2], periods[-1])
        assert sorted(drivers["brand_id"]) == sorted(moved["brand_id"])
        for row in drivers.itertuples():
            parts = score_change(conn, project_id, row.brand_id, periods[-2], periods[-1])
            assert row.metric_id in set(parts["metric_id"])
            assert parts.set_index("metric_id").at[row.metric_id, "contribution"] == pytest.approx(
                row.contribution, abs=1e-9)
            assert parts["contribution"].sum() == pytest.approx(
                ranking.set_index("brand_id").at[row.brand_id, "change_1m"], abs=1e-9)


def test_the_named_driver_moved_the_score_the_way_it_moved_for_every_brand_and_month(demo):
    """Property over the whole demo: the reason given for a move points the same way as the move.

    The driver is the largest contribution with the sign of the change; "despite" names the largest
    against it. (Before: the largest in size, so a rise could be "mostly" a metric that fell.)
    """
    checked = 0
    with demo["db"].engine.connect() as conn:
        for project_id in conn.execute(select(Project.id).order_by(Project.id)).scalars():
            periods = pf.project_periods(conn, EVERYTHING, project_id)
            brands = pf.brand_ranking(conn, EVERYTHING, project_id)["brand_id"].tolist()
            for before, after in itertools.pairwise(periods):
                drivers = pf.score_drivers(conn, project_id, brands, before, after)
                inputs = load_inputs(conn, [project_id], periods=[before, after])  # once per month, not per brand
                for row in drivers.to_dict("records"):
                    parts = decompose_change(inputs, row["brand_id"], project_id, before, after)["contribution"]
                    change = parts.sum()
                    if abs(change) < 1e-9:
                        continue
                    along = parts[np.sign(parts) == np.sign(change)]
                    assert np.sign(row["contribution"]) == np.sign(change)
                    assert row["contribution"] == pytest.approx(along.max() if change > 0 else along.min(), abs=1e-12)
                    opposite = parts[np.sign(parts) == -np.sign(change)]
                    if len(opposite):
                        assert np.sign(row["against_contribution"]) == -np.sign(change)
                        assert abs(row["against_contribution"]) == pytest.approx(opposite.abs().max(), abs=1e-12)
                    else:
                        assert not isinstance(row["against_metric"], str)
                    reason = pf.mover_reason(row)
                    assert reason.startswith(f"mostly {row['metric']} ({'+' if change > 0 else '−'}")
                    checked += 1
    assert checked > 100


def test_a_reason_says_despite_only_for_a_visible_pull_the_other_way():
    row = {"metric": "Search share", "contribution": 1.24, "against_metric": "Rating", "against_contribution": -0.31}
    assert pf.mover_reason(row) == "mostly Search share (+1.2), despite Rating (−0.3)"
    assert pf.mover_reason({**row, "against_contribution": -0.01}) == "mostly Search share (+1.2)"
    assert pf.mover_reason({**row, "against_metric": float("nan")}) == "mostly Search share (+1.2)"
    assert pf.mover_reason({"metric": float("nan"), "contribution": float("nan")}) == ""


def _competitors_of(conn, project_id: int) -> set[int]:
    return set(conn.scalars(select(ProjectBrand.brand_id).where(ProjectBrand.project_id == project_id,
                                                                 ProjectBrand.role == "competitor")))


def test_brand_scoped_people_see_their_brands_money_and_the_projects_competitors_as_market_data(demo):
    """Issue 16 item 8: the competitors of the brand's project are ranked beside it (market data);
    money, and the project's other own brands, stay out of sight."""
    bm = load_principal(demo["db"], demo["ids"]["Brand Manager"])
    own = demo["people"]["Brand Manager"].scope_id
    with demo["db"].engine.connect() as conn:
        project_id = _projects_of(conn, own)[0]
        competitors = _competitors_of(conn, project_id)
        assert competitors
        assert pf.financials(conn, bm, project_id)["brand_id"].tolist() == [own]
        assert set(alerts.metric_anomalies(conn, bm, project_id, z_threshold=0.0)["brand_id"]) <= {own} | competitors
        assert set(pf.brand_ranking(conn, bm, project_id)["brand_id"]) == {own} | competitors


# ---------------------------------------------------------------- callbacks, as a browser posts them

def _post(client, outputs: list[tuple[str, str]], inputs: list[tuple[str, str, object]]):
    body = {
        "output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + ".." if len(outputs) > 1
        else f"{outputs[0][0]}.{outputs[0][1]}",
        "outputs": [{"id": i, "property": p} for i, p in outputs] if len(outputs) > 1
        else {"id": outputs[0][0], "property": outputs[0][1]},
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
        "state": [],
    }
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=csrf_headers(client))


def _client(demo, role: str):
    client = make_app(demo["db"], demo["tmp"]).server.test_client()
    assert sign_in(client, demo["people"][role].email).status_code == 302
    return client


def test_alerts_callback_names_the_planted_anomaly_and_refuses_other_organizations(demo):
    client = _client(demo, "Portfolio Manager")
    summary = demo["summary"]
    planted = next(a for a in summary.anomalies if a["period"] == summary.last_period.isoformat()
                   and a["organization"] == summary.organizations[0])
    with demo["db"].engine.connect() as conn:
        project_id = _projects_of(conn, planted["brand_id"])[0]
        metric = conn.execute(select(Metric.name).join(Brand, Brand.organization_id == Metric.organization_id)
                              .where(Metric.code == planted["metric"], Brand.id == planted["brand_id"])).scalar_one()
    inputs = [("portfolio-project", "data", project_id), ("portfolio-period", "data", None),
              ("portfolio-drop-threshold", "value", 5)]
    response = _post(client, [("portfolio-alerts", "children")], inputs)
    assert response.status_code == 200
    text = json.dumps(response.get_json()["response"])
    assert planted["brand"] in text and metric in text
    assert f"/brand?brand={planted['brand_id']}&project={project_id}" in text
    theirs = _post(client, [("portfolio-alerts", "children")],
                   [("portfolio-project", "data", demo["foreign_project"]), ("portfolio-period", "data", None),
                    ("portfolio-drop-threshold", "value", 5)])
    assert theirs.status_code == 403 and b"anomaly" not in theirs.data


def test_portfolio_callback_for_a_brand_manager_shows_their_brand_only(demo):
    from tests.integration.test_app import _callback_body

    client = _client(demo, "Brand Manager")
    own = demo["people"]["Brand Manager"].scope_id
    with demo["db"].engine.connect() as conn:
        project_id = _projects_of(conn, own)[0]
    response = client.post("/_dash-update-component", json=_callback_body(project_id), headers=csrf_headers(client))
    assert response.status_code == 200
    result = response.get_json()["response"]
    rows = result["portfolio-ranking"]["rowData"]
    with demo["db"].engine.connect() as conn:
        competitors = _competitors_of(conn, project_id)
    assert {r["brand_id"] for r in rows} == {own} | competitors  # competitors are market data
    mine = next(r for r in rows if r["brand_id"] == own)
    assert mine["brand_link"].endswith(f"(/brand?brand={own}&project={project_id})")
    assert mine["roi"] == pytest.approx(mine["revenue"] / mine["spend"])
    for row in rows:
        if row["brand_id"] != own:  # no money of a competitor, and no page to open
            assert row.get("spend") is None and row.get("revenue") is None and "/brand?" not in str(row["brand_link"])
    heat = result["portfolio-heatmap"]["figure"]["data"][0]
    assert len(heat["y"]) == 1 + len(competitors) and len(heat["x"]) == 4
    foreign = client.post("/_dash-update-component", json=_callback_body(demo["foreign_project"]),
                          headers=csrf_headers(client))
    assert foreign.status_code == 403 and b"rowData" not in foreign.data


# ---------------------------------------------------------------- the shell's organization / project / period

def _context(client, app, pathname: str, search: str, changed: str | None = None, org=None, project=None,
             period=None) -> dict:
    from dash._utils import split_callback_id

    client.get("/_dash-dependencies")  # Dash fills its callback map on the first request
    key = next(k for k in app.callback_map if "ctx-bar.style" in k)
    values = {"pathname": pathname, "search": search, "org": org, "project": project, "period": period}
    ids = [("url", "pathname"), ("url", "search"), ("ctx-org", "value"), ("ctx-project", "value"),
           ("ctx-period", "value")]
    body = {"output": key, "outputs": split_callback_id(key),
            "inputs": [{"id": i, "property": p, "value": v} for (i, p), v in zip(ids, values.values(), strict=True)],
            "changedPropIds": [changed or "url.search"], "state": []}
    response = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["response"]


def test_context_selectors_offer_only_the_principals_projects_and_periods(demo):
    app = make_app(demo["db"], demo["tmp"])
    client = app.server.test_client()
    assert sign_in(client, demo["people"]["Portfolio Manager"].email).status_code == 302
    principal = load_principal(demo["db"], demo["ids"]["Portfolio Manager"])
    with demo["db"].engine.connect() as conn:
        mine = pf.list_projects(conn, principal)
        periods = pf.project_periods(conn, principal, mine[0]["id"])
    shown = _context(client, app, "/", "")
    assert shown["ctx-bar"]["style"] == {}
    same_org = [p["id"] for p in mine if p["organization_id"] == mine[0]["organization_id"]]
    assert [o["value"] for o in shown["ctx-project"]["options"]] == same_org
    assert shown["ctx-project"]["value"] == mine[0]["id"]
    assert shown["ctx-period"]["value"] == f"{periods[-1]:%Y-%m}"
    assert "url" not in shown  # arriving never rewrites the URL: the page resolved the same defaults

    earlier = f"{periods[-4]:%Y-%m}"
    picked = _context(client, app, "/", f"?project={mine[0]['id']}", "ctx-period.value",
                      project=mine[0]["id"], period=earlier)
    assert picked["url"]["search"] == f"?project={mine[0]['id']}&period={earlier}"

    # Another organization's project in a crafted URL or value selects the principal's own first one.
    crafted = _context(client, app, "/", f"?project={demo['foreign_project']}&period=1999-01")
    assert crafted["ctx-project"]["value"] == mine[0]["id"]
    assert crafted["ctx-period"]["value"] == f"{periods[-1]:%Y-%m}"
    assert all(o["value"] != demo["foreign_project"] for o in crafted["ctx-project"]["options"])
    picked = _context(client, app, "/", "", "ctx-project.value", project=demo["foreign_project"])
    assert f"project={mine[0]['id']}" in picked["url"]["search"]

    hidden = _context(client, app, "/scenarios", "")
    assert hidden["ctx-bar"]["style"] == {"display": "none"}


def test_portfolio_as_of_an_earlier_month(demo):
    client = _client(demo, "Portfolio Manager")
    principal = load_principal(demo["db"], demo["ids"]["Portfolio Manager"])
    with demo["db"].engine.connect() as conn:
        project_id = pf.list_projects(conn, principal)[0]["id"]
        periods = pf.project_periods(conn, principal, project_id)
        then = pf.brand_ranking(conn, principal, project_id, periods[-3])
    outputs = [("portfolio-kpis", "children"), ("portfolio-trend", "figure"), ("portfolio-trend-title", "children"),
               ("portfolio-ranking", "columnDefs"), ("portfolio-ranking", "rowData"), ("portfolio-heatmap", "figure"),
               ("portfolio-sections", "figure")]
    response = _post(client, outputs, [("portfolio-project", "data", project_id),
                                       ("portfolio-period", "data", f"{periods[-3]:%Y-%m}")])
    assert response.status_code == 200
    result = response.get_json()["response"]
    rows = {r["brand_id"]: r["score"] for r in result["portfolio-ranking"]["rowData"]}
    assert rows == pytest.approx(dict(zip(then["brand_id"], then["score"], strict=True)))
    last_x = max(max(t["x"]) for t in result["portfolio-trend"]["figure"]["data"])
    assert str(last_x)[:7] == f"{periods[-3]:%Y-%m}"


def test_every_listed_project_opens_with_scores_for_every_role(demo):
    """A project grant lets its holder read the project's brands, which also sit in other projects;
    those other projects must not be listed, or the page opens on a project with nothing to show."""
    for role, user_id in demo["ids"].items():
        principal = load_principal(demo["db"], user_id)
        with demo["db"].engine.connect() as conn:
            projects = pf.list_projects(conn, principal)
            assert projects, role
            for project in projects:
                assert pf.project_periods(conn, principal, project["id"]), (role, project["name"])


def test_movers_callback_lists_the_biggest_movers_and_refuses_other_organizations(demo):
    client = _client(demo, "Portfolio Manager")
    principal = load_principal(demo["db"], demo["ids"]["Portfolio Manager"])
    with demo["db"].engine.connect() as conn:
        project_id = pf.list_projects(conn, principal)[0]["id"]
        periods = pf.project_periods(conn, principal, project_id)
        expected = pf.movers(pf.brand_ranking(conn, principal, project_id, periods[-1]), 6)
    response = _post(client, [("portfolio-movers", "children")],
                     [("portfolio-project", "data", project_id), ("portfolio-period", "data", None)])
    assert response.status_code == 200
    text = json.dumps(response.get_json()["response"])
    assert text.count('"mover"') == len(expected) == 6
    assert all(name in text for name in expected["brand"])
    theirs = _post(client, [("portfolio-movers", "children")],
                   [("portfolio-project", "data", demo["foreign_project"]), ("portfolio-period", "data", None)])
    assert theirs.status_code == 403 and b"mover" not in theirs.data
