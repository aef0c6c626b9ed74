"""Resources: scope isolation on every endpoint, brand-scoped reads, pagination, idempotency,
problem+json validation errors, the import round trip, and the dashboard staying protected."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from core.models import (
    AuditEvent,
    Brand,
    Channel,
    LiftTest,
    Metric,
    MetricValue,
    Organization,
    ProjectBrand,
    Scenario,
    User,
)
from tests.integration.api.conftest import bearer, token_for
from tests.support import sign_in


@pytest.fixture
def admin(client, world):
    return bearer(token_for(client, world["people"]["Organization Administrator"])["access_token"])


@pytest.fixture
def foreign_user(db, world):
    with db.session() as s:
        user = User(email="stranger@other.test", name="Stranger", organization_id=world["foreign"]["organization"])
        s.add(user)
        s.flush()
        return user.id


def test_out_of_scope_ids_get_the_same_404_as_unknown_ones(client, admin, world, foreign_user, db):
    f = world["foreign"]
    unknown = client.get("/api/v1/brands/2147483000", headers=admin)
    assert unknown.status_code == 404 and unknown.content_type == "application/problem+json"
    same = unknown.get_json()
    for method, path in [
        ("get", f"/api/v1/organizations/{f['organization']}"), ("get", f"/api/v1/projects/{f['project']}"),
        ("get", f"/api/v1/brands/{f['brand']}"), ("get", f"/api/v1/brands/{f['brand']}/response-curves"),
        ("get", f"/api/v1/scenarios/{f['scenario']}"), ("delete", f"/api/v1/scenarios/{f['scenario']}"),
        ("post", f"/api/v1/scenarios/{f['scenario']}/approve"), ("get", f"/api/v1/users/{foreign_user}/grants"),
        ("delete", "/api/v1/auth/tokens/1"), ("post", f"/api/v1/users/{foreign_user}/disable"),
        ("post", f"/api/v1/users/{foreign_user}/enable"), ("get", f"/api/v1/scenarios/{f['scenario']}/classification"),
        ("get", f"/api/v1/scores/contributions?project_id={f['project']}&brand_id={f['brand']}&period=2024-01-01"),
    ]:
        response = getattr(client, method)(path, headers=admin)
        assert response.status_code == 404, (path, response.status_code)
        assert response.get_json() == same, path
    copy = client.post("/api/v1/scenarios", headers=admin, json={"name": "mine now", "copy_of": f["scenario"]})
    assert copy.status_code == 404 and copy.get_json() == same
    # Lift tests: another organization's test cannot be deleted, nor one recorded on its brand.
    with db.session() as s:
        channel = s.scalar(select(Channel.id).where(Channel.organization_id == f["organization"]))
        test = LiftTest(brand_id=f["brand"], channel_id=channel, period_start=date(2025, 1, 6),
                        period_end=date(2025, 1, 12), incremental_outcome=1.0, standard_error=1.0)
        s.add(test)
        s.flush()
        their_test = test.id
    assert client.delete(f"/api/v1/lift-tests/{their_test}", headers=admin).get_json() == same
    recorded = client.post("/api/v1/lift-tests", headers=admin, json={
        "brand_id": f["brand"], "channel": "TV", "period_start": "2025-02-03", "period_end": "2025-02-09",
        "incremental_outcome": 1, "standard_error": 1})
    assert recorded.status_code == 404 and recorded.get_json() == same
    assert client.get("/api/v1/lift-tests", headers=admin).get_json()["items"] == []
    imported = client.post("/api/v1/imports/preview", headers=admin, data={
        "mapping": json.dumps({"kind": "metrics", "layout": "long"}), "organization_id": str(f["organization"]),
        "file": (_csv([("x", "y", "2024-01-01", "1")]), "x.csv")}, content_type="multipart/form-data")
    assert imported.status_code == 404 and imported.get_json() == same
    # Lists and filters by a foreign id return nothing of theirs.
    for path in [f"/api/v1/brands?project_id={f['project']}", f"/api/v1/metric-values?brand_id={f['brand']}",
                 f"/api/v1/scores?project_id={f['project']}"]:
        assert client.get(path, headers=admin).get_json()["items"] == [], path
    listed = {
        "organizations": {o["id"] for o in client.get("/api/v1/organizations", headers=admin).get_json()["items"]},
        "projects": {p["id"] for p in client.get("/api/v1/projects", headers=admin).get_json()["items"]},
        "brands": {b["id"] for b in client.get("/api/v1/brands", headers=admin).get_json()["items"]},
        "scenarios": {s["id"] for s in client.get("/api/v1/scenarios", headers=admin).get_json()["items"]},
        "users": {u["id"] for u in client.get("/api/v1/users", headers=admin).get_json()["items"]},
    }
    assert f["organization"] not in listed["organizations"] and f["project"] not in listed["projects"]
    assert f["brand"] not in listed["brands"] and f["scenario"] not in listed["scenarios"]
    assert foreign_user not in listed["users"] and world["home"]["scenario"] in listed["scenarios"]
    with db.session() as s:
        theirs = s.get(Organization, f["organization"]).name
    events = client.get("/api/v1/audit-events?page_size=200", headers=admin).get_json()
    assert events["items"] and all(e["organization"] != theirs for e in events["items"])


def test_brand_scoped_viewer_sees_their_brand_and_its_projects_competitors_only(client, world, db):
    """Market data (docs/SECURITY.md): the competitors of the viewer's brand's projects are listed with
    their metric values and scores; their curves (money) and the projects' other own brands are not."""
    viewer = world["people"]["Viewer"]
    headers = bearer(token_for(client, viewer)["access_token"])
    with db.session() as s:
        projects = select(ProjectBrand.project_id).where(ProjectBrand.brand_id == viewer.scope_id,
                                                         ProjectBrand.role == "own")
        competitors = set(s.scalars(select(ProjectBrand.brand_id).where(ProjectBrand.project_id.in_(projects),
                                                                       ProjectBrand.role == "competitor")))
    assert competitors
    visible = {viewer.scope_id} | competitors
    brands = client.get("/api/v1/brands", headers=headers).get_json()["items"]
    assert {b["id"] for b in brands} == visible
    values = client.get("/api/v1/metric-values?limit=200", headers=headers).get_json()["items"]
    assert values and viewer.scope_id in {v["brand_id"] for v in values} <= visible
    project = world["home"]["project"]
    scores = client.get(f"/api/v1/scores?project_id={project}&limit=500", headers=headers).get_json()["items"]
    assert {s["brand_id"] for s in scores} <= visible
    rival = min(competitors)
    curves = client.get(f"/api/v1/brands/{rival}/response-curves", headers=headers)
    assert curves.status_code == 404 or curves.get_json()["items"] == []
    assert client.get("/api/v1/users", headers=headers).status_code == 403
    assert client.get("/api/v1/audit-events", headers=headers).status_code == 403


def test_cursor_pagination_walks_every_row_once(client, admin, db):
    with db.session() as s:
        brand = s.scalar(select(MetricValue.brand_id).limit(1))
    full = client.get(f"/api/v1/metric-values?brand_id={brand}&limit=1000", headers=admin).get_json()
    assert full["next_cursor"] is None and len(full["items"]) > 20
    walked, cursor = [], None
    while True:
        url = f"/api/v1/metric-values?brand_id={brand}&limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=admin).get_json()
        walked += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == full["items"]
    bad = client.get("/api/v1/metric-values?cursor=not-a-cursor", headers=admin)
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"


def test_validation_errors_are_problem_json_with_field_errors(client, admin):
    response = client.post("/api/v1/scenarios", headers=admin, json={"name": "", "job_id": "abc"})
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 422 and body["title"] and body["type"].endswith("/validation")
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "name"), ("body", "job_id")}
    query = client.get("/api/v1/scores?project_id=x", headers=admin)
    assert query.status_code == 422 and query.get_json()["errors"][0]["loc"] == ["query", "project_id"]
    not_json = client.post("/api/v1/scenarios", headers=admin, data="name=x")
    assert not_json.status_code == 415 and not_json.content_type == "application/problem+json"


def test_idempotency_key_replays_the_first_result(client, admin, world, db):
    body = {"name": "Copy for the board", "copy_of": world["home"]["scenario"]}
    headers = {**admin, "Idempotency-Key": "copy-1"}
    first = client.post("/api/v1/scenarios", headers=headers, json=body)
    assert first.status_code == 201
    again = client.post("/api/v1/scenarios", headers=headers, json=body)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Scenario).where(Scenario.name == body["name"])) == 1
    other = client.post("/api/v1/scenarios", headers=headers, json={**body, "name": "Something else"})
    assert other.status_code == 422 and other.content_type == "application/problem+json"


def _csv(rows: list[tuple[str, str, str, str]]) -> bytes:
    import io
    lines = ["brand,metric,period,value", *(",".join(r) for r in rows)]
    return io.BytesIO("\n".join(lines).encode())


def test_import_round_trip_preview_commit_and_all_or_nothing(client, admin, world, db):
    with db.session() as s:
        brand_id, metric_id, period, value = s.execute(
            select(MetricValue.brand_id, MetricValue.metric_id, MetricValue.period, MetricValue.raw_value)
            .join(Brand, Brand.id == MetricValue.brand_id)
            .where(Brand.organization_id == world["home"]["organization"]).limit(1)).one()
        brand = s.get(Brand, brand_id).name
        metric = s.get(Metric, metric_id)
    new_value = value * 0.99 if value else 1.0
    if metric.max_value is not None:
        new_value = min(new_value, metric.max_value)
    mapping = json.dumps({"kind": "metrics", "layout": "long"})
    good = [(brand, metric.code, period.isoformat(), f"{new_value:.6f}")]

    def post(path: str, rows):
        return client.post(path, headers=admin, content_type="multipart/form-data",
                           data={"mapping": mapping, "file": (_csv(rows), "values.csv")})

    preview = post("/api/v1/imports/preview", good)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    report = preview.get_json()
    assert report["ok"] and not report["committed"] and report["to_update"] == 1
    bad = post("/api/v1/imports", [*good, (brand, "no-such-metric", period.isoformat(), "1")])
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"
    assert any(e["loc"][0] == "file" for e in bad.get_json()["errors"])
    with db.session() as s:
        assert s.get(MetricValue, (brand_id, metric_id, period)).raw_value == value  # nothing written
    done = client.post("/api/v1/imports", headers={**admin, "Idempotency-Key": "values-1"},
                       content_type="multipart/form-data",
                       data={"mapping": mapping, "file": (_csv(good), "values.csv")})
    assert done.status_code == 201, done.get_data(as_text=True)
    retried = client.post("/api/v1/imports", headers={**admin, "Idempotency-Key": "values-1"},
                          content_type="multipart/form-data",
                          data={"mapping": mapping, "file": (_csv(good), "values.csv")})
    assert retried.get_json() == done.get_json() and retried.headers["Idempotent-Replayed"] == "true"
    batch = done.get_json()["batch_id"]
    with db.session() as s:
        assert s.get(MetricValue, (brand_id, metric_id, period)).raw_value == pytest.approx(new_value)
    assert client.get(f"/api/v1/imports/{batch}", headers=admin).get_json()["updated"] == 1
    listed = client.get(f"/api/v1/scores?project_id={world['home']['project']}&brand_id={brand_id}",
                        headers=admin).get_json()
    assert listed["items"]


def test_every_call_is_audited_without_secrets(client, world, db):
    pair = token_for(client, world["people"]["Analyst"])
    client.get("/api/v1/brands", headers=bearer(pair["access_token"]))
    with db.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "api.call")).all()
        text = json.dumps([[e.data, e.personal] for e in events], default=str)
    operations = [e.data["operation"] for e in events]
    assert "auth_token" in operations and "portfolio_list_brands" in operations
    assert pair["access_token"] not in text and pair["refresh_token"] not in text and "password" not in text


def test_rate_limit_answers_429_with_retry_after(db, tmp_path, world):
    from tests.support import make_app
    app = make_app(db, tmp_path, api_rate="2 per minute")
    client = app.server.test_client()
    codes = [client.get("/api/v1/brands").status_code for _ in range(3)]
    assert codes[:2] == [401, 401] and codes[2] == 429
    limited = client.get("/api/v1/brands")
    assert limited.content_type == "application/problem+json" and int(limited.headers["Retry-After"]) > 0


def test_the_dashboard_stays_protected_and_the_api_ignores_its_cookie(client, world):
    assert client.get("/").status_code == 302  # pages still need a sign-in
    assert client.post("/_dash-update-component", json={}).status_code in (400, 401)
    sign_in(client, world["people"]["Analyst"].email)
    assert client.get("/").status_code == 200
    # A signed-in browser holds no API credential: the cookie does not authenticate /api/v1.
    assert client.get("/api/v1/brands").status_code == 401
    # CSRF still guards the dashboard's callbacks.
    refused = client.post("/_dash-update-component", json={"output": "x"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "csrf_failed"


def test_docs_page_is_served_by_the_app_under_its_csp(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<script" not in html and 'src="http' not in html and 'href="http' not in html
    assert "/api/v1/metric-values" in html and "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers.get("Set-Cookie") is None  # no session, no CSRF cookie for the API
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0" and "/api/v1/imports" in spec["paths"]
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]


def test_admin_grants_and_disables_through_the_api(client, admin, world, db):
    from core.models import Role
    viewer = world["people"]["Viewer"]
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.email == viewer.email))
        analyst_role = s.scalar(select(Role.id).where(Role.name == "Analyst", Role.organization_id.is_(None)))
    headers = bearer(token_for(client, viewer)["access_token"])
    made = client.post(f"/api/v1/users/{user_id}/grants", headers=admin,
                       json={"role_id": analyst_role, "scope_type": "project", "scope_id": world["home"]["project"]})
    assert made.status_code == 201
    grant = next(g for g in made.get_json()["items"] if g["role"] == "Analyst")
    def grant_at(project: int):
        return client.post(f"/api/v1/users/{user_id}/grants", headers=admin,
                           json={"role_id": analyst_role, "scope_type": "project", "scope_id": project})
    foreign, unknown = grant_at(world["foreign"]["project"]), grant_at(2147483000)
    assert foreign.status_code == unknown.status_code == 403 and foreign.get_json() == unknown.get_json()
    assert client.delete(f"/api/v1/grants/{grant['id']}", headers=admin).status_code == 204
    assert client.post(f"/api/v1/users/{user_id}/disable", headers=admin).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401  # the disabled user's token is dead
