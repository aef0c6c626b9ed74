"""Reading and setting data classification levels through the REST API (issue 17 item 3), on SQLite
and PostgreSQL: the same checks, validation and audit events as the Framework and Scenarios pages,
problem+json with a reason for every refusal, and nothing changed by a refused request."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import AuditEvent, Metric, MetricValue, Platform, Scenario, Section, User
from core.security.audit import Action
from tests.integration.api.conftest import bearer, token_for


@pytest.fixture
def tokens(client, world):
    return {role: bearer(token_for(client, world["people"][role])["access_token"])
            for role in ("Organization Administrator", "Analyst", "Viewer", "Portfolio Manager")}


@pytest.fixture
def items(db, world):
    """A metric the Analyst reads values of, its section, a metric of the other organization, and a scenario
    the Analyst owns in the home project."""
    home, foreign = world["home"], world["foreign"]
    with db.session() as s:
        analyst = s.scalar(select(User.id).where(User.email == world["people"]["Analyst"].email))
        metric = s.scalar(select(MetricValue.metric_id).join(Metric, Metric.id == MetricValue.metric_id)
                          .where(Metric.organization_id == home["organization"]).order_by(MetricValue.metric_id))
        section = s.scalar(select(Platform.section_id).join(Metric, Metric.platform_id == Platform.id)
                           .where(Metric.id == metric))
        other_section = s.scalar(select(Section.id).where(Section.organization_id == home["organization"],
                                                         Section.id != section).order_by(Section.id))
        foreign_metric = s.scalar(select(Metric.id).where(Metric.organization_id == foreign["organization"]))
        scenario = Scenario(organization_id=home["organization"], project_id=home["project"], owner_id=analyst,
                            name="Analyst's plan", kind="budget", inputs={}, constraints={}, result={})
        s.add(scenario)
        s.flush()
        return {"metric": metric, "section": section, "other_section": other_section,
                "foreign_metric": foreign_metric, "scenario": scenario.id}


def _level(db, model, ident) -> str:
    with db.session() as s:
        return s.get(model, ident).classification


def _events(db, action: str) -> list[AuditEvent]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_an_administrator_reads_and_sets_metric_and_section_levels_audited(client, tokens, items, db):
    admin = tokens["Organization Administrator"]
    url = f"/api/v1/metrics/{items['metric']}/classification"
    answer = client.get(url, headers=admin)
    assert answer.status_code == 200
    assert answer.get_json() == {"kind": "metric", "id": items["metric"], "organization_id": answer.get_json()[
        "organization_id"], "classification": "internal", "reads_at": "internal"}
    answer = client.patch(url, json={"classification": " Confidential"}, headers=admin)
    assert answer.status_code == 200 and answer.get_json()["classification"] == "confidential"
    assert _level(db, Metric, items["metric"]) == "confidential"
    changed = _events(db, Action.CLASSIFICATION_CHANGED)[-1]
    assert changed.data == {"before": "internal", "after": "confidential"}
    assert (changed.target_type, int(changed.target_id)) == ("metric", items["metric"])
    # A section above its metric: the metric reads at the section's level.
    section = client.patch(f"/api/v1/sections/{items['section']}/classification", json={"classification": "restricted"},
                           headers=admin)
    assert section.status_code == 200 and section.get_json()["reads_at"] == "restricted"
    read = client.get(url, headers=admin).get_json()
    assert (read["classification"], read["reads_at"]) == ("confidential", "restricted")


def test_bad_levels_and_bodies_are_422_with_a_reason_and_change_nothing(client, tokens, items, db):
    admin = tokens["Organization Administrator"]
    before = len(_events(db, Action.CLASSIFICATION_CHANGED))
    url = f"/api/v1/metrics/{items['metric']}/classification"
    for body in ({"classification": "secret"}, {"classification": ""}, {"level": "internal"},
                 {"classification": "internal", "extra": 1}, {"classification": ["internal"]}):
        answer = client.patch(url, json=body, headers=admin)
        assert answer.status_code == 422, body
        assert answer.mimetype == "application/problem+json"
        assert answer.get_json()["detail"] or answer.get_json()["errors"]
    answer = client.patch(url, json={"classification": "secret"}, headers=admin)
    assert "public, internal, confidential, restricted" in answer.get_json()["detail"]
    assert _level(db, Metric, items["metric"]) == "internal"
    assert len(_events(db, Action.CLASSIFICATION_CHANGED)) == before


def test_readers_see_levels_up_to_their_clearance_and_may_not_set_them(client, tokens, items, db):
    analyst, viewer = tokens["Analyst"], tokens["Viewer"]
    admin = tokens["Organization Administrator"]
    url = f"/api/v1/metrics/{items['metric']}/classification"
    assert client.patch(url, json={"classification": "confidential"}, headers=admin).status_code == 200
    assert client.get(url, headers=analyst).get_json()["classification"] == "confidential"
    denied = len(_events(db, Action.ACCESS_DENIED))
    refused = client.patch(url, json={"classification": "public"}, headers=analyst)
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert len(_events(db, Action.ACCESS_DENIED)) == denied + 1
    assert _level(db, Metric, items["metric"]) == "confidential"
    # Above the clearance: the same 404 as an unknown id, for reading and for setting.
    assert client.get(url, headers=viewer).status_code == 404
    assert client.patch(url, json={"classification": "public"}, headers=viewer).status_code == 404
    assert client.patch(url, json={"classification": "restricted"}, headers=admin).status_code == 200
    assert client.get(url, headers=analyst).status_code == 404
    # Another organization's metric and an id that does not exist: the same 404 body.
    answers = [client.get(f"/api/v1/metrics/{bad}/classification", headers=admin) for bad in
               (items["foreign_metric"], 2**31 - 1)]
    answers += [client.patch(f"/api/v1/metrics/{bad}/classification", json={"classification": "public"},
                             headers=admin) for bad in (items["foreign_metric"], 2**31 - 1)]
    answers.append(client.get(f"/api/v1/sections/{2**31 - 1}/classification", headers=admin))
    assert {a.status_code for a in answers} == {404}
    assert all(a.get_json() == answers[0].get_json() for a in answers)


def test_a_scenario_is_classified_by_its_owner_within_their_clearance(client, tokens, items, db):
    analyst, manager, viewer = tokens["Analyst"], tokens["Portfolio Manager"], tokens["Viewer"]
    url = f"/api/v1/scenarios/{items['scenario']}/classification"
    assert client.get(url, headers=analyst).get_json()["classification"] == "internal"
    answer = client.patch(url, json={"classification": "confidential"}, headers=analyst)
    assert answer.status_code == 200 and answer.get_json()["classification"] == "confidential"
    assert _events(db, Action.CLASSIFICATION_CHANGED)[-1].data == {"before": "internal", "after": "confidential"}
    too_high = client.patch(url, json={"classification": "restricted"}, headers=analyst)
    assert too_high.status_code == 422 and "up to confidential" in too_high.get_json()["detail"]
    not_owner = client.patch(url, json={"classification": "internal"}, headers=manager)
    assert not_owner.status_code == 403
    assert client.get(url, headers=manager).status_code == 200
    assert client.get(url, headers=viewer).status_code == 404  # neither in scope nor cleared
    assert _level(db, Scenario, items["scenario"]) == "confidential"


def test_score_answers_say_what_they_left_out(client, tokens, items, db, world):
    """DC totals include every metric; an answer that leaves classified metrics out says how many and why,
    and a brand's contributions sum to the score it states."""
    from core import brand_explorer as bx
    from core.security import load_principal

    admin, analyst = tokens["Organization Administrator"], tokens["Analyst"]
    assert client.patch(f"/api/v1/metrics/{items['metric']}/classification", json={"classification": "restricted"},
                        headers=admin).status_code == 200
    with db.session() as s:
        analyst_id = s.scalar(select(User.id).where(User.email == world["people"]["Analyst"].email))
    with db.engine.connect() as conn:
        pair = bx.explorable(conn, load_principal(db, analyst_id)).iloc[0]
        brand, project = int(pair["brand_id"]), int(pair["project_id"])
        period = bx.periods(conn, load_principal(db, analyst_id), brand, project)[-1]
    scores = client.get(f"/api/v1/scores?project_id={project}&brand_id={brand}", headers=analyst).get_json()
    assert scores["items"]
    assert scores["left_out"]["metrics"] == 1 and scores["left_out"]["levels"] == ["restricted"]
    assert scores["left_out"]["note"].startswith("1 metric left out: classified restricted. DC scores still include")
    query = f"project_id={project}&brand_id={brand}&period={period.isoformat()}"
    mine = client.get(f"/api/v1/scores/contributions?{query}", headers=analyst).get_json()
    assert items["metric"] not in {i["metric_id"] for i in mine["items"]}
    assert mine["left_out"]["metrics"] == 1
    assert abs(mine["score"] - sum(i["contribution"] or 0 for i in mine["items"])) < 1e-9
    full = client.get(f"/api/v1/scores/contributions?{query}", headers=admin).get_json()
    assert full["left_out"] == {"metrics": 0, "levels": [], "note": ""}
    assert items["metric"] in {i["metric_id"] for i in full["items"]}
    # Out of scope: nothing, and no count about the other organization either.
    other = client.get(f"/api/v1/scores?project_id={world['foreign']['project']}", headers=analyst).get_json()
    assert other["items"] == [] and other["left_out"]["metrics"] == 0
