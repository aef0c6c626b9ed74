"""Merge two brands that are one (a typo, a renamed product, two imports of the same brand).

Every row keyed by the source brand moves to the target: each table with a foreign key to
`brands.id` is found from the models (`core.setup.brands.brand_tables`), so a table added later
moves too. A row *conflicts* when the target already has one with the same key (the same metric
and period, channel and period, …; a response curve: the same channel and kind; a project: both
brands in it). Data conflicts are never settled silently: `merge_brands` refuses with the list
unless the person picks a side (`keep="target"` or `keep="source"`); the other side's conflicting
rows are dropped and counted. Project memberships follow the same side rule without asking.

Fit versions (`fit_versions`) are history derived from a brand's data, numbered per brand: the
source's are not moved (their numbers would collide and "what changed since the previous fit"
would compare two different brands' fits); they are dropped and counted, and the target is refitted
on the merged data the next time anyone fits it. Alerts about the source and people's snoozes of them
are findings about the old brand: dropped too; the rules raise the target's own after the next import.

Saved scenarios that name the source are rewritten to name the target (their results keep the
names they were computed with); one that names both is refused, since its cells would collide.
Grants and personal API tokens limited to the source move to the target. All of it, the deletion
of the source and the `brand.merged` audit event (counts moved and dropped per table) are one
transaction; the projects holding the target are then recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, exists, func, select, update
from sqlalchemy.orm import Session

from core.db import Database
from core.models.api import ApiToken
from core.models.marketing import Channel
from core.models.metrics import Metric
from core.models.portfolio import Brand, Project, ProjectBrand
from core.models.security import RoleGrant
from core.models.work import Scenario
from core.scoring.service import recompute_projects
from core.security.audit import record
from core.security.principal import Principal
from core.setup.brands import _scenario_brands, brand_tables, scenarios_naming
from core.setup.portfolio_common import Audit, PortfolioConflict, PortfolioError, load_brand

SIDES = ("target", "source")
# Tables whose primary key is not (brand, …): the columns that make two rows the same thing.
# Lift tests: one per brand, channel and period (core.lift_tests), so two brands' tests of the same
# channel and period are one experiment recorded twice.
NATURAL_KEYS = {"response_curves": ("channel_id", "kind"), "lift_tests": ("channel_id", "period_start", "period_end")}
MEMBERSHIP = "project_brands"
DERIVED = frozenset({"fit_versions", "alerts", "alert_snoozes"})  # dropped with the source (module docstring)
SHOWN_CONFLICTS = 20


class MergeConflict(PortfolioConflict):
    """The target already holds rows the source would bring; `conflicts` lists them per table."""

    def __init__(self, message: str, conflicts: dict[str, dict]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


@dataclass
class MergePlan:
    """What a merge moves and where it collides, before anything is written."""

    source: dict
    target: dict
    rows: dict[str, int] = field(default_factory=dict)  # source rows per table
    conflicts: dict[str, dict] = field(default_factory=dict)  # table: {count, keys: [..first few..]}
    scenarios: list[dict] = field(default_factory=list)  # scenarios naming the source
    blocked: list[dict] = field(default_factory=list)  # scenarios naming both: the merge cannot go on

    @property
    def data_conflicts(self) -> int:
        return sum(c["count"] for t, c in self.conflicts.items() if t != MEMBERSHIP)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "rows": self.rows, "conflicts": self.conflicts,
                "data_conflicts": self.data_conflicts, "scenarios": self.scenarios, "blocked": self.blocked}


def _key_columns(table: Table) -> tuple[str, ...]:
    if table.name in NATURAL_KEYS:
        return NATURAL_KEYS[table.name]
    return tuple(c.name for c in table.primary_key.columns if c.name != "brand_id")


def _matching(table: Table, keep_id: int, row_brand: int):
    """EXISTS: a row of `keep_id` with the same key as the current row of `row_brand` in `table`."""
    other = table.alias("other")
    keys = _key_columns(table)
    return exists().where(other.c.brand_id == keep_id, table.c.brand_id == row_brand,
                          *[other.c[k] == table.c[k] for k in keys])


def _conflicts(session: Session, table: Table, source_id: int, target_id: int) -> dict | None:
    keys = _key_columns(table)
    where = (table.c.brand_id == source_id, _matching(table, target_id, source_id))
    count = int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)
    if not count:
        return None
    shown = session.execute(select(*(table.c[k] for k in keys)).where(*where)
                            .order_by(*(table.c[k] for k in keys)).limit(SHOWN_CONFLICTS)).all()
    names = {k: _names(session, k, {row[i] for row in shown}) for i, k in enumerate(keys) if k in _NAMED}
    return {"count": count, "keys": [{k: names[k].get(v, str(v)) if k in names else str(v)
                                      for k, v in zip(keys, row, strict=True)} for row in shown]}


# Key columns that are ids: shown by the name a person knows (metric code, channel, project).
_NAMED = {"metric_id": (Metric.id, Metric.code), "channel_id": (Channel.id, Channel.name),
          "project_id": (Project.id, Project.name)}


def _names(session: Session, column: str, ids: set) -> dict:
    ident, name = _NAMED[column]
    return dict(session.execute(select(ident, name).where(ident.in_(ids))).all()) if ids else {}


def _load_pair(session: Session, principal: Principal, source_id: Any, target_id: Any) -> tuple[Brand, Brand]:
    source = load_brand(session, principal, source_id)
    target = load_brand(session, principal, target_id)
    if source.id == target.id:
        raise PortfolioError("choose two different brands to merge")
    if source.organization_id != target.organization_id:
        raise PortfolioError("only brands of the same organization can be merged")
    return source, target


def _plan(session: Session, source: Brand, target: Brand) -> MergePlan:
    plan = MergePlan(source={"id": source.id, "name": source.name}, target={"id": target.id, "name": target.name})
    for table in brand_tables():
        plan.rows[table.name] = int(session.scalar(
            select(func.count()).select_from(table).where(table.c.brand_id == source.id)) or 0)
        if table.name in DERIVED:
            continue
        found = _conflicts(session, table, source.id, target.id)
        if found:
            plan.conflicts[table.name] = found
    for sc in scenarios_naming(session, source.organization_id, source.id):
        entry = {"id": sc.id, "name": sc.name}
        (plan.blocked if target.id in _scenario_brands(sc) else plan.scenarios).append(entry)
    return plan


def preview_merge(db: Database, principal: Principal, source_id: Any, target_id: Any) -> MergePlan:
    """What merging `source_id` into `target_id` would move and where it collides; nothing written."""
    with db.session() as s:
        source, target = _load_pair(s, principal, source_id, target_id)
        return _plan(s, source, target)


def _swap(value: Any, source_id: int, target_id: int) -> Any:
    """A scenario's inputs or constraints with the source's id replaced by the target's, only where
    a brand id is meant (`brand_id` fields, `brand_ids` lists): other numbers may equal it by chance."""
    if isinstance(value, list):
        return [_swap(v, source_id, target_id) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "brand_id" and str(item) == str(source_id):
            out[key] = target_id
        elif key == "brand_ids" and isinstance(item, list):
            out[key] = [target_id if str(b) == str(source_id) else b for b in item]
        else:
            out[key] = _swap(item, source_id, target_id)
    return out


def _rewrite_scenarios(session: Session, plan: MergePlan, source_id: int, target_id: int) -> None:
    for entry in plan.scenarios:
        sc = session.get(Scenario, entry["id"])
        sc.inputs = _swap(dict(sc.inputs or {}), source_id, target_id)
        sc.constraints = _swap(dict(sc.constraints or {}), source_id, target_id)


def _move_access(session: Session, source_id: int, target_id: int) -> dict[str, int]:
    """Grants and API tokens limited to the source now reach the target (an identical grant: dropped)."""
    dup = RoleGrant.__table__.alias("dup")
    same = exists().where(dup.c.user_id == RoleGrant.user_id, dup.c.role_id == RoleGrant.role_id,
                          dup.c.scope_type == "brand", dup.c.scope_id == target_id)
    dropped = session.execute(delete(RoleGrant).where(RoleGrant.scope_type == "brand",
                                                      RoleGrant.scope_id == source_id, same)).rowcount
    moved = session.execute(update(RoleGrant).where(RoleGrant.scope_type == "brand", RoleGrant.scope_id == source_id)
                            .values(scope_id=target_id)).rowcount
    tokens = session.execute(update(ApiToken).where(ApiToken.scope_type == "brand", ApiToken.scope_id == source_id)
                             .values(scope_id=target_id)).rowcount
    return {"grants_moved": moved, "grants_dropped": dropped, "api_tokens_moved": tokens}


def _conflict_message(plan: MergePlan) -> str:
    parts = [f"{c['count']} {table.replace('_', ' ')}" for table, c in plan.conflicts.items() if table != MEMBERSHIP]
    return (f"{plan.target['name']} already has data for the same keys as {plan.source['name']}: "
            f"{', '.join(parts)}. Choose which brand's values to keep; nothing was merged.")


def merge_brands(db: Database, principal: Principal, source_id: Any, target_id: Any, *,
                 keep: str | None = None) -> dict[str, Any]:
    """Move everything of the source brand to the target and delete the source, in one transaction.

    `keep`: None refuses (MergeConflict) when the two brands hold data for the same key;
    "target" or "source" keeps that side's conflicting rows and drops the other's. Returns the
    counts moved and dropped per table.
    """
    if keep is not None and keep not in SIDES:
        raise PortfolioError("keep the values of the “target” or of the “source” brand")
    with db.session() as s:
        source, target = _load_pair(s, principal, source_id, target_id)
        plan = _plan(s, source, target)
        if plan.blocked:
            names = ", ".join(f"“{b['name']}”" for b in plan.blocked)
            raise PortfolioConflict(f"saved scenario(s) {names} use both brands; delete them first, since their "
                                 "rows for the two brands would collide. Nothing was merged.")
        if plan.data_conflicts and keep is None:
            raise MergeConflict(_conflict_message(plan), plan.conflicts)
        side = keep or "target"
        dropped: dict[str, int] = {}
        moved: dict[str, int] = {}
        for table in brand_tables():
            if table.name in DERIVED:
                dropped[table.name] = s.execute(delete(table).where(table.c.brand_id == source.id)).rowcount
                moved[table.name] = 0
                continue
            if side == "target":
                gone = s.execute(delete(table).where(table.c.brand_id == source.id,
                                                     _matching(table, target.id, source.id)))
            else:
                gone = s.execute(delete(table).where(table.c.brand_id == target.id,
                                                     _matching(table, source.id, target.id)))
            dropped[table.name] = gone.rowcount
            moved[table.name] = s.execute(update(table).where(table.c.brand_id == source.id)
                                          .values(brand_id=target.id)).rowcount
        _rewrite_scenarios(s, plan, source.id, target.id)
        access = _move_access(s, source.id, target.id)
        result = {"source": plan.source, "target": plan.target, "kept": side if plan.conflicts else None,
                  "moved": moved, "dropped": dropped, "scenarios_rewritten": [e["id"] for e in plan.scenarios],
                  **access}
        record(s, Audit.BRAND_MERGED, actor=principal, organization_id=target.organization_id, target=target,
               data=result)
        s.execute(delete(Brand).where(Brand.id == source.id))
        projects = sorted(s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == target.id)))
    if projects:
        recompute_projects(db, projects)
    return result
