"""Alerts on outcomes (issue 18 item 2): the rules run over an organization raise each finding once, a
person reads only the alerts about brands they may read, and reading and snoozing change only their own."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from core.alert_inbox import list_alerts, mark_read, snooze, unread_count
from core.alert_rules import KINDS, evaluate, evaluate_quietly
from core.budget_cells import PERIODS_PER_YEAR, last_year_spend
from core.demo import seed_demo
from core.models import (
    Alert,
    AuditEvent,
    Brand,
    Channel,
    Metric,
    Organization,
    ProjectBrand,
    ResponseCurve,
    Role,
    RoleGrant,
    User,
)
from core.portfolio import brand_ranking
from core.response_curves import fit_brand, stored_curves
from core.security import Forbidden, SecuritySettings, load_principal
from core.settings import SettingsInvalid, read_settings, save_settings
from tests.support import demo_people


@pytest.fixture
def demo(db, tmp_path):
    seed_demo(db, seed=7, months=9)  # history enough for the anomaly rule (six monthly changes)
    people = demo_people(db, tmp_path)
    with db.session() as s:
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        ids = {c.role: s.scalar(select(User.id).where(User.email == c.email)) for c in people.values()}
    return {"db": db, "first": first, "second": second, "ids": ids, "people": people}


def _who(demo, role: str):
    return load_principal(demo["db"], demo["ids"][role])


def test_the_rules_raise_each_finding_once_and_only_about_own_brands(demo):
    db, first = demo["db"], demo["first"]
    added = evaluate(db, first)
    assert added > 0
    assert evaluate(db, first) == 0  # the same months again: nothing new
    with db.session() as s:
        alerts = s.scalars(select(Alert).where(Alert.organization_id == first)).all()
        own = set(s.scalars(select(ProjectBrand.brand_id).where(ProjectBrand.role == "own")))
        orgs = dict(s.execute(select(Brand.id, Brand.organization_id)).all())
    assert {a.brand_id for a in alerts} <= own and all(orgs[a.brand_id] == first for a in alerts)
    assert {a.kind for a in alerts} >= {"anomaly"}
    for a in alerts:
        assert a.link.startswith(("/brand?brand=", "/models?brand=")) and a.title


def test_an_overtaking_competitor_is_what_the_ranking_shows(demo):
    """Each 'overtaken' alert names a competitor that was below the brand last month and is above it now."""
    db, first = demo["db"], demo["first"]
    evaluate(db, first)
    admin = _who(demo, "Organization Administrator")
    with db.session() as s:
        alerts = s.scalars(select(Alert).where(Alert.kind == "overtaken")).all()
    for alert in alerts:
        with db.engine.connect() as conn:
            ranking = brand_ranking(conn, admin, alert.project_id).set_index("brand")
        rival, own = alert.title.split(" overtook ")
        now, before = ranking["score"], ranking["score"] - ranking["change_1m"]
        assert now[rival] > now[own] and before[rival] < before[own], alert.title


def test_a_brand_manager_reads_only_their_brands_alerts_and_marks_only_their_own_read(demo):
    db, first = demo["db"], demo["first"]
    evaluate(db, first)
    evaluate(db, demo["second"])
    admin, manager = _who(demo, "Organization Administrator"), _who(demo, "Brand Manager")
    brand = demo["people"]["Brand Manager"].scope_id
    everything = list_alerts(db, admin)
    mine = list_alerts(db, manager)
    with db.session() as s:
        names = dict(s.execute(select(Brand.id, Brand.name)).all())
        theirs = s.scalars(select(Alert.id).where(Alert.organization_id == demo["second"])).all()
    assert {r["brand"] for r in mine} <= {names[brand]}
    assert len(everything) == unread_count(db, admin) and len(mine) == unread_count(db, manager)
    assert not {r["id"] for r in everything} & set(theirs)  # the other organization's stay there
    with pytest.raises(Forbidden):  # an id from another organization, posted by hand: refused, nothing read
        mark_read(db, admin, [everything[0]["id"], theirs[0]])
    assert unread_count(db, admin) == len(everything)
    assert mark_read(db, admin, [everything[0]["id"]]) == 1
    assert unread_count(db, admin) == len(everything) - 1
    assert unread_count(db, manager) == len(mine)  # reading is per person
    assert mark_read(db, admin) == len(everything) - 1 and unread_count(db, admin) == 0


def test_snoozing_silences_that_rule_for_that_brand_for_that_person(demo):
    db, first = demo["db"], demo["first"]
    evaluate(db, first)
    admin, portfolio = _who(demo, "Organization Administrator"), _who(demo, "Portfolio Manager")
    rows = list_alerts(db, admin)
    target = rows[0]
    same = [r for r in rows if r["brand"] == target["brand"] and r["kind"] == target["kind"]]
    with pytest.raises(ValueError, match="snooze for 1, 7, 30 days"):
        snooze(db, admin, [target["id"]], 3)
    assert snooze(db, admin, [target["id"]], 7) == 1
    left = list_alerts(db, admin)
    assert not {r["id"] for r in same} & {r["id"] for r in left}
    assert unread_count(db, admin) == len(left)
    shown = {r["id"]: r for r in list_alerts(db, admin, show_snoozed=True)}
    assert all(shown[r["id"]]["snoozed"] for r in same)
    assert len(list_alerts(db, portfolio)) == len(rows)  # a colleague still sees them


def _rescaled_curves(db, tmp_path) -> tuple[int, int, dict[str, float]]:
    """The fitted curves of one own brand rescaled so that, at last year's spend, the first channel returns 0.5
    per unit at the margin, the second 1.5 and the others 3: (organization, brand, {channel: marginal})."""
    seed_demo(db, seed=7, months=13)
    demo_people(db, tmp_path)  # the organization's administrator changes the floor below
    with db.session() as s:
        org = s.scalars(select(Organization.id).order_by(Organization.id)).first()
        brand = s.scalars(select(ProjectBrand.brand_id).join(Brand).where(ProjectBrand.role == "own",
                                                                          Brand.organization_id == org)).first()
    fit_brand(db, brand, n_bootstrap=5, n_starts=1)
    with db.session() as s:
        spend = last_year_spend(s, [brand])
        periods = PERIODS_PER_YEAR[spend.granularity[brand]]
        channels = {c: p for c, (p, _) in stored_curves(s, brand, "fitted").items()
                    if spend.annual.get((brand, c), 0) > 0}
        ordered = sorted(channels)
        wanted = {c: 0.5 if i == 0 else 1.5 if i == 1 else 3.0 for i, c in enumerate(ordered)}
        for row in s.scalars(select(ResponseCurve).where(ResponseCurve.brand_id == brand)):
            name = s.scalar(select(Channel.name).where(Channel.id == row.channel_id))
            if name in channels:
                scale = wanted[name] / float(channels[name].marginal(spend.annual[(brand, name)] / periods))
                row.params = {**row.params, "beta": row.params["beta"] * scale}
    return org, brand, wanted


def _raised(db, brand) -> list[str]:
    with db.session() as s:
        return [a.title.split(": ")[1] for a in s.scalars(select(Alert).where(
            Alert.kind == "marginal_roas", Alert.brand_id == brand).order_by(Alert.id))]


def test_a_channel_below_a_marginal_roas_of_one_is_raised_and_one_above_is_not(sqlite_db, tmp_path):
    """With the default floor T = 1 only the channel at 0.5 is raised, with the figure in the organization's
    currency; the floor setting (validated, audited) then raises the one at 1.5 too, and the one at 0.5 not again."""
    db = sqlite_db
    org, brand, wanted = _rescaled_curves(db, tmp_path)
    low, middle = sorted(wanted)[:2]
    evaluate(db, org)
    assert _raised(db, brand) == [f"{low}'s marginal ROAS is ₹0.50 per ₹1"]
    with db.session() as s:
        first = s.scalars(select(Alert).where(Alert.kind == "marginal_roas")).one()
    assert first.link == f"/models?brand={brand}" and "below the floor of 1" in first.detail

    with db.session() as s:
        admin_id = s.scalar(select(RoleGrant.user_id).join(Role, Role.id == RoleGrant.role_id)
                            .where(Role.name == "Organization Administrator", RoleGrant.scope_id == org))
    admin = load_principal(db, admin_id)
    security = SecuritySettings()
    with pytest.raises(SettingsInvalid) as refused:
        save_settings(db, admin, org, {**read_settings(db, admin, org, security).values(), "alert_roas_floor": 50},
                      security)
    assert refused.value.problems["alert_roas_floor"] == ("Marginal-ROAS alert floor must be a number between "
                                                          "0.1 and 10.")
    assert read_settings(db, admin, org, security).alert_roas_floor == 1.0  # nothing changed
    _settings, changes = save_settings(db, admin, org, {**read_settings(db, admin, org, security).values(),
                                                        "alert_roas_floor": 2}, security)
    assert changes == {"alert_roas_floor": [1.0, 2.0]}
    with db.session() as s:
        audited = s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.changed")
                            .order_by(AuditEvent.id.desc())).first()
    assert audited.data["changes"]["alert_roas_floor"] == {"before": 1.0, "after": 2.0}
    evaluate(db, org)
    assert _raised(db, brand) == [f"{low}'s marginal ROAS is ₹0.50 per ₹1", f"{middle}'s marginal ROAS is ₹1.50 per ₹1"]
    assert KINDS["marginal_roas"] == "Marginal ROAS below T"


def test_rules_that_fail_never_fail_the_import_that_ran_them(demo, caplog):
    evaluate_quietly(demo["db"], 10**9)  # no such organization: nothing to find, nothing raised
    evaluate_quietly(demo["db"], None)
    with demo["db"].session() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 0


def test_an_anomaly_of_a_classified_metric_reaches_only_those_cleared_for_its_level(demo):
    """The rules read every level; the alert keeps its metric's level and the inbox leaves it out for a
    reader without it (a Portfolio Manager reads confidential, not restricted; an administrator both)."""
    db, first = demo["db"], demo["first"]
    evaluate(db, first)
    with db.session() as s:
        probe = s.scalars(select(Alert).where(Alert.organization_id == first, Alert.kind == "anomaly")
                          .order_by(Alert.id)).first()
        metric_id = int(probe.dedup_key.split(":")[3])  # anomaly:project:brand:metric:month
        s.execute(delete(Alert).where(Alert.organization_id == first))
        s.get(Metric, metric_id).classification = "restricted"
    assert evaluate(db, first) > 0
    with db.session() as s:
        alerts = s.execute(select(Alert.id, Alert.kind, Alert.dedup_key, Alert.classification)
                           .where(Alert.organization_id == first)).all()
    restricted = {a.id for a in alerts if a.kind == "anomaly" and int(a.dedup_key.split(":")[3]) == metric_id}
    assert restricted and {a.classification for a in alerts if a.id in restricted} == {"restricted"}
    assert {a.classification for a in alerts if a.id not in restricted} == {"internal"}
    admin, manager = _who(demo, "Organization Administrator"), _who(demo, "Portfolio Manager")
    seen_by_admin = {r["id"] for r in list_alerts(db, admin)}
    seen_by_manager = {r["id"] for r in list_alerts(db, manager)}
    assert restricted <= seen_by_admin and not restricted & seen_by_manager
    assert seen_by_manager == seen_by_admin - restricted  # everything else both read
    assert unread_count(db, manager) == unread_count(db, admin) - len(restricted)
    with pytest.raises(Forbidden):  # its id posted by hand: refused, nothing marked
        mark_read(db, manager, sorted(restricted)[:1])
