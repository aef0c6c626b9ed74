"""The Model review page over HTTP as Dash's renderer drives it (in-process executor, SQLite): an analyst fits
a brand with Fit now and follows the job to the new version; a Viewer reads it without a Fit button; a
brand of another organization, or a brand the person may not fit, is a 403 in every callback."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from core.demo import seed_demo
from core.models import Brand, Organization, Spend
from tests.integration.web.optimizer_support import post
from tests.integration.web.test_optimizer_jobs import signed_in
from tests.support import demo_people, make_app

BRAND, VERSION, FIT, TICK = ("models-brand.value", "models-version.value", "models-fit.n_clicks",
                              "models-watch-tick.n_intervals")


@pytest.fixture
def setting(sqlite_db, tmp_path):
    seed_demo(sqlite_db, seed=7, months=15)  # 66 weeks: enough history to fit
    people = demo_people(sqlite_db, tmp_path)
    app = make_app(sqlite_db, tmp_path)
    app.server.extensions["dash_app"] = app
    with sqlite_db.session() as s:
        orgs = s.scalars(select(Organization.id).order_by(Organization.id)).all()
        foreign = s.scalar(select(Brand.id).where(Brand.organization_id == orgs[1],
                                                  Brand.id.in_(select(Spend.brand_id))).order_by(Brand.id))
    return {"app": app, "people": people, "foreign": foreign, "viewer_brand": people["Viewer"].scope_id}


def answer(response) -> dict:
    assert response.status_code == 200, response.data[:400]
    return response.get_json()["response"]


def test_fit_now_follow_and_read(setting):
    app, brand = setting["app"], setting["viewer_brand"]
    client, headers = signed_in(app, setting["people"], "Analyst")
    chosen = answer(post(client, headers, app, BRAND, {"brand_id": brand}))
    assert chosen["models-version"]["options"] == [] and chosen["models-version"]["value"] is None
    assert "Fit now" in json.dumps(chosen["models-fit-area"]["children"])
    empty = answer(post(client, headers, app, VERSION, {"version": None, "brand_id": brand}))
    assert "not fitted yet" in json.dumps(empty)

    started = answer(post(client, headers, app, FIT, {"n_clicks": 1, "brand_id": brand}))
    job_id = started["models-watch"]["data"]
    assert job_id and started["models-watch-tick"]["disabled"] is False
    progress, deadline, tick = [], time.monotonic() + 300, 0
    while time.monotonic() < deadline:
        tick += 1
        last = answer(post(client, headers, app, TICK, {"_tick": tick, "job_id": job_id}))
        progress.append(last["models-progress"]["value"])
        if last["models-watch"]["data"] is None:
            break
        time.sleep(0.3)
    assert last["models-refresh"]["data"] == job_id, last["models-message"]
    assert "Fitted" in json.dumps(last["models-message"]["children"]) and progress[-1] == 100
    after = answer(post(client, headers, app, BRAND, {"brand_id": brand, "_refresh": job_id}))
    assert after["models-version"]["value"] == 1 and "Refit" in json.dumps(after["models-fit-area"]["children"])
    shown = json.dumps(answer(post(client, headers, app, VERSION, {"version": 1, "brand_id": brand})))
    for part in ("models-fit-chart", "models-decomposition", "models-roas", "models-contribution",
                 "models-diagnostics", "models-changes", "first fit"):
        assert part in shown, part

    viewer, vheaders = signed_in(app, setting["people"], "Viewer")
    read = answer(post(viewer, vheaders, app, BRAND, {"brand_id": brand}))
    assert read["models-version"]["value"] == 1 and read["models-fit-area"]["children"] is None
    assert "models-fit-chart" in json.dumps(answer(post(viewer, vheaders, app, VERSION,
                                                        {"version": 1, "brand_id": brand})))
    assert post(viewer, vheaders, app, FIT, {"n_clicks": 1, "brand_id": brand}).status_code == 403
    assert post(viewer, vheaders, app, TICK, {"_tick": 1, "job_id": job_id}).status_code == 403


@pytest.mark.parametrize("role", ["Analyst", "Viewer", "Brand Manager"])
def test_another_organizations_brand_is_refused_in_every_callback(setting, role):
    app, foreign = setting["app"], setting["foreign"]
    client, headers = signed_in(app, setting["people"], role)
    for trigger, values in ((BRAND, {"brand_id": foreign}), (VERSION, {"version": 1, "brand_id": foreign}),
                            (FIT, {"n_clicks": 1, "brand_id": foreign})):
        assert post(client, headers, app, trigger, values).status_code == 403, trigger
    # the Brand Manager reads only their own brand: the Viewer's brand is out of scope too
    if role == "Brand Manager":
        assert post(client, headers, app, BRAND, {"brand_id": setting["viewer_brand"]}).status_code == 403
