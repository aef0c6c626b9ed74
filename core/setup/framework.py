"""An organization's metric framework: sections → platforms → metrics, their weights and descriptions.

Every change goes through `change()`: it authorizes `framework:manage` on the organization, applies
the edit in one transaction, refuses anything invalid with a message in a marketer's words (nothing
is written then), bumps the organization's framework version, recomputes the DC scores of every
project of the organization for all months in the same transaction and audits the change.

What a change does to history (docs/SCORING.md): scores are always those of the current framework.
Saving recomputes every month of every project of the organization, so a page never mixes months
computed with different weights, and records the version and time it was saved, which the pages
show ("scores computed with framework v3, 6 Dec 2026"). The old weights are kept in the audit trail.

Removing a metric (or a platform or section holding metrics) that has values deletes those values;
it is refused unless the caller says so (`discard_values=True`), so nobody loses data by a slip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.models import Brand, FrameworkVersion, Metric, MetricValue, Platform, Project, Section
from core.models.base import utcnow
from core.scoring.service import recompute_on
from core.security.audit import record
from core.security.authorizer import authorize
from core.security.permissions import Permission
from core.security.principal import Principal
from core.setup.classification import default_level
from core.setup.framework_rules import FrameworkError, NotInFramework, clean_metric, clean_name, clean_weight

FRAMEWORK_MANAGE = Permission.FRAMEWORK_MANAGE.value


@dataclass(frozen=True)
class Version:
    """Which framework the organization's stored scores were computed with."""

    number: int
    saved_at: datetime

    def label(self) -> str:
        return f"framework v{self.number}, {self.saved_at.day} {self.saved_at:%b %Y}"


# ---- reading ----------------------------------------------------------------------------------


def version_of(session: Session, organization_id: int) -> Version | None:
    row = session.get(FrameworkVersion, int(organization_id))
    return None if row is None else Version(row.version, row.saved_at)


def scores_label(db: Database, organization_id: int) -> str | None:
    """"scores computed with framework v3, 6 Dec 2026" for the pages (None before any framework).
    The version is no secret of a page's reader: it says how the scores they see were made."""
    with db.session() as s:
        version = version_of(s, organization_id)
    return None if version is None else f"scores computed with {version.label()}"


def tree(session: Session, organization_id: int) -> list[dict]:
    """The organization's framework as nested dicts, sections in order (no authorization: callers
    check; `framework()` is the authorized read)."""
    sections = session.scalars(select(Section).where(Section.organization_id == int(organization_id))
                               .order_by(Section.position, Section.id)).all()
    ids = [s.id for s in sections]
    platforms = session.scalars(select(Platform).where(Platform.section_id.in_(ids))
                                .order_by(Platform.name, Platform.id)).all() if ids else []
    metrics = session.scalars(select(Metric).where(Metric.organization_id == int(organization_id))
                              .order_by(Metric.code)).all()
    by_platform: dict[int, list[dict]] = {}
    for m in metrics:
        by_platform.setdefault(m.platform_id, []).append({
            "id": m.id, "code": m.code, "name": m.name, "unit": m.unit, "direction": m.direction,
            "weight": m.weight, "description": m.description, "min_value": m.min_value, "max_value": m.max_value})
    by_section: dict[int, list[dict]] = {}
    for p in platforms:
        by_section.setdefault(p.section_id, []).append(
            {"id": p.id, "name": p.name, "weight": p.weight, "metrics": by_platform.get(p.id, [])})
    return [{"id": s.id, "name": s.name, "weight": s.weight, "position": s.position,
             "platforms": by_section.get(s.id, [])} for s in sections]


def reads_metrics_in(session: Session, principal: Principal, organization_id: int) -> bool:
    """Whether the principal may read metric values somewhere in the organization (on it, or on one of
    its projects or brands): then it may read the framework's names, which its pages show anyway."""
    scopes = principal.scopes(Permission.METRICS_READ.value)
    if scopes.everywhere or organization_id in scopes.organizations:
        return True
    if scopes.projects and session.scalar(select(Project.id).where(
            Project.id.in_(scopes.projects), Project.organization_id == organization_id).limit(1)):
        return True
    return bool(scopes.brands and session.scalar(select(Brand.id).where(
        Brand.id.in_(scopes.brands), Brand.organization_id == organization_id).limit(1)))


def framework(db: Database, principal: Principal, organization_id: int) -> dict:
    """The framework and its version, for someone who may read the organization's metrics or
    manage its framework."""
    org = ("organization", organization_id)
    with db.session() as s:
        if not reads_metrics_in(s, principal, int(organization_id)):
            authorize(principal, FRAMEWORK_MANAGE, org, session=s)
        version = version_of(s, organization_id)
        return {"organization_id": int(organization_id), "version": version.number if version else 0,
                "saved_at": version.saved_at if version else None, "sections": tree(s, organization_id)}


# ---- changing ---------------------------------------------------------------------------------


def change(db: Database, principal: Principal, organization_id: int, action: str, edit: Callable[[Session], Any],
           data: dict | None = None, note: str = "") -> Any:
    """Apply `edit(session)` to the organization's framework as one saved version (see the module
    docstring); returns what `edit` returns. `edit` raises FrameworkError to refuse."""
    organization_id = int(organization_id)
    authorize(principal, FRAMEWORK_MANAGE, ("organization", organization_id))
    with db.session() as s:
        result = edit(s)
        s.flush()
        version = s.get(FrameworkVersion, organization_id)
        if version is None:
            version = FrameworkVersion(organization_id=organization_id, version=0)
            s.add(version)
        version.version = (version.version or 0) + 1
        version.saved_at = utcnow()
        version.saved_by = principal.user_id
        version.note = note[:300]
        s.flush()
        projects = s.scalars(select(Project.id).where(Project.organization_id == organization_id)).all()
        recompute_on(s.connection(), projects) if projects else None
        record(s, action, actor=principal.user_id, organization_id=organization_id,
               target=("organization", organization_id),
               data={**(data or {}), "version": version.version, "projects_recomputed": len(projects)})
        return result


def _mine(session: Session, model: type, ident: Any, organization_id: int, what: str) -> Any:
    """The row `ident` of the organization's framework, or a refusal (never another's row)."""
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        raise NotInFramework(what) from None
    row = session.get(model, ident) if 0 < ident < 2**31 else None
    org = None
    if isinstance(row, Section | Metric):
        org = row.organization_id
    elif isinstance(row, Platform):
        org = row.section.organization_id
    if row is None or org != organization_id:
        raise NotInFramework(what)
    return row


def _unique_section(session: Session, organization_id: int, name: str, keep: int | None = None) -> None:
    clash = session.scalar(select(Section.id).where(Section.organization_id == organization_id,
                                                    func.lower(Section.name) == name.lower(),
                                                    Section.id != (keep or 0)))
    if clash:
        raise FrameworkError(f"The framework already has a section called '{name}'.")


def _unique_platform(session: Session, section_id: int, name: str, keep: int | None = None) -> None:
    clash = session.scalar(select(Platform.id).where(Platform.section_id == section_id,
                                                     func.lower(Platform.name) == name.lower(),
                                                     Platform.id != (keep or 0)))
    if clash:
        raise FrameworkError(f"This section already has a platform called '{name}'.")


def _unique_code(session: Session, organization_id: int, code: str, keep: int | None = None) -> None:
    clash = session.scalar(select(Metric.id).where(Metric.organization_id == organization_id,
                                                   func.lower(Metric.code) == code.lower(), Metric.id != (keep or 0)))
    if clash:
        raise FrameworkError(f"The framework already has a metric with the code '{code}'.")


def _values_of(session: Session, metric_ids: list[int]) -> int:
    if not metric_ids:
        return 0
    return int(session.scalar(select(func.count()).select_from(MetricValue)
                              .where(MetricValue.metric_id.in_(metric_ids))) or 0)


def _refuse_losing_values(session: Session, metric_ids: list[int], what: str, discard_values: bool) -> int:
    held = _values_of(session, metric_ids)
    if held and not discard_values:
        raise FrameworkError(f"{what} holds {held:,} imported values; removing it deletes them. Confirm that you "
                             "want to delete them too (discard_values).")
    return held


def _rename_in_projects(session: Session, organization_id: int, old: str, new: str | None) -> None:
    """Projects weigh sections by name (`Project.section_weights`): follow a rename, drop a removed one."""
    for project in session.scalars(select(Project).where(Project.organization_id == organization_id)):
        weights = dict(project.section_weights or {})
        if old in weights:
            value = weights.pop(old)
            if new is not None:
                weights[new] = value
            project.section_weights = weights


# ---- sections, platforms, metrics -------------------------------------------------------------


def create_section(db: Database, principal: Principal, organization_id: int, name: Any, weight: Any = 1.0) -> int:
    organization_id = int(organization_id)
    name, weight = clean_name(name, "section"), clean_weight(weight, "a section")

    def edit(s: Session) -> int:
        _unique_section(s, organization_id, name)
        position = s.scalar(select(func.coalesce(func.max(Section.position), -1) + 1)
                            .where(Section.organization_id == organization_id))
        section = Section(organization_id=organization_id, name=name, weight=weight, position=position,
                          classification=default_level(s, organization_id, "metric"))
        s.add(section)
        s.flush()
        return section.id

    return change(db, principal, organization_id, "framework.section_created", edit, {"name": name, "weight": weight},
                  f"section {name} added")


def update_section(db: Database, principal: Principal, organization_id: int, section_id: Any,
                   name: Any = None, weight: Any = None, position: Any = None) -> None:
    """Rename, reweigh or move a section; a rename follows into the projects' section weights."""
    organization_id = int(organization_id)
    new_name = None if name is None else clean_name(name, "section")
    new_weight = None if weight is None else clean_weight(weight, "a section")

    def edit(s: Session) -> dict:
        section = _mine(s, Section, section_id, organization_id, "section")
        before = {"name": section.name, "weight": section.weight, "position": section.position}
        if new_name is not None and new_name != section.name:
            _unique_section(s, organization_id, new_name, section.id)
            _rename_in_projects(s, organization_id, section.name, new_name)
            section.name = new_name
        if new_weight is not None:
            section.weight = new_weight
        if position is not None:
            section.position = int(position)
        return before

    change(db, principal, organization_id, "framework.section_updated", edit,
           {"section_id": int(section_id), "name": new_name, "weight": new_weight}, "section changed")


def delete_section(db: Database, principal: Principal, organization_id: int, section_id: Any, *,
                   discard_values: bool = False) -> int:
    """Remove a section with its platforms and metrics; returns the number of values deleted."""
    organization_id = int(organization_id)

    def edit(s: Session) -> int:
        section = _mine(s, Section, section_id, organization_id, "section")
        metric_ids = list(s.scalars(select(Metric.id).join(Platform).where(Platform.section_id == section.id)))
        held = _refuse_losing_values(s, metric_ids, f"Section '{section.name}'", discard_values)
        _rename_in_projects(s, organization_id, section.name, None)
        _delete_metrics(s, metric_ids)
        for platform in s.scalars(select(Platform).where(Platform.section_id == section.id)):
            s.delete(platform)
        s.delete(section)
        return held

    return change(db, principal, organization_id, "framework.section_deleted", edit,
                  {"section_id": int(section_id)}, "section removed")


def _delete_metrics(s: Session, metric_ids: list[int]) -> None:
    """Values first, by hand: SQLite only cascades with foreign keys on, and the count is audited anyway."""
    if metric_ids:
        s.query(MetricValue).filter(MetricValue.metric_id.in_(metric_ids)).delete(synchronize_session=False)
        s.query(Metric).filter(Metric.id.in_(metric_ids)).delete(synchronize_session=False)


def create_platform(db: Database, principal: Principal, organization_id: int, section_id: Any, name: Any,
                    weight: Any = 1.0) -> int:
    organization_id = int(organization_id)
    name, weight = clean_name(name, "platform"), clean_weight(weight, "a platform")

    def edit(s: Session) -> int:
        section = _mine(s, Section, section_id, organization_id, "section")
        _unique_platform(s, section.id, name)
        platform = Platform(section_id=section.id, name=name, weight=weight)
        s.add(platform)
        s.flush()
        return platform.id

    return change(db, principal, organization_id, "framework.platform_created", edit,
                  {"section_id": int(section_id), "name": name, "weight": weight}, f"platform {name} added")


def update_platform(db: Database, principal: Principal, organization_id: int, platform_id: Any, name: Any = None,
                    weight: Any = None, section_id: Any = None) -> None:
    organization_id = int(organization_id)
    new_name = None if name is None else clean_name(name, "platform")
    new_weight = None if weight is None else clean_weight(weight, "a platform")

    def edit(s: Session) -> None:
        platform = _mine(s, Platform, platform_id, organization_id, "platform")
        target = platform.section_id if section_id is None else \
            _mine(s, Section, section_id, organization_id, "section").id
        if (new_name or platform.name) != platform.name or target != platform.section_id:
            _unique_platform(s, target, new_name or platform.name, platform.id)
        platform.section_id = target
        if new_name is not None:
            platform.name = new_name
        if new_weight is not None:
            platform.weight = new_weight

    change(db, principal, organization_id, "framework.platform_updated", edit,
           {"platform_id": int(platform_id), "name": new_name, "weight": new_weight}, "platform changed")


def delete_platform(db: Database, principal: Principal, organization_id: int, platform_id: Any, *,
                    discard_values: bool = False) -> int:
    organization_id = int(organization_id)

    def edit(s: Session) -> int:
        platform = _mine(s, Platform, platform_id, organization_id, "platform")
        metric_ids = list(s.scalars(select(Metric.id).where(Metric.platform_id == platform.id)))
        held = _refuse_losing_values(s, metric_ids, f"Platform '{platform.name}'", discard_values)
        _delete_metrics(s, metric_ids)
        s.delete(platform)
        return held

    return change(db, principal, organization_id, "framework.platform_deleted", edit,
                  {"platform_id": int(platform_id)}, "platform removed")


def create_metric(db: Database, principal: Principal, organization_id: int, platform_id: Any, fields: dict) -> int:
    organization_id = int(organization_id)
    values = clean_metric(fields)

    def edit(s: Session) -> int:
        platform = _mine(s, Platform, platform_id, organization_id, "platform")
        _unique_code(s, organization_id, values["code"])
        metric = Metric(organization_id=organization_id, platform_id=platform.id, **values,
                        classification=default_level(s, organization_id, "metric"))
        s.add(metric)
        s.flush()
        return metric.id

    return change(db, principal, organization_id, "framework.metric_created", edit,
                  {"platform_id": int(platform_id), **values}, f"metric {values['code']} added")


def update_metric(db: Database, principal: Principal, organization_id: int, metric_id: Any, fields: dict) -> None:
    """Change a metric's code, name, unit, direction, weight, description, range or platform."""
    organization_id = int(organization_id)

    def edit(s: Session) -> dict:
        metric = _mine(s, Metric, metric_id, organization_id, "metric")
        values = clean_metric(fields, metric)
        if "code" in values and values["code"] != metric.code:
            _unique_code(s, organization_id, values["code"], metric.id)
        if fields.get("platform_id") is not None:
            metric.platform_id = _mine(s, Platform, fields["platform_id"], organization_id, "platform").id
        for key, value in values.items():
            setattr(metric, key, value)
        return values

    change(db, principal, organization_id, "framework.metric_updated", edit,
           {"metric_id": int(metric_id), **{k: v for k, v in fields.items() if k != "description"}}, "metric changed")


def delete_metric(db: Database, principal: Principal, organization_id: int, metric_id: Any, *,
                  discard_values: bool = False) -> int:
    organization_id = int(organization_id)

    def edit(s: Session) -> int:
        metric = _mine(s, Metric, metric_id, organization_id, "metric")
        held = _refuse_losing_values(s, [metric.id], f"Metric '{metric.name}'", discard_values)
        _delete_metrics(s, [metric.id])
        return held

    return change(db, principal, organization_id, "framework.metric_deleted", edit,
                  {"metric_id": int(metric_id)}, "metric removed")
