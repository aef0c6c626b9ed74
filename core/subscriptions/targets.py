"""What the subscriptions page offers: the report targets and recipients a person may choose.

Only choices, for showing: creating a subscription checks everything again (core.subscriptions.service).
Targets are read with the principal narrowed to where it holds report:export, so the lists hold exactly
what a download would allow.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.compliance import organizations as compliance_organizations
from core.db import Database
from core.models import Brand, ProjectBrand, User
from core.portfolio import list_projects
from core.reports.access import exporting_principal
from core.scenarios import list_scenarios
from core.security import Forbidden, Principal, can

EXPORT = "report:export"


def report_targets(db: Database, principal: Principal) -> dict[str, list[dict[str, Any]]]:
    """Per report kind, dropdown options: projects (executive summary), brand in project ("12:3"), scenarios,
    and the organizations whose compliance report the person may read (compliance:read, not report:export)."""
    compliance = [{"label": o["name"], "value": str(o["id"])} for o in compliance_organizations(db, principal)]
    try:
        narrowed = exporting_principal(principal)
    except Forbidden:
        return {"portfolio": [], "brand": [], "scenario": [], "compliance": compliance}
    with db.engine.connect() as conn:
        projects = list_projects(conn, narrowed)
        pairs = conn.execute(select(ProjectBrand.project_id, Brand.id, Brand.name)
                             .join(Brand, Brand.id == ProjectBrand.brand_id)
                             .where(ProjectBrand.project_id.in_([p["id"] for p in projects]),
                                    ProjectBrand.role == "own").order_by(Brand.name)).all()
    names = {p["id"]: p["name"] for p in projects}
    brands = [{"label": f"{name} ({names[project]})", "value": f"{brand}:{project}"}
              for project, brand, name in pairs if can(narrowed, EXPORT, ("brand", brand))]
    scenarios = [{"label": f"{s['name']} (#{s['id']})", "value": str(s["id"])}
                 for s in list_scenarios(db, narrowed, limit=100)]
    return {"portfolio": [{"label": p["name"], "value": str(p["id"])} for p in projects], "brand": brands,
            "scenario": scenarios, "compliance": compliance}


def recipients(db: Database, principal: Principal) -> list[dict[str, Any]]:
    """Active members of the principal's organization (the principal first): who a subscription may go to."""
    if principal.organization_id is None:
        return []
    with db.session() as s:
        rows = s.execute(select(User.id, User.name, User.email).where(
            User.organization_id == principal.organization_id, User.is_active.is_(True),
            User.erased_at.is_(None)).order_by(User.email)).all()
    options = [{"label": f"{r.name or r.email} <{r.email}>", "value": r.id} for r in rows]
    return sorted(options, key=lambda o: o["value"] != principal.user_id)
