"""Brands: create (as own, competitor or benchmark in one or more projects), rename, archive, delete.

Names are unique per organization whatever their case or spacing ("Acme" and "ACME  " are one
brand to a person), so a duplicate is refused with the other brand's name; two brands that turn
out to be one are merged (`core.setup.brand_merge`), not renamed onto each other.

Deleting a brand removes every row keyed by it (metric values, spend, outcomes, controls,
response curves, memberships, its scores through the triggers of the first migration) at once:
the retention rules of `core.ops.retention` govern how long *data* is kept, while the audit trail
is never deleted, so the `brand.deleted` event (with the number of rows removed per table) stays.
A delete is refused while a saved scenario names the brand: the scenario could no longer be
opened or re-run; delete or archive the scenario first, or archive the brand instead (archived
brands keep their data and scores and leave the pages' lists).

Bulk add (`add_brands_csv`) reads a CSV of name, role, projects and writes all rows or none,
with an error per bad row, like the imports.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.db import Database
from core.models.api import ApiToken
from core.models.base import Base, utcnow
from core.models.portfolio import Brand, Project, ProjectBrand
from core.models.security import RoleGrant
from core.models.work import Scenario
from core.scoring.service import recompute_projects
from core.security.audit import record
from core.security.principal import Principal
from core.setup.portfolio_common import (
    Audit,
    PortfolioConflict,
    PortfolioError,
    check_role,
    clean_name,
    load_brand,
    load_project,
    name_key,
    name_race,
    require_org,
    unique_name,
)

MAX_CSV_BYTES = 1024 * 1024
MAX_CSV_ROWS = 2000


def brand_tables() -> list[Any]:
    """Every table with a foreign key to brands.id, read from the models (so a new one is never missed)."""
    return [t for t in Base.metadata.sorted_tables
            if any(fk.column.table.name == "brands" and fk.column.name == "id" for fk in t.foreign_keys)]


def brand_row_counts(session: Session, brand_id: int) -> dict[str, int]:
    """Rows per table keyed by the brand."""
    return {t.name: int(session.scalar(select(func.count()).select_from(t).where(t.c.brand_id == brand_id)) or 0)
            for t in brand_tables()}


def _scenario_brands(scenario: Scenario) -> set[int]:
    found: set[int] = set()
    for part in (scenario.inputs or {}, scenario.constraints or {}):
        found |= {int(b) for b in part.get("brand_ids") or [] if str(b).isdigit()}
        for key in ("cells", "brand_bounds"):
            found |= {int(r["brand_id"]) for r in part.get(key) or []
                      if isinstance(r, dict) and str(r.get("brand_id", "")).isdigit()}
    return found


def scenarios_naming(session: Session, organization_id: int, brand_id: int) -> list[Scenario]:
    """The organization's saved scenarios whose inputs name the brand."""
    rows = session.scalars(select(Scenario).where(Scenario.organization_id == organization_id)).all()
    return [sc for sc in rows if brand_id in _scenario_brands(sc)]


def list_brands(db: Database, principal: Principal, organization_id: Any) -> list[dict]:
    """The organization's brands (archived ones too, marked), their projects and their rows of data."""
    org = require_org(principal, organization_id)
    with db.session() as s:
        brands = s.scalars(select(Brand).where(Brand.organization_id == org)
                           .order_by(Brand.archived_at.is_not(None), func.lower(Brand.name))).all()
        memberships = s.execute(select(ProjectBrand.brand_id, Project.id, Project.name, ProjectBrand.role)
                                .join(Project, Project.id == ProjectBrand.project_id)
                                .where(Project.organization_id == org).order_by(func.lower(Project.name))).all()
        by_brand: dict[int, list[dict]] = {}
        for brand_id, project_id, project, role in memberships:
            by_brand.setdefault(brand_id, []).append({"id": project_id, "name": project, "role": role})
        return [{"id": b.id, "organization_id": b.organization_id, "name": b.name, "category": b.category,
                 "archived": b.archived_at is not None, "archived_at": b.archived_at,
                 "projects": by_brand.get(b.id, [])} for b in brands]


def _projects_of(session: Session, principal: Principal, organization_id: int,
                 memberships: Any) -> list[tuple[Project, str]]:
    out: list[tuple[Project, str]] = []
    for project_id, role in memberships or []:
        project = load_project(session, principal, project_id)
        if project.organization_id != organization_id:
            raise PortfolioError("a brand joins projects of its own organization only")
        out.append((project, check_role(role)))
    return out


def create_brand(db: Database, principal: Principal, organization_id: Any, name: Any,
                 memberships: Any = (), category: Any = None) -> int:
    """A new brand of the organization, in each (project id, role) of `memberships`; returns its id.

    The projects it joins are recomputed (a new brand has no values yet, but the rank and coverage
    of the others are read per project).
    """
    org = require_org(principal, organization_id)
    with name_race("brand"), db.session() as s:
        clean = clean_name(name, "brand")
        unique_name(s, Brand, org, clean, "brand")
        joins = _projects_of(s, principal, org, memberships)
        brand = Brand(organization_id=org, name=clean,
                      category=clean_name(category, "category")[:100] if category else None)
        s.add(brand)
        s.flush()
        for project, role in joins:
            s.add(ProjectBrand(project_id=project.id, brand_id=brand.id, role=role))
        record(s, Audit.BRAND_CREATED, actor=principal, organization_id=org, target=brand,
               data={"name": clean, "projects": [{"id": p.id, "role": r} for p, r in joins]})
        ident, projects = brand.id, [p.id for p, _ in joins]
    if projects:
        recompute_projects(db, projects)
    return ident


def rename_brand(db: Database, principal: Principal, brand_id: Any, name: Any) -> None:
    """A new name, unique in the organization whatever its case (clear message on a duplicate)."""
    with name_race("brand"), db.session() as s:
        brand = load_brand(s, principal, brand_id)
        clean = clean_name(name, "brand")
        unique_name(s, Brand, brand.organization_id, clean, "brand", own_id=brand.id)
        before, brand.name = brand.name, clean
        record(s, Audit.BRAND_RENAMED, actor=principal, organization_id=brand.organization_id, target=brand,
               data={"before": before, "after": clean})


def set_brand_archived(db: Database, principal: Principal, brand_id: Any, archived: bool) -> None:
    """Archive (off the pages' lists, data and scores kept) or bring back a brand."""
    with db.session() as s:
        brand = load_brand(s, principal, brand_id)
        if (brand.archived_at is not None) == bool(archived):
            return
        brand.archived_at = utcnow() if archived else None
        record(s, Audit.BRAND_ARCHIVED if archived else Audit.BRAND_UNARCHIVED, actor=principal,
               organization_id=brand.organization_id, target=brand, data={"name": brand.name})


def delete_brand(db: Database, principal: Principal, brand_id: Any) -> dict[str, int]:
    """Delete the brand and every row keyed by it; returns the rows removed per table.

    Refused (PortfolioError, nothing deleted) while a saved scenario names it. Grants and personal
    API tokens limited to the brand go too (they would point at nothing). Projects that held it are
    recomputed, since the brand took part in their normalization.
    """
    with db.session() as s:
        brand = load_brand(s, principal, brand_id)
        naming = scenarios_naming(s, brand.organization_id, brand.id)
        if naming:
            names = ", ".join(f"“{sc.name}”" for sc in naming[:10])
            raise PortfolioConflict(f"{len(naming)} saved scenario(s) use {brand.name}: {names}. Delete those "
                                 "scenarios first, or archive the brand instead (it keeps its data).")
        counts = brand_row_counts(s, brand.id)
        projects = sorted(s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == brand.id)))
        counts["role_grants"] = s.execute(delete(RoleGrant).where(
            RoleGrant.scope_type == "brand", RoleGrant.scope_id == brand.id)).rowcount
        counts["api_tokens_revoked"] = s.execute(update(ApiToken).where(
            ApiToken.scope_type == "brand", ApiToken.scope_id == brand.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())).rowcount
        record(s, Audit.BRAND_DELETED, actor=principal, organization_id=brand.organization_id, target=brand,
               data={"name": brand.name, "rows": counts, "projects": projects})
        s.execute(delete(Brand).where(Brand.id == brand.id))
    if projects:
        recompute_projects(db, projects)
    return counts


# ---- bulk add from a CSV list --------------------------------------------------------------------


@dataclass
class BulkReport:
    """What a CSV of brands would add (or added): all rows or none."""

    rows: int = 0
    created: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {row, column, reason}; row 1 is the header
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "committed": self.committed, "rows": self.rows, "created": self.created,
                "errors": self.errors}


def _read_csv(data: bytes | str, report: BulkReport) -> list[dict[str, str]]:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_CSV_BYTES:
        report.errors.append({"row": None, "column": None, "reason": "the file is over 1 MB; split it"})
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.errors.append({"row": None, "column": None, "reason": "the file is not UTF-8 text"})
        return []
    reader = csv.DictReader(io.StringIO(text))
    header = [str(h or "").strip().lower() for h in reader.fieldnames or []]
    if "name" not in header:
        report.errors.append({"row": 1, "column": None,
                              "reason": "the first row must name the columns: name, role, projects"})
        return []
    reader.fieldnames = header
    rows = []
    for row in reader:
        if len(rows) >= MAX_CSV_ROWS:
            report.errors.append({"row": None, "column": None, "reason": f"at most {MAX_CSV_ROWS} brands per file"})
            return []
        rows.append({k: str(v or "").strip() for k, v in row.items() if isinstance(k, str)})
    return rows


def _check_row(row: dict[str, str], number: int, seen: dict[str, int], existing: dict[str, str],
               projects: dict[str, Project]) -> tuple[list[dict], tuple[str, list[tuple[Project, str]]] | None]:
    errors: list[dict] = []

    def bad(column: str, reason: str) -> None:
        errors.append({"row": number, "column": column, "reason": reason})

    try:
        name = clean_name(row.get("name"), "brand")
    except PortfolioError as exc:
        bad("name", str(exc))
        return errors, None
    key = name_key(name)
    if key in existing:
        bad("name", f"the organization already has a brand named “{existing[key]}”")
    elif key in seen:
        bad("name", f"“{name}” is also on row {seen[key]}")
    seen.setdefault(key, number)
    try:
        role = check_role(row.get("role") or "own")
    except PortfolioError as exc:
        bad("role", str(exc))
        role = "own"
    joins = []
    for part in [p.strip() for p in (row.get("projects") or "").split(";") if p.strip()]:
        project = projects.get(name_key(part))
        if project is None:
            bad("projects", f"there is no project “{part}” in this organization")
        else:
            joins.append((project, role))
    return errors, (name, joins)


def add_brands_csv(db: Database, principal: Principal, organization_id: Any, data: bytes | str, *,
                   commit: bool = True) -> BulkReport:
    """Add the brands of a CSV (columns name, role, projects — projects separated by “;”).

    Every row is checked first (a name the organization has or the file repeats, an unknown role
    or project); with any error nothing is written and every error is reported. `commit=False`
    is the preview.
    """
    org = require_org(principal, organization_id)
    report = BulkReport()
    rows = _read_csv(data, report)
    report.rows = len(rows)
    if not report.ok:
        return report
    with db.session() as s:
        existing = {name_key(n): n for n in s.scalars(select(Brand.name).where(Brand.organization_id == org))}
        projects = {name_key(p.name): p for p in s.scalars(select(Project).where(Project.organization_id == org))}
        seen: dict[str, int] = {}
        plan = []
        for number, row in enumerate(rows, start=2):
            errors, planned = _check_row(row, number, seen, existing, projects)
            report.errors.extend(errors)
            if planned is not None:
                plan.append(planned)
        if not rows:
            report.errors.append({"row": None, "column": None, "reason": "the file lists no brands"})
        if not report.ok or not commit:
            report.created = [] if not report.ok else [n for n, _ in plan]
            return report
        touched: set[int] = set()
        for name, joins in plan:
            brand = Brand(organization_id=org, name=name)
            s.add(brand)
            s.flush()
            for project, role in joins:
                s.add(ProjectBrand(project_id=project.id, brand_id=brand.id, role=role))
                touched.add(project.id)
            record(s, Audit.BRAND_CREATED, actor=principal, organization_id=org, target=brand,
                   data={"name": name, "projects": [{"id": p.id, "role": r} for p, r in joins], "via": "csv"})
        report.created = [n for n, _ in plan]
        record(s, Audit.BRANDS_IMPORTED, actor=principal, organization_id=org, target=("organization", org),
               data={"created": len(plan), "projects": sorted(touched)})
    report.committed = True
    if touched:
        recompute_projects(db, sorted(touched))
    return report
