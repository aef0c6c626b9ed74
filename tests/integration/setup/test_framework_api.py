"""The framework and channel operations of the REST API: JSON problems with reasons, 404 for another
organization's ids, 403 without the permission, and what they change."""

from __future__ import annotations

from sqlalchemy import func, select

from core.models import Channel, Metric, MetricValue, Section, User
from tests.integration.api.conftest import app, client, world  # noqa: F401  (fixtures)


def _auth(db, app, world, role: str) -> dict[str, str]:  # noqa: F811
    with db.session() as s:
        user = s.scalar(select(User.id).where(User.email == world["people"][role].email))
    token = app.server.extensions["digicadence.api_credentials"].issue(user).access_token
    return {"Authorization": f"Bearer {token}"}


def _first(db, model, org: int):
    with db.session() as s:
        return s.scalars(select(model.id).where(model.organization_id == org).order_by(model.id)).first()


def test_framework_operations(db, app, client, world):  # noqa: F811
    admin = _auth(db, app, world, "Organization Administrator")
    home, foreign = world["home"]["organization"], world["foreign"]["organization"]
    base = f"/api/v1/organizations/{home}/framework"
    got = client.get(base, headers=admin)
    assert got.status_code == 200
    tree = got.get_json()
    assert tree["version"] == 1 and [s["name"] for s in tree["sections"]][:1] == ["Marketplace"]
    assert client.get(f"/api/v1/organizations/{foreign}/framework", headers=admin).status_code == 403
    their_metric = _first(db, Metric, foreign)
    assert client.patch(f"{base}/metrics/{their_metric}", json={"weight": 2}, headers=admin).status_code == 404
    assert client.patch(f"{base}/weights", json={"metrics": {str(their_metric): 2}}, headers=admin).status_code == 404

    platform = tree["sections"][0]["platforms"][0]
    refused = client.patch(f"{base}/weights", json={"platforms": {str(platform["id"]): 0}}, headers=admin)
    assert refused.status_code == 422 and "more than 0" in refused.get_json()["detail"]
    shown = client.post(f"{base}/preview", json={"platforms": {str(platform["id"]): 5}}, headers=admin)
    assert shown.status_code == 200 and shown.get_json()["rows"]
    assert client.get(base, headers=admin).get_json()["version"] == 1  # a preview saves nothing
    saved = client.patch(f"{base}/weights", json={"platforms": {str(platform["id"]): 5}}, headers=admin)
    assert saved.status_code == 200 and saved.get_json()["version"] == 2
    assert saved.get_json()["sections"][0]["platforms"][0]["weight"] == 5

    made = client.post(f"{base}/sections", json={"name": "Retail Media", "weight": 0.5}, headers=admin)
    assert made.status_code == 201 and made.get_json()["version"] == 3
    again = client.post(f"{base}/sections", json={"name": "retail media"}, headers=admin)
    assert again.status_code == 422 and "already has a section" in again.get_json()["detail"]
    metric = platform["metrics"][0]["id"]
    kept = client.delete(f"{base}/metrics/{metric}", headers=admin)
    assert kept.status_code == 422 and "imported values" in kept.get_json()["detail"]
    assert client.delete(f"{base}/metrics/{metric}?discard_values=true", headers=admin).status_code == 204
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MetricValue).where(MetricValue.metric_id == metric)) == 0
        assert s.scalar(select(func.count()).select_from(Section).where(Section.organization_id == foreign)) == 4

    analyst = _auth(db, app, world, "Analyst")
    assert client.get(base, headers=analyst).status_code == 200
    assert client.patch(f"{base}/weights", json={"platforms": {str(platform["id"]): 1}},
                        headers=analyst).status_code == 403
    # /metrics: every item says its organization; only organizations the caller can see.
    items = client.get("/api/v1/metrics", headers=analyst).get_json()["items"]
    assert items and {i["organization_id"] for i in items} == {home}


def test_channel_operations(db, app, client, world):  # noqa: F811
    admin = _auth(db, app, world, "Organization Administrator")
    home, foreign = world["home"]["organization"], world["foreign"]["organization"]
    base = f"/api/v1/organizations/{home}/channels"
    listed = client.get(base, headers=admin).get_json()["items"]
    assert listed and all(r["spend_rows"] >= 0 for r in listed)
    made = client.post(base, json={"name": "Podcast Ads"}, headers=admin)
    assert made.status_code == 201
    new = made.get_json()["id"]
    assert client.post(base, json={"name": "podcast ads"}, headers=admin).status_code == 422
    renamed = client.patch(f"{base}/{new}", json={"name": "Podcasts"}, headers=admin)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Podcasts"
    theirs = _first(db, Channel, foreign)
    assert client.patch(f"{base}/{theirs}", json={"name": "Mine"}, headers=admin).status_code == 404
    assert client.post(f"{base}/{new}/merge", json={"into": theirs}, headers=admin).status_code == 404
    assert client.get(f"/api/v1/organizations/{foreign}/channels", headers=admin).status_code == 403
    merged = client.post(f"{base}/{new}/merge", json={"into": listed[0]["id"]}, headers=admin)
    assert merged.status_code == 200 and merged.get_json()["spend_rows"] == 0
    assert client.post(base, json={"name": "X"}, headers=_auth(db, app, world, "Analyst")).status_code == 403
    with db.session() as s:
        assert s.get(Channel, theirs).name != "Mine" and s.get(Channel, new) is None
