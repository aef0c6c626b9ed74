"""Merging two brands: every row keyed by the source moves to the target (counted per table before
and after: nothing lost), conflicting rows are refused with the list unless a side is chosen,
scenarios and grants follow, the source is gone, and one audit event holds the counts."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.models import (
    Brand,
    Channel,
    ControlValue,
    FitVersion,
    LiftTest,
    MetricValue,
    Outcome,
    ProjectBrand,
    ResponseCurve,
    RoleGrant,
    Scenario,
    Spend,
)
from core.security import Forbidden
from core.setup import brand_merge
from core.setup.brands import brand_tables
from core.setup.portfolio_common import PortfolioError
from tests.integration.security.conftest import add_user
from tests.integration.setup.conftest import audit_actions, score_rows


def _counts(db, brand_id: int) -> dict[str, int]:
    with db.session() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t).where(t.c.brand_id == brand_id))
                for t in brand_tables()}


def _marketing(db, w) -> None:
    """Spend, outcomes, controls and curves for Ab1 (source) and Ab3 (target), one week in common."""
    with db.session() as s:
        tv = Channel(organization_id=w.orgs["A"], name="TV")
        s.add(tv)
        s.flush()
        for brand, weeks in ((w.brands["Ab1"], (1, 8, 15)), (w.brands["Ab3"], (15, 22))):
            for day in weeks:
                s.add(Spend(brand_id=brand, channel_id=tv.id, period=date(2024, 1, day), amount=100.0 + day))
                s.add(Outcome(brand_id=brand, period=date(2024, 1, day), revenue=1000.0 + brand))
                s.add(ControlValue(brand_id=brand, name="price", period=date(2024, 1, day), value=float(brand)))
        s.add(ResponseCurve(brand_id=w.brands["Ab1"], channel_id=tv.id, kind="fitted", params={"beta": 1}))


def test_every_table_with_a_brand_key_is_known():
    assert {t.name for t in brand_tables()} == {"metric_values", "spend", "outcomes", "control_values",
                                                 "response_curves", "project_brands", "lift_tests", "fit_versions",
                                                 "alerts", "alert_snoozes"}


def test_merge_without_conflicts_moves_every_row(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    source, target = w.brands["Ab1"], w.brands["Ab3"]
    with db.session() as s:  # the target holds other months than the source: no conflict
        s.execute(MetricValue.__table__.update().where(MetricValue.brand_id == target)
                  .values(period=func.date(MetricValue.period, "+1 year") if db.dialect == "sqlite" else
                          MetricValue.period + func.make_interval(1)))
    with db.session() as s:
        s.add(ResponseCurve(brand_id=source, channel_id=s.scalar(select(Channel.id)) or _channel(s, w),
                            kind="fitted", params={}))
    before_source, before_target = _counts(db, source), _counts(db, target)
    plan = brand_merge.preview_merge(db, admin, source, target)
    assert plan.rows == before_source and plan.data_conflicts == 0 and plan.conflicts == {}
    assert _counts(db, source) == before_source  # a preview writes nothing
    result = brand_merge.merge_brands(db, admin, source, target)
    after = _counts(db, target)
    for table in before_source:
        assert after[table] == before_source[table] + before_target[table], table
    assert _counts(db, source) == dict.fromkeys(before_source, 0)
    assert result["moved"] == before_source and set(result["dropped"].values()) == {0}
    with db.session() as s:
        assert s.get(Brand, source) is None
        assert s.get(ProjectBrand, (w.projects["Ap1"], target)).role == "own"
    assert score_rows(db, w.projects["Ap1"], target) > 0 and score_rows(db, w.projects["Ap1"], source) == 0
    (_action, data), = audit_actions(db, "brand.merged")
    assert data["moved"] == before_source and data["source"] == {"id": source, "name": "Ab1"}


def test_a_merge_drops_the_sources_fit_versions_and_keeps_the_targets(world):
    """Fit versions are per-brand history: two brands' version 1 would collide, and comparing a fit of one
    with the other's would mislead, so the source's are dropped (counted) and the target's stay."""
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    source, target = w.brands["Ab1"], w.brands["Ab2"]
    with db.session() as s:
        for brand, versions in ((source, (1, 2)), (target, (1,))):
            s.add_all(FitVersion(brand_id=brand, version=v, data_digest="0" * 64, inputs={}, result={})
                      for v in versions)
    assert "fit_versions" not in brand_merge.preview_merge(db, admin, source, target).conflicts
    result = brand_merge.merge_brands(db, admin, source, target, keep="target")
    assert result["dropped"]["fit_versions"] == 2 and result["moved"]["fit_versions"] == 0
    with db.session() as s:
        assert s.scalars(select(FitVersion.version).where(FitVersion.brand_id == target)).all() == [1]


def _channel(s, w) -> int:
    channel = Channel(organization_id=w.orgs["A"], name="Search")
    s.add(channel)
    s.flush()
    return channel.id


def _values(db, brand_id: int) -> dict[tuple, float]:
    with db.session() as s:
        rows = s.execute(select(MetricValue.metric_id, MetricValue.period, MetricValue.raw_value)
                         .where(MetricValue.brand_id == brand_id)).all()
    return {(m, str(p)[:10]): v for m, p, v in rows}


def test_conflicting_rows_are_refused_with_the_list_and_nothing_changes(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    _marketing(db, w)
    source, target = w.brands["Ab1"], w.brands["Ab3"]
    before = {b: _counts(db, b) for b in (source, target)}
    with pytest.raises(brand_merge.MergeConflict, match="Choose which brand's values to keep") as refused:
        brand_merge.merge_brands(db, admin, source, target)
    conflicts = refused.value.conflicts
    assert conflicts["metric_values"]["count"] == 4  # two metrics × two months on both sides
    assert {conflicts[t]["count"] for t in ("spend", "outcomes", "control_values")} == {1}
    assert conflicts["spend"]["keys"] == [{"channel_id": "TV", "period": "2024-01-15"}]  # names, not ids
    assert {k["metric_id"] for k in conflicts["metric_values"]["keys"]} == {"m_rating", "m_complaints"}
    assert "response_curves" not in conflicts and "project_brands" not in conflicts  # Ab1, Ab3 share no project
    assert {b: _counts(db, b) for b in (source, target)} == before
    assert audit_actions(db, "brand.merged") == []


@pytest.mark.parametrize("keep", ["target", "source"])
def test_choosing_a_side_keeps_its_values_and_counts_the_rest(world, keep):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    _marketing(db, w)
    source, target = w.brands["Ab1"], w.brands["Ab3"]
    before = {b: _counts(db, b) for b in (source, target)}
    kept_values = _values(db, target if keep == "target" else source)
    result = brand_merge.merge_brands(db, admin, source, target, keep=keep)
    after = _counts(db, target)
    for table in before[source]:  # every row is either in the target now or counted as dropped
        assert after[table] + result["dropped"][table] == before[source][table] + before[target][table], table
    assert result["dropped"]["metric_values"] == 4 and result["dropped"]["spend"] == 1
    assert _values(db, target) == kept_values
    with db.session() as s:
        week = s.scalar(select(Outcome.revenue).where(Outcome.brand_id == target, Outcome.period == date(2024, 1, 15)))
    assert week == 1000.0 + (target if keep == "target" else source)
    assert audit_actions(db, "brand.merged")[0][1]["kept"] == keep


def test_lift_tests_of_the_same_channel_and_period_conflict_and_the_others_move(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    source, target = w.brands["Ab1"], w.brands["Ab3"]
    with db.session() as s:
        tv = Channel(organization_id=w.orgs["A"], name="TV")
        s.add(tv)
        s.flush()
        for brand, starts in ((source, (6, 13)), (target, (13,))):
            for day in starts:
                s.add(LiftTest(brand_id=brand, channel_id=tv.id, period_start=date(2025, 1, day),
                               period_end=date(2025, 1, day + 6), incremental_outcome=float(brand), standard_error=1.0))
    with pytest.raises(brand_merge.MergeConflict) as refused:
        brand_merge.merge_brands(db, admin, source, target)
    assert refused.value.conflicts["lift_tests"]["keys"] == [
        {"channel_id": "TV", "period_start": "2025-01-13", "period_end": "2025-01-19"}]
    result = brand_merge.merge_brands(db, admin, source, target, keep="target")
    assert (result["moved"]["lift_tests"], result["dropped"]["lift_tests"]) == (1, 1)
    with db.session() as s:
        kept = s.execute(select(LiftTest.period_start, LiftTest.incremental_outcome).where(LiftTest.brand_id == target)
                         .order_by(LiftTest.period_start)).all()
    assert kept == [(date(2025, 1, 6), float(source)), (date(2025, 1, 13), float(target))]


def test_scenarios_grants_and_memberships_follow(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    source, target = w.brands["Ab1"], w.brands["Ab2"]  # both in Ap1: memberships collide, the target's stays
    with db.session() as s:
        s.get(Scenario, w.scenarios["Ap1"]).inputs = {"brand_ids": [source], "channels": [source],
                                                      "cells": [{"brand_id": source, "channel": "TV"}]}
        s.get(Scenario, w.scenarios["Ap1"]).constraints = {"brand_bounds": [{"brand_id": source, "min": 1}]}
        s.execute(ProjectBrand.__table__.update().where(ProjectBrand.brand_id == target,
                                                        ProjectBrand.project_id == w.projects["Ap1"])
                  .values(role="competitor"))
    uid = add_user(db, w, "scoped@a.test", "A", [("Viewer", "brand", "Ab1")])
    # Both brands hold the same months: choose the target's values.
    result = brand_merge.merge_brands(db, admin, source, target, keep="target")
    assert result["scenarios_rewritten"] == [w.scenarios["Ap1"]] and result["grants_moved"] == 1
    with db.session() as s:
        scenario = s.get(Scenario, w.scenarios["Ap1"])
        assert scenario.inputs == {"brand_ids": [target], "channels": [source],  # not a brand id: left alone
                                   "cells": [{"brand_id": target, "channel": "TV"}]}
        assert scenario.constraints == {"brand_bounds": [{"brand_id": target, "min": 1}]}
        assert s.scalar(select(RoleGrant.scope_id).where(RoleGrant.user_id == uid)) == target
        assert s.get(ProjectBrand, (w.projects["Ap1"], target)).role == "competitor"
    assert result["dropped"]["project_brands"] == 1


def test_a_scenario_naming_both_blocks_the_merge(world):
    db, admin, w = world["db"], world["as"]["admin"], world["w"]
    source, target = w.brands["Ab1"], w.brands["Ab2"]
    with db.session() as s:
        s.get(Scenario, w.scenarios["Ap1"]).inputs = {"brand_ids": [source, target]}
    plan = brand_merge.preview_merge(db, admin, source, target)
    assert plan.blocked == [{"id": w.scenarios["Ap1"], "name": "Ap1 plan"}]
    with pytest.raises(PortfolioError, match="“Ap1 plan” use both brands"):
        brand_merge.merge_brands(db, admin, source, target, keep="target")
    with db.session() as s:
        assert s.get(Brand, source) is not None


def test_refusals(world):
    db, w = world["db"], world["w"]
    admin = world["as"]["admin"]
    with pytest.raises(PortfolioError, match="two different brands"):
        brand_merge.merge_brands(db, admin, w.brands["Ab1"], w.brands["Ab1"])
    with pytest.raises(PortfolioError, match="keep the values"):
        brand_merge.merge_brands(db, admin, w.brands["Ab1"], w.brands["Ab2"], keep="both")
    with pytest.raises(Forbidden):  # a brand of another organization
        brand_merge.merge_brands(db, admin, w.brands["Ab1"], w.brands["Bb1"], keep="target")
    for who in ("admin_b", "viewer", "brand_manager"):
        with pytest.raises(Forbidden):
            brand_merge.merge_brands(db, world["as"][who], w.brands["Ab1"], w.brands["Ab3"], keep="target")
        with pytest.raises(Forbidden):
            brand_merge.preview_merge(db, world["as"][who], w.brands["Ab1"], w.brands["Ab3"])
    with pytest.raises(PortfolioError, match="same organization"):  # a system administrator sees both
        brand_merge.merge_brands(db, world["as"]["sysadmin"], w.brands["Ab1"], w.brands["Bb1"], keep="target")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Brand)) == 6
    assert len(audit_actions(db, "authz.denied")) == 7 and audit_actions(db, "brand.merged") == []
