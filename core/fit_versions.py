"""Kept fit versions: every fit of a brand, the data it saw and what it found, read back within scope.

`add_version` numbers a brand's fits 1, 2, 3, … inside the transaction that stores the curves (the
caller holds the brand row's lock, core.response_curves.store_fit), so two fits never share a number;
the unique (brand_id, version) constraint backs that up. The reads take the principal and narrow
every query with `scope_filter` on brand:read: another organization's brand reads as no brand at
all (None / an empty list), never as an error that would confirm it exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.db import Database
from core.fit_record import compare, data_digest, headline
from core.models import Brand, FitVersion, Organization, Spend, User
from core.security import Action, Principal, record, scope_filter
from core.settings import brand_units

READ = "brand:read"
TRIGGERS = ("manual", "api", "import", "cli", "optimizer")


def add_version(session: Session, brand_id: int, inputs: dict[str, Any], result: dict[str, Any], *,
                created_by: int | None = None, trigger: str = "manual") -> FitVersion:
    """Insert the brand's next version (previous + 1) and audit it, in the caller's transaction."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown fit trigger {trigger!r}; expected one of {TRIGGERS}")
    last = session.scalar(select(func.max(FitVersion.version)).where(FitVersion.brand_id == brand_id)) or 0
    row = FitVersion(brand_id=brand_id, version=last + 1, created_by=created_by, trigger=trigger,
                     data_digest=data_digest(inputs), inputs=inputs, result=result)
    session.add(row)
    session.flush()
    organization_id = session.scalar(select(Brand.organization_id).where(Brand.id == brand_id))
    record(session, Action.MODEL_FITTED, actor=created_by, organization_id=organization_id,
           target=("brand", brand_id),
           data={"version": row.version, "trigger": trigger, "data_digest": row.data_digest, **headline(result)})
    return row


def _visible_brand(session: Session, principal: Principal, brand_id: Any) -> bool:
    try:
        bid = int(brand_id)
    except (TypeError, ValueError):
        return False
    return session.scalar(select(Brand.id).where(Brand.id == bid, scope_filter(principal, READ, Brand))) is not None


def model_brands(db: Database, principal: Principal) -> list[dict[str, Any]]:
    """Brands the principal may read that can be fitted (spend history) or were: id, name, organization,
    latest version number (None: not fitted yet)."""
    with db.session() as s:
        latest = (select(FitVersion.brand_id, func.max(FitVersion.version).label("latest"))
                  .group_by(FitVersion.brand_id).subquery())
        rows = s.execute(
            select(Brand.id, Brand.name, Organization.name.label("organization"), latest.c.latest)
            .join(Organization, Organization.id == Brand.organization_id)
            .outerjoin(latest, latest.c.brand_id == Brand.id)
            .where(scope_filter(principal, READ, Brand),
                   or_(Brand.id.in_(select(Spend.brand_id).distinct()), latest.c.latest.is_not(None)))
            .order_by(Organization.name, Brand.name)
        ).all()
    return [{"id": r.id, "name": r.name, "organization": r.organization, "latest": r.latest} for r in rows]


def list_versions(db: Database, principal: Principal, brand_id: Any) -> list[dict[str, Any]]:
    """The brand's versions, newest first, with who made them and the headline figures; [] out of scope."""
    with db.session() as s:
        if not _visible_brand(s, principal, brand_id):
            return []
        rows = s.execute(
            select(FitVersion.version, FitVersion.created_at, FitVersion.trigger, FitVersion.data_digest,
                   FitVersion.result, User.name.label("by"))
            .outerjoin(User, User.id == FitVersion.created_by)
            .where(FitVersion.brand_id == int(brand_id), scope_filter(principal, READ, FitVersion))
            .order_by(FitVersion.version.desc())
        ).all()
    return [{"version": r.version, "created_at": r.created_at, "trigger": r.trigger, "data_digest": r.data_digest,
             "by": r.by, **headline(r.result or {})} for r in rows]


def get_version(db: Database, principal: Principal, brand_id: Any, version: Any = None) -> dict[str, Any] | None:
    """One version (the latest when `version` is None) with its inputs, result, and the comparison with the
    version before it; None when the brand is out of scope or has no such version."""
    with db.session() as s:
        if not _visible_brand(s, principal, brand_id):
            return None
        query = select(FitVersion).where(FitVersion.brand_id == int(brand_id),
                                         scope_filter(principal, READ, FitVersion))
        if version is None:
            row = s.scalars(query.order_by(FitVersion.version.desc()).limit(1)).first()
        else:
            try:
                row = s.scalars(query.where(FitVersion.version == int(version))).first()
            except (TypeError, ValueError):
                return None
        if row is None:
            return None
        previous = s.scalars(query.where(FitVersion.version < row.version)
                             .order_by(FitVersion.version.desc()).limit(1)).first()
        brand = s.scalar(select(Brand.name).where(Brand.id == row.brand_id))
        return {"brand_id": row.brand_id, "brand": brand, "version": row.version, "created_at": row.created_at,
                "created_by": row.created_by, "trigger": row.trigger, "data_digest": row.data_digest,
                "inputs": row.inputs, "result": row.result,
                "previous_version": None if previous is None else previous.version,
                "changes": compare(row.result, None if previous is None else previous.result),
                "units": brand_units(s, [row.brand_id]).as_dict()}  # the money its figures read in
