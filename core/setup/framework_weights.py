"""Weights of an organization's framework: preview a change on the current month, save it, or start
the framework from the template.

A preview computes each project's scores for its latest scored month twice in memory with the
scoring engine (as stored, and with the proposed weights) and writes nothing; it lists the brands
whose score or rank moves. Saving goes through `core.setup.framework.change`: one new framework
version, every month of every project of the organization recomputed in the same transaction.

A project's own section weights (`Project.section_weights`, by section name) override the
framework's section weight for that project, so changing such a section's weight moves nothing
there; the preview says so by not listing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.demo.catalogue import build_framework
from core.models import Brand, DCScore, Metric, Platform, Project, ProjectBrand, Section
from core.scoring.engine import ScoreInputs, compute_scores
from core.scoring.service import load_inputs
from core.security.authorizer import authorize
from core.security.principal import Principal
from core.setup.framework import FRAMEWORK_MANAGE, change
from core.setup.framework_rules import FrameworkError, NotInFramework, clean_weight

MOVE = 0.05  # score points: a smaller change is not listed as a move
LEVELS = (("sections", Section, "section"), ("platforms", Platform, "platform"), ("metrics", Metric, "metric"))


@dataclass(frozen=True)
class Proposal:
    """New weights by id at each level (ids of one organization's framework)."""

    sections: dict[int, float] = field(default_factory=dict)
    platforms: dict[int, float] = field(default_factory=dict)
    metrics: dict[int, float] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.sections or self.platforms or self.metrics)


def parse_proposal(raw: Any) -> Proposal:
    """`{"sections": {id: weight}, "platforms": {...}, "metrics": {...}}` from a page, the API or a
    file, checked (ids are whole numbers, weights more than 0)."""
    if not isinstance(raw, dict) or set(raw) - {"sections", "platforms", "metrics"}:
        raise FrameworkError("Give new weights as sections, platforms and metrics, each by id.")
    levels: dict[str, dict[int, float]] = {}
    for key, _model, what in LEVELS:
        given = raw.get(key) or {}
        if not isinstance(given, dict):
            raise FrameworkError(f"Give the {key}' weights by id.")
        out = {}
        for ident, weight in given.items():
            try:
                number = int(ident)
            except (TypeError, ValueError):
                raise NotInFramework(what) from None
            if not 0 < number < 2**31:
                raise NotInFramework(what)
            out[number] = clean_weight(weight, f"a {what}")
        levels[key] = out
    return Proposal(**levels)


def _check_ids(conn: Connection | Session, organization_id: int, proposal: Proposal) -> None:
    """Every id is of this organization's framework: a forged id of another organization's is refused."""
    owners = {
        "sections": select(Section.id).where(Section.organization_id == organization_id),
        "platforms": select(Platform.id).join(Section).where(Section.organization_id == organization_id),
        "metrics": select(Metric.id).where(Metric.organization_id == organization_id),
    }
    for key, _model, what in LEVELS:
        wanted = set(getattr(proposal, key))
        if any(not 0 < i < 2**31 for i in wanted) or \
                wanted - set(conn.execute(owners[key].where(_id(key).in_(wanted))).scalars()):
            raise NotInFramework(what)


def _id(key: str):
    return {"sections": Section.id, "platforms": Platform.id, "metrics": Metric.id}[key]


def _proposed(inputs: ScoreInputs, proposal: Proposal, overridden: set[int]) -> ScoreInputs:
    """The inputs with the proposed weights (a project's own section weights still win)."""
    metrics = inputs.metrics.copy()
    for ident, weight in proposal.metrics.items():
        if ident in metrics.index:
            metrics.loc[ident, "weight"] = weight
    platforms = inputs.platform_weights.copy()
    for ident, weight in proposal.platforms.items():
        platforms.loc[ident] = weight
    sections = inputs.section_weights.copy() if inputs.section_weights is not None else None
    if sections is not None and len(sections):
        change = sections["section_id"].map(proposal.sections)
        keep = change.isna() | sections["section_id"].isin(overridden)
        sections["weight"] = sections["weight"].where(keep, change)
    return ScoreInputs(inputs.values, metrics, platforms, sections, inputs.method)


def _ranked(scores: pd.DataFrame) -> pd.DataFrame:
    total = scores[scores["level"] == "total"][["brand_id", "score"]].set_index("brand_id")["score"]
    return pd.DataFrame({"score": total, "rank": total.rank(ascending=False, method="min")})


def _project_moves(conn: Connection, project_id: int, name: str, overrides: dict, proposal: Proposal,
                   section_names: dict[int, str]) -> tuple[list[dict], str | None]:
    latest = conn.execute(select(func.max(DCScore.period)).where(DCScore.project_id == project_id,
                                                                 DCScore.level == "total")).scalar()
    if latest is None:
        return [], None
    inputs = load_inputs(conn, [project_id], periods=[latest])
    if inputs.values.empty:
        return [], None
    overridden = {sid for sid, section in section_names.items() if section in (overrides or {})}
    before = _ranked(compute_scores(inputs))
    after = _ranked(compute_scores(_proposed(inputs, proposal, overridden)))
    both = before.add_suffix("_old").join(after.add_suffix("_new"), how="inner")
    moved = both[((both["score_new"] - both["score_old"]).abs() >= MOVE) | (both["rank_new"] != both["rank_old"])]
    if moved.empty:
        return [], str(latest)[:10]
    names = dict(conn.execute(select(Brand.id, Brand.name).where(Brand.id.in_(moved.index.tolist()))).all())
    roles = dict(conn.execute(select(ProjectBrand.brand_id, ProjectBrand.role)
                              .where(ProjectBrand.project_id == project_id)).all())
    period = str(latest)[:10]
    rows = [{"project_id": project_id, "project": name, "period": period, "brand_id": int(bid),
             "brand": names.get(bid, ""), "role": str(getattr(roles.get(bid), "value", roles.get(bid) or "")),
             "old_score": round(float(r.score_old), 2), "new_score": round(float(r.score_new), 2),
             "old_rank": int(r.rank_old), "new_rank": int(r.rank_new)}
            for bid, r in moved.iterrows()]
    return rows, period


def preview(db: Database, principal: Principal, organization_id: int, proposal: Proposal) -> dict:
    """What the proposed weights would do to each project's latest scored month: the brands whose
    score moves by at least MOVE points or whose rank changes (old → new), biggest move first, and
    which projects set their own weight for a changed section (`overridden`: project → sections).
    Computed in memory; nothing is written."""
    organization_id = int(organization_id)
    authorize(principal, FRAMEWORK_MANAGE, ("organization", organization_id))
    with db.engine.connect() as conn:
        _check_ids(conn, organization_id, proposal)
        section_names = dict(conn.execute(select(Section.id, Section.name)
                                          .where(Section.organization_id == organization_id)).all())
        projects = conn.execute(select(Project.id, Project.name, Project.section_weights)
                                .where(Project.organization_id == organization_id, Project.archived_at.is_(None))
                                .order_by(Project.name)).all()
        rows: list[dict] = []
        periods: dict[str, str] = {}
        overridden: dict[str, list[str]] = {}
        for pid, name, overrides in projects:
            moved, period = _project_moves(conn, pid, name, overrides, proposal, section_names)
            rows += moved
            if period:
                periods[name] = period
            mine = [section_names[sid] for sid in proposal.sections if section_names.get(sid) in (overrides or {})]
            if mine:
                overridden[name] = mine
    rows.sort(key=lambda r: (-abs(r["new_score"] - r["old_score"]), r["project"], r["brand"]))
    return {"rows": rows, "periods": periods, "projects": len(projects), "overridden": overridden}


def set_weights(db: Database, principal: Principal, organization_id: int, proposal: Proposal) -> None:
    """Save new weights as one framework version (recomputing the organization's scores)."""
    organization_id = int(organization_id)
    if proposal.is_empty():
        raise FrameworkError("No weight was changed.")

    def edit(s: Session) -> dict:
        _check_ids(s, organization_id, proposal)
        before: dict[str, dict[int, float]] = {}
        for key, model, _what in LEVELS:
            before[key] = {}
            for ident, weight in getattr(proposal, key).items():
                row = s.get(model, ident)
                before[key][ident] = row.weight
                row.weight = weight
        return before

    change(db, principal, organization_id, "framework.weights_changed", edit,
           {key: {str(k): v for k, v in getattr(proposal, key).items()} for key, _m, _w in LEVELS},
           "weights changed")


def apply_template(db: Database, principal: Principal, organization_id: int) -> int:
    """Give an organization without a framework the template (the four default sections with the
    demo's platforms and 60 metrics); returns the number of metrics. Refused when it has one."""
    organization_id = int(organization_id)

    def edit(s: Session) -> int:
        if s.scalar(select(func.count()).select_from(Section).where(Section.organization_id == organization_id)):
            raise FrameworkError("This organization already has a framework; the template only starts an empty one. "
                                 "Change or remove its sections instead.")
        sections, platforms, metrics = build_framework(organization_id)
        s.add_all([*sections, *platforms, *metrics])
        return len(metrics)

    return change(db, principal, organization_id, "framework.template_applied", edit, {}, "started from the template")
