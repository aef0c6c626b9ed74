"""Data classification (issue 17 item 3) through the data layer, on SQLite and PostgreSQL.

One metric of the first organization is confidential, one restricted, and one section confidential;
each demo role then reads metric values, the framework, section scores, score drivers, scenarios and
reports. A reader without the level never gets those values, is told how many metrics were left out,
and exports of confidential data carry a watermark and an audit event.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from core import brand_explorer as bx
from core import portfolio as pf
from core import records
from core.classification import Classification, ClassificationError, highest, parse, readable
from core.classified import left_out, view_level
from core.demo import seed_demo
from core.models import (
    AuditEvent,
    Brand,
    DCScore,
    Metric,
    MetricValue,
    Organization,
    Platform,
    ProjectBrand,
    Scenario,
    Section,
    User,
)
from core.reports import render
from core.scenarios import get_scenario, list_scenarios
from core.security import Forbidden, load_principal, scope_filter
from core.security.audit import Action
from core.setup.classification import set_framework_level, set_scenario_level
from tests.support import demo_people

CLEARANCE = {"System Administrator": "restricted", "Organization Administrator": "restricted",
             "Portfolio Manager": "confidential", "Brand Manager": "confidential", "Analyst": "confidential",
             "Viewer": "internal"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    from tests.conftest import _empty

    db = request.getfixturevalue("_sqlite_db" if request.param == "sqlite" else "_pg_db")
    _empty(db)
    seed_demo(db, seed=7, months=3)
    people = demo_people(db, tmp_path_factory.mktemp("classification"))
    with db.session() as s:
        ids = {c.role: s.scalar(select(User.id).where(User.email == c.email)) for c in people.values()}
        org = s.scalars(select(Organization.id).order_by(Organization.id)).first()
        brand = people["Brand Manager"].scope_id
        project = s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == brand,
                                                                  ProjectBrand.role == "own")
                            .order_by(ProjectBrand.project_id)).first()
        sections = s.scalars(select(Section.id).where(Section.organization_id == org).order_by(Section.id)).all()
        # Two metrics of the first section that the brand has values of: one confidential, one restricted.
        valued = select(MetricValue.metric_id).where(MetricValue.brand_id == brand)
        first_section = s.scalars(select(Metric.id).join(Platform).where(Platform.section_id == sections[0],
                                                                         Metric.id.in_(valued))
                                  .order_by(Metric.id)).all()
        admin = load_principal(db, ids["Organization Administrator"])
    confidential, restricted = first_section[0], first_section[1]
    set_framework_level(db, admin, "metric", confidential, "confidential")
    set_framework_level(db, admin, "metric", restricted, "Restricted ")
    set_framework_level(db, admin, "section", sections[-1], "confidential")
    return {"db": db, "ids": ids, "org": org, "brand": brand, "project": project, "confidential": confidential,
            "restricted": restricted, "section": sections[-1]}


def who(world, role):
    return load_principal(world["db"], world["ids"][role])


def test_the_levels_are_ordered_and_parsed_strictly():
    assert [level.rank for level in Classification] == [0, 1, 2, 3]
    assert readable(Classification.CONFIDENTIAL) == ("public", "internal", "confidential")
    assert highest(["internal", "restricted", "public"]) is Classification.RESTRICTED
    assert parse(" Confidential") is Classification.CONFIDENTIAL
    for bad in ("secret", "", None, 3, ["internal"]):
        with pytest.raises(ClassificationError, match="public, internal, confidential, restricted"):
            parse(bad)


@pytest.mark.parametrize("role", list(CLEARANCE))
def test_each_role_reads_metric_values_up_to_its_clearance(world, role):
    principal = who(world, role)
    assert principal.clearance.value == CLEARANCE[role]
    with world["db"].session() as s:
        rows, _ = records.metric_values(s, principal, limit=100_000)
    seen = {r.metric_id for r in rows}
    if not rows:
        return  # (no role here reads nothing; kept for a scope without values)
    assert (world["restricted"] in seen) == (CLEARANCE[role] == "restricted")
    assert (world["confidential"] in seen) == (CLEARANCE[role] != "internal")


def test_a_viewer_is_told_what_was_left_out_and_never_sees_it(world):
    viewer, analyst, admin = who(world, "Viewer"), who(world, "Analyst"), who(world, "Organization Administrator")
    with world["db"].engine.connect() as conn:
        viewer_brand = conn.scalar(select(Brand.id).where(Brand.id.in_(list(viewer.brands))))
        gone = left_out(conn, viewer, world["org"])
        assert gone.counts.get("restricted") == 1 and gone.counts.get("confidential", 0) >= 2
        assert gone.note().startswith(f"{gone.total} metrics left out: classified confidential or restricted")
        assert left_out(conn, analyst, world["org"]).counts == {"restricted": 1}
        assert left_out(conn, admin, world["org"]).note() == ""
        assert view_level(conn, viewer, world["org"]) is Classification.INTERNAL
        assert view_level(conn, analyst, world["org"]) is Classification.CONFIDENTIAL
        assert view_level(conn, admin, world["org"]) is Classification.RESTRICTED
        catalogue = bx.catalogue(conn, viewer_brand, viewer)
        assert world["confidential"] not in catalogue.index and world["restricted"] not in catalogue.index
        periods = bx.periods(conn, viewer, viewer_brand, world["project"])
        breakdown = bx.score_breakdown(conn, viewer, viewer_brand, world["project"], periods[-1])
        assert not {world["confidential"], world["restricted"]} & set(breakdown["metric_id"])
        moved = bx.score_waterfall(conn, viewer, viewer_brand, world["project"], periods[0], periods[-1])
        assert not {world["confidential"], world["restricted"]} & set(moved.frame["metric_id"])
        assert "Metrics left out" in set(moved.frame["metric"])  # pooled, so the bars still add up
        assert moved.frame["contribution"].sum() == pytest.approx(moved.score_to - moved.score_from)
        series = bx.metric_series(conn, viewer, viewer_brand, world["project"], world["confidential"])
        assert series.empty
        # The confidential section's scores are left out; the total stays.
        levels = set(conn.execute(select(DCScore.level, DCScore.node_id).where(
            scope_filter(viewer, "portfolio:read", DCScore))).all())
        assert ("section", world["section"]) not in levels and any(level == "total" for level, _ in levels)
        assert ("section", world["section"]) in set(conn.execute(select(DCScore.level, DCScore.node_id).where(
            scope_filter(analyst, "portfolio:read", DCScore))).all())
        drivers = pf.score_drivers(conn, world["project"], [viewer_brand], periods[0], periods[-1],
                                   clearance=viewer.clearance.value)
        assert not {world["confidential"], world["restricted"]} & set(drivers["metric_id"])


def _scenario(world, owner) -> int:
    with world["db"].session() as s:
        scenario = Scenario(organization_id=world["org"], project_id=world["project"], owner_id=owner.user_id,
                            name="Classified plan", kind="budget", inputs={}, constraints={}, result={},
                            status="saved")
        s.add(scenario)
        s.flush()
        return scenario.id


def test_scenarios_above_the_clearance_are_not_listed_or_readable(world):
    db, bm, pm = world["db"], who(world, "Brand Manager"), who(world, "Portfolio Manager")
    analyst, admin = who(world, "Analyst"), who(world, "Organization Administrator")
    mine = _scenario(world, bm)
    with pytest.raises(ClassificationError, match="up to confidential"):
        set_scenario_level(db, bm, mine, "restricted")  # its owner would lose it
    with pytest.raises(Forbidden):
        set_scenario_level(db, pm, mine, "public")  # not its owner
    with pytest.raises(ClassificationError):
        set_scenario_level(db, bm, mine, "top secret")
    assert set_scenario_level(db, bm, mine, "confidential") == "confidential"
    assert get_scenario(db, pm, mine)["classification"] == "confidential"

    theirs = _scenario(world, admin)
    assert any(x["id"] == theirs for x in list_scenarios(db, pm))
    assert set_scenario_level(db, admin, theirs, "restricted") == "restricted"
    for reader in (pm, analyst):
        assert not any(x["id"] == theirs for x in list_scenarios(db, reader))
        with pytest.raises(Forbidden):
            get_scenario(db, reader, theirs)
        with pytest.raises(LookupError):
            set_scenario_level(db, reader, theirs, "public")  # what they cannot see does not exist for them
    assert get_scenario(db, admin, theirs)["classification"] == "restricted"
    with db.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.CLASSIFICATION_CHANGED,
                                                    AuditEvent.target_type == "scenario",
                                                    AuditEvent.target_id.in_([str(mine), str(theirs)]))).all()
        assert sorted(e.data["after"] for e in events) == ["confidential", "restricted"]


def test_only_framework_administrators_classify_metrics(world):
    db = world["db"]
    with pytest.raises(Forbidden):
        set_framework_level(db, who(world, "Brand Manager"), "metric", world["confidential"], "public")
    with pytest.raises(LookupError):
        set_framework_level(db, who(world, "Organization Administrator"), "metric", 10 ** 30, "public")
    with pytest.raises(ClassificationError):
        set_framework_level(db, who(world, "Organization Administrator"), "platform", 1, "public")
    with db.session() as s:
        assert s.get(Metric, world["confidential"]).classification == "confidential"


@pytest.mark.parametrize("fmt", ["pdf", "xlsx"])
def test_an_export_of_confidential_data_carries_a_watermark_and_an_audit_event(world, fmt):
    db, bm = world["db"], who(world, "Brand Manager")
    when = datetime(2026, 12, 7, 18, 5, tzinfo=UTC)
    report = render(db, bm, "brand", {"brand_id": world["brand"], "project_id": world["project"]}, fmt, now=when)
    line = "Confidential · exported by brand@"
    if fmt == "pdf":
        pages = PdfReader(io.BytesIO(report.content)).pages
        text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))
        assert line in text and "2026-12-07 18:05 UTC" in text
        assert "1 metric left out: classified restricted" in text
    else:
        summary = {row[0]: row[1] for row in load_workbook(io.BytesIO(report.content))["Summary"].iter_rows(
            values_only=True) if row[0]}
        assert summary["Classification"] == "Confidential"
        assert summary["Watermark"].startswith(line) and summary["Watermark"].endswith("2026-12-07 18:05 UTC")
    with db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.CLASSIFIED_EXPORT)
                          .order_by(AuditEvent.id.desc())).first()
        assert event.data["classification"] == "confidential" and event.data["format"] == fmt
        assert event.actor_id == bm.user_id and event.data["file"] == report.filename


def test_organization_defaults_are_validated_audited_and_given_to_new_items(world):
    from core.security import SecuritySettings
    from core.settings import SettingsInvalid, read_settings, save_settings
    from core.setup import framework as fw

    db, admin, org = world["db"], who(world, "Organization Administrator"), world["org"]
    security = SecuritySettings()
    values = read_settings(db, admin, org, security).values()
    assert values["default_metric_classification"] == "internal"
    with pytest.raises(SettingsInvalid) as refused:
        save_settings(db, admin, org, {**values, "default_scenario_classification": "secret"}, security)
    assert "default_scenario_classification" in refused.value.problems
    assert read_settings(db, admin, org, security).values() == values  # nothing half-applied
    _, changes = save_settings(db, admin, org, {**values, "default_metric_classification": "Confidential",
                                                "default_scenario_classification": "restricted"}, security)
    try:
        assert changes["default_metric_classification"] == ["internal", "confidential"]
        with db.session() as s:
            platform = s.scalars(select(Platform.id).join(Section).where(Section.organization_id == org)).first()
        metric = fw.create_metric(db, admin, org, platform, {"code": "classified_new", "name": "Classified new"})
        with db.session() as s:
            assert s.get(Metric, metric).classification == "confidential"
        # A scenario saved by an Analyst takes the default, but never above what the Analyst reads.
        from core.scenarios import prepare_scenario

        analyst = who(world, "Analyst")
        scenario = prepare_scenario(db, analyst, "Default level", {"inputs": {"brand_ids": [world["brand"]]}})
        assert scenario.classification == "confidential"
    finally:
        save_settings(db, admin, org, values, security)


def test_an_imported_data_set_s_level_classifies_its_record_not_its_values(world):
    """The decision in docs/SECURITY.md: a batch's level hides the import record (file, counts, who) from
    readers below it; the values it wrote read at their metric's and section's level, as any value."""
    from core.imports.service import commit
    from core.models import ImportBatch, Role, RoleGrant

    db, org, brand = world["db"], world["org"], world["brand"]
    admin = who(world, "Organization Administrator")
    with db.session() as s:
        metric_id, period, value = s.execute(
            select(MetricValue.metric_id, MetricValue.period, MetricValue.raw_value)
            .join(Metric, Metric.id == MetricValue.metric_id)
            .where(MetricValue.brand_id == brand, Metric.classification == "internal",
                   Metric.id.not_in([world["confidential"], world["restricted"]]),
                   Metric.platform_id.in_(select(Platform.id).where(Platform.section_id != world["section"])))
            .order_by(MetricValue.metric_id, MetricValue.period.desc())).first()
        metric = s.get(Metric, metric_id)
        code, brand_name, maximum = metric.code, s.get(Brand, brand).name, metric.max_value
        s.get(Organization, org).default_import_classification = "restricted"
        # An Analyst over the whole organization: reads confidential, lists the organization's imports.
        reader = User(email="org-analyst@classified.test", name="Org analyst", organization_id=org)
        s.add(reader)
        s.flush()
        analyst_role = s.scalar(select(Role.id).where(Role.name == "Analyst", Role.organization_id.is_(None)))
        s.add(RoleGrant(user_id=reader.id, role_id=analyst_role, scope_type="organization", scope_id=org))
        reader_id = reader.id
    new_value = round(value * 0.97 if value else 1.0, 6)
    new_value = min(new_value, maximum) if maximum is not None else new_value
    body = f"brand,metric,period,value\n{brand_name},{code},{period.isoformat()},{new_value}\n".encode()
    try:
        report = commit(db, org, body, {"kind": "metrics", "layout": "long"}, admin.user_id, filename="secret.csv")
        assert report.ok, report
        with db.session() as s:
            batch = s.scalars(select(ImportBatch).where(ImportBatch.organization_id == org)
                              .order_by(ImportBatch.id.desc())).first()
            assert (batch.filename, batch.classification) == ("secret.csv", "restricted")
            analyst = load_principal(db, reader_id)
            assert analyst.clearance is Classification.CONFIDENTIAL
            assert batch.id in {b.id for b in records.import_batches(s, admin)}
            assert batch.id not in {b.id for b in records.import_batches(s, analyst)}
            assert records.import_batches(s, analyst, batch.id) == []
            rows, _ = records.metric_values(s, analyst, brand_id=brand, metric_id=metric_id, limit=1000)
        assert any(r.period == period and abs(r.raw_value - new_value) < 1e-9 for r in rows)
    finally:
        with db.session() as s:
            s.get(Organization, org).default_import_classification = "internal"
            s.delete(s.get(User, reader_id))


def test_a_copy_or_a_run_from_a_classified_scenario_keeps_its_level(world):
    """Saving never declassifies: a copy of a confidential scenario, and a result saved with the level of the
    scenario it was started from, are confidential although the organization's default is internal."""
    from core.scenarios import save_copy, save_result

    db, analyst = world["db"], who(world, "Analyst")
    source = _scenario(world, analyst)
    with db.session() as s:
        sc = s.get(Scenario, source)
        sc.classification = "confidential"
        sc.result = {"inputs": {"brand_ids": [world["brand"]]}, "cells": []}
    copy = save_copy(db, analyst, source, "Copy of a confidential plan")
    rerun = save_result(db, analyst, "Run from it", {"inputs": {"brand_ids": [world["brand"]]}},
                        at_least="confidential")
    plain = save_result(db, analyst, "Fresh run", {"inputs": {"brand_ids": [world["brand"]]}})
    try:
        with db.session() as s:
            assert [s.get(Scenario, i).classification for i in (copy, rerun, plain)] == [
                "confidential", "confidential", "internal"]
    finally:
        with db.session() as s:
            for ident in (source, copy, rerun, plain):
                s.delete(s.get(Scenario, ident))
