"""The app on both databases: health probes, the portfolio page and its callback."""

from __future__ import annotations

import json

from sqlalchemy import select

from core.models import Project
from tests.conftest import REDIS_TEST_URL, require_service
from tests.support import csrf_headers, demo_people, make_app, sign_in


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


def _callback_body(project_id) -> dict:
    outputs = [("portfolio-kpis", "children"), ("portfolio-trend", "figure"), ("portfolio-trend-title", "children"),
               ("portfolio-ranking", "columnDefs"), ("portfolio-ranking", "rowData"), ("portfolio-heatmap", "figure"),
               ("portfolio-sections", "figure")]
    return {
        "output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + "..",
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [{"id": "portfolio-project", "property": "data", "value": project_id},
                   {"id": "portfolio-period", "property": "data", "value": None}],
        "changedPropIds": ["portfolio-project.data"],
        "state": [],
    }


def _post_callback(client, project_id: int) -> dict:
    response = client.post("/_dash-update-component", data=json.dumps(_callback_body(project_id)),
                           content_type="application/json", headers=csrf_headers(client))
    assert response.status_code == 200, response.data[:500]
    return response.get_json()["response"]


def test_unauthenticated_callback_post_gets_401(sqlite_db, tmp_path):
    client = make_app(sqlite_db, tmp_path).server.test_client()
    headers = csrf_headers(client)  # even with a valid CSRF token
    response = client.post("/_dash-update-component", json=_callback_body(1), headers=headers)
    assert response.status_code == 401 and response.get_json()["error"] == "unauthenticated"
    assert client.get("/_dash-layout").status_code == 401
    page = client.get("/?project=1")
    assert page.status_code == 302 and "/login?next=" in page.location


def test_callback_post_without_csrf_header_is_refused(sqlite_db, tmp_path):
    from core.demo import seed_demo

    seed_demo(sqlite_db, seed=7, months=3)
    people = demo_people(sqlite_db, tmp_path)
    client = make_app(sqlite_db, tmp_path).server.test_client()
    sign_in(client, people["Portfolio Manager"].email)
    for headers in ({}, {"X-CSRFToken": "forged"}):
        response = client.post("/_dash-update-component", json=_callback_body(1), headers=headers)
        assert response.status_code == 400
        assert response.get_json()["error"] == "csrf_failed"


def test_security_headers(sqlite_db, tmp_path):
    app = make_app(sqlite_db, tmp_path)
    client = app.server.test_client()
    page = client.get("/login")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in page.headers  # plain HTTP
    cookie = page.headers.getlist("Set-Cookie")
    assert any(c.startswith("_csrf_token=") and "SameSite=Lax" in c and "HttpOnly" not in c for c in cookie)
    assert any(c.startswith("dc_session=") and "HttpOnly" in c and "SameSite=Lax" in c for c in cookie)
    secure = client.get("/login", base_url="https://localhost")
    assert "max-age=" in secure.headers["Strict-Transport-Security"]


def test_bootstrap_is_served_by_the_app_before_the_theme(sqlite_db, tmp_path):
    """Bootstrap is vendored under assets/ (no Bootstrap-Flask, no CDN): the sign-in page and the Dash
    shell link the same file, and the shell loads it before theme.css so the dark theme wins."""
    import re

    from core.demo import seed_demo

    seed_demo(sqlite_db, seed=7, months=2)
    people = demo_people(sqlite_db, tmp_path)
    client = make_app(sqlite_db, tmp_path).server.test_client()
    css = client.get("/assets/vendor/bootstrap/bootstrap.min.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert b"Bootstrap  v5." in css.data[:200] and b"Licensed under MIT" in css.data[:300]
    assert 'href="/assets/vendor/bootstrap/bootstrap.min.css"' in client.get("/login").get_data(as_text=True)
    assert sign_in(client, people["Analyst"].email).status_code == 302
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', client.get("/").get_data(as_text=True))
    names = [s.split("?")[0] for s in sheets]
    assert names.index("/assets/vendor/bootstrap/bootstrap.min.css") < names.index("/assets/theme.css")
    assert names.count("/assets/vendor/bootstrap/bootstrap.min.css") == 1
    assert not [s for s in sheets if s.startswith(("http:", "https:", "//"))]


def test_portfolio_page_serves_ranked_scores_from_the_demo(db, tmp_path):
    from core.demo import seed_demo

    seed_demo(db, seed=7)
    people = demo_people(db, tmp_path)
    client = make_app(db, tmp_path).server.test_client()
    assert sign_in(client, people["Portfolio Manager"].email).status_code == 302
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


def test_unknown_project_is_refused_not_an_error(sqlite_db, tmp_path):
    from core.demo import seed_demo

    seed_demo(sqlite_db, seed=7, months=3)
    people = demo_people(sqlite_db, tmp_path)
    client = make_app(sqlite_db, tmp_path).server.test_client()
    sign_in(client, people["Portfolio Manager"].email)
    response = client.post("/_dash-update-component", json=_callback_body(10**9), headers=csrf_headers(client))
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"


def test_a_failing_callback_shows_a_reference_not_a_traceback(sqlite_db, tmp_path, monkeypatch, caplog):
    import sys

    import dash

    from core.demo import seed_demo

    seed_demo(sqlite_db, seed=7, months=3)
    people = demo_people(sqlite_db, tmp_path)
    client = make_app(sqlite_db, tmp_path).server.test_client()
    sign_in(client, people["Portfolio Manager"].email)
    portfolio = sys.modules[next(p["module"] for p in dash.page_registry.values() if p["path"] == "/")]

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(portfolio, "brand_ranking", broken)
    response = client.post("/_dash-update-component", json=_callback_body(1), headers=csrf_headers(client))
    body = response.get_data(as_text=True)
    assert "secret internal detail" not in body and "Traceback" not in body
    banner = response.get_json()["sideUpdate"]["app-error"]
    reference = banner["children"].rsplit("reference ", 1)[1].rstrip(".")
    assert banner["is_open"] is True and len(reference) == 10
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)
