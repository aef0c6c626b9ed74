"""The optimizer's background run over HTTP, as the renderer drives it: on diskcache here, on a real
Celery worker in test_optimizer_celery.py. Two people pressing Run with identical inputs at the same
moment each get their own result; cancel stops a run; the job knows who asked from the session.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from core.demo import seed_demo
from core.jobs import get_job
from core.models import User
from core.security import load_principal
from tests.integration.web.optimizer_support import RUN_OUTPUTS, body, callback_key, page_nonce, poll, start_run
from tests.support import csrf_headers, demo_people, make_app, sign_in

CHANNELS = ["Meta", "Search", "TV"]


def build(db, tmp_path, **overrides):
    seed_demo(db, seed=7, months=2)
    people = demo_people(db, tmp_path)
    app = make_app(db, tmp_path, **overrides)
    app.server.extensions["dash_app"] = app
    return app, people


def signed_in(app, people, role: str):
    client = app.server.test_client()
    assert sign_in(client, people[role].email).status_code == 302
    client.get("/_dash-layout")  # registers Dash's page routing callbacks
    return client, csrf_headers(client)


def run_values(brand: int, nonce: str, clicks: int = 1, **extra) -> dict:
    return {"n_clicks": clicks, "nonce": nonce, "brand_ids": [brand], "channels": CHANNELS, "source": "truth",
            "scenario_type": "max_outcome", "generations": 40, "frontier_points": 5, **extra}


def two_users_same_moment(db, tmp_path, app, people, *, threads: bool = True) -> None:
    """Both start identical runs before either answers; each must get a job of their own.

    `threads=False` queues them one after the other (still both pending before either is read, which
    is when Dash's shared cache key mixed results up): the diskcache manager forks its job process from
    the request thread, and forking while another thread holds a lock can leave the child stuck.
    """
    brand = people["Brand Manager"].scope_id
    sessions = {role: signed_in(app, people, role) for role in ("Brand Manager", "Portfolio Manager")}
    nonces = {role: page_nonce(c, h) for role, (c, h) in sessions.items()}
    assert nonces["Brand Manager"] != nonces["Portfolio Manager"]
    handles: dict[str, dict] = {}
    barrier = threading.Barrier(2)

    def press(role: str) -> None:
        client, headers = sessions[role]
        if threads:
            barrier.wait()
        response = start_run(client, headers, app, run_values(brand, nonces[role]))
        assert response.status_code == 200, response.data[:300]
        handles[role] = response.get_json()

    if threads:
        workers = [threading.Thread(target=press, args=(role,)) for role in sessions]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    else:
        for role in sessions:
            press(role)
    assert handles["Brand Manager"]["cacheKey"] != handles["Portfolio Manager"]["cacheKey"]
    with db.session() as s:
        user_ids = {role: s.scalar(select(User.id).where(User.email == people[role].email)) for role in sessions}
    jobs = {}
    for role, (client, headers) in sessions.items():
        final, _ = poll(client, headers, app, handles[role])
        jobs[role] = final["response"]["optimizer-job"]["data"]
        job = get_job(db, load_principal(db, user_ids[role]), jobs[role])
        assert job["owner_id"] == user_ids[role] and job["result"]["run_by"] == user_ids[role]
    assert jobs["Brand Manager"] != jobs["Portfolio Manager"]


def wait_until_running(db, people, timeout: float = 30.0) -> None:
    from core.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            if s.scalar(select(Job.id).where(Job.status == "running")):
                return
        time.sleep(0.1)
    raise AssertionError("the run never started")


def test_run_shows_progress_and_stores_the_result(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path, cache_dir=tmp_path / "cache")
    client, headers = signed_in(app, people, "Brand Manager")
    nonce = page_nonce(client, headers)
    response = start_run(client, headers, app, run_values(people["Brand Manager"].scope_id, nonce))
    assert response.status_code == 200 and {"cacheKey", "job"} <= set(response.get_json())
    final, progress = poll(client, headers, app, response.get_json())
    assert progress and progress[-1]["optimizer-progress.value"] == 100
    job_id = final["response"]["optimizer-job"]["data"]
    shown = client.post("/_dash-update-component", headers=headers, json=body(
        app, callback_key(app, "optimizer-results.children"), {"job_id": job_id}))
    assert shown.status_code == 200 and b"optimizer-allocation-graph" in shown.data


def test_two_users_identical_inputs_same_moment_get_their_own_results(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path, cache_dir=tmp_path / "cache")
    two_users_same_moment(sqlite_db, tmp_path, app, people, threads=False)


def test_cancel_stops_a_run(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path, cache_dir=tmp_path / "cache")
    client, headers = signed_in(app, people, "Brand Manager")
    started = start_run(client, headers, app, run_values(people["Brand Manager"].scope_id,
                                                          page_nonce(client, headers), generations=2000))
    wait_until_running(sqlite_db, people)  # a person presses Cancel once the progress bar moves
    cancel = client.post("/_dash-update-component", headers=headers, json=body(
        app, callback_key(app, "optimizer-cancel-message.children"), {"n_clicks": 1}))
    assert cancel.status_code == 200
    final, _ = poll(client, headers, app, started.get_json(), timeout=60)
    assert "optimizer-job" not in final["response"]
    assert "Run cancelled" in str(final["response"]["optimizer-message"])


@pytest.mark.parametrize("role", ["Viewer"])
def test_a_role_without_scenario_run_cannot_start_a_job(sqlite_db, tmp_path, role):
    app, people = build(sqlite_db, tmp_path, cache_dir=tmp_path / "cache")
    client, headers = signed_in(app, people, role)
    response = start_run(client, headers, app, run_values(people["Brand Manager"].scope_id, "n"))
    assert response.status_code == 403 and b"cacheKey" not in response.data
    anonymous = app.server.test_client()
    key = callback_key(app, RUN_OUTPUTS, background=True)
    assert anonymous.post("/_dash-update-component", json=body(app, key, {})).status_code in (400, 401)


def test_a_spend_unit_out_of_range_shows_the_allowed_range(sqlite_db, tmp_path):
    """Issue 12 item 8: the page took a unit of 1e-320 and the run died with OverflowError; it now says
    the range (the same core.input_ranges the API uses) and no job is run."""
    app, people = build(sqlite_db, tmp_path, cache_dir=tmp_path / "cache")
    client, headers = signed_in(app, people, "Brand Manager")
    nonce = page_nonce(client, headers)
    brand = people["Brand Manager"].scope_id
    for clicks, extra, reason in ((1, {"unit": 1e-320}, "spend unit: a number from 0.01 to 1,000,000,000,000,000"),
                                  (2, {"unit": 0.01, "budget": 1e12}, "into more than 1,000,000,000 units"),
                                  (3, {"unit": 1e13, "budget": None}, "larger than the whole budget")):
        started = start_run(client, headers, app, run_values(brand, nonce, clicks, **extra))
        assert started.status_code == 200, started.data[:300]
        final, _ = poll(client, headers, app, started.get_json(), timeout=60)
        assert "optimizer-job" not in final["response"], extra
        assert reason in str(final["response"]["optimizer-message"]), (extra, final["response"])
