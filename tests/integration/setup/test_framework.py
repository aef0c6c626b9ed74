"""The metric framework per organization: template, edits, weight preview, saving (version and full
recompute), files, and no organization reading or writing another's framework."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.demo.catalogue import METRICS, SECTION_WEIGHTS
from core.models import (
    AuditEvent,
    Brand,
    DCScore,
    FrameworkVersion,
    Metric,
    MetricValue,
    Organization,
    Platform,
    Project,
    ProjectBrand,
    Section,
)
from core.scoring.engine import compute_scores
from core.scoring.service import load_inputs, recompute_projects
from core.security import Principal
from core.security.authorizer import Forbidden
from core.security.permissions import BUILTIN_ROLES
from core.setup import framework as fw
from core.setup.__main__ import main as setup_main
from core.setup.framework_files import export_framework, import_framework
from core.setup.framework_rules import FrameworkError
from core.setup.framework_weights import Proposal, apply_template, parse_proposal, preview, set_weights

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
# One metric of each section of the template, so every section weight matters.
USED = [next(m for m in METRICS if m.platform == p) for p in ("Amazon", "Google Ads", "SEO", "Instagram")]


def person(db, org: int, role: str = "Organization Administrator") -> Principal:
    return Principal(user_id=None, organization_id=org, organizations={org: BUILTIN_ROLES[role]}, db=db)


@pytest.fixture
def world(db):
    """Two organizations, each a project of three brands, the template framework and two months of
    values for four metrics (one per section)."""
    ids: dict = {}
    with db.session() as s:
        for key in ("A", "B"):
            org = Organization(name=f"Org {key}", slug=f"org-{key.lower()}")
            s.add(org)
            s.flush()
            project = Project(organization_id=org.id, name=f"P{key}")
            brands = [Brand(organization_id=org.id, name=f"{key}{i}") for i in range(3)]
            s.add_all([project, *brands])
            s.flush()
            s.add_all([ProjectBrand(project_id=project.id, brand_id=b.id, role="own" if i == 0 else "competitor")
                       for i, b in enumerate(brands)])
            ids[key] = {"org": org.id, "project": project.id, "brands": [b.id for b in brands]}
    for key in ("A", "B"):
        assert apply_template(db, person(db, ids[key]["org"]), ids[key]["org"]) == len(METRICS)
    with db.session() as s:
        for key in ("A", "B"):
            codes = dict(s.execute(select(Metric.code, Metric.id)
                                   .where(Metric.organization_id == ids[key]["org"])).all())
            for b, brand in enumerate(ids[key]["brands"]):
                for m, spec in enumerate(USED):
                    # Brand 2 leads on the first three sections, brand 0 on Socialwatch.
                    base = spec.typical_low + (spec.typical_high - spec.typical_low) * ((b if m < 3 else 2 - b) / 3)
                    for k, period in enumerate((JAN, FEB)):
                        s.add(MetricValue(brand_id=brand, metric_id=codes[spec.code], period=period,
                                          raw_value=base + k * 0.01))
            ids[key]["metrics"] = codes
    recompute_projects(db)
    ids["db"] = db
    return ids


def _stored(db, project: int) -> dict:
    with db.session() as s:
        rows = s.execute(select(DCScore.period, DCScore.brand_id, DCScore.score)
                         .where(DCScore.project_id == project, DCScore.level == "total")).all()
    return {(str(p)[:10], b): round(sc, 9) for p, b, sc in rows}


def _fresh(db, project: int) -> dict:
    with db.engine.connect() as conn:
        scores = compute_scores(load_inputs(conn, [project]))
    total = scores[scores["level"] == "total"]
    periods = [pd.Timestamp(p).date().isoformat() for p in total["period"]]
    return {(p, b): round(sc, 9) for p, b, sc in zip(periods, total["brand_id"], total["score"], strict=True)}


def _version(db, org: int) -> int:
    with db.session() as s:
        return s.get(FrameworkVersion, org).version


def _section(db, org: int, name: str) -> int:
    with db.session() as s:
        return s.scalar(select(Section.id).where(Section.organization_id == org, Section.name == name))


def test_the_template_gives_each_organization_its_own_framework(world):
    db, a = world["db"], world["A"]
    tree = fw.framework(db, person(db, a["org"]), a["org"])
    assert [s["name"] for s in tree["sections"]] == list(SECTION_WEIGHTS)
    assert [s["weight"] for s in tree["sections"]] == list(SECTION_WEIGHTS.values())
    assert sum(len(p["metrics"]) for s in tree["sections"] for p in s["platforms"]) == len(METRICS)
    assert all(m["description"] for s in tree["sections"] for p in s["platforms"] for m in p["metrics"])
    assert tree["version"] == 1
    with db.session() as s:  # the same codes, different rows
        assert s.scalar(select(func.count(Metric.id.distinct()))) == 2 * len(METRICS)
    with pytest.raises(FrameworkError, match="already has a framework"):
        apply_template(db, person(db, a["org"]), a["org"])
    assert _version(db, a["org"]) == 1


def test_preview_shows_what_a_weight_change_would_move_and_writes_nothing(world):
    db, a = world["db"], world["A"]
    admin = person(db, a["org"])
    before, version = _stored(db, a["project"]), _version(db, a["org"])
    # Socialwatch weighs 40x: the brand that leads it (not the overall leader) comes first.
    socialwatch = _section(db, a["org"], "Socialwatch")
    with db.session() as s:
        leader = s.scalar(select(DCScore.brand_id).where(DCScore.project_id == a["project"], DCScore.period == FEB,
                                                         DCScore.level == "section", DCScore.node_id == socialwatch)
                          .order_by(DCScore.score.desc()).limit(1))
    overall = max((b for b in a["brands"]), key=lambda b: before[FEB.isoformat(), b])
    assert leader != overall
    proposal = parse_proposal({"sections": {str(socialwatch): 40}})
    shown = preview(db, admin, a["org"], proposal)
    assert _stored(db, a["project"]) == before and _version(db, a["org"]) == version
    assert shown["periods"] == {"PA": FEB.isoformat()}
    moved = {r["brand_id"]: r for r in shown["rows"]}
    assert moved[leader]["old_rank"] > 1 and moved[leader]["new_rank"] == 1
    assert moved[overall]["old_rank"] == 1 and moved[overall]["new_rank"] > 1
    for row in shown["rows"]:
        assert row["old_score"] == pytest.approx(before[FEB.isoformat(), row["brand_id"]], abs=0.01)

    set_weights(db, admin, a["org"], proposal)
    after = _stored(db, a["project"])
    for row in shown["rows"]:  # the preview said what saving does
        assert row["new_score"] == pytest.approx(after[FEB.isoformat(), row["brand_id"]], abs=0.01)
    # Every month was recomputed with the new framework, and the version moved on.
    assert after == _fresh(db, a["project"]) and after[JAN.isoformat(), a["brands"][0]] != before[
        JAN.isoformat(), a["brands"][0]]
    assert _version(db, a["org"]) == version + 1
    with db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "framework.weights_changed")).one()
        assert event.organization_id == a["org"] and event.data["version"] == version + 1
        label = fw.version_of(s, a["org"]).label()
    assert label.startswith(f"framework v{version + 1}, ")
    assert fw.scores_label(db, a["org"]) == f"scores computed with {label}"  # as the Portfolio page says it
    # The other organization's scores and version did not move.
    assert _version(db, world["B"]["org"]) == 1


def test_a_projects_own_section_weights_still_win(world):
    db, a = world["db"], world["A"]
    with db.session() as s:
        s.get(Project, a["project"]).section_weights = {"Socialwatch": 0.25}
    recompute_projects(db)
    proposal = Proposal(sections={_section(db, a["org"], "Socialwatch"): 40})
    assert preview(db, person(db, a["org"]), a["org"], proposal)["rows"] == []


@pytest.mark.parametrize("weight", [0, -1, "nan", "inf", "heavy", 5000])
def test_bad_weights_are_refused_and_change_nothing(world, weight):
    db, a = world["db"], world["A"]
    before = _stored(db, a["project"])
    with pytest.raises(FrameworkError, match="weight"):
        set_weights(db, person(db, a["org"]), a["org"],
                    parse_proposal({"metrics": {str(a["metrics"][USED[0].code]): weight}}))
    assert _version(db, a["org"]) == 1 and _stored(db, a["project"]) == before


def test_an_organization_never_reads_or_writes_anothers_framework(world):
    db, a, b = world["db"], world["A"], world["B"]
    admin_a = person(db, a["org"])
    their_section = _section(db, b["org"], "Marketplace")
    their_metric = b["metrics"][USED[0].code]
    with pytest.raises(Forbidden):
        fw.framework(db, admin_a, b["org"])
    with pytest.raises(Forbidden):
        set_weights(db, admin_a, b["org"], Proposal(sections={their_section: 3}))
    with pytest.raises(Forbidden):
        preview(db, admin_a, b["org"], Proposal(sections={their_section: 3}))
    # Their ids under our organization: not found, whatever the call.
    calls = [
        lambda: set_weights(db, admin_a, a["org"], Proposal(sections={their_section: 3})),
        lambda: preview(db, admin_a, a["org"], Proposal(metrics={their_metric: 3})),
        lambda: fw.update_section(db, admin_a, a["org"], their_section, name="Ours now"),
        lambda: fw.update_metric(db, admin_a, a["org"], their_metric, {"weight": 9}),
        lambda: fw.delete_metric(db, admin_a, a["org"], their_metric, discard_values=True),
        lambda: fw.create_platform(db, admin_a, a["org"], their_section, "Sneaky"),
        lambda: fw.delete_section(db, admin_a, a["org"], their_section, discard_values=True),
    ]
    for call in calls:
        with pytest.raises(FrameworkError, match="no such"):
            call()
    tree = fw.framework(db, person(db, b["org"]), b["org"])
    assert tree["version"] == 1 and [s["name"] for s in tree["sections"]] == list(SECTION_WEIGHTS)
    # Lesser roles may read the framework of their organization but not change it.
    analyst = person(db, a["org"], "Analyst")
    assert fw.framework(db, analyst, a["org"])["sections"]
    with pytest.raises(Forbidden):
        fw.create_section(db, analyst, a["org"], "Retail")
    with pytest.raises(Forbidden):
        preview(db, person(db, a["org"], "Portfolio Manager"), a["org"], Proposal(sections={their_section: 3}))


def test_sections_platforms_and_metrics_are_edited_with_clear_refusals(world):
    db, a = world["db"], world["A"]
    admin, org = person(db, a["org"]), a["org"]
    section = fw.create_section(db, admin, org, "  Retail   Media ", 0.5)
    platform = fw.create_platform(db, admin, org, section, "Instacart", 2)
    metric = fw.create_metric(db, admin, org, platform, {"code": "ic_share", "name": "Share of shelf", "unit": "%",
                                                         "direction": "higher", "weight": 1.5,
                                                         "description": "Share of the digital shelf."})
    for bad, message in [({"code": "ic share", "name": "x"}, "code"), ({"code": "IC_SHARE", "name": "x"}, "already"),
                         ({"code": "x1", "name": "x", "direction": "up"}, "higher or lower"),
                         ({"code": "x2", "name": ""}, "name"),
                         ({"code": "x3", "name": "x", "min_value": 5, "max_value": 1}, "lowest")]:
        with pytest.raises(FrameworkError, match=message):
            fw.create_metric(db, admin, org, platform, bad)
    with pytest.raises(FrameworkError, match="already has a section"):
        fw.create_section(db, admin, org, "marketplace")
    # A rename follows into the projects' own section weights.
    with db.session() as s:
        s.get(Project, a["project"]).section_weights = {"Retail Media": 2}
    fw.update_section(db, admin, org, section, name="Retail")
    with db.session() as s:
        assert s.get(Project, a["project"]).section_weights == {"Retail": 2}
        assert s.get(Metric, metric).description == "Share of the digital shelf."
    fw.update_metric(db, admin, org, metric, {"direction": "lower", "weight": 3})
    # Removing a metric with values: refused unless confirmed; then its values go and scores follow.
    used = a["metrics"][USED[0].code]
    with pytest.raises(FrameworkError, match="imported values"):
        fw.delete_metric(db, admin, org, used)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MetricValue).where(MetricValue.metric_id == used)) == 6
    assert fw.delete_metric(db, admin, org, used, discard_values=True) == 6
    fw.delete_section(db, admin, org, section)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MetricValue).where(MetricValue.metric_id == used)) == 0
        assert s.get(Platform, platform) is None and s.get(Project, a["project"]).section_weights == {}
    assert _stored(db, a["project"]) == _fresh(db, a["project"])
    # The template, then one version per saved change (3 creates, 2 updates, 2 removals), none per refusal.
    assert _version(db, org) == 1 + 3 + 2 + 2


def test_a_framework_file_goes_out_and_in_again(world, tmp_path):
    db, a = world["db"], world["A"]
    with db.session() as s:
        empty = Organization(name="Org C", slug="org-c")
        s.add(empty)
        s.flush()
        c = empty.id
    admin_a, admin_c = person(db, a["org"]), person(db, c)
    fw.update_metric(db, admin_a, a["org"], a["metrics"][USED[0].code], {"name": "=HYPERLINK(1)", "weight": 2.5})
    for fmt in ("json", "csv"):
        text = export_framework(db, admin_a, a["org"], fmt)
        if fmt == "csv":
            assert "'=HYPERLINK(1)" in text  # neutralized in the spreadsheet...
        assert import_framework(db, admin_c, c, text, fmt)["created"] == (len(METRICS) if fmt == "json" else 0)

        def shape(org, who):
            return [(s["name"], s["weight"], [(p["name"], p["weight"], [(m["code"], m["name"], m["weight"],
                     m["direction"], m["unit"], m["description"], m["min_value"], m["max_value"])
                     for m in p["metrics"]]) for p in s["platforms"]]) for s in fw.framework(db, who, org)["sections"]]

        assert shape(c, admin_c) == shape(a["org"], admin_a)  # ...and back as it was
    # One bad row: nothing is written.
    rows = json.loads(export_framework(db, admin_a, a["org"], "json"))
    rows["sections"][0]["platforms"][0]["metrics"][0]["weight"] = 0
    rows["sections"][0]["platforms"][0]["metrics"][1]["name"] = "Changed"
    version = _version(db, c)
    with pytest.raises(FrameworkError, match="Row"):
        import_framework(db, admin_c, c, json.dumps(rows), "json")
    assert _version(db, c) == version
    with db.session() as s:
        assert not s.scalar(select(func.count()).select_from(Metric).where(Metric.organization_id == c,
                                                                           Metric.name == "Changed"))
    with pytest.raises(Forbidden):
        import_framework(db, admin_a, c, json.dumps(rows), "json")


def test_the_command_line_starts_exports_and_imports_a_framework(world, tmp_path, capsys):
    db = world["db"]
    url = db.engine.url.render_as_string(hide_password=False)
    with db.session() as s:
        s.add(Organization(name="Org D", slug="org-d"))
    assert setup_main(["framework-from-template", "--org", "org-d", "--database-url", url]) == 0
    assert setup_main(["framework-from-template", "--org", "org-d", "--database-url", url]) == 1
    assert "already has a framework" in capsys.readouterr().err
    out = tmp_path / "d.csv"
    assert setup_main(["framework-export", "--org", "org-d", "--format", "csv", "-o", str(out),
                       "--database-url", url]) == 0
    text = out.read_text(encoding="utf-8").replace("amazon_avg_rating", "amazon_avg_stars", 1)
    out.write_text(text, encoding="utf-8")
    assert setup_main(["framework-import", str(out), "--org", "org-d", "--database-url", url]) == 0
    assert "1 metrics created" in capsys.readouterr().out
    assert setup_main(["framework-export", "--org", "nobody", "--database-url", url]) == 2
