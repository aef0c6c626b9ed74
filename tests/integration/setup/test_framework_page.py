"""The framework page's item card through real callback posts as the demo's Organization Administrator:
add, rename, change a metric, remove (asking first when values would go); another organization's ids
and lesser roles get 403 and change nothing."""

from __future__ import annotations

import inspect
import json

import pytest
from dash._utils import split_callback_id
from sqlalchemy import func, select

from core.demo import seed_demo
from core.models import FrameworkVersion, Metric, MetricValue, Organization, Platform, Section
from tests.support import csrf_headers, demo_people, make_app, sign_in

ADMIN = "Organization Administrator"


@pytest.fixture
def world(db, tmp_path):
    seed_demo(db, seed=7, months=2)
    people = demo_people(db, tmp_path)
    with db.session() as s:
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        valued = s.scalar(select(MetricValue.metric_id).join(Metric, Metric.id == MetricValue.metric_id)
                          .where(Metric.organization_id == first).order_by(MetricValue.metric_id))
        foreign = s.scalar(select(Metric.id).where(Metric.organization_id == second))
    return {"db": db, "app": make_app(db, tmp_path), "people": people, "home": first, "second": second,
            "valued": valued, "foreign": foreign}


def _client(world, role: str):
    client = world["app"].server.test_client()
    assert sign_in(client, world["people"][role].email).status_code == 302
    return client


def _post(world, client, callback: str, trigger: str | None = None, **values):
    """Post the callback whose function is `callback`, as Dash's renderer does; `values` by parameter name."""
    (key, entry), = [(k, e) for k, e in world["app"].callback_map.items()
                     if getattr(e.get("callback"), "__name__", "") == callback
                     and "framework" in k]
    flat = [values.get(p) for p in inspect.signature(entry["callback"]).parameters]
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


def _version(db, organization_id: int) -> int:
    with db.session() as s:
        return s.get(FrameworkVersion, organization_id).version


def _values(db, metric_id: int) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(MetricValue).where(MetricValue.metric_id == metric_id))


def test_page_adds_renames_changes_and_removes_items(world):
    db, admin, home = world["db"], _client(world, ADMIN), world["home"]
    assert admin.get("/admin/framework").status_code == 200
    start = _version(db, home)
    listed = _ok(_post(world, admin, "item_choices", organization_id=home))
    assert any(o["value"] == f"metric:{world['valued']}" for o in listed["framework-item"]["options"])
    add = {"organization_id": home, "version": 0}
    out = _ok(_post(world, admin, "add_item", "framework-add-section.n_clicks", section_name="Retail Media",
                    section_weight=0.5, **add))
    assert out["framework-items-version"]["data"] == 1 and "recomputed" in json.dumps(out)
    with db.session() as s:
        section = s.scalar(select(Section).where(Section.organization_id == home, Section.name == "Retail Media"))
        assert section.weight == 0.5
    dup = _ok(_post(world, admin, "add_item", "framework-add-section.n_clicks", section_name="retail media", **add))
    assert "Nothing was changed" in json.dumps(dup) and "framework-items-version" not in dup
    _ok(_post(world, admin, "add_item", "framework-add-platform.n_clicks", platform_section=f"section:{section.id}",
              platform_name="Flipkart Ads", **add))
    with db.session() as s:
        platform = s.scalar(select(Platform.id).where(Platform.section_id == section.id))
    made = _ok(_post(world, admin, "add_item", "framework-add-metric.n_clicks", metric_platform=f"platform:{platform}",
                     code="fk_ads_cpc", name="Flipkart ads CPC", unit="₹", direction="lower", weight=2, **add))
    assert "Flipkart ads CPC" in json.dumps(made)
    with db.session() as s:
        new_metric = s.scalar(select(Metric).where(Metric.code == "fk_ads_cpc"))
        assert (new_metric.direction, new_metric.weight, new_metric.organization_id) == ("lower", 2.0, home)
    assert _version(db, home) == start + 3  # the refused duplicate saved nothing

    blank = _ok(_post(world, admin, "change_item", "framework-item-save.n_clicks", organization_id=home,
                      item=f"section:{section.id}", name="  ", version=3))
    assert "Give the section a name" in json.dumps(blank) and "framework-items-version" not in blank
    renamed = _ok(_post(world, admin, "change_item", "framework-item-save.n_clicks", organization_id=home,
                        item=f"section:{section.id}", name="Retail Media Ads", version=3))
    assert "Retail Media Ads" in json.dumps(renamed) and renamed["framework-items-version"]["data"] == 4
    with db.session() as s:
        assert s.get(Section, section.id).name == "Retail Media Ads"
    valued = world["valued"]
    shown = _ok(_post(world, admin, "item_fields", item=f"metric:{valued}", organization_id=home))
    current = {k: shown[f"framework-item-{k}"]["value"] for k in ("name", "code", "unit", "direction", "description")}
    flipped = "lower" if current["direction"] == "higher" else "higher"
    _ok(_post(world, admin, "change_item", "framework-item-save.n_clicks", organization_id=home,
              item=f"metric:{valued}", **{**current, "direction": flipped}, version=4))
    with db.session() as s:
        assert (s.get(Metric, valued).direction, s.get(Metric, valued).name) == (flipped, current["name"])

    held = _values(db, valued)
    assert held > 0
    asked = _ok(_post(world, admin, "change_item", "framework-item-remove.n_clicks", organization_id=home,
                      item=f"metric:{valued}", version=5))
    assert asked["framework-item-confirm-box"]["style"] == {}
    assert f"This removes {held:,} metric values; scores are recomputed" in asked["framework-item-confirm-text"][
        "children"]
    assert asked["framework-item-pending"]["data"] == f"metric:{valued}" and "framework-items-version" not in asked
    other = _ok(_post(world, admin, "change_item", "framework-item-confirm.n_clicks", organization_id=home,
                      item=f"metric:{new_metric.id}", pending=f"metric:{valued}", version=5))
    assert "confirm" in json.dumps(other) and "framework-items-version" not in other
    with db.session() as s:
        assert s.get(Metric, valued) is not None and s.get(Metric, new_metric.id) is not None
    assert _values(db, valued) == held  # without the confirmation nothing is lost
    gone = _ok(_post(world, admin, "change_item", "framework-item-confirm.n_clicks", organization_id=home,
                     item=f"metric:{valued}", pending=f"metric:{valued}", version=5))
    assert f"{held:,} metric values" in json.dumps(gone) and "recomputed" in json.dumps(gone)
    with db.session() as s:
        assert s.get(Metric, valued) is None
    assert _values(db, valued) == 0
    quiet = _ok(_post(world, admin, "change_item", "framework-item-remove.n_clicks", organization_id=home,
                      item=f"metric:{new_metric.id}", version=6))
    assert quiet["framework-items-version"]["data"] == 7 and "Metric removed." in json.dumps(quiet)
    # The page's grids reload on the items version.
    grids = _ok(_post(world, admin, "show", "framework-items-version.data", organization_id=home))
    names = {r["name"] for r in grids["framework-sections"]["rowData"]}
    assert "Retail Media Ads" in names


def test_other_organizations_items_and_lesser_roles_are_refused(world):
    db, admin, home = world["db"], _client(world, ADMIN), world["home"]
    foreign, before = world["foreign"], _version(db, home)
    with db.session() as s:
        foreign_section = s.scalar(select(Section.id).where(Section.organization_id == world["second"]))
    for name, trigger, values in [
        ("item_choices", None, {"organization_id": world["second"]}),
        ("item_fields", None, {"item": f"metric:{foreign}", "organization_id": home}),
        ("add_item", "framework-add-platform.n_clicks",
         {"organization_id": home, "platform_section": f"section:{foreign_section}", "platform_name": "X"}),
        ("change_item", "framework-item-confirm.n_clicks",
         {"organization_id": home, "item": f"metric:{foreign}", "pending": f"metric:{foreign}"}),
        ("change_item", "framework-item-save.n_clicks",
         {"organization_id": world["second"], "item": f"metric:{foreign}", "name": "Mine now"}),
    ]:
        assert _post(world, admin, name, trigger, **values).status_code == 403, name
    for role in ("Viewer", "Portfolio Manager"):
        client = _client(world, role)
        assert client.get("/admin/framework").status_code == 403
        assert _post(world, client, "add_item", "framework-add-section.n_clicks", organization_id=home,
                     section_name="Sneaky").status_code == 403
        assert _post(world, client, "change_item", "framework-item-confirm.n_clicks", organization_id=home,
                     item=f"metric:{world['valued']}", pending=f"metric:{world['valued']}").status_code == 403
    with db.session() as s:
        assert s.get(Metric, foreign) is not None and s.get(Metric, world["valued"]) is not None
        assert s.scalar(select(Section.id).where(Section.name == "Sneaky")) is None
    assert _version(db, home) == before
