"""The authorization matrix, generated from the app's own registries.

Every page in Dash's page registry, every callback in the app's callback map and every Flask
route is crossed with the six built-in roles and with in-scope and out-of-scope objects. A page,
callback or route added later without a declared protection fails here, before it ships.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
from datetime import UTC, date, datetime, timedelta

import dash
import pytest
from dash._utils import split_callback_id, to_json
from sqlalchemy import func, select

from core.demo import seed_demo
from core.models import (
    Brand,
    Channel,
    ImportUpload,
    Job,
    LiftTest,
    Metric,
    Organization,
    Project,
    ProjectBrand,
    Role,
    Scenario,
    User,
)
from core.security import Forbidden, load_principal
from core.security.permissions import BUILTIN_ROLES
from tests.support import csrf_headers, demo_people, make_app, sign_in

ROLES = list(BUILTIN_ROLES)
# Dash's own routing callbacks: they run page layouts, which `register_page` (dashboard.access) guards.
DASH_INTERNAL = ("_pages_location", "_pages_content", "_pages_store", "_pages_dummy")
PUBLIC_ROUTES = {"static", "health.healthz", "health.readyz", "auth.login", "auth.mfa", "auth.enrol", "auth.invite",
                 # The one-time first-administrator page: a 404 once a System Administrator exists, else
                 # guarded by the token the app logged at start (tests/integration/setup/test_first_admin.py).
                 "setup.first_admin",
                 # Company sign-in (OpenID Connect): its start and the provider's callback come before a session;
                 # a callback without this browser's flow is refused (tests/integration/web/test_sso_sign_in.py).
                 "sso.start", "sso.callback",
                 # A report e-mail's one-click unsubscribe: the signed token is the proof, no sign-in
                 # (tests/integration/subscriptions/test_deliveries.py).
                 "unsubscribe.unsubscribe",
                 "observability.metrics_endpoint", "_dash_assets.static",
                 "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>", "/_favicon.ico",
                 # The REST API: signing in, its contract and docs, and its 404 for unknown paths; every
                 # other /api/v1 route answers 401 without a bearer token (checked below like any route).
                 "api_v1.auth_token", "api_v1.auth_refresh", "api_v1.auth_revoke", "api_v1.openapi_json",
                 "api_v1.docs", "api_v1.unknown_path"}


@pytest.fixture(scope="module")
def setting(tmp_path_factory, _sqlite_db):
    """One app on SQLite with the demo (two organizations) and the six demo users in the first."""
    from tests.conftest import _empty

    db = _sqlite_db
    _empty(db)
    tmp = tmp_path_factory.mktemp("matrix")
    seed_demo(db, seed=7, months=2)
    people = demo_people(db, tmp)
    with db.session() as s:
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        foreign_user = User(email="stranger@other.test", name="Stranger", organization_id=second)
        foreign_role = Role(name="Other org role", organization_id=second, permissions=["portfolio:read"])
        s.add_all([foreign_user, foreign_role])
        s.flush()
        foreign_project = s.scalars(select(Project.id).where(Project.organization_id == second)).first()
        foreign = {
            "organization": second,
            "project": foreign_project,
            "brand": s.scalars(select(Brand.id).where(Brand.organization_id == second)).first(),
            "user": foreign_user.id,
            "role": foreign_role.id,
        }
        scenario = Scenario(organization_id=second, project_id=foreign_project, name="Theirs", kind="budget")
        s.add(scenario)
        s.flush()
        foreign["scenario"] = scenario.id
        # A metric of the other organization's framework, as the framework page's item dropdown names it.
        their_metric = s.scalars(select(Metric.id).where(Metric.organization_id == second)).first()
        foreign["framework_item"] = f"metric:{their_metric}"
        # A running optimization of someone else: following or cancelling it from the page is refused.
        s.add(Job(id="their-running-job", organization_id=second, owner_id=foreign_user.id, kind="optimization",
                  status="running", progress=0.5, message="half way", payload={}, attempts=1))
        foreign["job"] = "their-running-job"
        # A file staged for import by someone of the other organization: its token must open nothing.
        token = "their-staged-upload-token-0123456789"
        s.add(ImportUpload(id=hashlib.sha256(token.encode()).hexdigest(), user_id=foreign_user.id, filename="x.csv",
                           sha256="0" * 64, size=1, data=b"x", expires_at=datetime.now(UTC) + timedelta(hours=1)))
        foreign["import_upload"] = token
        # A lift test of the other organization's brand: deleting it from the Lift tests page is refused.
        their_channel = s.scalars(select(Channel.id).where(Channel.organization_id == second)).first()
        their_test = LiftTest(brand_id=foreign["brand"], channel_id=their_channel, period_start=date(2025, 1, 6),
                              period_end=date(2025, 1, 12), incremental_outcome=1.0, standard_error=1.0)
        s.add(their_test)
        s.flush()
        foreign["lift_test"] = their_test.id
        home_project = s.scalars(select(Project.id).where(Project.organization_id == first)).first()
    app = make_app(db, tmp)
    warm = app.server.test_client()  # the first request registers Dash's page-routing callbacks
    sign_in(warm, people["Portfolio Manager"].email)
    warm.get("/_dash-layout")
    return {"app": app, "db": db, "people": people, "foreign": foreign, "home_project": home_project}


def _client(setting, role: str):
    """One signed-in client per role for the module (an administrator's TOTP code works once)."""
    clients = setting.setdefault("clients", {})
    if role not in clients:
        client = setting["app"].server.test_client()
        response = sign_in(client, setting["people"][role].email)
        assert response.status_code == 302, f"{role} could not sign in"
        clients[role] = client
    return clients[role]


def _protection(entry: dict):
    return getattr(entry.get("callback"), "dc_protection", None)


def _is_internal(key: str) -> bool:
    return any(marker in key for marker in DASH_INTERNAL)


def test_every_callback_declares_a_protection(setting):
    app = setting["app"]
    assert app.callback_map, "no callbacks registered"
    # Clientside callbacks (no server function) run in the browser and read nothing from the server.
    unprotected = [key for key, entry in app.callback_map.items()
                   if not _is_internal(key) and "callback" in entry and _protection(entry) is None]
    assert unprotected == [], f"callbacks without protected_callback: {unprotected}"


def _page_content(client, path: str) -> str:
    """What Dash's page router puts on screen for `path`, as the signed-in `client` (client-side navigation)."""
    router = next(key for key in dash.get_app().callback_map if "_pages_content.children" in key)
    body = {"output": router, "outputs": split_callback_id(router), "changedPropIds": ["_pages_location.pathname"],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                       {"id": "_pages_location", "property": "search", "value": ""}]}
    response = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert response.status_code == 200, f"{path}: router answered {response.status_code}"
    return json.dumps(response.get_json()["response"]["_pages_content"]["children"], ensure_ascii=False)


REFUSAL = "403 \u2014 you do not have access to this page."


def test_every_page_states_its_permission_once_and_refuses_without_it(setting, monkeypatch):
    """Every page went through dashboard.access.register_page, and its layout refuses whoever lacks the permission:
    a principal with no grant at all (every page), and each built-in role lacking it, navigating client-side."""
    # Imported here: dashboard.access and dashboard.auth import each other, so only the app may load them first.
    from dashboard.access import forbidden_view, registered_pages

    pages = list(dash.page_registry.values())
    via_wrapper = registered_pages()
    bypassed = [p["module"] for p in pages if not p.get("permission") or via_wrapper.get(p["module"]) != p["permission"]
                or getattr(p["layout"], "dc_permission", None) != p["permission"]]
    assert bypassed == [], f"pages not registered through dashboard.access.register_page: {bypassed}"

    nobody = load_principal(setting["db"], setting["foreign"]["user"])  # signed up elsewhere, granted nothing
    monkeypatch.setattr("dashboard.access.current_principal", lambda: nobody)
    with setting["app"].server.test_request_context("/"):
        for page in pages:
            shown = to_json(page["layout"]())
            assert shown == to_json(forbidden_view()), f"{page['path']} rendered without {page['permission']}"
    monkeypatch.undo()

    refused = 0
    for page in pages:
        for role in ROLES:
            content = _page_content(_client(setting, role), page["path"])
            lacks = page["permission"] not in BUILTIN_ROLES[role]
            assert (REFUSAL in content) == lacks, f"{role} → {page['path']}: refusal shown={not lacks}"
            refused += lacks
    assert refused, "no built-in role lacks any page's permission: the refusal went untested through the router"


def test_every_route_is_public_on_purpose_or_needs_sign_in(setting):
    client = setting["app"].server.test_client()
    for rule in setting["app"].server.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ROUTES or ("GET" not in rule.methods and "POST" not in rule.methods):
            continue
        path = rule.rule.replace("<path:path>", "some/page")
        method = "post" if "GET" not in rule.methods else "get"
        response = getattr(client, method)(path)
        assert response.status_code in (302, 400, 401), f"{rule.rule} answered {response.status_code} anonymously"
        if response.status_code == 302:
            assert "/login" in response.location


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(setting, role):
    client = _client(setting, role)
    held = BUILTIN_ROLES[role]
    for page in dash.page_registry.values():
        response = client.get(page["path"])
        expected = 200 if page["permission"] in held else 403
        assert response.status_code == expected, f"{role} → {page['path']}: {response.status_code}"
    layout = json.dumps(client.get("/_dash-layout").get_json())
    for page in dash.page_registry.values():
        if page.get("nav", True):
            shown = f'"href": "{page["relative_path"]}"' in layout
            assert shown == (page["permission"] in held), f"{role}: nav link for {page['path']} shown={shown}"


def _body(key: str, entry: dict, values: dict[str, object]) -> dict:
    names = list(inspect.signature(entry["callback"]).parameters)
    deps = [*entry["inputs"], *entry.get("state", [])]
    filled = [{**dep, "value": values.get(names[i]) if i < len(names) else None} for i, dep in enumerate(deps)]
    return {
        "output": key,
        "outputs": split_callback_id(key),
        "inputs": filled[: len(entry["inputs"])],
        "state": filled[len(entry["inputs"]):],
        "changedPropIds": [f"{d['id']}.{d['property']}" for d in entry["inputs"][:1]],
    }


def _protected(setting):
    return [(k, e, _protection(e)) for k, e in setting["app"].callback_map.items() if _protection(e) is not None]


@pytest.mark.parametrize("role", ROLES)
def test_callbacks_by_role_and_scope(setting, role):
    client = _client(setting, role)
    headers = csrf_headers(client)
    held = BUILTIN_ROLES[role]
    for key, entry, protection in _protected(setting):
        kinds = {name: check if isinstance(check, str) else check[0] for name, check in protection.objects.items()}
        foreign = {name: setting["foreign"][kind] for name, kind in kinds.items()}
        response = client.post("/_dash-update-component", json=_body(key, entry, foreign), headers=headers)
        if protection.permission not in held:
            assert response.status_code == 403, f"{role} ran {key} without {protection.permission}"
        elif kinds and role != "System Administrator":
            assert response.status_code == 403, f"{role} got {key} for another organization's {kinds}"
            assert b"rowData" not in response.data and b"figure" not in response.data


def test_crafted_post_for_another_organization_returns_no_data(setting):
    """The portfolio callback, by hand: the other organization's project id from a browser."""
    client = _client(setting, "Portfolio Manager")
    headers = csrf_headers(client)
    key, entry, _ = next(item for item in _protected(setting) if "portfolio-ranking" in item[0])
    mine = client.post("/_dash-update-component", json=_body(key, entry, {"project_id": setting["home_project"]}),
                       headers=headers)
    assert mine.status_code == 200 and mine.get_json()["response"]["portfolio-ranking"]["rowData"]
    theirs = client.post("/_dash-update-component",
                         json=_body(key, entry, {"project_id": setting["foreign"]["project"]}), headers=headers)
    assert theirs.status_code == 403 and theirs.get_json() == {"error": "forbidden", "reason": "not permitted"}


def test_brand_scoped_roles_see_their_brands_and_their_projects_competitors_only(setting):
    """A brand grant shows the brand and, as market data, its project's competitors: never the
    project's other own brands (docs/SECURITY.md, "Competitors are market data")."""
    client = _client(setting, "Viewer")
    headers = csrf_headers(client)
    key, entry, _ = next(item for item in _protected(setting) if "portfolio-ranking" in item[0])
    viewer = setting["people"]["Viewer"]
    db = setting["db"]
    with db.session() as s:
        project = s.scalars(select(Project.id).join(Project.members).where(
            Project.members.any(brand_id=viewer.scope_id))).first()
    response = client.post("/_dash-update-component", json=_body(key, entry, {"project_id": project}),
                           headers=headers)
    assert response.status_code == 200
    rows = response.get_json()["response"]["portfolio-ranking"]["rowData"]
    with db.session() as s:
        roles = dict(s.execute(select(ProjectBrand.brand_id, ProjectBrand.role)
                               .where(ProjectBrand.project_id == project)).all())
    assert {r["brand_id"] for r in rows} == {viewer.scope_id} | {b for b, r in roles.items() if r == "competitor"}
    assert all(roles[r["brand_id"]] == "competitor" for r in rows if r["brand_id"] != viewer.scope_id)


@pytest.mark.parametrize("role", ROLES)
def test_portfolio_setup_by_role_and_organization(setting, role):
    """Projects and brands are set up with portfolio:manage on the whole organization: each built-in role
    in the first organization may (or may not) rename its own project as the matrix says, never one of
    the other organization's (System Administrator aside), and a refusal changes nothing."""
    from core.setup import brands, projects
    from core.setup.portfolio_common import MANAGE

    db = setting["db"]
    with db.session() as s:
        me = load_principal(db, s.scalar(select(User.id).where(User.email == setting["people"][role].email)))
        home = s.get(Project, setting["home_project"])
        home_name, foreign_name = home.name, s.get(Project, setting["foreign"]["project"]).name
    allowed = MANAGE in BUILTIN_ROLES[role]
    for project_id, name, may in ((setting["home_project"], home_name, allowed),
                                  (setting["foreign"]["project"], foreign_name, role == "System Administrator")):
        try:
            projects.rename_project(db, me, project_id, name + " (renamed)")
            done = True
        except Forbidden:
            done = False
        assert done == may, f"{role} renamed project {project_id}: {done}"
        if done:
            projects.rename_project(db, me, project_id, name)
        try:
            brands.list_brands(db, me, home.organization_id if project_id == setting["home_project"]
                               else setting["foreign"]["organization"])
            listed = True
        except Forbidden:
            listed = False
        assert listed == may
    with db.session() as s:
        assert s.get(Project, setting["home_project"]).name == home_name


# ---- data classification (issue 17): role × level × read path ------------------------------------------------

LEVELS = ["internal", "confidential", "restricted"]
CLEARED = {"System Administrator": "restricted", "Organization Administrator": "restricted",
           "Portfolio Manager": "confidential", "Brand Manager": "confidential", "Analyst": "confidential",
           "Viewer": "internal"}


@pytest.fixture
def classified(setting):
    """The first organization's most-valued metric and a scenario of its home project, both classified at
    the level the test asks for (`classify(level)`), put back to internal afterwards."""
    from core.models import MetricValue

    db = setting["db"]
    with db.session() as s:
        org = s.get(Project, setting["home_project"]).organization_id
        metric = s.scalars(select(MetricValue.metric_id).join(Metric, Metric.id == MetricValue.metric_id)
                           .where(Metric.organization_id == org).group_by(MetricValue.metric_id)
                           .order_by(func.count().desc(), MetricValue.metric_id)).first()
        name = s.get(Metric, metric).name
        platform = s.get(Metric, metric).platform.name
        label = f"{name} ({platform})"  # as the Brand explorer offers it (names repeat across platforms)
        scenario = Scenario(organization_id=org, project_id=setting["home_project"], name="Classified matrix plan",
                            kind="budget", inputs={}, constraints={}, result={}, status="saved")
        s.add(scenario)
        s.flush()
        ident = scenario.id

    def classify(level: str) -> dict:
        with db.session() as s:
            s.get(Metric, metric).classification = level
            s.get(Scenario, ident).classification = level
        return {"metric": metric, "name": name, "platform": platform, "label": label, "scenario": ident}

    yield classify
    with db.session() as s:
        s.get(Metric, metric).classification = "internal"
        s.delete(s.get(Scenario, ident))


def _me(setting, role):
    with setting["db"].session() as s:
        user_id = s.scalar(select(User.id).where(User.email == setting["people"][role].email))
    return load_principal(setting["db"], user_id)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("role", ROLES)
def test_classified_values_by_role_level_and_read_path(setting, classified, role, level):
    """Each role reads a metric's values and a scenario classified at `level` through the data layer, the REST
    API (values and the levels themselves), the Brand explorer page and a report export exactly when its
    clearance reaches the level; only framework managers set a metric's level."""
    from core import records
    from core.classification import Classification
    from core.reports import render
    from core.scenarios import get_scenario, list_scenarios

    items = classified(level)
    me = _me(setting, role)
    sees = Classification(CLEARED[role]).rank >= Classification(level).rank
    assert me.clearance.value == CLEARED[role]
    db = setting["db"]
    # 1. The data layer: metric values and scenarios.
    with db.session() as s:
        rows, _ = records.metric_values(s, me, metric_id=items["metric"], limit=1000)
    assert bool(rows) == sees, f"{role} read {level} values: {bool(rows)}"
    listed = any(x["id"] == items["scenario"] for x in list_scenarios(db, me))
    try:
        get_scenario(db, me, items["scenario"])
        opened = True
    except Forbidden:
        opened = False
    in_scope = role not in ("Brand Manager", "Viewer")  # brand grants never reach a project's scenarios
    assert listed == opened == (sees and in_scope), f"{role} listed/opened a {level} scenario: {listed}/{opened}"
    # 2. The REST API: the same values, and the scenario's 404 like an out-of-scope id.
    api = setting["app"].server.test_client()
    token = setting["app"].server.extensions["digicadence.api_credentials"].issue(me.user_id).access_token
    headers = {"Authorization": f"Bearer {token}"}
    answer = api.get(f"/api/v1/metric-values?metric_id={items['metric']}&limit=5", headers=headers)
    assert answer.status_code == 200 and bool(answer.get_json()["items"]) == sees
    status = api.get(f"/api/v1/scenarios/{items['scenario']}", headers=headers).status_code
    assert status == (200 if sees and in_scope else 404), f"{role} GET a {level} scenario: {status}"
    # 2b. The levels themselves through the API: read as the item is seen, set only with framework:manage.
    level_url = f"/api/v1/metrics/{items['metric']}/classification"
    status = api.get(level_url, headers=headers).status_code
    assert status == (200 if sees else 404), f"{role} GET a {level} metric's level: {status}"
    status = api.patch(level_url, json={"classification": level}, headers=headers).status_code
    manages = "framework:manage" in BUILTIN_ROLES[role]
    assert status == (404 if not sees else 200 if manages else 403), f"{role} PATCH a {level} metric's level: {status}"
    status = api.get(f"/api/v1/scenarios/{items['scenario']}/classification", headers=headers).status_code
    assert status == (200 if sees and in_scope else 404), f"{role} GET a {level} scenario's level: {status}"
    # 3. The Brand explorer page: the metric is offered only to those who may read it.
    content = _page_content(_client(setting, role), "/brand")
    assert (f'"label": "{items["label"]}"' in content) == sees or REFUSAL in content
    # 4. A workbook export (roles holding report:export) of the role's own brand.
    if "report:export" in BUILTIN_ROLES[role]:
        pair = _explorable_pair(setting, me)
        report = render(db, me, "brand", {"brand_id": pair[0], "project_id": pair[1]}, "xlsx")
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(report.content))
        named = any(items["name"] in row and items["platform"] in row for ws in book.worksheets
                    if ws.title != "Summary" for row in ws.iter_rows(values_only=True))
        assert named == sees, f"{role}'s export named a {level} metric: {named}"
        assert dict(r[:2] for r in book["Summary"].iter_rows(values_only=True) if r[0])["Classification"] == (
            level.capitalize() if sees else "Internal")


def _explorable_pair(setting, principal) -> tuple[int, int]:
    """A (brand, project) the principal may explore in the first organization (where the metric was classified)."""
    from core import brand_explorer as bx

    with setting["db"].session() as s:
        org = s.get(Project, setting["home_project"]).organization_id
        projects = set(s.scalars(select(Project.id).where(Project.organization_id == org)))
    with setting["db"].engine.connect() as conn:
        pairs = bx.explorable(conn, principal)
    row = pairs[pairs["project_id"].isin(projects)].iloc[0]
    return int(row["brand_id"]), int(row["project_id"])
