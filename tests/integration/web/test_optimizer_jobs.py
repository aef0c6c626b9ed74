"""The optimizer page on the durable job queue, over HTTP as the renderer drives it (in-process executor on
SQLite here; a real Celery worker in test_optimizer_celery.py): Run submits a job, the interval follows its
row (progress, result or error), Cancel stops it, only the owner follows or cancels, and a run survives a
page reload and a restart of the web process.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import select, update

from core.demo import seed_demo
from core.jobs.executor import LocalExecutor
from core.jobs.queue import EXTENSION
from core.jobs.records import get_job
from core.models import Job, User
from core.security import load_principal
from tests.integration.web.optimizer_support import (
    CANCEL,
    FOLLOW,
    SHOW,
    find_component,
    follow,
    page_layout,
    post,
    start_run,
)
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


def run_values(brand: int, clicks: int = 1, **extra) -> dict:
    return {"n_clicks": clicks, "brand_ids": [brand], "channels": CHANNELS, "source": "truth",
            "scenario_type": "max_outcome", "generations": 40, "frontier_points": 5, **extra}


def submitted(response) -> str:
    """The job id the Run answer follows (it fails with the page's message when nothing was submitted)."""
    assert response.status_code == 200, response.data[:300]
    answer = response.get_json()["response"]
    assert answer["optimizer-watch"]["data"], answer.get("optimizer-message")
    assert answer["optimizer-watch-tick"]["disabled"] is False and answer["optimizer-job"]["data"] is None
    return answer["optimizer-watch"]["data"]


def user_id(db, people, role: str) -> int:
    with db.session() as s:
        return s.scalar(select(User.id).where(User.email == people[role].email))


def two_users_same_moment(db, tmp_path, app, people, *, threads: bool = True) -> None:
    """Both submit identical runs at the same moment; each gets a job of their own, run as themselves."""
    brand = people["Brand Manager"].scope_id
    sessions = {role: signed_in(app, people, role) for role in ("Brand Manager", "Portfolio Manager")}
    jobs: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def press(role: str) -> None:
        client, headers = sessions[role]
        if threads:
            barrier.wait()
        jobs[role] = submitted(start_run(client, headers, app, run_values(brand)))

    workers = [threading.Thread(target=press, args=(role,)) for role in sessions]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert jobs["Brand Manager"] != jobs["Portfolio Manager"]
    for role, (client, headers) in sessions.items():
        final, _ = follow(client, headers, app, jobs[role])
        assert final["optimizer-job"]["data"] == jobs[role], final["optimizer-message"]
        owner = user_id(db, people, role)
        job = get_job(db, load_principal(db, owner), jobs[role])
        assert job["owner_id"] == owner and job["result"]["run_by"] == owner


def wait_until_running(db, job_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            job = s.get(Job, job_id)
            if job.status == "running" and job.progress > 0:
                return
        time.sleep(0.1)
    raise AssertionError("the run never started")


def test_run_submits_a_job_follows_its_progress_and_shows_the_result(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    job_id = submitted(start_run(client, headers, app, run_values(people["Brand Manager"].scope_id)))
    with sqlite_db.session() as s:
        job = s.get(Job, job_id)
        assert job.kind == "optimization" and job.owner_id == user_id(sqlite_db, people, "Brand Manager")
    final, progress = follow(client, headers, app, job_id)
    assert final["optimizer-job"]["data"] == job_id and "Done" in str(final["optimizer-message"])
    assert final["optimizer-watch-tick"]["disabled"] is True and final["optimizer-run"]["disabled"] is False
    assert progress[-1] == 100
    shown = post(client, headers, app, SHOW, {"job_id": job_id})
    assert shown.status_code == 200 and b"optimizer-allocation-graph" in shown.data


def test_two_users_identical_inputs_same_moment_get_their_own_results(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path)
    two_users_same_moment(sqlite_db, tmp_path, app, people)


def test_cancel_stops_the_run_and_clears_the_result(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    job_id = submitted(start_run(client, headers, app, run_values(
        people["Brand Manager"].scope_id, generations=2000, max_active=2)))
    wait_until_running(sqlite_db, job_id)  # a person presses Cancel once the progress bar moves
    cancel = post(client, headers, app, CANCEL, {"n_clicks": 1, "job_id": job_id})
    assert cancel.status_code == 200 and "Cancelling" in cancel.get_data(as_text=True)
    final, _ = follow(client, headers, app, job_id, timeout=60)
    assert final["optimizer-job"]["data"] is None and "Run cancelled" in str(final["optimizer-message"])
    assert get_job(sqlite_db, load_principal(sqlite_db, user_id(sqlite_db, people, "Brand Manager")),
                   job_id)["result"] is None


def test_while_a_run_is_followed_the_result_area_says_it_is_running(sqlite_db, tmp_path):
    """Run clears the result area, which then says a run is on its way (not "No result yet … press Run");
    follow ticks leave it alone; a job id that is not the person's is refused there too."""
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    job_id = submitted(start_run(client, headers, app, run_values(
        people["Brand Manager"].scope_id, generations=2000, max_active=2)))
    wait_until_running(sqlite_db, job_id)
    running = post(client, headers, app, SHOW, {"job_id": None, "scenario_id": None, "watched": job_id})
    assert running.status_code == 200
    assert "Running — the result appears here when the run finishes" in str(running.get_json()["response"])
    assert "No result yet" in str(post(client, headers, app, SHOW, {}).get_json()["response"])
    tick = post(client, headers, app, FOLLOW, {"_tick": 1, "job_id": job_id}).get_json()["response"]
    assert tick["optimizer-watch"]["data"] == job_id and "optimizer-job" not in tick
    other, other_headers = signed_in(app, people, "Portfolio Manager")
    assert post(other, other_headers, app, SHOW, {"watched": job_id}).status_code == 403
    post(client, headers, app, CANCEL, {"n_clicks": 1, "job_id": job_id})
    final, _ = follow(client, headers, app, job_id, timeout=60)
    assert "Run cancelled" in str(final["optimizer-message"])


def test_a_foreign_job_id_is_refused_by_follow_and_cancel(sqlite_db, tmp_path):
    """Another person's job id posted to the follow or cancel callback: 403, and their run goes on."""
    app, people = build(sqlite_db, tmp_path)
    owner, owner_headers = signed_in(app, people, "Portfolio Manager")
    job_id = submitted(start_run(owner, owner_headers, app, run_values(people["Brand Manager"].scope_id)))
    client, headers = signed_in(app, people, "Brand Manager")
    assert post(client, headers, app, "optimizer-watch-tick.n_intervals",
                {"_tick": 1, "job_id": job_id}).status_code == 403
    assert post(client, headers, app, CANCEL, {"n_clicks": 1, "job_id": job_id}).status_code == 403
    final, _ = follow(owner, owner_headers, app, job_id)
    assert final["optimizer-job"]["data"] == job_id, "the owner's run was not disturbed"


@pytest.mark.parametrize("role", ["Viewer"])
def test_a_role_without_scenario_run_cannot_submit(sqlite_db, tmp_path, role):
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, role)
    response = start_run(client, headers, app, run_values(people["Brand Manager"].scope_id))
    assert response.status_code == 403
    anonymous = app.server.test_client()
    assert anonymous.post("/_dash-update-component", json={}).status_code in (400, 401)
    with sqlite_db.session() as s:
        assert s.scalar(select(Job.id)) is None


def test_a_spend_unit_out_of_range_shows_the_allowed_range(sqlite_db, tmp_path):
    """Issue 12 item 8: the page took a unit of 1e-320 and the run died with OverflowError. The queue's
    validation (the same core.input_ranges the API uses) refuses it with the range and writes no job; a
    unit only known to be too large once the run has computed the default budget fails the job with the
    reason, which the follow shows (and no result)."""
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    for clicks, extra, reason in ((1, {"unit": 1e-320}, "spend unit: a number from 0.01 to 1,000,000,000,000,000"),
                                  (2, {"unit": 0.01, "budget": 1e12}, "into more than 1,000,000,000 units")):
        response = start_run(client, headers, app, run_values(brand, clicks, **extra))
        assert response.status_code == 200, response.data[:300]
        answer = response.get_json()["response"]
        assert answer["optimizer-watch"]["data"] is None, extra
        assert reason in str(answer["optimizer-message"]), (extra, answer)
    with sqlite_db.session() as s:
        assert s.scalar(select(Job.id)) is None
    job_id = submitted(start_run(client, headers, app, run_values(brand, 3, unit=1e13, budget=None)))
    final, _ = follow(client, headers, app, job_id)
    assert "larger than the whole budget" in str(final["optimizer-message"]) and final["optimizer-job"]["data"] is None


def test_a_run_survives_a_page_reload(sqlite_db, tmp_path):
    """Reloading /optimizer finds the person's active run in its row and follows it again to the result."""
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    job_id = submitted(start_run(client, headers, app, run_values(people["Brand Manager"].scope_id,
                                                                  generations=400)))
    reloaded = page_layout(client, headers)
    assert find_component(reloaded, "optimizer-watch")["data"] == job_id
    assert find_component(reloaded, "optimizer-watch-tick")["disabled"] is False
    assert find_component(reloaded, "optimizer-run")["disabled"] is True
    final, _ = follow(client, headers, app, job_id)
    assert final["optimizer-job"]["data"] == job_id
    done = page_layout(client, headers)  # and once finished, a reload shows the result, following nothing
    assert find_component(done, "optimizer-job")["data"] == job_id
    assert find_component(done, "optimizer-watch")["data"] is None


def test_a_run_survives_a_restart_of_the_web_process(sqlite_db, tmp_path):
    """A second app instance on the same database (a restarted web process) follows the same job id; and
    a job whose web process died mid-run (its holder pid is gone) is re-run by the next process's
    executor at start-up, as attempt 2, and its result reaches the page."""
    first, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(first, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    job_id = submitted(start_run(client, headers, first, run_values(brand)))

    second = make_app(sqlite_db, tmp_path)
    second.server.extensions["dash_app"] = second
    client2, headers2 = signed_in(second, people, "Brand Manager")
    assert find_component(page_layout(client2, headers2), "optimizer-watch")["data"] in (job_id, None)
    final, _ = follow(client2, headers2, second, job_id)
    assert final["optimizer-job"]["data"] == job_id, final["optimizer-message"]

    orphan = submitted(start_run(client, headers, first, run_values(brand, 2)))
    follow(client, headers, first, orphan)
    with sqlite_db.session() as s:  # as a process killed mid-run leaves it: running, held by a pid now gone
        s.execute(update(Job).where(Job.id == orphan).values(
            status="running", progress=0.3, result=None, finished_at=None, attempts=1,
            claimed_by=f"{socket.gethostname()}:4194305"))
    third = make_app(sqlite_db, tmp_path)
    third.server.extensions["dash_app"] = third
    assert isinstance(third.server.extensions[EXTENSION], LocalExecutor)
    client3, headers3 = signed_in(third, people, "Brand Manager")
    # The restarted process re-runs the orphan at once: by the page load it may still run or have finished
    # (seen in CI), as for the second process above; either way the page then shows that run's result.
    assert find_component(page_layout(client3, headers3), "optimizer-watch")["data"] in (orphan, None)
    final, _ = follow(client3, headers3, third, orphan)
    assert final["optimizer-job"]["data"] == orphan, final["optimizer-message"]
    principal = load_principal(sqlite_db, user_id(sqlite_db, people, "Brand Manager"))
    assert get_job(sqlite_db, principal, orphan)["attempts"] == 2
