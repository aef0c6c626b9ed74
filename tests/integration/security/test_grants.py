"""Granting: no escalation, only System Administrators grant System Administrator, denials audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models.security import AuditEvent, Role, RoleGrant
from core.security.audit import Action, verify_chain
from core.security.authorizer import Forbidden, authorize
from core.security.grants import create_custom_role, grant_role, revoke_grant
from core.security.principal import load_principal
from tests.integration.security.conftest import add_user


def _denials(db) -> list[AuditEvent]:
    with db.session() as s:
        return s.scalars(select(AuditEvent).where(AuditEvent.action == Action.ACCESS_DENIED)).all()


def test_org_admin_grants_inside_the_organization(db, world, org_admin):
    user = add_user(db, world, "pm@a.example", "A")
    grant_id = grant_role(db, org_admin, user, world.roles["Portfolio Manager"], "project", world.projects["Ap1"])
    assert grant_role(db, org_admin, user, world.roles["Portfolio Manager"], "project", world.projects["Ap1"]) \
        == grant_id  # idempotent
    principal = load_principal(db, user)
    assert principal.projects[world.projects["Ap1"]] >= {"scenario:approve"}
    revoke_grant(db, org_admin, grant_id)
    assert load_principal(db, user).all_permissions == frozenset()
    with db.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == [Action.GRANT_CREATED, Action.GRANT_REVOKED]
    assert verify_chain(db).ok


def test_grant_escalation_is_refused_and_audited(db, world):
    # A brand manager who may manage roles on one brand (custom role) cannot hand out more than they hold.
    with db.session() as s:
        from core.models.security import Role
        role = Role(organization_id=world.orgs["A"], name="Brand steward",
                    permissions=["brand:read", "brand:write", "role:manage"])
        s.add(role)
        s.flush()
        steward_role = role.id
    steward = add_user(db, world, "steward@a.example", "A")
    with db.session() as s:
        s.add(RoleGrant(user_id=steward, role_id=steward_role, scope_type="brand", scope_id=world.brands["Ab1"]))
    actor = load_principal(db, steward)
    target = add_user(db, world, "t@a.example", "A")
    with pytest.raises(Forbidden, match="more than held"):
        grant_role(db, actor, target, world.roles["Analyst"], "brand", world.brands["Ab1"])
    with pytest.raises(Forbidden):  # a scope the actor does not hold at all
        grant_role(db, actor, target, steward_role, "brand", world.brands["Ab2"])
    with pytest.raises(Forbidden):  # defining a broader role is refused too
        create_custom_role(db, actor, world.orgs["A"], "Wider", ["brand:read", "user:manage"])
    # within what they hold, it works
    grant_role(db, actor, target, steward_role, "brand", world.brands["Ab1"])
    denials = _denials(db)
    assert len(denials) == 3 and all(d.actor_id == steward for d in denials)
    assert denials[0].data["permission"] == "role:manage"


def test_only_system_administrators_grant_system_administrator(db, world, org_admin, sysadmin):
    target = add_user(db, world, "new-root@ops.example", None)
    with pytest.raises(Forbidden, match="only System Administrators"):
        grant_role(db, org_admin, target, world.roles["System Administrator"], "system", 0)
    grant_role(db, sysadmin, target, world.roles["System Administrator"], "system", 0)
    assert load_principal(db, target).is_system_admin
    with pytest.raises(ValueError):
        grant_role(db, sysadmin, target, world.roles["Viewer"], "system", 0)


def test_cross_organization_grants_are_refused(db, world, org_admin):
    b_user = add_user(db, world, "b@b.example", "B")
    a_user = add_user(db, world, "a@a.example", "A")
    with pytest.raises(Forbidden):
        grant_role(db, org_admin, b_user, world.roles["Viewer"], "brand", world.brands["Ab1"])
    with pytest.raises(Forbidden):
        grant_role(db, org_admin, a_user, world.roles["Viewer"], "brand", world.brands["Bb1"])


def test_custom_roles_per_organization(db, world, org_admin):
    role_id = create_custom_role(db, org_admin, world.orgs["A"], "Importer", ["metrics:import", "brand:read"])
    user = add_user(db, world, "imp@a.example", "A")
    grant_role(db, org_admin, user, role_id, "project", world.projects["Ap2"])
    principal = load_principal(db, user)
    assert principal.projects == {world.projects["Ap2"]: frozenset({"metrics:import", "brand:read"})}
    b_admin = load_principal(db, add_user(db, world, "bo@b.example", "B",
                                          [("Organization Administrator", "organization", "B")]))
    with pytest.raises(Forbidden):
        create_custom_role(db, b_admin, world.orgs["A"], "Spy", ["brand:read"])
    with pytest.raises(ValueError):
        create_custom_role(db, org_admin, world.orgs["A"], "Root", ["system:manage"])


def test_every_denial_is_audited_with_the_pair(db, world):
    viewer = load_principal(db, add_user(db, world, "v@a.example", "A", [("Viewer", "brand", "Ab1")]))
    authorize(viewer, "brand:read", ("brand", world.brands["Ab1"]))
    with pytest.raises(Forbidden):
        authorize(viewer, "brand:write", ("brand", world.brands["Ab1"]))
    with pytest.raises(Forbidden):
        authorize(viewer, "brand:read", ("brand", "not-a-number"))
    with pytest.raises(Forbidden):
        authorize(viewer, "brand:read", ("brand", 999_999))
    denials = _denials(db)
    assert [(d.target_type, d.data["permission"]) for d in denials] == [
        ("brand", "brand:write"), ("brand", "brand:read"), ("brand", "brand:read")]
    assert denials[0].target_id == str(world.brands["Ab1"])
    assert verify_chain(db).ok


BUILT_IN_LOOK_ALIKES = [
    "System Administrator", "system administrator", " System  Administrator ", "Ｓystem Administrator",
    "System Administrator\u200b", "System\u200b Administrator", "SYSTEM\u00a0ADMINISTRATOR", "Ѕystem Аdministrator",
    "Organization Administrator", "organization  administrator", "Ｏrganization Administrator\u200d",
    "Portfolio Manager", "brand manager", " ANALYST ", "Viewer\ufeff",
]


def test_built_in_role_names_are_reserved_on_create_and_rename(db, world, org_admin):
    """Issue 12 item 9: an Organization Administrator could create a custom role named "System
    Administrator"; its holders then showed under the operator's name. Every built-in name is reserved
    however it is written (case, spaces, full-width letters, zero-width characters, Cyrillic look-alikes),
    on create and on rename, for every code path that writes a Role row."""
    for name in BUILT_IN_LOOK_ALIKES:
        with pytest.raises(ValueError, match="built-in role"):
            create_custom_role(db, org_admin, world.orgs["A"], name, ["brand:read"])
    role_id = create_custom_role(db, org_admin, world.orgs["A"], "  Media   buyer ", ["brand:read"])
    for name in ("System Administrator", " Organization  Administrator", "Ｖiewer", "Analyst\u200b"):
        with pytest.raises(ValueError, match="built-in role"), db.session() as s:
            s.get(Role, role_id).name = name
    with db.session() as s:
        names = sorted(r.name for r in s.scalars(select(Role).where(Role.organization_id == world.orgs["A"])))
    assert names == ["Media buyer"]  # stored cleaned; nothing else was written


def test_two_roles_of_an_organization_cannot_look_alike(db, world, org_admin):
    create_custom_role(db, org_admin, world.orgs["A"], "Media buyer", ["brand:read"])
    other = create_custom_role(db, org_admin, world.orgs["A"], "Importer", ["brand:read"])
    for name in ("media BUYER", "Media\u3000buyer", "Mediabuyer", "Меdia buyer"):  # the last with a Cyrillic е
        with pytest.raises(ValueError, match="exists already"):
            create_custom_role(db, org_admin, world.orgs["A"], name, ["brand:read"])
    with pytest.raises(ValueError, match="exists already"), db.session() as s:
        s.get(Role, other).name = "MEDIA buyer"
    with pytest.raises(ValueError, match="invisible"):
        create_custom_role(db, org_admin, world.orgs["A"], "Media\u200bplanner", ["brand:read"])
    b_admin = load_principal(db, add_user(db, world, "bo@b.example", "B",
                                          [("Organization Administrator", "organization", "B")]))
    assert create_custom_role(db, b_admin, world.orgs["B"], "Media buyer", ["brand:read"])  # another organization
    with db.session() as s:
        s.get(Role, other).permissions = ["brand:read", "metrics:read"]  # a change that keeps the name is fine
