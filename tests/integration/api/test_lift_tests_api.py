"""The lift-test API: record, list a page at a time, delete, import a CSV; JSON problems with the
reason, 403 for a brand you see but may not write, 404 for anything out of scope."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from core.models import AuditEvent, Brand, Channel, LiftTest, ProjectBrand, Role, RoleGrant, User
from core.security.permissions import ORGANIZATION_ADMINISTRATOR
from tests.integration.api.conftest import bearer, token_for

PATH = "/api/v1/lift-tests"


@pytest.fixture
def tokens(client, world):
    people = world["people"]
    return {role: bearer(token_for(client, people[role])["access_token"])
            for role in ("Analyst", "Viewer")}


@pytest.fixture
def brands(db, world):
    """A brand of the Analyst's project, the Viewer's own brand, and one of the other organization."""
    with db.session() as s:
        project = world["people"]["Analyst"].scope_id
        mine = s.scalar(select(ProjectBrand.brand_id).order_by(ProjectBrand.brand_id)
                        .where(ProjectBrand.project_id == project, ProjectBrand.role == "own"))
        return {"analyst": mine, "viewer": world["people"]["Viewer"].scope_id, "foreign": world["foreign"]["brand"]}


def _body(brand_id: int, **changes) -> dict:
    return {"brand_id": brand_id, "channel": "Search", "period_start": "2025-03-03", "period_end": "2025-03-30",
            "incremental_outcome": 120000, "standard_error": 15000, "note": "geo test", **changes}


def _rows(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(LiftTest))


def test_record_list_and_delete(client, tokens, brands, db):
    analyst = tokens["Analyst"]
    made = client.post(PATH, headers=analyst, json=_body(brands["analyst"], incremental_outcome="1,200"))
    assert made.status_code == 201, made.get_json()
    test = made.get_json()
    assert (test["channel"], test["days"], test["incremental_outcome"], test["source"]) == ("Search", 28, 1200.0, "api")
    assert test["can_delete"]
    second = client.post(PATH, headers=analyst, json=_body(brands["analyst"], channel="tv")).get_json()
    page = client.get(PATH + "?limit=1", headers=analyst).get_json()
    assert [t["id"] for t in page["items"]] == [test["id"]] and page["next_cursor"]
    rest = client.get(f"{PATH}?limit=1&cursor={page['next_cursor']}", headers=analyst).get_json()
    assert [t["id"] for t in rest["items"]] == [second["id"]] and rest["next_cursor"] is None
    assert client.get(f"{PATH}?brand_id={brands['foreign']}", headers=analyst).get_json()["items"] == []
    assert client.delete(f"{PATH}/{test['id']}", headers=analyst).status_code == 204
    assert client.delete(f"{PATH}/{test['id']}", headers=analyst).status_code == 404
    with db.session() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("lift_test.%"))
                                 .order_by(AuditEvent.id)))
    assert actions == ["lift_test.added", "lift_test.added", "lift_test.deleted"]


def test_bad_input_is_a_json_problem_with_the_reason(client, tokens, brands, db):
    analyst = tokens["Analyst"]
    zero = client.post(PATH, headers=analyst, json=_body(brands["analyst"], standard_error=0))
    assert zero.status_code == 422 and zero.content_type == "application/problem+json"
    [error] = zero.get_json()["errors"]
    assert error["loc"] == ["body", "standard_error"]
    assert error["msg"] == "The standard error must be above zero: a lift test always has some uncertainty."
    radio = client.post(PATH, headers=analyst, json=_body(brands["analyst"], channel="Radio"))
    assert radio.status_code == 422 and radio.get_json()["errors"][0]["loc"] == ["body", "channel"]
    assert "has no channel named “Radio”" in radio.get_json()["detail"]
    backwards = client.post(PATH, headers=analyst, json=_body(brands["analyst"], period_end="2025-01-01"))
    assert backwards.status_code == 422 and "before it starts" in backwards.get_json()["errors"][0]["msg"]
    assert client.post(PATH, headers=analyst, json=_body(brands["analyst"])).status_code == 201
    again = client.post(PATH, headers=analyst, json=_body(brands["analyst"], incremental_outcome=5))
    assert again.status_code == 409 and "already recorded" in again.get_json()["detail"]
    assert client.post(PATH, headers=analyst, data="x", content_type="text/plain").status_code == 415
    assert _rows(db) == 1


def test_out_of_scope_is_404_and_read_only_is_403(client, tokens, brands, db):
    analyst, viewer = tokens["Analyst"], tokens["Viewer"]
    unknown = client.delete(f"{PATH}/2147483000", headers=analyst)
    assert unknown.status_code == 404
    theirs = client.post(PATH, headers=analyst, json=_body(brands["foreign"]))
    assert theirs.status_code == 404 and theirs.get_json() == unknown.get_json()
    ident = client.post(PATH, headers=analyst, json=_body(brands["viewer"])).get_json()["id"]
    refused = client.post(PATH, headers=viewer, json=_body(brands["viewer"], channel="TV"))
    assert refused.status_code == 403 and refused.content_type == "application/problem+json"
    assert client.delete(f"{PATH}/{ident}", headers=viewer).status_code == 403
    assert [t["id"] for t in client.get(PATH, headers=viewer).get_json()["items"]] == [ident]
    # An administrator of the other organization sees none of this organization's tests and cannot delete them.
    with db.session() as s:
        second = s.scalar(select(Brand.organization_id).where(Brand.id == brands["foreign"]))
        own_org = s.scalar(select(Brand.organization_id).where(Brand.id == brands["analyst"]))
    assert second != own_org
    outsider = _outsider(client, db, second)
    assert client.get(PATH, headers=outsider).get_json()["items"] == []
    gone = client.delete(f"{PATH}/{ident}", headers=outsider)
    assert gone.status_code == 404 and gone.get_json() == unknown.get_json()
    assert _rows(db) == 1


def _outsider(client, db, organization_id: int) -> dict:
    """A token of an Organization Administrator of the other organization (no two-factor step: issued directly)."""
    with db.session() as s:
        user = User(email="olga@second.test", name="Olga", organization_id=organization_id)
        s.add(user)
        s.flush()
        role = s.scalar(select(Role.id).where(Role.name == ORGANIZATION_ADMINISTRATOR, Role.organization_id.is_(None)))
        s.add(RoleGrant(user_id=user.id, role_id=role, scope_type="organization", scope_id=organization_id))
        ident = user.id
    credentials = client.application.extensions["digicadence.api_credentials"]
    return bearer(credentials.issue(ident).access_token)


CSV = ("brand,channel,period_start,period_end,incremental_outcome,standard_error,note\n"
       "{brand},Search,2025-03-03,2025-03-30,\"120,000\",15000,north\n"
       "{brand},Meta,2025-04-07,2025-05-04,0,2500,\n")


def test_csv_preview_and_import(client, tokens, brands, db):
    analyst = tokens["Analyst"]
    with db.session() as s:
        name = s.get(Brand, brands["analyst"]).name
        assert s.scalar(select(Channel.id).where(Channel.name == "Meta"))
    body = CSV.format(brand=name).encode()

    def send(path: str, content: bytes):
        return client.post(path, headers=analyst, data={"file": (io.BytesIO(content), "tests.csv")},
                           content_type="multipart/form-data")

    preview = send(PATH + "/import/preview", body)
    assert preview.status_code == 200 and [t["channel"] for t in preview.get_json()["tests"]] == ["Search", "Meta"]
    assert _rows(db) == 0
    bad = send(PATH + "/import", body + b"Nobody,TV,2025-01-06,2025-01-12,1,0,\n")
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"
    assert {(e["loc"][1], e["loc"][2]) for e in bad.get_json()["errors"]} == {(4, "brand"), (4, "standard_error")}
    assert _rows(db) == 0
    done = send(PATH + "/import", body)
    assert done.status_code == 201 and len(done.get_json()["ids"]) == 2 and _rows(db) == 2
