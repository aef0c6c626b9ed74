"""Downloads and result views of classified data through the pages (issue 17 item 3), on SQLite and PostgreSQL.

The Brand explorer's chart downloads and the optimizer's and flighting's plan exports are posted as the
browser posts them (`/_dash-update-component`): at confidential or above the file carries the watermark
column (who, when) and `report.classified_export` is written; below, neither. The optimizer's,
flighting's and what-if's result views show the level badge, and the what-if says what it left out.
"""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from core import brand_explorer as bx
from core import whatif as wi
from core.budget import run_budget
from core.classified_export import WATERMARK_COLUMN
from core.demo import seed_demo
from core.flighting.run import run_flighting
from core.models import AuditEvent, Metric, MetricValue, Organization, ProjectBrand, Scenario, User
from core.security import load_principal
from core.security.audit import Action
from tests.support import csrf_headers, demo_people, make_app, sign_in


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    """The demo, an app, a Portfolio Manager (clears confidential) and a Viewer (internal only) signed in,
    and a budget and a flighting scenario of the manager's brand, each with a real result."""
    from tests.conftest import _empty

    db = request.getfixturevalue("_sqlite_db" if request.param == "sqlite" else "_pg_db")
    _empty(db)
    tmp = tmp_path_factory.mktemp("classified-exports")
    seed_demo(db, seed=7, months=3)
    people = demo_people(db, tmp)
    with db.session() as s:
        ids = {role: s.scalar(select(User.id).where(User.email == c.email)) for role, c in people.items()}
        org = s.scalars(select(Organization.id).order_by(Organization.id)).first()
        brand = people["Brand Manager"].scope_id
        project = s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == brand,
                                                                  ProjectBrand.role == "own")
                            .order_by(ProjectBrand.project_id)).first()
        metric = s.scalars(select(MetricValue.metric_id).where(MetricValue.brand_id == brand)
                           .order_by(MetricValue.metric_id)).first()
    budget = run_budget(db, ids["Portfolio Manager"], {"brand_ids": [brand], "channels": ["Meta", "Search", "TV"],
                                                       "curve_source": "truth", "generations": 20})
    plan = run_flighting(db, ids["Portfolio Manager"], {"brand_ids": [brand], "weeks": 4, "budget": 1_000_000,
                                                         "curve_source": "truth"})
    with db.session() as s:
        scenarios = {kind: Scenario(organization_id=org, project_id=project, owner_id=ids["Portfolio Manager"],
                                    name=f"Classified {kind}", kind=kind, inputs={}, constraints={}, result=result)
                     for kind, result in (("budget", budget), ("flighting", plan))}
        s.add_all(scenarios.values())
        s.flush()
        scenario_ids = {kind: sc.id for kind, sc in scenarios.items()}
    app = make_app(db, tmp)
    clients = {}
    for role in ("Portfolio Manager", "Viewer"):
        clients[role] = app.server.test_client()
        assert sign_in(clients[role], people[role].email).status_code == 302
        clients[role].get("/_dash-layout")
    return {"db": db, "app": app, "people": people, "ids": ids, "org": org, "brand": brand, "project": project,
            "metric": metric, "scenarios": scenario_ids, "clients": clients}


def _set(world, model, ident: int, level: str) -> None:
    with world["db"].session() as s:
        s.get(model, ident).classification = level


def _post(world, role: str, output: str, inputs: list[tuple[str, str, object]],
          state: list[tuple[str, str, object]], fired: int = 0) -> dict:
    """One callback as Dash's renderer posts it; `inputs[fired]` is the one that fired."""
    client = world["clients"][role]
    body = {"output": output, "outputs": {"id": output.rsplit(".", 1)[0], "property": output.rsplit(".", 1)[1]},
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
            "changedPropIds": [f"{inputs[fired][0]}.{inputs[fired][1]}"]}
    response = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]


def _file(answer: dict, component: str) -> tuple[str, bytes]:
    data = answer[component]["data"]
    content = base64.b64decode(data["content"]) if data.get("base64") else data["content"].encode("utf-8")
    return data["filename"], content


def _rows(filename: str, content: bytes) -> list[list]:
    if filename.endswith(".csv"):
        return list(csv.reader(io.StringIO(content.decode("utf-8"))))
    return [list(r) for ws in load_workbook(io.BytesIO(content)).worksheets for r in ws.iter_rows(values_only=True)]


def _events(world, kind: str) -> list[dict]:
    with world["db"].session() as s:
        return [e.data for e in s.scalars(select(AuditEvent).where(AuditEvent.action == Action.CLASSIFIED_EXPORT)
                                          .order_by(AuditEvent.id)) if e.data.get("kind") == kind]


def _brand_download(world, role: str, brand: int, project: int, fmt: str) -> tuple[str, bytes]:
    with world["db"].engine.connect() as conn:
        last = bx.periods(conn, load_principal(world["db"], world["ids"][role]), brand, project)[-1]
    clicks = [(f"brand-breakdown-{f}", "n_clicks", 1 if f == fmt else None) for f in ("csv", "xlsx")]
    answer = _post(world, role, "brand-breakdown-download.data", clicks,
                   [("brand-brand", "value", brand), ("brand-project", "value", project), ("brand-from", "value", None),
                    ("brand-to", "value", str(last)), ("brand-metric", "value", None),
                    ("brand-competitors", "value", []), ("brand-section", "value", None)], fired=int(fmt == "xlsx"))
    return _file(answer, "brand-breakdown-download")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_brand_chart_downloads_of_confidential_data_are_watermarked_and_audited(world, fmt):
    email = world["people"]["Portfolio Manager"].email
    _set(world, Metric, world["metric"], "confidential")
    try:
        before = len(_events(world, "brand chart"))
        filename, content = _brand_download(world, "Portfolio Manager", world["brand"], world["project"], fmt)
        rows = _rows(filename, content)
        assert rows[0][0] == WATERMARK_COLUMN
        marks = {r[0] for r in rows[1:] if r and r[0] != WATERMARK_COLUMN}
        assert len(marks) == 1 and next(iter(marks)).startswith(f"Confidential · exported by {email} · ")
        events = _events(world, "brand chart")
        assert len(events) == before + 1
        assert events[-1]["classification"] == "confidential" and events[-1]["format"] == fmt
        assert events[-1]["file"] == filename
        # The Viewer's own download of the same organization holds nothing above internal: no mark, no event.
        viewer = load_principal(world["db"], world["ids"]["Viewer"])
        with world["db"].engine.connect() as conn:
            pair = bx.explorable(conn, viewer).iloc[0]
        filename, content = _brand_download(world, "Viewer", int(pair["brand_id"]), int(pair["project_id"]), fmt)
        assert _rows(filename, content)[0][0] != WATERMARK_COLUMN
        assert len(_events(world, "brand chart")) == before + 1
    finally:
        _set(world, Metric, world["metric"], "internal")
    # Back at internal, the manager's file is the plain table again.
    filename, content = _brand_download(world, "Portfolio Manager", world["brand"], world["project"], fmt)
    assert WATERMARK_COLUMN not in _rows(filename, content)[0]


PAGES = {"budget": ("optimizer", "optimizer-export", "optimizer-download", "budget optimization"),
         "flighting": ("flighting", "flighting-export", "flighting-download", "flighting media plan")}


@pytest.mark.parametrize("kind", list(PAGES))
@pytest.mark.parametrize("level", ["internal", "confidential"])
def test_plan_exports_and_badges_carry_the_scenario_level(world, kind, level):
    page, button, download, what = PAGES[kind]
    scenario = world["scenarios"][kind]
    _set(world, Scenario, scenario, level)
    before = len(_events(world, what))
    for fmt in ("csv", "xlsx"):
        clicks = [(f"{button}-{f}", "n_clicks", 1 if f == fmt else None) for f in ("csv", "xlsx")]
        answer = _post(world, "Portfolio Manager", f"{download}.data", clicks,
                       [(f"{page}-job", "data", None), (f"{page}-scenario", "data", scenario)],
                       fired=int(fmt == "xlsx"))
        filename, content = _file(answer, download)
        header = _rows(filename, content)[0]
        assert (header[0] == WATERMARK_COLUMN) == (level == "confidential"), f"{kind} {fmt} at {level}: {header}"
    events = _events(world, what)
    assert len(events) == before + (2 if level == "confidential" else 0)
    if level == "confidential":
        assert {e["format"] for e in events[-2:]} == {"csv", "xlsx"}
    # The result view's badge names the same level.
    job, shown = (f"{page}-job", "data", None), (f"{page}-scenario", "data", scenario)
    watch = (f"{page}-watch", "data", None)
    inputs, state = ([job, shown], [watch]) if page == "optimizer" else ([job], [shown, watch])
    answer = _post(world, "Portfolio Manager", f"{page}-results.children", inputs, state)
    text = json.dumps(answer)
    # Every card of the result: the optimizer's charts and its "Why this plan", flighting's four.
    assert text.count(f"classification-{level} {page}-level") == {"optimizer": 2, "flighting": 4}[page], text[:300]


def test_the_what_if_shows_its_level_and_what_it_left_out(world):
    """A restricted metric is held at its current value, unseen by the Portfolio Manager: the what-if's
    badge names the highest level it shows and the note says one metric was left out."""
    _set(world, Metric, world["metric"], "restricted")
    try:
        me = load_principal(world["db"], world["ids"]["Portfolio Manager"])
        with world["db"].engine.connect() as conn:
            model = wi.load_whatif(conn, me, world["brand"], world["project"])
        assert world["metric"] not in model.metrics.index
        answer = _post(world, "Portfolio Manager", "whatif-classification.children",
                       [("whatif-brand", "value", world["brand"])], [])
        text = json.dumps(answer)
        with world["db"].session() as s:
            restricted = s.scalar(select(func.count()).select_from(Metric).where(
                Metric.organization_id == world["org"], Metric.classification == "restricted"))
        assert restricted == 1
        assert "whatif-level" in text and "classification-internal" in text
        assert "1 metric left out: classified restricted. DC scores still include it" in text
    finally:
        _set(world, Metric, world["metric"], "internal")
    answer = json.dumps(_post(world, "Portfolio Manager", "whatif-classification.children",
                              [("whatif-brand", "value", world["brand"])], []))
    assert "left out" not in answer


def test_a_download_without_a_month_sends_nothing_rather_than_failing(world):
    """A brand with no month yet leaves "to" empty: the breakdown download answers 204, not an error."""
    client = world["clients"]["Portfolio Manager"]
    values = {"brand-brand": world["brand"], "brand-project": world["project"], "brand-competitors": []}
    state = ["brand-brand", "brand-project", "brand-from", "brand-to", "brand-metric", "brand-competitors",
             "brand-section"]
    body = {"output": "brand-breakdown-download.data",
            "outputs": {"id": "brand-breakdown-download", "property": "data"},
            "inputs": [{"id": "brand-breakdown-csv", "property": "n_clicks", "value": 1},
                       {"id": "brand-breakdown-xlsx", "property": "n_clicks", "value": None}],
            "state": [{"id": i, "property": "value", "value": values.get(i)} for i in state],
            "changedPropIds": ["brand-breakdown-csv.n_clicks"]}
    response = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert response.status_code == 204, response.get_data(as_text=True)[:300]
