"""Organizations as System Administrators set them up: the service, the command line, the REST API
and the admin page, on SQLite and PostgreSQL. Every lesser role is refused (and the refusal
audited); archived organizations leave the lists and close to their members, data kept."""

from __future__ import annotations

import inspect
import json

import pytest
from cryptography.fernet import Fernet
from dash._utils import split_callback_id
from sqlalchemy import func, select

from core import admin as admin_reads
from core import records
from core.models import AuditEvent, Organization, Project, Role, RoleGrant, User
from core.models.security import OrganizationSecurity
from core.portfolio import list_projects
from core.security import Accounts, Action, Forbidden, SecretBox, load_principal, verify_chain
from core.setup import organizations as service
from core.setup.__main__ import main
from tests.integration.api.conftest import bearer, token_for
from tests.integration.security.conftest import FAST, add_user, build_world
from tests.support import csrf_headers, demo_people, make_app, sign_in

LESSER = ["Organization Administrator", "Portfolio Manager", "Brand Manager", "Analyst", "Viewer"]


@pytest.fixture
def world(db):
    return build_world(db)


@pytest.fixture
def root(db, world):
    return load_principal(db, add_user(db, world, "root@ops.example", None, [("System Administrator", "system", None)]))


def _events(db, action: str) -> list[AuditEvent]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _names(db) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(Organization.name)))


def test_create_rename_archive_and_unarchive(db, root):
    row = service.create_organization(db, root, "  Acme   Beverages ")
    assert (row["name"], row["slug"], row["status"], row["members"]) == ("Acme Beverages", "acme-beverages", "live", 0)
    with db.session() as s:
        assert s.get(OrganizationSecurity, row["id"]).mfa_policy == "administrators"  # the default settings
    created = _events(db, Action.ORGANIZATION_CREATED)
    assert [(e.actor_id, e.target_id, e.data["slug"]) for e in created] == [(root.user_id, str(row["id"]),
                                                                            "acme-beverages")]

    before = _names(db)
    with pytest.raises(service.OrganizationExists, match="An organization called “Acme Beverages” already exists"):
        service.create_organization(db, root, "ACME beverages")
    for bad, reason in (("", "Enter the organization's name"), ("   ", "Enter"), ("Acme\u200bCo", "invisible"),
                        ("x" * 201, "long"), (None, "Enter")):
        with pytest.raises(service.OrganizationInvalid, match=reason):
            service.create_organization(db, root, bad)
    assert _names(db) == before
    assert service.create_organization(db, root, "Acme-Beverages!")["slug"] == "acme-beverages-2"
    assert service.create_organization(db, root, "Café Zürich")["slug"] == "cafe-zurich"
    assert service.create_organization(db, root, "=HYPERLINK(1)")["slug"] == "hyperlink-1"

    renamed = service.rename_organization(db, root, row["id"], "Acme Drinks")
    assert (renamed["name"], renamed["slug"]) == ("Acme Drinks", "acme-beverages")
    assert [e.data for e in _events(db, Action.ORGANIZATION_RENAMED)] == [{"from": "Acme Beverages",
                                                                           "to": "Acme Drinks"}]
    with pytest.raises(service.OrganizationExists, match="Org A"):
        service.rename_organization(db, root, row["id"], "org a")
    # Its own name in another case is allowed.
    assert service.rename_organization(db, root, row["id"], "ACME Drinks")["name"] == "ACME Drinks"
    with pytest.raises(service.OrganizationNotFound):
        service.rename_organization(db, root, 999_999, "Nobody")

    archived = service.archive_organization(db, root, row["id"])
    assert archived["status"] == "archived" and archived["archived_at"]
    with pytest.raises(service.OrganizationInvalid, match="already archived"):
        service.archive_organization(db, root, row["id"])
    with pytest.raises(service.OrganizationExists, match="archived: unarchive it instead"):
        service.create_organization(db, root, "Acme drinks")
    live = [r["name"] for r in service.list_organizations(db, root, include_archived=False)]
    assert "ACME Drinks" not in live and "Org A" in live
    assert service.list_organizations(db, root)[-1]["name"] == "ACME Drinks"  # archived ones last
    assert service.unarchive_organization(db, root, row["id"])["status"] == "live"
    with pytest.raises(service.OrganizationInvalid, match="not archived"):
        service.unarchive_organization(db, root, row["id"])
    assert len(_events(db, Action.ORGANIZATION_ARCHIVED)) == 1 == len(_events(db, Action.ORGANIZATION_UNARCHIVED))
    assert verify_chain(db).ok


@pytest.mark.parametrize("role", LESSER)
def test_every_lesser_role_is_refused_and_audited(db, world, role):
    scope = ("organization", "A") if role in ("Organization Administrator", "Portfolio Manager") else \
        ("project", "Ap1") if role == "Analyst" else ("brand", "Ab1")
    actor = load_principal(db, add_user(db, world, "someone@a.example", "A", [(role, *scope)]))
    accounts = Accounts(db, FAST, SecretBox([Fernet.generate_key()]))
    own, other = world.orgs["A"], world.orgs["B"]
    attempts = [
        lambda: service.list_organizations(db, actor),
        lambda: service.create_organization(db, actor, "Mine"),
        lambda: service.rename_organization(db, actor, own, "Renamed"),
        lambda: service.rename_organization(db, actor, other, "Renamed"),
        lambda: service.archive_organization(db, actor, own),
        lambda: service.archive_organization(db, actor, other),
        lambda: service.unarchive_organization(db, actor, own),
        lambda: service.invite_administrator(db, accounts, actor, own, email="new@a.example"),
    ]
    before = _names(db)
    for attempt in attempts:
        with pytest.raises(Forbidden):
            attempt()
    assert _names(db) == before
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.email == "new@a.example")) == 0
        assert s.scalars(select(Organization.archived_at)).all() == [None, None]
    denied = _events(db, Action.ACCESS_DENIED)
    assert len(denied) == len(attempts) and {e.data["permission"] for e in denied} == {"system:manage"}
    assert {e.actor_id for e in denied} == {actor.user_id}


def test_invite_the_first_organization_administrator(db, world, root):
    accounts = Accounts(db, FAST, SecretBox([Fernet.generate_key()]))
    org = service.create_organization(db, root, "Acme")
    new = service.invite_administrator(db, accounts, root, org["id"], email="Olga@Acme.example", name="Olga Berg")
    assert new.invite_token and new.temporary_password is None
    with db.session() as s:
        user = s.get(User, new.user_id)
        grants = s.execute(select(Role.name, RoleGrant.scope_type, RoleGrant.scope_id).join(Role)
                           .where(RoleGrant.user_id == user.id)).all()
    assert (user.email, user.organization_id) == ("olga@acme.example", org["id"])
    assert grants == [("Organization Administrator", "organization", org["id"])]
    accounts.accept_invite(new.invite_token, "sunlit-meadow-copper-81")
    result = accounts.authenticate("olga@acme.example", "sunlit-meadow-copper-81")
    assert result.ok and result.mfa_enrolment_required  # administrators enrol a second factor first
    assert {e.action for e in _events(db, Action.USER_CREATED) + _events(db, Action.GRANT_CREATED)
            if e.target_id == str(user.id)} == {Action.USER_CREATED, Action.GRANT_CREATED}

    temporary = service.invite_administrator(db, accounts, root, org["id"], email="piet@acme.example", invite=False)
    assert temporary.temporary_password
    with pytest.raises(ValueError, match="already exists"):
        service.invite_administrator(db, accounts, root, org["id"], email="OLGA@acme.example")
    service.archive_organization(db, root, org["id"])
    with pytest.raises(service.OrganizationInvalid, match="archived"):
        service.invite_administrator(db, accounts, root, org["id"], email="late@acme.example")


def test_an_archived_organization_leaves_the_lists_and_closes_to_its_members(db, world, root):
    member = add_user(db, world, "vera@a.example", "A", [("Viewer", "organization", "A")])
    assert "portfolio:read" in load_principal(db, member).all_permissions
    service.archive_organization(db, root, world.orgs["A"])
    assert load_principal(db, member).all_permissions == frozenset()
    with db.engine.connect() as conn:
        assert {p["organization_id"] for p in list_projects(conn, root)} == {world.orgs["B"]}
    with db.session() as s:
        assert [o.name for o in records.organizations(s, root)] == ["Org B"]
        assert [o.name for o in records.organizations(s, root, include_archived=True)] == ["Org A", "Org B"]
        assert s.scalar(select(func.count()).select_from(Project)
                        .where(Project.organization_id == world.orgs["A"])) == 2  # data kept
    assert [o["name"] for o in admin_reads.organizations_in_scope(db, root, "user:manage")] == ["Org B"]
    service.unarchive_organization(db, root, world.orgs["A"])
    assert "portfolio:read" in load_principal(db, member).all_permissions


def test_command_line(db, world, root, capsys):
    def run(*args: str) -> int:
        return main([*args, "--as", "root@ops.example", "--database-url", db.url])

    assert run("org-create", "--name", "Globex", "--admin-email", "hank@globex.example", "--admin-name", "Hank",
               "--base-url", "https://dc.example") == 0
    out = capsys.readouterr().out
    assert "Created #" in out and "slug globex" in out and "https://dc.example/login/invite/" in out
    assert run("org-create", "--name", "GLOBEX") == 1
    assert "An organization called “Globex” already exists" in capsys.readouterr().err
    assert run("org-rename", "--org", "globex", "--name", "Globex Corp") == 0
    assert run("org-archive", "--org", "globex") == 0
    assert "Archived (data kept)" in capsys.readouterr().out
    assert run("org-archive", "--org", "globex") == 1
    assert run("org-unarchive", "--org", "globex") == 0
    assert run("org-invite-admin", "--org", "globex", "--admin-email", "ivy@globex.example",
               "--temporary-password") == 0
    assert "Temporary password" in capsys.readouterr().out
    assert run("org-rename", "--org", "no-such-org", "--name", "X") == 2
    assert run("org-list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["name"]: r["members"] for r in listed}["Globex Corp"] == 2
    assert [e.actor_id for e in _events(db, Action.ORGANIZATION_CREATED)] == [root.user_id]

    add_user(db, world, "olga@a.example", "A", [("Organization Administrator", "organization", "A")])
    capsys.readouterr()
    assert main(["org-create", "--name", "Sneaky", "--as", "olga@a.example", "--database-url", db.url]) == 1
    assert "may not manage organizations" in capsys.readouterr().err
    assert main(["org-list", "--as", "nobody@x.example", "--database-url", db.url]) == 2
    assert "Sneaky" not in _names(db)


# ---- the REST API and the page, through the real app ----------------------------------------


@pytest.fixture
def web(db, world, tmp_path):
    """The two-organization world with the six demo users in organization A, behind a real app."""
    people = demo_people(db, tmp_path)
    app = make_app(db, tmp_path, api_rate="10000 per minute")
    return {"db": db, "app": app, "people": people, "world": world}


def test_api_operations(web):
    client, people = web["app"].server.test_client(), web["people"]
    root = bearer(token_for(client, people["System Administrator"])["access_token"])
    created = client.post("/api/v1/organizations", json={"name": "Initech"}, headers=root)
    assert created.status_code == 201, created.data
    org = created.get_json()
    assert created.headers["Location"] == f"/api/v1/organizations/{org['id']}" and org["slug"] == "initech"
    duplicate = client.post("/api/v1/organizations", json={"name": "INITECH"}, headers=root)
    assert duplicate.status_code == 409 and "already exists" in duplicate.get_json()["detail"]
    assert duplicate.mimetype == "application/problem+json"
    empty = client.post("/api/v1/organizations", json={"name": "   "}, headers=root)
    assert empty.status_code == 422 and "Enter the organization's name" in empty.get_json()["detail"]
    path = f"/api/v1/organizations/{org['id']}"
    renamed = client.patch(path, json={"name": "Initech Labs"}, headers=root)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Initech Labs"
    assert client.patch("/api/v1/organizations/999999", json={"name": "X"}, headers=root).status_code == 404
    assert client.post(path + "/archive", headers=root).get_json()["status"] == "archived"
    assert client.post(path + "/archive", headers=root).status_code == 422
    listed = client.get("/api/v1/organizations", headers=root).get_json()["items"]
    assert org["id"] not in [o["id"] for o in listed]
    every = client.get("/api/v1/organizations?include_archived=true", headers=root).get_json()["items"]
    assert next(o for o in every if o["id"] == org["id"])["archived_at"]
    assert client.get(path, headers=root).get_json()["archived_at"]
    assert client.post(path + "/unarchive", headers=root).get_json()["status"] == "live"
    invited = client.post(path + "/administrators", json={"email": "bill@initech.example", "name": "Bill"},
                          headers=root)
    assert invited.status_code == 201 and invited.get_json()["invite_path"].startswith("/login/invite/")
    bad = client.post(path + "/administrators", json={"email": "bill@initech.example"}, headers=root)
    assert bad.status_code == 422 and "already exists" in bad.get_json()["detail"]

    home = web["world"].orgs["A"]
    for role in LESSER:
        headers = bearer(token_for(client, people[role])["access_token"])
        for method, url, body in (("post", "/api/v1/organizations", {"name": "Mine"}),
                                  ("patch", f"/api/v1/organizations/{home}", {"name": "Mine"}),
                                  ("patch", path, {"name": "Mine"}),
                                  ("post", f"/api/v1/organizations/{home}/archive", None),
                                  ("post", path + "/unarchive", None),
                                  ("post", f"/api/v1/organizations/{home}/administrators", {"email": "x@a.example"})):
            response = getattr(client, method)(url, json=body, headers=headers)
            assert response.status_code == 403, (role, method, url, response.data)
            assert response.get_json()["detail"] == "Only System Administrators manage organizations."
    assert "Mine" not in _names(web["db"])
    assert "/api/v1/organizations/{organization_id}" in web["app"].server.extensions["digicadence.openapi"]["paths"]


def _post(web, client, fragment: str, trigger: str | None = None, **values):
    key, entry = next((k, e) for k, e in web["app"].callback_map.items() if fragment in k)
    names = list(inspect.signature(entry["callback"]).parameters)
    deps = [*entry["inputs"], *entry.get("state", [])]
    filled = [{**dep, "value": values.get(names[i])} for i, dep in enumerate(deps)]
    first = entry["inputs"][0]
    body = {"output": key, "outputs": split_callback_id(key), "inputs": filled[:len(entry["inputs"])],
            "state": filled[len(entry["inputs"]):], "changedPropIds": [trigger or f"{first['id']}.{first['property']}"]}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=csrf_headers(client))


def _shown(response) -> str:
    assert response.status_code == 200, response.data[:500]
    return json.dumps(response.get_json()["response"], ensure_ascii=False)


def test_admin_page_as_system_administrator(web):
    client = web["app"].server.test_client()
    assert sign_in(client, web["people"]["System Administrator"].email).status_code == 302
    assert client.get("/admin/organizations").status_code == 200
    grid = _shown(_post(web, client, "orgs-grid.rowData"))
    assert "Org A" in grid and "Org B" in grid
    created = _shown(_post(web, client, "orgs-create-result.children", name="Umbrella",
                           admin_email="alice@umbrella.example", admin_name="Alice", method="invite"))
    assert "Umbrella" in created and "/login/invite/" in created
    assert "already exists" in _shown(_post(web, client, "orgs-create-result.children", name="umbrella"))
    with web["db"].session() as s:
        umbrella = s.scalar(select(Organization.id).where(Organization.name == "Umbrella"))

    def act(button: str, **values) -> str:
        return _shown(_post(web, client, "orgs-result.children", trigger=f"orgs-{button}.n_clicks",
                            rows=[{"id": umbrella, "name": "forged"}], **values))

    assert "Renamed to “Umbrella Corp”" in act("rename", new_name="Umbrella Corp")
    assert "already exists" in act("rename", new_name="Org A")
    assert "is archived" in act("archive")
    assert "already archived" in act("archive")
    assert "live again" in act("unarchive")
    assert "Temporary password" in act("invite", email="bob@umbrella.example", method="password")
    assert "Enter the administrator's e-mail" in act("invite", email="")
    selected = _shown(_post(web, client, "orgs-selected.children", rows=[{"id": umbrella}],
                            data=[{"id": umbrella, "name": "Umbrella Corp", "status": "live", "members": 2}]))
    assert "Umbrella Corp" in selected
    actions = {e.action for e in _events(web["db"], Action.ORGANIZATION_RENAMED) + _events(
        web["db"], Action.ORGANIZATION_ARCHIVED) + _events(web["db"], Action.ORGANIZATION_UNARCHIVED)}
    assert len(actions) == 3


def test_admin_page_refuses_an_organization_administrator(web):
    client = web["app"].server.test_client()
    assert sign_in(client, web["people"]["Organization Administrator"].email).status_code == 302
    assert client.get("/admin/organizations").status_code == 403
    home = web["world"].orgs["A"]
    for fragment, values in (("orgs-grid.rowData", {}),
                             ("orgs-create-result.children", {"name": "Mine"}),
                             ("orgs-result.children", {"rows": [{"id": home}], "new_name": "Mine"})):
        response = _post(web, client, fragment, **values)
        assert response.status_code == 403, fragment
    assert "Mine" not in _names(web["db"])
    assert "/admin/organizations" not in json.dumps(client.get("/_dash-layout").get_json())


def test_members_of_an_archived_organization_see_why(web):
    db, people = web["db"], web["people"]
    root = load_principal(db, _user_id(db, people["System Administrator"].email))
    service.archive_organization(db, root, web["world"].orgs["A"])
    client = web["app"].server.test_client()
    assert sign_in(client, people["Viewer"].email).status_code == 302
    page = client.get("/")
    assert page.status_code == 403 and "This organization is archived" in page.get_data(as_text=True)
    layout = client.get("/_dash-layout")
    assert layout.status_code == 403 and layout.get_json()["error"] == "organization_archived"
    token = token_for(client, people["Analyst"])["access_token"]
    assert client.get("/api/v1/organizations", headers=bearer(token)).get_json()["items"] == []
    service.unarchive_organization(db, root, web["world"].orgs["A"])
    assert client.get("/").status_code == 200


def _user_id(db, email: str) -> int:
    with db.session() as s:
        return s.scalar(select(User.id).where(User.email == email))
