"""The app on both databases: health probes, the portfolio page and its callback."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app import create_app
from core.config import Config
from core.models import Project
from tests.conftest import REDIS_TEST_URL, require_service


def make_app(db, tmp_path, **overrides):
    config = Config(database_url=db.url, secret_key="k" * 32, instance_dir=tmp_path, **overrides)
    return create_app(config, seed_demo=False)


def test_health_probes(db, tmp_path):
    client = make_app(db, tmp_path).server.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok"}


def test_readyz_checks_redis_when_configured(sqlite_db, tmp_path):
    import redis

    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        require_service(f"Redis not reachable at {REDIS_TEST_URL}: {exc.__class__.__name__}")
    ok = make_app(sqlite_db, tmp_path, redis_url=REDIS_TEST_URL).server.test_client().get("/readyz")
    assert ok.status_code == 200 and ok.get_json()["checks"]["redis"] == "ok"
    down = make_app(sqlite_db, tmp_path, redis_url="redis://127.0.0.1:1/0").server.test_client().get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["status"] == "unavailable" and down.get_json()["checks"]["redis"].startswith("error")


def test_readyz_reports_an_unreachable_database(tmp_path, sqlite_db):
    from core.db import Database

    app = make_app(sqlite_db, tmp_path)
    app.server.extensions["digicadence"].db = Database("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    response = app.server.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"].startswith("error")


def _csrf(client) -> dict:
    """What Dash's renderer does: copy the `_csrf_token` cookie into the X-CSRFToken header."""
    client.get("/")
    return {"X-CSRFToken": client.get_cookie("_csrf_token").value}


def _post_callback(client, project_id: int) -> dict:
    body = {
        "output": "..portfolio-kpis.children...portfolio-trend.figure...portfolio-trend-title.children..."
                  "portfolio-ranking.columnDefs...portfolio-ranking.rowData...url.search..",
        "outputs": [
            {"id": "portfolio-kpis", "property": "children"}, {"id": "portfolio-trend", "property": "figure"},
            {"id": "portfolio-trend-title", "property": "children"},
            {"id": "portfolio-ranking", "property": "columnDefs"}, {"id": "portfolio-ranking", "property": "rowData"},
            {"id": "url", "property": "search"},
        ],
        "inputs": [{"id": "portfolio-project", "property": "value", "value": project_id}],
        "changedPropIds": ["portfolio-project.value"],
        "state": [],
    }
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                           headers=_csrf(client))
    assert response.status_code == 200, response.data[:500]
    return response.get_json()["response"]


def test_callback_post_without_csrf_header_is_refused(sqlite_db, tmp_path):
    client = make_app(sqlite_db, tmp_path).server.test_client()
    client.get("/")
    body = {"output": "url.search", "outputs": {"id": "url", "property": "search"},
            "inputs": [{"id": "portfolio-project", "property": "value", "value": 1}], "state": []}
    for headers in ({}, {"X-CSRFToken": "forged"}):
        response = client.post("/_dash-update-component", json=body, headers=headers)
        assert response.status_code == 400
        assert response.get_json()["error"] == "csrf_failed"


def test_security_headers(sqlite_db, tmp_path):
    app = make_app(sqlite_db, tmp_path)
    client = app.server.test_client()
    page = client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in page.headers  # plain HTTP
    cookie = page.headers.getlist("Set-Cookie")
    assert any(c.startswith("_csrf_token=") and "SameSite=Lax" in c and "HttpOnly" not in c for c in cookie)
    assert any(c.startswith("session=") and "HttpOnly" in c and "SameSite=Lax" in c for c in cookie)
    secure = client.get("/", base_url="https://localhost")
    assert "max-age=" in secure.headers["Strict-Transport-Security"]


def test_portfolio_page_serves_ranked_scores_from_the_demo(db, tmp_path):
    from core.demo import seed_demo

    seed_demo(db, seed=7)
    client = make_app(db, tmp_path).server.test_client()
    assert client.get("/").status_code == 200
    with db.engine.connect() as conn:
        project_id = conn.execute(select(Project.id).order_by(Project.id)).scalars().first()
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200
    result = _post_callback(client, project_id)
    rows = result["portfolio-ranking"]["rowData"]
    assert len(rows) >= 20
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 100 for s in scores)
    assert {r["role"] for r in rows} >= {"own", "competitor"}
    traces = result["portfolio-trend"]["figure"]["data"]
    assert any(t["name"] == "Competitor average" for t in traces)
    assert all(len(t["x"]) == 36 for t in traces)
    assert result["url"]["search"] == f"?project={project_id}"


@pytest.mark.parametrize("bad", [10**9])
def test_unknown_project_shows_an_empty_state_not_an_error(sqlite_db, tmp_path, bad):
    client = make_app(sqlite_db, tmp_path).server.test_client()
    result = _post_callback(client, bad)
    assert result["portfolio-ranking"]["rowData"] == []
    assert "No scores" in json.dumps(result["portfolio-kpis"])
