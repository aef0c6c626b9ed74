"""The recent security alerts an administrator sees (the Audit page): who may read an organization's audit trail
(audit:read at its scope) sees its alerts; System Administrators also see the system-wide ones."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.models import Organization, SecurityAlert, SecurityAlertDelivery
from core.security import Principal
from core.security.permissions import Permission
from core.security_alerts.detectors import KIND_NAMES, clock

AUDIT_READ = Permission.AUDIT_READ.value


def _delivery_words(rows: list[SecurityAlertDelivery]) -> str:
    """Where the alert went, in words ("e-mailed to a@x.example; webhook: retrying (attempt 1 of 4: …)")."""
    if not rows:
        return "No security contacts were set: nobody was told."
    parts = []
    for row in rows:
        what = f"e-mail to {row.target}" if row.channel == "email" else "webhook"
        if row.status == "sent":
            parts.append(f"{what}: sent")
        elif row.status in ("failed", "retrying"):
            parts.append(f"{what}: {row.status} ({row.last_error or 'no reason recorded'})")
        else:
            parts.append(f"{what}: {row.status}")
    return "; ".join(parts)


def recent_alerts(db: Database, principal: Principal, limit: int = 50) -> list[dict[str, Any]]:
    """The newest alerts in the principal's audit:read scope, newest first, with where each was sent."""
    scopes = principal.scopes(AUDIT_READ)
    if scopes.empty:
        return []
    query = select(SecurityAlert).order_by(SecurityAlert.created_at.desc(), SecurityAlert.id.desc()).limit(limit)
    if not scopes.everywhere:
        query = query.where(SecurityAlert.organization_id.in_(sorted(scopes.organizations) or [-1]))
    with db.session() as s:
        alerts = list(s.scalars(query))
        sends: dict[int, list[SecurityAlertDelivery]] = defaultdict(list)
        for row in s.scalars(select(SecurityAlertDelivery).where(
                SecurityAlertDelivery.alert_id.in_([a.id for a in alerts] or [-1])).order_by(SecurityAlertDelivery.id)):
            sends[row.alert_id].append(row)
        orgs = dict(s.execute(select(Organization.id, Organization.name)).all())
        return [{"id": a.id, "kind": a.kind, "kind_name": KIND_NAMES.get(a.kind, a.kind), "title": a.title,
                 "detail": a.detail, "when": clock(a.occurred_at),
                 "organization": orgs.get(a.organization_id, "System (all organizations)")
                 if a.organization_id is not None else "System (all organizations)",
                 "sent": _delivery_words(sends[a.id]),
                 "problem": any(d.status in ("failed", "retrying") for d in sends[a.id])} for a in alerts]
