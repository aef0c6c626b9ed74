"""Projects through core.setup.projects: create, rename, archive, scoring settings and members, with
the scores recomputed, the read cache's data token moved, every change audited and every refusal
changing nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import Project, ProjectBrand
from core.read_cache import data_token
from core.security import Forbidden
from core.setup import projects
from core.setup.portfolio_common import PortfolioConflict, PortfolioError
from tests.integration.setup.conftest import audit_actions, score_rows, total_scores


def _token(db):
    with db.engine.connect() as conn:
        return data_token(conn)


def _project(db, project_id):
    with db.session() as s:
        p = s.get(Project, project_id)
        s.expunge(p)
        return p


def test_create_rename_archive_are_audited(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    new_id = projects.create_project(db, admin, w.orgs["A"], "  Oral   care ", "percentile", {"marketplace": 2})
    created = _project(db, new_id)
    assert (created.name, created.organization_id) == ("Oral care", w.orgs["A"])
    assert str(created.normalization.value) == "percentile" and created.section_weights == {"Marketplace": 2.0}
    with pytest.raises(PortfolioConflict, match="already has a project named “Oral care”"):
        projects.create_project(db, admin, w.orgs["A"], "ORAL CARE")
    with pytest.raises(PortfolioConflict):
        projects.rename_project(db, admin, w.projects["Ap1"], "oral  care")
    projects.rename_project(db, admin, new_id, "Dental")
    projects.set_project_archived(db, admin, new_id, True)
    assert _project(db, new_id).archived_at is not None
    projects.set_project_archived(db, admin, new_id, True)  # twice: nothing more
    projects.set_project_archived(db, admin, new_id, False)
    assert _project(db, new_id).archived_at is None
    assert [a for a, _ in audit_actions(db, "project.")] == [
        "project.created", "project.renamed", "project.archived", "project.unarchived"]
    assert audit_actions(db, "project.renamed")[0][1] == {"before": "Oral care", "after": "Dental"}
    # A project of the same name in another organization is fine.
    projects.create_project(db, world["as"]["admin_b"], w.orgs["B"], "Dental")


def test_scoring_change_recomputes_scores_and_moves_the_data_token(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    project = w.projects["Ap1"]
    projects.set_member(db, admin, project, w.brands["Ab3"], "competitor")  # three brands: percentile ≠ min–max
    before, token = total_scores(db, project), _token(db)
    assert projects.set_scoring(db, admin, project, section_weights={"Socialwatch": 5}) is True
    weighted = total_scores(db, project)
    assert weighted.keys() == before.keys() and weighted != before
    assert _token(db) != token
    projects.set_scoring(db, admin, project, normalization="percentile")
    assert total_scores(db, project) != weighted
    assert projects.set_scoring(db, admin, project, normalization="percentile") is False
    assert [d["after"] for _a, d in audit_actions(db, "project.scoring")] == [
        {"normalization": "minmax", "section_weights": {"Socialwatch": 5}},
        {"normalization": "percentile", "section_weights": {"Socialwatch": 5}}]


@pytest.mark.parametrize("weights, reason", [
    ({"Nope": 1}, "there is no section “Nope”"), ({"Marketplace": 0}, "above 0"), ({"Marketplace": -2}, "above 0"),
    ({"Marketplace": "lots"}, "must be a number"), ({"Marketplace": float("nan")}, "above 0"), ([1, 2], "pairs"),
])
def test_bad_weights_change_nothing(world, weights, reason):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    before = total_scores(db, w.projects["Ap1"])
    with pytest.raises(PortfolioError, match=reason):
        projects.set_scoring(db, admin, w.projects["Ap1"], section_weights=weights)
    with pytest.raises(PortfolioError, match="normalization is"):
        projects.set_scoring(db, admin, w.projects["Ap1"], normalization="zscore")
    assert _project(db, w.projects["Ap1"]).section_weights == {}
    assert total_scores(db, w.projects["Ap1"]) == before
    assert audit_actions(db, "project.") == []


def test_members_and_roles_keep_scores_current(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    project, b3 = w.projects["Ap1"], w.brands["Ab3"]
    assert score_rows(db, project, b3) == 0
    before = total_scores(db, project)
    assert projects.set_member(db, admin, project, b3, "competitor") is True
    assert score_rows(db, project, b3) > 0
    after = total_scores(db, project)
    assert {k for k in after if k[1] != b3} == set(before) and after != before  # the others renormalized
    assert projects.set_member(db, admin, project, b3, "benchmark") is True
    assert projects.set_member(db, admin, project, b3, "benchmark") is False
    with db.session() as s:
        assert s.get(ProjectBrand, (project, b3)).role == "benchmark"
    with pytest.raises(PortfolioError, match="one of own, competitor, benchmark"):
        projects.set_member(db, admin, project, b3, "friend")
    assert projects.remove_member(db, admin, project, b3) is True
    assert score_rows(db, project, b3) == 0 and total_scores(db, project) == before
    assert projects.remove_member(db, admin, project, b3) is False
    assert [(a, d["role"]) for a, d in audit_actions(db, "project.brand")] == [
        ("project.brand_set", "competitor"), ("project.brand_set", "benchmark"), ("project.brand_removed", "benchmark")]
    listed = projects.get_project(db, admin, project)
    assert {b["id"]: b["role"] for b in listed["brands"]} == {w.brands["Ab1"]: "own", w.brands["Ab2"]: "own"}


def test_another_organizations_brand_cannot_join(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    with pytest.raises(Forbidden):
        projects.set_member(db, admin, w.projects["Ap1"], w.brands["Bb1"], "competitor")
    with world["db"].session() as s:
        assert s.get(ProjectBrand, (w.projects["Ap1"], w.brands["Bb1"])) is None


@pytest.mark.parametrize("who", ["admin_b", "viewer", "brand_manager"])
def test_other_organizations_and_lesser_roles_are_refused_and_audited(world, who):
    db, w, me = world["db"], world["w"], world["as"][who]
    calls = [
        lambda: projects.create_project(db, me, w.orgs["A"], "Mine"),
        lambda: projects.rename_project(db, me, w.projects["Ap1"], "Mine"),
        lambda: projects.set_project_archived(db, me, w.projects["Ap1"], True),
        lambda: projects.set_scoring(db, me, w.projects["Ap1"], normalization="percentile"),
        lambda: projects.set_member(db, me, w.projects["Ap1"], w.brands["Ab3"], "own"),
        lambda: projects.remove_member(db, me, w.projects["Ap1"], w.brands["Ab1"]),
        lambda: projects.list_projects(db, me, w.orgs["A"]),
        lambda: projects.rename_project(db, me, 999_999, "Mine"),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()
    with db.session() as s:
        names = set(s.scalars(select(Project.name).where(Project.organization_id == w.orgs["A"])))
        assert names == {"Ap1", "Ap2"}
        assert s.get(Project, w.projects["Ap1"]).archived_at is None
    denied = [d["permission"] for a, d in audit_actions(db, "authz.denied")]
    assert len(denied) == len(calls) and set(denied) == {"portfolio:manage"}
    assert audit_actions(db, "project.") == []


def test_system_administrator_manages_any_organization(world):
    db, w = world["db"], world["w"]
    new_id = projects.create_project(db, world["as"]["sysadmin"], w.orgs["B"], "Run by the operator")
    assert _project(db, new_id).organization_id == w.orgs["B"]
