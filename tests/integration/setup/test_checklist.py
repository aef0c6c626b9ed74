"""The getting-started checklist (issue 14, item 8): each step ticks itself off from the organization's
own rows, nothing of another organization ticks it, and people are offered only what they may do.

The read model runs on SQLite and PostgreSQL; the page checks run the real app on SQLite and read
what Dash's page router puts on screen for `/`.
"""

from __future__ import annotations

import json
from datetime import datetime

import dash
import pytest
from dash._utils import split_callback_id

from core.models import Metric, Organization
from core.models.security import RoleGrant, User
from core.security import Forbidden, load_principal
from core.security.crypto import SecretBox, load_keys
from core.security.grants import ensure_builtin_roles
from core.setup.checklist import getting_started, setup_complete
from dashboard.getting_started import ADMINISTRATOR_IS_SETTING_UP, portfolio_organization
from tests.integration.setup.checklist_world import Builder, add_user, organization
from tests.support import csrf_headers, make_app, sign_in

STEPS = ["project", "brands", "framework", "metrics", "marketing", "curves", "plan"]
# Today the metric framework is one catalogue shared by every tenant (issue 14, item 5 makes it
# per organization); until its tables carry an organization, another tenant's metrics tick it too.
FRAMEWORK_IS_SHARED = not hasattr(Metric, "organization_id")


def _done(db, user_id: int, organization_id: int | None = None) -> list[str]:
    return [s.key for s in getting_started(db, load_principal(db, user_id), organization_id) if s.done]


def test_an_empty_organization_shows_every_step_open_with_its_page(db):
    org = organization(db, "Newco")
    admin = add_user(db, org, "Organization Administrator", "olga@newco.test")
    steps = getting_started(db, load_principal(db, admin))
    assert [s.key for s in steps] == STEPS
    assert [s.done for s in steps] == [False] * len(STEPS)
    assert all(s.can_act for s in steps), "an Organization Administrator may act on every step"
    assert {s.key: s.href for s in steps} == {
        "project": "/admin/portfolio", "brands": "/admin/portfolio", "framework": "/admin/framework",
        "metrics": "/admin/import?kind=metrics", "marketing": "/admin/import?kind=marketing",
        "curves": "/optimizer", "plan": "/optimizer"}
    assert [s.detail for s in steps] == [None] * len(STEPS), "nothing to count yet"
    assert "python -m core.response_curves fit --org newco --brand NAME" in steps[5].hint
    assert not setup_complete(steps)


def test_each_step_ticks_when_its_rows_arrive(db):
    org = organization(db, "Newco")
    admin = add_user(db, org, "Organization Administrator", "olga@newco.test")
    build = Builder(db, org)

    build.project("Old range", archived=True)
    assert _done(db, admin) == [], "an archived project is not a project to set up"
    build.project()
    assert _done(db, admin) == ["project"]
    project = next(s for s in getting_started(db, load_principal(db, admin)) if s.key == "project")
    assert project.detail == "1 project", "the archived one is not counted"
    build.brands()
    assert _done(db, admin) == STEPS[:2]
    brands = next(s for s in getting_started(db, load_principal(db, admin)) if s.key == "brands")
    assert brands.detail == "3 own and 2 competitor brands"
    build.framework()
    assert _done(db, admin) == STEPS[:3]
    build.metric_values()
    metrics = next(s for s in getting_started(db, load_principal(db, admin)) if s.key == "metrics")
    assert metrics.done and metrics.detail == "2 values for 2 brands, latest September 2026"
    build.spend()
    assert _done(db, admin) == STEPS[:4], "spend without revenue leaves the marketing import open"
    marketing = next(s for s in getting_started(db, load_principal(db, admin)) if s.key == "marketing")
    assert marketing.detail == "1 spend row, 0 revenue rows"
    build.outcomes()
    assert _done(db, admin) == STEPS[:5]
    build.curve(kind="truth")
    assert _done(db, admin) == STEPS[:5], "the demo's generating curves are not a fit"
    build.curve()
    assert _done(db, admin) == STEPS[:6]
    build.optimizer_run(status="failed")
    assert _done(db, admin) == STEPS[:6], "a failed run is no plan"
    build.scenario()
    steps = getting_started(db, load_principal(db, admin))
    assert [s.key for s in steps if s.done] == STEPS
    assert setup_complete(steps)


def test_a_successful_optimizer_run_is_a_first_plan_too(db):
    org = organization(db, "Newco")
    admin = add_user(db, org, "Organization Administrator", "olga@newco.test")
    Builder(db, org).optimizer_run()
    assert _done(db, admin) == ["plan"]


def test_another_organizations_data_never_ticks_yours(db):
    mine = organization(db, "Newco")
    theirs = organization(db, "Oldco")
    admin = add_user(db, mine, "Organization Administrator", "olga@newco.test")
    other_admin = add_user(db, theirs, "Organization Administrator", "otto@oldco.test")
    other = Builder(db, theirs)
    other.everything()
    other.optimizer_run()
    assert _done(db, other_admin) == STEPS
    assert _done(db, admin) == (["framework"] if FRAMEWORK_IS_SHARED else [])
    with pytest.raises(Forbidden):
        getting_started(db, load_principal(db, admin), theirs)


def test_a_system_administrator_opens_any_organizations_checklist_but_not_an_archived_one(db):
    org = organization(db, "Newco")
    Builder(db, org).project()
    with db.session() as s:
        root = User(email="root@ops.test", organization_id=None)
        s.add(root)
        s.flush()
        s.add(RoleGrant(user_id=root.id, role_id=ensure_builtin_roles(s)["System Administrator"].id,
                        scope_type="system", scope_id=0))
        root_id = root.id
    principal = load_principal(db, root_id)
    assert getting_started(db, principal) == [], "no organization of their own, none named"
    assert portfolio_organization(principal, None, str(org)) == org
    for garbage in ("x", "-1", "0", str(2 ** 70), None):
        assert portfolio_organization(principal, None, garbage) is None
    assert portfolio_organization(load_principal(db, add_user(db, org, "Viewer", "v@newco.test")), None,
                                  "12345") is None, "only a System Administrator picks the organization in the URL"
    steps = getting_started(db, principal, org)
    assert [s.key for s in steps if s.done] == ["project"] and all(s.can_act for s in steps)
    assert getting_started(db, principal, 987654) == []
    with db.session() as s:
        s.get(Organization, org).archived_at = datetime(2026, 1, 1)
    assert getting_started(db, principal, org) == []


def test_people_are_offered_only_the_steps_they_may_act_on(db):
    org = organization(db, "Newco")
    viewer = getting_started(db, load_principal(db, add_user(db, org, "Viewer", "vera@newco.test")))
    analyst = getting_started(db, load_principal(db, add_user(db, org, "Analyst", "ann@newco.test")))
    assert not any(s.can_act for s in viewer)
    assert [s.key for s in analyst if s.can_act] == ["curves", "plan"]


# ------------------------------------------------------------------------------------------- the page

def _portfolio(client, path: str = "/") -> str:
    """What Dash's page router shows for `path` (the portfolio) to the signed-in client."""
    router = next(key for key in dash.get_app().callback_map if "_pages_content.children" in key)
    body = {"output": router, "outputs": split_callback_id(router), "changedPropIds": ["_pages_location.pathname"],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                       {"id": "_pages_location", "property": "search", "value": ""}]}
    response = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert response.status_code == 200
    return json.dumps(response.get_json()["response"]["_pages_content"]["children"], ensure_ascii=False)


def _links(content: str) -> dict[str, str]:
    """Checklist link id → href, from the page's component tree."""
    found: dict[str, str] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            props = node.get("props", {})
            if str(props.get("id", "")).startswith("getting-started-link-"):
                found[props["id"]] = props.get("href")
            for value in (props.get("children"), *node.values()):
                if isinstance(value, list | dict):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(content))
    return found


@pytest.fixture
def newco(sqlite_db, tmp_path):
    """An organization with users and no data, and the app over it."""
    org = organization(sqlite_db, "Newco")
    box = SecretBox(load_keys((), tmp_path))
    people = {"admin": add_user(sqlite_db, org, "Organization Administrator", "olga@newco.test", box=box),
              "viewer": add_user(sqlite_db, org, "Viewer", "vera@newco.test")}
    return {"db": sqlite_db, "org": org, "people": people, "app": make_app(sqlite_db, tmp_path)}


def _client(newco, email: str):
    client = newco["app"].server.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def test_the_portfolio_of_an_empty_organization_is_the_open_checklist(newco):
    page = _portfolio(_client(newco, "olga@newco.test"))
    assert '"id": "getting-started"' in page and '"open": true' in page
    assert "Setup 0 of 7 done" in page
    assert _links(page) == {
        "getting-started-link-project": "/admin/portfolio", "getting-started-link-brands": "/admin/portfolio",
        "getting-started-link-framework": "/admin/framework",
        "getting-started-link-metrics": "/admin/import?kind=metrics",
        "getting-started-link-marketing": "/admin/import?kind=marketing", "getting-started-link-curves": "/optimizer",
        "getting-started-link-plan": "/optimizer"}


def test_a_viewer_sees_no_action_links(newco):
    page = _portfolio(_client(newco, "vera@newco.test"))
    assert '"id": "getting-started"' in page
    assert ADMINISTRATOR_IS_SETTING_UP in page
    assert _links(page) == {}


def test_the_checklist_folds_once_there_are_scores_and_goes_once_setup_is_done(newco):
    db, client = newco["db"], _client(newco, "olga@newco.test")
    build = Builder(db, newco["org"])
    build.project()
    build.brands()
    build.framework()
    build.metric_values()
    build.scores()
    page = _portfolio(client)
    assert "Setup 4 of 7 done" in page and '"open": false' in page
    assert "portfolio-kpis" in page, "the portfolio itself is drawn below the folded checklist"
    assert set(_links(page)) == {"getting-started-link-marketing", "getting-started-link-curves",
                                 "getting-started-link-plan"}
    build.spend()
    build.outcomes()
    build.curve()
    build.scenario()
    page = _portfolio(client)
    assert "getting-started" not in page and "portfolio-kpis" in page


@pytest.mark.parametrize("path", ["/brand", "/optimizer", "/whatif", "/scenarios"])
def test_the_other_pages_of_an_empty_organization_point_to_the_checklist(newco, path):
    page = _portfolio(_client(newco, "olga@newco.test"), path)
    assert '"id": "getting-started-pointer"' in page and '"href": "/"' in page
    assert "setup 0 of 7 done" in page
    assert "403" not in page and "Traceback" not in page
