"""The Portfolio setup page and the import page's new-brand confirmation, through real callback posts
as the demo's Organization Administrator; another organization's ids and lesser roles get 403."""

from __future__ import annotations

import base64
import inspect
import json

import pytest
from dash._utils import split_callback_id
from sqlalchemy import func, select

from core.demo import seed_demo
from core.models import Brand, Metric, Organization, Project, ProjectBrand
from tests.support import csrf_headers, demo_people, make_app, sign_in

ADMIN = "Organization Administrator"


@pytest.fixture
def world(db, tmp_path):
    seed_demo(db, seed=7, months=2)
    people = demo_people(db, tmp_path)
    with db.session() as s:
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        project = s.scalar(select(Project.id).where(Project.organization_id == first).order_by(Project.id))
        foreign_project = s.scalar(select(Project.id).where(Project.organization_id == second))
        foreign_brand = s.scalar(select(Brand.id).where(Brand.organization_id == second))
    return {"db": db, "app": make_app(db, tmp_path), "people": people, "home": first, "second": second,
            "project": project, "foreign_project": foreign_project, "foreign_brand": foreign_brand}


def _client(world, role: str):
    client = world["app"].server.test_client()
    assert sign_in(client, world["people"][role].email).status_code == 302
    return client


def _post(world, client, name: str, trigger: str | None = None, **values):
    """Post the callback whose function is `name`, as Dash's renderer does; `values` by parameter name."""
    (key, entry), = [(k, e) for k, e in world["app"].callback_map.items()
                     if getattr(e.get("callback"), "__name__", "") == name]
    flat: list = []
    for param in inspect.signature(entry["callback"]).parameters.values():
        given = values.get(param.name)
        flat.extend(given or [] if param.kind is param.VAR_POSITIONAL else [given])
    deps = [*entry["inputs"], *entry.get("state", [])]
    filled = [{**dep, "value": flat[i] if i < len(flat) else None} for i, dep in enumerate(deps)]
    first = entry["inputs"][0]
    body = {"output": key, "outputs": split_callback_id(key), "inputs": filled[:len(entry["inputs"])],
            "state": filled[len(entry["inputs"]):], "changedPropIds": [trigger or f"{first['id']}.{first['property']}"]}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=csrf_headers(client))


def _ok(response) -> dict:
    assert response.status_code == 200, response.data[:800]
    return response.get_json()["response"]


def _brand_id(db, name: str) -> int | None:
    with db.session() as s:
        return s.scalar(select(Brand.id).where(Brand.name == name))


def test_page_creates_projects_and_brands_merges_and_adds_a_csv(world):
    db, admin, home = world["db"], _client(world, ADMIN), world["home"]
    assert admin.get("/admin/portfolio").status_code == 200
    listed = _ok(_post(world, admin, "refresh", organization_id=home, _version=0))
    assert listed["pset-projects"]["rowData"] and listed["pset-brands"]["rowData"]
    out = _ok(_post(world, admin, "project_action", trigger="pset-project-create.n_clicks", organization_id=home,
                    new_name="Launch plan", version=0))
    assert out["pset-version"]["data"] == 1 and "created" in json.dumps(out["pset-message"])
    with db.session() as s:
        new_project = s.scalar(select(Project.id).where(Project.name == "Launch plan"))
    dup = _ok(_post(world, admin, "project_action", trigger="pset-project-create.n_clicks", organization_id=home,
                    new_name="launch PLAN", version=1))
    assert "Nothing was changed" in json.dumps(dup) and "pset-version" not in dup
    weights = _ok(_post(world, admin, "project_action", trigger="pset-scoring-save.n_clicks", organization_id=home,
                        project_id=new_project, normalization="percentile", weights=[2, None, None, 0.5], version=1))
    assert "recomputed" in json.dumps(weights)
    shown = _ok(_post(world, admin, "show_setup_project", project_id=new_project, _version=2))
    assert shown["pset-normalization"]["value"] == "percentile"
    made = _ok(_post(world, admin, "brand_action", trigger="pset-brand-create.n_clicks", organization_id=home,
                     new_name="Page Brand", role="competitor", projects=[new_project], version=2))
    assert "added" in json.dumps(made)
    brand = _brand_id(db, "Page Brand")
    with db.session() as s:
        assert s.get(ProjectBrand, (new_project, brand)).role == "competitor"
    # Merge: preview (what moves), then confirm the same two brands.
    target = _brand_id(db, "Page Brand")
    with db.session() as s:
        source = s.scalar(select(ProjectBrand.brand_id).where(ProjectBrand.project_id == world["project"])
                          .order_by(ProjectBrand.brand_id))
    plan = _ok(_post(world, admin, "preview_merge", source=source, target=target))
    assert plan["pset-merge-confirm"]["disabled"] is False and "metric values" in json.dumps(plan)
    stale = _ok(_post(world, admin, "confirm_merge", source=source, target=world["project"], keep="ask",
                      previewed=plan["pset-merge-previewed"]["data"], version=3))
    assert "preview the merge again" in json.dumps(stale) and _brand_id(db, "Page Brand") == target
    merged = _ok(_post(world, admin, "confirm_merge", source=source, target=target, keep="ask",
                       previewed=plan["pset-merge-previewed"]["data"], version=3))
    assert "Merged" in json.dumps(merged)
    with db.session() as s:
        assert s.get(Brand, source) is None
    csv = "data:text/csv;base64," + base64.b64encode(b"name,role,projects\nCsv One,own,Launch plan\n").decode()
    checked = _ok(_post(world, admin, "preview_csv", contents=csv, organization_id=home))
    assert checked["pset-csv-commit"]["disabled"] is False and _brand_id(db, "Csv One") is None
    added = _ok(_post(world, admin, "commit_csv", contents=checked["pset-csv-data"]["data"], organization_id=home,
                      version=4))
    assert "Added 1 brand" in json.dumps(added) and _brand_id(db, "Csv One") is not None


def test_other_organizations_ids_and_lesser_roles_are_refused(world):
    db, admin = world["db"], _client(world, ADMIN)
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(Project))
    for name, values in [
        ("refresh", {"organization_id": world["second"]}),
        ("project_action", {"organization_id": world["home"], "project_id": world["foreign_project"]}),
        ("brand_action", {"organization_id": world["home"], "brand_id": world["foreign_brand"]}),
        ("preview_merge", {"source": world["foreign_brand"], "target": world["foreign_brand"]}),
    ]:
        response = _post(world, admin, name, trigger=None, **values)
        assert response.status_code == 403, name
    for role in ("Portfolio Manager", "Viewer"):
        client = _client(world, role)
        assert client.get("/admin/portfolio").status_code == 403
        assert _post(world, client, "project_action", trigger="pset-project-create.n_clicks",
                     organization_id=world["home"], new_name="x").status_code == 403
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Project)) == before


def test_import_page_asks_before_creating_new_brands(world):
    db, admin = world["db"], _client(world, ADMIN)
    with db.session() as s:
        code = s.scalar(select(Metric.code).order_by(Metric.id))
    data = f"brand,metric,period,value\nBrand From File,{code},2031-01-01,1\n".encode()
    contents = "data:text/csv;base64," + base64.b64encode(data).decode()
    token = _ok(_post(world, admin, "receive_upload", contents=contents, filename="m.csv"))["import-token"]["data"]
    mapping = json.dumps({"kind": "metrics", "layout": "long", "granularity": "month"})
    out = _ok(_post(world, admin, "run_preview", token=token, organization_id=world["home"], kind="metrics",
                    mapping_json=mapping))
    assert out["import-new-brands"]["hidden"] is False
    assert "Brand From File" in json.dumps(out["import-new-brands-list"])
    previewed = out["import-previewed"]["data"]
    assert previewed["new_brands"] == ["Brand From File"]
    state = {"previewed": previewed, "token": token, "organization_id": world["home"], "kind": "metrics",
             "mapping_json": mapping}
    waiting = _ok(_post(world, admin, "commit_ready", create_brands=False, **state))
    assert waiting["import-commit"]["disabled"] is True and "Tick" in waiting["import-commit-hint"]["children"]
    ready = _ok(_post(world, admin, "commit_ready", create_brands=True, **state))
    assert ready["import-commit"]["disabled"] is False
    unticked = _ok(_post(world, admin, "run_commit", token=token, organization_id=world["home"], create_brands=False,
                         previewed=previewed))
    assert "confirm the new brands" in json.dumps(unticked) and _brand_id(db, "Brand From File") is None
    forged = _ok(_post(world, admin, "run_commit", token=token, organization_id=world["home"], create_brands=True,
                       previewed={**previewed, "new_brands": ["Something Else"]}))
    assert "not the ones the preview listed" in json.dumps(forged) and _brand_id(db, "Something Else") is None
    done = _ok(_post(world, admin, "run_commit", token=token, organization_id=world["home"], create_brands=True,
                     previewed=previewed))
    assert "New brands: Brand From File" in json.dumps(done) and _brand_id(db, "Brand From File") is not None
