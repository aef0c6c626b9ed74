"""A person's alerts: the ones about brands they may read (portfolio:read on the brand, through the scope
filter), newest first, with what they have read and the kinds they snoozed for a brand.

The bell's unread count and the Alerts page read here; marking read and snoozing take ids from the
browser, so each id is checked against the same scope (an id outside it changes nothing and is refused).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select

from core.alert_rules import KINDS
from core.db import Database
from core.models import Alert, AlertRead, AlertSent, AlertSnooze, Brand
from core.models.base import utcnow
from core.security.authorizer import deny, scope_filter
from core.security.permissions import Permission
from core.security.principal import Principal

READ = Permission.PORTFOLIO_READ.value
SNOOZE_DAYS = (1, 7, 30)
LIST_LIMIT = 200


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _snoozed(principal: Principal, now: datetime):
    return exists().where(AlertSnooze.user_id == principal.user_id, AlertSnooze.brand_id == Alert.brand_id,
                          AlertSnooze.kind == Alert.kind, AlertSnooze.until > now)


def _read(principal: Principal):
    return exists().where(AlertRead.alert_id == Alert.id, AlertRead.user_id == principal.user_id)


def unread_count(db: Database, principal: Principal, now: datetime | None = None) -> int:
    """Alerts in scope, neither read nor snoozed by this person: the bell's number."""
    if principal.user_id is None:
        return 0
    now = now or utcnow()
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Alert).where(
            scope_filter(principal, READ, Alert), ~_read(principal), ~_snoozed(principal, now))) or 0)


def list_alerts(db: Database, principal: Principal, *, show_snoozed: bool = False,
                now: datetime | None = None) -> list[dict[str, Any]]:
    """The newest LIST_LIMIT alerts in scope (snoozed ones only when asked), with read and snoozed flags."""
    now = now or utcnow()
    conditions = [scope_filter(principal, READ, Alert)]
    if not show_snoozed:
        conditions.append(~_snoozed(principal, now))
    with db.session() as s:
        rows = s.execute(select(Alert, Brand.name, _read(principal).label("read"),
                                _snoozed(principal, now).label("snoozed"))
                         .join(Brand, Brand.id == Alert.brand_id).where(and_(*conditions))
                         .order_by(Alert.created_at.desc(), Alert.id.desc()).limit(LIST_LIMIT)).all()
    return [{"id": a.id, "kind": KINDS.get(a.kind, a.kind), "brand": brand, "title": a.title, "detail": a.detail,
             "link": a.link, "when": f"{_aware(a.created_at):%Y-%m-%d %H:%M}", "read": bool(read),
             "snoozed": bool(snoozed)} for a, brand, read, snoozed in rows]


def _visible(s, principal: Principal, ids: list[int]) -> list[Alert]:
    alerts = s.scalars(select(Alert).where(Alert.id.in_(ids), scope_filter(principal, READ, Alert))).all()
    missing = set(ids) - {a.id for a in alerts}
    if missing:
        deny(principal, READ, ("alert", min(missing)), "not found")
    return list(alerts)


def _ids(values: Any) -> list[int]:
    try:
        ids = sorted({int(v) for v in values or []})
    except (TypeError, ValueError):
        raise ValueError("alert ids must be whole numbers") from None
    return ids


def mark_read(db: Database, principal: Principal, ids: Any = None, now: datetime | None = None) -> int:
    """Mark these alerts (None: every unread one in scope) read for this person; how many changed."""
    now = now or utcnow()
    with db.session() as s:
        if ids is None:
            wanted = list(s.scalars(select(Alert.id).where(scope_filter(principal, READ, Alert), ~_read(principal))))
        else:
            wanted = [a.id for a in _visible(s, principal, _ids(ids))]
        done = set(s.scalars(select(AlertRead.alert_id).where(AlertRead.user_id == principal.user_id,
                                                              AlertRead.alert_id.in_(wanted))))
        new = [i for i in wanted if i not in done]
        s.add_all(AlertRead(alert_id=i, user_id=principal.user_id, read_at=now) for i in new)
    return len(new)


def snooze(db: Database, principal: Principal, ids: Any, days: Any, now: datetime | None = None) -> int:
    """Silence each alert's kind for its brand for `days` (1, 7 or 30) for this person; marks them read too."""
    try:
        days = int(days)
    except (TypeError, ValueError):
        days = 0
    if days not in SNOOZE_DAYS:
        raise ValueError(f"snooze for {', '.join(map(str, SNOOZE_DAYS))} days")
    now = now or utcnow()
    until = now + timedelta(days=days)
    with db.session() as s:
        alerts = _visible(s, principal, _ids(ids))
        for pair in {(a.brand_id, a.kind) for a in alerts}:
            row = s.get(AlertSnooze, (principal.user_id, *pair))
            if row is None:
                s.add(AlertSnooze(user_id=principal.user_id, brand_id=pair[0], kind=pair[1], until=until))
            else:
                row.until = until
    mark_read(db, principal, [a.id for a in alerts], now)
    return len(alerts)


def for_delivery(db: Database, principal: Principal, *, since: datetime | None = None,
                 ids: list[int] | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """What an alert digest may hold for this person now, oldest first: alerts in their scope and not snoozed
    at this moment, either the given ids or (ids None) those raised since `since` never sent to them before.

    Called with the recipient's principal as loaded for the send, so a scope lost after the alert was raised
    (or after it was taken into a delivery) keeps it out.
    """
    if principal.user_id is None or ids == []:
        return []
    now = now or utcnow()
    conditions = [scope_filter(principal, READ, Alert), ~_snoozed(principal, now)]
    if ids is not None:
        conditions.append(Alert.id.in_(ids))
    else:
        conditions.append(~exists().where(AlertSent.alert_id == Alert.id, AlertSent.user_id == principal.user_id))
        if since is not None:
            conditions.append(Alert.created_at >= since)
    with db.session() as s:
        rows = s.execute(select(Alert, Brand.name).join(Brand, Brand.id == Alert.brand_id).where(and_(*conditions))
                         .order_by(Alert.created_at, Alert.id).limit(LIST_LIMIT)).all()
    return [{"id": a.id, "kind": KINDS.get(a.kind, a.kind), "brand": brand, "title": a.title, "detail": a.detail,
             "link": a.link, "when": f"{_aware(a.created_at):%Y-%m-%d %H:%M}"} for a, brand in rows]
