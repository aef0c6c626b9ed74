"""The setup operations through the REST API on the demo world: what an Organization Administrator
may do, 404 for another organization's ids (as for unknown ones), 403 for a Portfolio Manager, 409/422 problems
with reasons, and an import that creates the brands its preview listed once confirmed."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from core.models import Brand, Project, ProjectBrand
from tests.integration.api.conftest import app, bearer, client, token_for, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def admin(client, world):  # noqa: F811
    return bearer(token_for(client, world["people"]["Organization Administrator"])["access_token"])


@pytest.fixture
def manager(client, world):  # noqa: F811
    """A Portfolio Manager of the whole first organization: sees it all, may not set it up."""
    return bearer(token_for(client, world["people"]["Portfolio Manager"])["access_token"])


def _brand_in(db, project_id: int) -> int:
    with db.session() as s:
        return s.scalars(select(ProjectBrand.brand_id).where(ProjectBrand.project_id == project_id)
                         .order_by(ProjectBrand.brand_id)).all()


def test_projects_and_brands_round_trip(client, admin, world, db):  # noqa: F811
    home = world["home"]
    created = client.post("/api/v1/projects", headers=admin, json={"name": "Launches",
                                                                  "section_weights": {"Marketplace": 2}})
    assert created.status_code == 201, created.get_data(as_text=True)
    project = created.get_json()
    assert project["section_weights"] == {"Marketplace": 2.0} and project["brands"] == []
    dup = client.post("/api/v1/projects", headers=admin, json={"name": "LAUNCHES"})
    assert dup.status_code == 409 and "already has a project named" in dup.get_json()["detail"]
    bad = client.patch(f"/api/v1/projects/{project['id']}", headers=admin, json={"section_weights": {"Nope": 1}})
    assert bad.status_code == 422 and "there is no section" in bad.get_json()["detail"]
    brand = client.post("/api/v1/brands", headers=admin, json={
        "name": "Newcomer", "projects": [{"project_id": project["id"], "role": "competitor"},
                                         {"project_id": home["project"], "role": "own"}]})
    assert brand.status_code == 201
    body = brand.get_json()
    assert {p["id"]: p["role"] for p in body["projects"]} == {project["id"]: "competitor", home["project"]: "own"}
    changed = client.patch(f"/api/v1/projects/{project['id']}", headers=admin,
                           json={"name": "Launches 2025", "normalization": "percentile", "archived": True})
    assert changed.status_code == 200
    assert {k: changed.get_json()[k] for k in ("name", "normalization", "archived")} == {
        "name": "Launches 2025", "normalization": "percentile", "archived": True}
    member = client.post(f"/api/v1/projects/{home['project']}/brands", headers=admin,
                         json={"brand_id": body["id"], "role": "benchmark"})
    assert {b["id"]: b["role"] for b in member.get_json()["brands"]}[body["id"]] == "benchmark"
    assert client.delete(f"/api/v1/projects/{home['project']}/brands/{body['id']}", headers=admin).status_code == 204
    renamed = client.patch(f"/api/v1/brands/{body['id']}", headers=admin, json={"name": "Newcomer Ltd"})
    assert renamed.get_json()["name"] == "Newcomer Ltd"
    assert client.delete(f"/api/v1/brands/{body['id']}", headers=admin).status_code == 204
    with db.session() as s:
        assert s.get(Brand, body["id"]) is None


def test_merge_conflicts_and_bulk_csv(client, admin, world, db):  # noqa: F811
    source, target = _brand_in(db, world["home"]["project"])[:2]
    preview = client.get(f"/api/v1/brands/{source}/merge?into={target}", headers=admin)
    assert preview.status_code == 200 and preview.get_json()["data_conflicts"] > 0
    refused = client.post(f"/api/v1/brands/{source}/merge", headers=admin, json={"into": target})
    assert refused.status_code == 409 and refused.get_json()["type"].endswith("merge-conflict")
    assert {e["loc"][2] for e in refused.get_json()["errors"]} >= {"metric_values"}
    merged = client.post(f"/api/v1/brands/{source}/merge", headers=admin, json={"into": target, "keep": "target"})
    assert merged.status_code == 200 and merged.get_json()["dropped"]["metric_values"] > 0
    with db.session() as s:
        assert s.get(Brand, source) is None
        project = s.get(Project, world["home"]["project"]).name
    bad = client.post("/api/v1/brands/import", headers=admin, content_type="multipart/form-data", data={
        "file": (io.BytesIO(b"name,role,projects\nA1,own,\nB1,boss,\n"), "b.csv")})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["loc"] == ["file", 3, "role"]
    good = client.post("/api/v1/brands/import", headers=admin, content_type="multipart/form-data", data={
        "file": (io.BytesIO(f"name,role,projects\nA1,own,{project}\nB1,competitor,\n".encode()), "b.csv")})
    assert good.status_code == 201 and good.get_json()["created"] == ["A1", "B1"]


def test_other_organizations_get_404_and_lesser_roles_403(client, admin, manager, world, db):  # noqa: F811
    f = world["foreign"]
    same = client.get("/api/v1/brands/2147483000", headers=admin).get_json()
    for method, path, payload in [
        ("post", "/api/v1/projects", {"name": "x", "organization_id": f["organization"]}),
        ("patch", f"/api/v1/projects/{f['project']}", {"name": "x"}),
        ("post", f"/api/v1/projects/{f['project']}/brands", {"brand_id": f["brand"]}),
        ("delete", f"/api/v1/projects/{f['project']}/brands/{f['brand']}", None),
        ("post", "/api/v1/brands", {"name": "x", "organization_id": f["organization"]}),
        ("patch", f"/api/v1/brands/{f['brand']}", {"name": "x"}),
        ("delete", f"/api/v1/brands/{f['brand']}", None),
        ("post", f"/api/v1/brands/{f['brand']}/merge", {"into": f["brand"]}),
    ]:
        response = getattr(client, method)(path, headers=admin, json=payload)
        assert response.status_code == 404 and response.get_json() == same, path
    home = world["home"]
    for method, path, payload in [
        ("post", "/api/v1/projects", {"name": "x"}),
        ("patch", f"/api/v1/projects/{home['project']}", {"name": "x"}),
        ("post", "/api/v1/brands", {"name": "x"}),
        ("delete", f"/api/v1/brands/{_brand_in(db, home['project'])[0]}", None),
    ]:
        response = getattr(client, method)(path, headers=manager, json=payload)
        assert response.status_code == 403, (path, response.status_code)


def test_import_creates_listed_brands_only_when_confirmed(client, admin, world, db):  # noqa: F811
    with db.session() as s:
        brand = s.scalar(select(Brand.name).where(Brand.organization_id == world["home"]["organization"]))
    from core.models import Metric
    with db.session() as s:
        code = s.scalar(select(Metric.code).order_by(Metric.id))
    data = f"brand,metric,period,value\n{brand},{code},2030-01-01,1\nBrand New,{code},2030-01-01,2\n".encode()
    mapping = json.dumps({"kind": "metrics", "layout": "long", "granularity": "month"})

    def post(path, **extra):
        return client.post(path, headers=admin, content_type="multipart/form-data",
                           data={"mapping": mapping, "file": (io.BytesIO(data), "m.csv"), **extra})

    preview = post("/api/v1/imports/preview")
    assert preview.status_code == 200 and preview.get_json()["new_brands"] == ["Brand New"]
    refused = post("/api/v1/imports")
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["type"] == "unconfirmed_brands"
    wrong = post("/api/v1/imports", create_brands=json.dumps(["Other"]))
    assert wrong.status_code == 422
    done = post("/api/v1/imports", create_brands=json.dumps(["Brand New"]))
    assert done.status_code == 201 and done.get_json()["brands_created"] == ["Brand New"]
    with db.session() as s:
        assert s.scalar(select(Brand.id).where(Brand.name == "Brand New")) is not None
