"""authorize/can and scope_filter agree over a grid of roles × scopes × objects in two organizations."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from sqlalchemy import select

from core.models.metrics import DCScore, Metric, MetricValue, Platform, Section
from core.models.portfolio import Brand, Organization, Project
from core.models.security import AuditEvent, User
from core.models.work import Scenario
from core.security.audit import record
from core.security.authorizer import can, scope_filter
from core.security.permissions import BUILTIN_ROLES, Permission
from core.security.principal import load_principal
from tests.integration.security.conftest import add_user

MODELS = [Organization, Project, Brand, Scenario, User, AuditEvent]
ROLES = [r for r in BUILTIN_ROLES if r not in ("System Administrator", "Organization Administrator")]
GRID = [(role, scope) for role in ROLES for scope in (("organization", "A"), ("project", "Ap1"), ("brand", "Ab2"))]
GRID += [("Organization Administrator", ("organization", "A")), ("System Administrator", ("system", None))]


def _add_values(db, world):
    """A metric value per brand and DC scores per (project, brand) membership."""
    with db.session() as s:
        section = Section(organization_id=world.orgs["A"], name="Marketplace")
        s.add(section)
        s.flush()
        platform = Platform(section_id=section.id, name="Amazon")
        s.add(platform)
        s.flush()
        metric = Metric(organization_id=world.orgs["A"], platform_id=platform.id, code="amz.rating", name="Rating")
        s.add(metric)
        s.flush()
        for brand_id in world.brands.values():
            s.add(MetricValue(brand_id=brand_id, metric_id=metric.id, period=date(2026, 1, 1), raw_value=1.0))
        for org in ("A", "B"):
            for p, b in (("p1", "b1"), ("p1", "b2"), ("p2", "b2"), ("p2", "b3")):
                s.add(DCScore(project_id=world.projects[org + p], brand_id=world.brands[org + b],
                              period=date(2026, 1, 1), level="total", node_id=0, score=50.0, coverage=1.0))
        for org in ("A", "B"):
            record(s, "test.event", organization_id=world.orgs[org])
        record(s, "test.system_event")


@pytest.mark.parametrize(("role", "scope"), GRID, ids=[f"{r}@{s[0]}" for r, s in GRID])
def test_authorize_and_scope_filter_agree(db, world, role, scope):
    add_user(db, world, "other-a@a.example", "A")
    add_user(db, world, "other-b@b.example", "B")
    user_id = add_user(db, world, "me@a.example" if scope[0] != "system" else "root@ops.example",
                       "A" if scope[0] != "system" else None, [(role, *scope)])
    _add_values(db, world)
    principal = load_principal(db, user_id)
    org_b = world.orgs["B"]
    with db.session() as s:
        for permission, model in itertools.product(Permission, MODELS):
            rows = s.scalars(select(model)).all()
            expected = {r.id for r in rows if can(principal, permission, r)}
            filtered = set(s.scalars(select(model.id).where(scope_filter(principal, permission, model))))
            assert filtered == expected, (permission, model.__name__)
            if role != "System Administrator":
                # organization B is invisible to anyone in organization A
                assert not any(getattr(r, "organization_id", r.id if model is Organization else None) == org_b
                               for r in rows if r.id in filtered), (permission, model.__name__)
        # rows keyed by brand follow the brand; DC scores follow the project or a direct brand grant
        for permission in Permission:
            brands = {b.id for b in s.scalars(select(Brand)) if can(principal, permission, b)}
            values = set(s.scalars(select(MetricValue.brand_id)
                                   .where(scope_filter(principal, permission, MetricValue))))
            assert values == brands
            projects = {p.id for p in s.scalars(select(Project)) if can(principal, permission, p)}
            direct = principal.scopes(permission).direct_brands
            scores = {tuple(r) for r in s.execute(select(DCScore.project_id, DCScore.brand_id)
                                                  .where(scope_filter(principal, permission, DCScore)))}
            all_scores = {tuple(r) for r in s.execute(select(DCScore.project_id, DCScore.brand_id))}
            assert all_scores
            assert scores == {(p, b) for p, b in all_scores if p in projects or b in direct or
                              principal.scopes(permission).everywhere}


def test_expected_coverage_of_a_project_grant(db, world):
    """Spot-check the grid's meaning: a project grant covers its brands, not its siblings or the org."""
    principal = load_principal(db, add_user(db, world, "an@a.example", "A", [("Analyst", "project", "Ap1")]))
    with db.session() as s:
        brands = set(s.scalars(select(Brand.name).where(scope_filter(principal, "brand:read", Brand))))
        projects = set(s.scalars(select(Project.name).where(scope_filter(principal, "brand:read", Project))))
        orgs = set(s.scalars(select(Organization.id).where(scope_filter(principal, "brand:read", Organization))))
    assert brands == {"Ab1", "Ab2"}
    assert projects == {"Ap1"}
    assert orgs == set()


def test_out_of_scope_queries_return_nothing(db, world):
    principal = load_principal(db, add_user(db, world, "v@a.example", "A", [("Viewer", "brand", "Ab1")]))
    with db.session() as s:
        for model in MODELS:
            query = select(model).where(scope_filter(principal, "brand:write", model))
            assert s.scalars(query).all() == []


def test_grants_pointing_into_another_organization_are_ignored(db, world):
    """A bad row granting a user of A a scope in B gives nothing (organizations are isolated)."""
    user_id = add_user(db, world, "x@a.example", "A", [("Organization Administrator", "organization", "B"),
                                                       ("Viewer", "project", "Bp1"), ("Viewer", "brand", "Bb1")])
    principal = load_principal(db, user_id)
    assert principal.all_permissions == frozenset()
    with db.session() as s:
        assert s.scalars(select(Brand).where(scope_filter(principal, "brand:read", Brand))).all() == []


def test_disabled_user_has_no_permissions(db, world):
    user_id = add_user(db, world, "d@a.example", "A", [("Organization Administrator", "organization", "A")])
    with db.session() as s:
        s.get(User, user_id).is_active = False
    principal = load_principal(db, user_id)
    assert principal.all_permissions == frozenset()
    assert not can(principal, "brand:read", ("organization", world.orgs["A"]))
