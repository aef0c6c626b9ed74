"""Brands through core.setup.brands: create in projects, rename (unique whatever the case), archive,
delete (refused while a scenario uses the brand; audited with what went), the all-or-nothing CSV
list, and an import that creates the brands its preview listed only once they are confirmed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.imports.uploads import UploadRejected, commit_upload, preview_upload, stage_upload
from core.models import Brand, MetricValue, ProjectBrand, RoleGrant, Scenario
from core.security import Forbidden
from core.setup import brands
from core.setup.portfolio_common import PortfolioConflict, PortfolioError
from tests.integration.security.conftest import add_user
from tests.integration.setup.conftest import audit_actions, score_rows


def _brands(db, org) -> dict[str, int]:
    with db.session() as s:
        return dict(s.execute(select(Brand.name, Brand.id).where(Brand.organization_id == org)).all())


def _memberships(db) -> set[tuple]:
    with db.session() as s:
        return set(s.execute(select(ProjectBrand.project_id, ProjectBrand.brand_id, ProjectBrand.role)).all())


def test_create_in_projects_rename_and_archive(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    new = brands.create_brand(db, admin, w.orgs["A"], " Zest ", [(w.projects["Ap1"], "own"),
                                                                  (w.projects["Ap2"], "competitor")])
    assert _brands(db, w.orgs["A"])["Zest"] == new
    assert {(p, r) for p, b, r in _memberships(db) if b == new} == {(w.projects["Ap1"], "own"),
                                                                     (w.projects["Ap2"], "competitor")}
    for taken in ("zest", "ZEST", "  zest  ", "Ab1", "ab1"):
        with pytest.raises(PortfolioConflict, match="already has a brand named"):
            brands.create_brand(db, admin, w.orgs["A"], taken)
    with pytest.raises(PortfolioConflict, match="already has a brand named “Ab1”; choose another name or merge"):
        brands.rename_brand(db, admin, new, "AB1")
    with pytest.raises(PortfolioError, match="invisible"):
        brands.rename_brand(db, admin, new, "Ze\u200bst")
    brands.rename_brand(db, admin, new, "zest")  # its own name in another case is fine
    brands.create_brand(db, world["as"]["admin_b"], w.orgs["B"], "Zest")  # and in another organization
    brands.set_brand_archived(db, admin, new, True)
    assert brands.list_brands(db, admin, w.orgs["A"])[-1] | {"archived_at": None} == {
        "id": new, "organization_id": w.orgs["A"], "name": "zest", "category": None, "archived": True,
        "archived_at": None, "projects": [{"id": w.projects["Ap1"], "name": "Ap1", "role": "own"},
                                          {"id": w.projects["Ap2"], "name": "Ap2", "role": "competitor"}]}
    brands.set_brand_archived(db, admin, new, False)
    assert [a for a, _ in audit_actions(db, "brand.")] == [
        "brand.created", "brand.renamed", "brand.created", "brand.archived", "brand.unarchived"]
    with pytest.raises(Forbidden):  # a project of another organization
        brands.create_brand(db, admin, w.orgs["A"], "Other", [(w.projects["Bp1"], "own")])
    with pytest.raises(PortfolioError, match="one of own, competitor"):
        brands.create_brand(db, admin, w.orgs["A"], "Other", [(w.projects["Ap1"], "rival")])
    assert "Other" not in _brands(db, w.orgs["A"])


def test_delete_is_refused_while_a_scenario_uses_the_brand_then_removes_everything(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    b1 = w.brands["Ab1"]
    with db.session() as s:
        s.get(Scenario, w.scenarios["Ap1"]).inputs = {"brand_ids": [b1]}
        values = s.scalar(select(func.count()).select_from(MetricValue).where(MetricValue.brand_id == b1))
    uid = add_user(db, w, "brandscoped@a.test", "A", [("Viewer", "brand", "Ab1")])
    with pytest.raises(PortfolioConflict, match=r"1 saved scenario.*“Ap1 plan”.*archive the brand instead"):
        brands.delete_brand(db, admin, b1)
    assert b1 in _brands(db, w.orgs["A"]).values()
    with db.session() as s:
        s.get(Scenario, w.scenarios["Ap1"]).inputs = {}
    assert score_rows(db, w.projects["Ap1"], b1) > 0
    counts = brands.delete_brand(db, admin, b1)
    assert counts["metric_values"] == values > 0 and counts["project_brands"] == 1 and counts["role_grants"] == 1
    assert b1 not in _brands(db, w.orgs["A"]).values()
    assert score_rows(db, w.projects["Ap1"], b1) == 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MetricValue).where(MetricValue.brand_id == b1)) == 0
        assert s.scalar(select(func.count()).select_from(RoleGrant).where(RoleGrant.user_id == uid)) == 0
    (_action, data), = audit_actions(db, "brand.deleted")
    assert data["name"] == "Ab1" and data["rows"]["metric_values"] == values


CSV_OK = "name,role,projects\nNova,own,Ap1\nRival Co,competitor,Ap1;ap2\nSolo,,\n"


def test_bulk_csv_adds_every_row(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    preview = brands.add_brands_csv(db, admin, w.orgs["A"], CSV_OK, commit=False)
    assert preview.ok and not preview.committed and preview.created == ["Nova", "Rival Co", "Solo"]
    assert "Nova" not in _brands(db, w.orgs["A"])
    report = brands.add_brands_csv(db, admin, w.orgs["A"], CSV_OK.encode())
    assert report.committed and report.rows == 3
    ids = _brands(db, w.orgs["A"])
    members = _memberships(db)
    assert (w.projects["Ap1"], ids["Rival Co"], "competitor") in members
    assert (w.projects["Ap2"], ids["Rival Co"], "competitor") in members
    assert not any(b == ids["Solo"] for _p, b, _r in members)
    assert score_rows(db, w.projects["Ap1"], ids["Nova"]) == 0  # no values yet; the project was rescored
    assert audit_actions(db, "brand.bulk_added")[0][1] == {"created": 3, "projects": sorted(w.projects[p]
                                                                                           for p in ("Ap1", "Ap2"))}


def test_a_failed_bulk_csv_changes_nothing(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    before_brands, before_members = _brands(db, w.orgs["A"]), _memberships(db)
    bad = ("name,role,projects\nGood one,own,Ap1\nab2,own,\nTwin,own,\ntwin,competitor,\n"
           "Odd,rival,\nLost,own,Nowhere\n,own,\n")
    report = brands.add_brands_csv(db, admin, w.orgs["A"], bad)
    assert not report.committed and report.created == []
    assert [(e["row"], e["column"]) for e in report.errors] == [
        (3, "name"), (5, "name"), (6, "role"), (7, "projects"), (8, "name")]
    assert "already has a brand named “Ab2”" in report.errors[0]["reason"]
    assert "also on row 4" in report.errors[1]["reason"]
    assert _brands(db, w.orgs["A"]) == before_brands and _memberships(db) == before_members
    assert audit_actions(db, "brand.") == []
    no_header = brands.add_brands_csv(db, admin, w.orgs["A"], "brand;kind\nx;y\n")
    assert "must name the columns" in no_header.errors[0]["reason"]


@pytest.mark.parametrize("who", ["admin_b", "viewer", "brand_manager"])
def test_other_organizations_and_lesser_roles_are_refused_and_audited(world, who):
    db, w, me = world["db"], world["w"], world["as"][who]
    before = _brands(db, w.orgs["A"])
    calls = [
        lambda: brands.create_brand(db, me, w.orgs["A"], "Mine"),
        lambda: brands.rename_brand(db, me, w.brands["Ab1"], "Mine"),
        lambda: brands.set_brand_archived(db, me, w.brands["Ab1"], True),
        lambda: brands.delete_brand(db, me, w.brands["Ab3"]),
        lambda: brands.add_brands_csv(db, me, w.orgs["A"], CSV_OK),
        lambda: brands.list_brands(db, me, w.orgs["A"]),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()
    assert _brands(db, w.orgs["A"]) == before
    assert len(audit_actions(db, "authz.denied")) == len(calls)


# ---- an import that names brands the organization lacks -------------------------------------------

SPEC = {"kind": "metrics", "layout": "long", "granularity": "month"}


def _file(extra: str = "") -> bytes:
    return ("brand,metric,period,value\nAb1,m_rating,2024-03-01,7\nFresh One,m_rating,2024-03-01,3\n"
            "fresh one,m_complaints,2024-03-01,2\nSecond New,m_rating,2024-03-01,4\n" + extra).encode()


def test_import_creates_the_brands_its_preview_listed_only_when_confirmed(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    token = stage_upload(db, admin, "new.csv", _file()).token
    report = preview_upload(db, admin, token, w.orgs["A"], SPEC, "metrics")
    assert report.ok and report.new_brands == ["Fresh One", "Second New"] and report.to_insert == 4
    with pytest.raises(UploadRejected, match="confirm the new brands"):
        commit_upload(db, admin, token, w.orgs["A"])
    with pytest.raises(UploadRejected, match="not the ones the preview listed"):
        commit_upload(db, admin, token, w.orgs["A"], create_brands=["Fresh One"])
    with pytest.raises(UploadRejected, match="not the ones the preview listed"):
        commit_upload(db, admin, token, w.orgs["A"], create_brands=["Fresh One", "Second New", "Third"])
    assert "Fresh One" not in _brands(db, w.orgs["A"])
    done = commit_upload(db, admin, token, w.orgs["A"], create_brands=["fresh one", "Second New"])
    assert done.committed and done.brands_created == ["Fresh One", "Second New"]
    ids = _brands(db, w.orgs["A"])
    with db.session() as s:
        rows = s.execute(select(MetricValue.brand_id, MetricValue.raw_value)
                         .where(MetricValue.brand_id.in_([ids["Fresh One"], ids["Second New"]]))).all()
    assert sorted(rows) == sorted([(ids["Fresh One"], 3.0), (ids["Fresh One"], 2.0), (ids["Second New"], 4.0)])
    created = [d for a, d in audit_actions(db, "brand.created")]
    assert [d["name"] for d in created] == ["Fresh One", "Second New"] and {d["via"] for d in created} == {"import"}
    assert audit_actions(db, "import.committed")[0][1]["brands_created"] == ["Fresh One", "Second New"]


def test_import_refuses_when_the_brands_to_create_changed_since_the_preview(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    token = stage_upload(db, admin, "new.csv", _file()).token
    assert preview_upload(db, admin, token, w.orgs["A"], SPEC, "metrics").new_brands == ["Fresh One", "Second New"]
    brands.create_brand(db, admin, w.orgs["A"], "Second New")  # someone adds one meanwhile
    report = commit_upload(db, admin, token, w.orgs["A"], create_brands=["Fresh One", "Second New"])
    assert not report.committed and report.error_counts == {"unconfirmed_brands": 1}
    assert "Fresh One" not in _brands(db, w.orgs["A"])


def test_without_portfolio_manage_unknown_brands_stay_errors(world):
    db, w = world["db"], world["w"]
    from core.models import Role
    from core.security.principal import load_principal
    with db.session() as s:
        role = Role(name="Importer", organization_id=w.orgs["A"], permissions=["metrics:import", "portfolio:read"])
        s.add(role)
        s.flush()
        w.roles["Importer"] = role.id
    importer = load_principal(db, add_user(db, w, "imp@a.test", "A", [("Importer", "organization", "A")]))
    token = stage_upload(db, importer, "new.csv", _file()).token
    report = preview_upload(db, importer, token, w.orgs["A"], SPEC, "metrics")
    assert not report.ok and report.new_brands == [] and report.error_counts == {"unknown_brand": 3}
    with pytest.raises(UploadRejected, match="Preview this file first"):
        commit_upload(db, importer, token, w.orgs["A"], create_brands=["Fresh One", "Second New"])


def test_command_line_acts_as_the_named_person(world, tmp_path, capsys):
    from core.setup.__main__ import main

    db, w = world["db"], world["w"]
    url = db.engine.url.render_as_string(hide_password=False)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(CSV_OK, encoding="utf-8")
    bad.write_text("name,role,projects\nFine,own,\nab1,own,\n", encoding="utf-8")
    base = ["--database-url", url]
    assert main(["brands-import", str(bad), "--as", "admin-a@a.test", "--org", "org-a", *base]) == 1
    assert "Fine" not in _brands(db, w.orgs["A"])
    assert main(["brands-import", str(good), "--as", "viewer-a@a.test", "--org", "org-a", *base]) == 3
    assert main(["brands-import", str(good), "--as", "nobody@a.test", "--org", "org-a", *base]) == 2
    assert main(["brands-import", str(good), "--as", "admin-a@a.test", "--org", "org-a", *base]) == 0
    assert {"Nova", "Rival Co", "Solo"} <= set(_brands(db, w.orgs["A"]))
    assert main(["project-create", "--as", "admin-a@a.test", "--org", str(w.orgs["A"]), "--name", "CLI",
                 "--weight", "Socialwatch=3", *base]) == 0
    assert '"project_id"' in capsys.readouterr().out
    assert main(["brand-merge", "--as", "admin-a@a.test", "--source", str(w.brands["Ab1"]),
                 "--target", str(w.brands["Ab3"]), *base]) == 1  # both hold the same months: choose a side
    assert main(["brand-merge", "--as", "admin-a@a.test", "--source", str(w.brands["Ab1"]),
                 "--target", str(w.brands["Ab3"]), "--keep", "target", *base]) == 0
    assert "Ab1" not in _brands(db, w.orgs["A"])


def test_a_name_taken_between_the_check_and_the_write_is_the_same_refusal(world, monkeypatch):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    monkeypatch.setattr(brands, "unique_name", lambda *a, **k: None)  # as if another request won the race
    with pytest.raises(PortfolioConflict, match="just created"):
        brands.create_brand(db, admin, w.orgs["A"], "Ab1")
    assert list(_brands(db, w.orgs["A"])).count("Ab1") == 1
