"""Projects: create, rename, archive; how their DC scores are normalized and weighted; which brands
they hold and in which role (own, competitor, benchmark).

Every function takes the acting principal and needs `portfolio:manage` on the project's
organization; each change is validated first (nothing is written when it is refused) and audited
in the same transaction as the change.

Scores stay current: a DC score is normalized across the brands of its project (min–max or
percentile per metric and period), so changing the normalization, the section weights or the
membership can move every brand's score in every period. Those changes recompute the whole
project with `core.scoring.service.recompute_projects` right after they commit; its write bumps the
data token (triggers on `dc_scores`, `projects` and `project_brands`), so cached read models are
not served again. A rename or an archive changes no score and recomputes nothing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.models.base import utcnow
from core.models.metrics import Section
from core.models.portfolio import Brand, Normalization, Project, ProjectBrand
from core.scoring.service import recompute_projects
from core.security.audit import record
from core.security.principal import Principal
from core.setup.portfolio_common import (
    Audit,
    PortfolioError,
    check_role,
    clean_name,
    load_brand,
    load_project,
    name_race,
    require_org,
    unique_name,
)

log = logging.getLogger(__name__)
MAX_WEIGHT = 1000.0
NORMALIZATIONS = tuple(n.value for n in Normalization)


def known_sections(session: Session) -> list[str]:
    """The section names a project may weight (the scoring framework's sections)."""
    return list(session.scalars(select(Section.name).order_by(Section.position, Section.name)))


def section_names(db: Database) -> list[str]:
    with db.session() as s:
        return known_sections(s)


def check_normalization(raw: Any) -> str:
    value = str(raw or "").strip().lower()
    if value not in NORMALIZATIONS:
        raise PortfolioError(f"normalization is “minmax” (best brand 100, worst 0) or “percentile” "
                             f"(rank among the project's brands), not “{raw}”")
    return value


def check_weights(raw: Any, sections: list[str]) -> dict[str, float]:
    """{section: weight} with every section known (any case) and every weight a number above 0."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PortfolioError("section weights are a list of section = weight pairs")
    by_key = {s.casefold(): s for s in sections}
    out: dict[str, float] = {}
    for name, weight in raw.items():
        section = by_key.get(str(name).strip().casefold())
        if section is None:
            raise PortfolioError(f"there is no section “{name}”; the sections are {', '.join(sections)}")
        try:
            value = float(weight)
        except (TypeError, ValueError):
            raise PortfolioError(f"the weight of {section} must be a number, not “{weight}”") from None
        if not math.isfinite(value) or value <= 0 or value > MAX_WEIGHT:
            raise PortfolioError(f"the weight of {section} must be above 0 and at most {MAX_WEIGHT:g}")
        out[section] = value
    return out


def _members(session: Session, project_ids: list[int]) -> dict[int, list[dict]]:
    rows = session.execute(
        select(ProjectBrand.project_id, Brand.id, Brand.name, ProjectBrand.role, Brand.archived_at)
        .join(Brand, Brand.id == ProjectBrand.brand_id).where(ProjectBrand.project_id.in_(project_ids))
        .order_by(ProjectBrand.role.desc(), func.lower(Brand.name))).all()
    out: dict[int, list[dict]] = {p: [] for p in project_ids}
    for project_id, brand_id, name, role, archived in rows:
        out[project_id].append({"id": brand_id, "name": name, "role": role, "archived": archived is not None})
    return out


def list_projects(db: Database, principal: Principal, organization_id: Any) -> list[dict]:
    """The organization's projects (archived ones too, marked) with their brands and scoring settings."""
    org = require_org(principal, organization_id)
    with db.session() as s:
        projects = s.scalars(select(Project).where(Project.organization_id == org)
                             .order_by(Project.archived_at.is_not(None), func.lower(Project.name))).all()
        members = _members(s, [p.id for p in projects])
        return [{"id": p.id, "organization_id": p.organization_id, "name": p.name,
                 "normalization": str(getattr(p.normalization, "value", p.normalization)),
                 "section_weights": dict(p.section_weights or {}), "archived": p.archived_at is not None,
                 "archived_at": p.archived_at, "scores_computed_at": p.scores_computed_at,
                 "brands": members[p.id]} for p in projects]


def get_project(db: Database, principal: Principal, project_id: Any) -> dict:
    with db.session() as s:
        org = load_project(s, principal, project_id).organization_id
    return next(p for p in list_projects(db, principal, org) if p["id"] == int(project_id))


def _rescore(db: Database, project_id: int) -> None:
    """Recompute the project's scores (all periods): normalization spans every brand of the project."""
    with db.session() as s:
        has_members = s.scalar(select(func.count()).select_from(ProjectBrand)
                               .where(ProjectBrand.project_id == project_id))
    if has_members:
        recompute_projects(db, [project_id])


def create_project(db: Database, principal: Principal, organization_id: Any, name: Any,
                   normalization: Any = "minmax", section_weights: Any = None) -> int:
    """A new, empty project of the organization; returns its id."""
    org = require_org(principal, organization_id)
    with name_race("project"), db.session() as s:
        clean = clean_name(name, "project")
        method = check_normalization(normalization)
        weights = check_weights(section_weights, known_sections(s))
        unique_name(s, Project, org, clean, "project")
        project = Project(organization_id=org, name=clean, normalization=Normalization(method),
                          section_weights=weights)
        s.add(project)
        s.flush()
        record(s, Audit.PROJECT_CREATED, actor=principal, organization_id=org, target=project,
               data={"name": clean, "normalization": method, "section_weights": weights})
        return project.id


def rename_project(db: Database, principal: Principal, project_id: Any, name: Any) -> None:
    with name_race("project"), db.session() as s:
        project = load_project(s, principal, project_id)
        clean = clean_name(name, "project")
        unique_name(s, Project, project.organization_id, clean, "project", own_id=project.id)
        before, project.name = project.name, clean
        record(s, Audit.PROJECT_RENAMED, actor=principal, organization_id=project.organization_id, target=project,
               data={"before": before, "after": clean})


def set_project_archived(db: Database, principal: Principal, project_id: Any, archived: bool) -> None:
    """Archive (off the pages and lists, data and scores kept) or bring back a project."""
    with db.session() as s:
        project = load_project(s, principal, project_id)
        if (project.archived_at is not None) == bool(archived):
            return  # already so: nothing to change or audit
        project.archived_at = utcnow() if archived else None
        record(s, Audit.PROJECT_ARCHIVED if archived else Audit.PROJECT_UNARCHIVED, actor=principal,
               organization_id=project.organization_id, target=project, data={"name": project.name})


def set_scoring(db: Database, principal: Principal, project_id: Any, *, normalization: Any = None,
                section_weights: Any = None) -> bool:
    """Change how the project's scores are normalized and weighted (None: keep); recomputes them.

    `section_weights` replaces the whole mapping (a section left out weighs 1). Returns whether
    anything changed.
    """
    with db.session() as s:
        project = load_project(s, principal, project_id)
        before = {"normalization": str(getattr(project.normalization, "value", project.normalization)),
                  "section_weights": dict(project.section_weights or {})}
        after = dict(before)
        if normalization is not None:
            after["normalization"] = check_normalization(normalization)
        if section_weights is not None:
            after["section_weights"] = check_weights(section_weights, known_sections(s))
        if after == before:
            return False
        project.normalization = Normalization(after["normalization"])
        project.section_weights = after["section_weights"]
        record(s, Audit.PROJECT_SCORING_CHANGED, actor=principal, organization_id=project.organization_id,
               target=project, data={"before": before, "after": after})
        ident = project.id
    _rescore(db, ident)
    return True


def set_member(db: Database, principal: Principal, project_id: Any, brand_id: Any, role: Any = "own") -> bool:
    """Put a brand of the same organization in the project with `role`, or change its role; recomputes.

    Returns whether anything changed.
    """
    with db.session() as s:
        project = load_project(s, principal, project_id)
        brand = load_brand(s, principal, brand_id)
        role = check_role(role)
        if brand.organization_id != project.organization_id:
            raise PortfolioError("a project holds brands of its own organization only")
        member = s.get(ProjectBrand, (project.id, brand.id))
        if member is not None and member.role == role:
            return False
        before = None if member is None else member.role
        if member is None:
            s.add(ProjectBrand(project_id=project.id, brand_id=brand.id, role=role))
        else:
            member.role = role
        record(s, Audit.PROJECT_MEMBER_SET, actor=principal, organization_id=project.organization_id,
               target=project, data={"brand_id": brand.id, "brand": brand.name, "before": before, "role": role})
        ident = project.id
    _rescore(db, ident)
    return True


def remove_member(db: Database, principal: Principal, project_id: Any, brand_id: Any) -> bool:
    """Take a brand out of the project (its data stays; its scores in this project go); recomputes."""
    with db.session() as s:
        project = load_project(s, principal, project_id)
        brand = load_brand(s, principal, brand_id)
        member = s.get(ProjectBrand, (project.id, brand.id))
        if member is None:
            return False
        s.delete(member)
        record(s, Audit.PROJECT_MEMBER_REMOVED, actor=principal, organization_id=project.organization_id,
               target=project, data={"brand_id": brand.id, "brand": brand.name, "role": member.role})
        ident = project.id
    _rescore(db, ident)
    return True
