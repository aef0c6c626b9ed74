"""Read models of the compliance reports an auditor asks for: who can do what (access review), what
happened (audit extract, with the chain's verification), what will be deleted when (retention) and
which data-subject requests came in and how each was handled.

Everything is read for one organization on which the principal holds `compliance:read`, a permission
of its own so an auditor can be given these reports without administering anything; the same
organization id posted for another organization is refused like an object that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.admin import _scope_names as scope_names
from core.db import Database
from core.models import Job, MetricValue, UserSession
from core.models.operations import RETENTION_DEFAULTS, RetentionPolicy
from core.models.portfolio import Brand, Organization
from core.models.security import AuditEvent, Role, RoleGrant, SecurityKey, User
from core.models.sso import SSOIdentity
from core.ops.retention import FINISHED
from core.security.audit import Action, VerifyResult, verify_chain
from core.security.authorizer import can, deny, scope_filter
from core.security.permissions import LEVEL_PERMISSIONS, Permission
from core.security.principal import Principal, role_permissions
from core.security.role_names import role_label

COMPLIANCE_READ = Permission.COMPLIANCE_READ.value
MAX_PERIOD_DAYS = 366
AUDIT_ROWS = 5000  # an extract longer than this is cut, and says so (the audit page pages through all)
DSR_ACTIONS = {Action.DATA_EXPORTED: "Copy of personal data", Action.ERASURE_REQUESTED: "Erasure requested",
               Action.USER_ERASED: "Erasure carried out"}
RETENTION_KINDS = {  # policy column → (what it governs, as an auditor reads it)
    "metric_values_days": "Metric values (by month)",
    "sessions_days": "Sign-in sessions (since last use)",
    "jobs_days": "Finished runs and jobs",
    "exports_days": "Exported files kept with their jobs",
    "audit_days": "Audit events (moved to the archive, never deleted)",
}


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(moment: datetime | None) -> str | None:
    moment = _aware(moment)
    return None if moment is None else f"{moment:%Y-%m-%d}"


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end, time.min, tzinfo=UTC) + timedelta(days=1)

    def label(self) -> str:
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"


def read_period(start: Any, end: Any, today: date) -> Period:
    """The period asked for (default: the 30 days to today), or ValueError in words."""
    def parse(value: Any, name: str) -> date | None:
        if value in (None, ""):
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise ValueError(f"{name} must be a date like 2026-11-30, not {value!r}") from None

    last = parse(end, "end") or today
    first = parse(start, "start") or last - timedelta(days=29)
    if first > last:
        raise ValueError(f"the period starts ({first}) after it ends ({last})")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise ValueError(f"a period of at most {MAX_PERIOD_DAYS} days, please (asked: {(last - first).days + 1})")
    return Period(first, last)


def organizations(db: Database, principal: Principal) -> list[dict[str, Any]]:
    """Organizations the principal may run compliance reports on (a selector)."""
    with db.session() as s:
        rows = s.execute(select(Organization.id, Organization.name)
                         .where(scope_filter(principal, COMPLIANCE_READ, Organization))
                         .order_by(Organization.name)).all()
    return [{"id": r.id, "name": r.name} for r in rows]


def organization_name(db: Database, principal: Principal, organization_id: Any) -> str:
    """The organization's name once compliance:read on it is checked; Forbidden otherwise (audited)."""
    try:
        org = int(organization_id)
    except (TypeError, ValueError):
        raise ValueError(f"organization_id must be an integer id, not {organization_id!r}") from None
    with db.session() as s:
        name = s.scalar(select(Organization.name).where(Organization.id == org))
    if name is None or not can(principal, COMPLIANCE_READ, ("organization", org)):
        deny(principal, COMPLIANCE_READ, ("organization", org), "not found")
    return name


# ------------------------------------------------------------------------------------------------ access review


def _clearance(permissions: set[str]) -> str:
    """The highest data classification the person's roles let them read (as Principal.clearance decides)."""
    for level in ("restricted", "confidential"):
        if LEVEL_PERMISSIONS[level] in permissions:
            return level.capitalize()
    return "Internal"


def access_review(db: Database, organization_id: int, now: datetime) -> list[dict[str, Any]]:
    """Every person of the organization: status, each role with its scope, the classification levels they
    may read, their second factors and last sign-in."""
    with db.session() as s:
        users = s.scalars(select(User).where(User.organization_id == organization_id).order_by(User.email)).all()
        ids = [u.id for u in users]
        grants = s.execute(select(RoleGrant.user_id, RoleGrant.scope_type, RoleGrant.scope_id, Role.name,
                                  Role.is_builtin, Role.organization_id, Role.permissions)
                           .join(Role, Role.id == RoleGrant.role_id).where(RoleGrant.user_id.in_(ids))
                           .order_by(RoleGrant.id)).all() if ids else []
        names = scope_names(s, {(g.scope_type, g.scope_id) for g in grants})
        keys = dict(s.execute(select(SecurityKey.user_id, func.count()).where(SecurityKey.user_id.in_(ids))
                              .group_by(SecurityKey.user_id)).all()) if ids else {}
        linked = set(s.scalars(select(SSOIdentity.user_id).where(SSOIdentity.user_id.in_(ids)))) if ids else set()
    roles: dict[int, list[str]] = {}
    held: dict[int, set[str]] = {}
    for g in grants:
        held.setdefault(g.user_id, set()).update(role_permissions(g))
        where = names.get((g.scope_type, g.scope_id), f"{g.scope_type} #{g.scope_id} (deleted)")
        label = role_label(g.name, bool(g.is_builtin) and g.organization_id is None)
        roles.setdefault(g.user_id, []).append(f"{label} — {g.scope_type} {where}")
    rows = []
    for u in users:
        locked = (_aware(u.locked_until) or now) > now
        status = ("erased" if u.erased_at else "disabled" if not u.is_active else "locked" if locked else "active")
        factors = [f for f, on in (("authenticator app", u.mfa_enabled),
                                   (f"{keys.get(u.id, 0)} security key(s)", keys.get(u.id, 0) > 0),
                                   ("company sign-in", u.id in linked)) if on]
        last = _aware(u.last_sign_in_at)
        rows.append({
            "person": u.email, "name": u.name, "status": status,
            "roles": "; ".join(roles.get(u.id, [])) or "no role (can read nothing)",
            "clearance": _clearance(held.get(u.id, set())),
            "second_factor": ", ".join(factors) or "none",
            "last_sign_in": _day(last) or "never",
            "days_since_sign_in": None if last is None else (now - last).days,
            "created": _day(u.created_at),
        })
    return rows


STALE_DAYS = 90  # an active person who has not signed in for this long: is the access still needed?


def headline(people: list[dict[str, Any]], requests: list[dict[str, Any]]) -> dict[str, int]:
    """The counts the page's cards and the report's KPIs lead with (one definition for both)."""
    active = [p for p in people if p["status"] == "active"]
    return {"active": len(active),
            "without_second_factor": sum(p["second_factor"] == "none" for p in active),
            "stale": sum(p["days_since_sign_in"] is None or p["days_since_sign_in"] > STALE_DAYS for p in active),
            "open_requests": sum(r["state"].startswith("open") for r in requests)}


# ------------------------------------------------------------------------------------------------ audit extract


@dataclass
class AuditExtract:
    rows: list[dict[str, Any]]
    total: int
    chain: VerifyResult
    by_action: dict[str, int] = field(default_factory=dict)

    @property
    def cut(self) -> bool:
        return self.total > len(self.rows)


def audit_extract(db: Database, organization_id: int, period: Period) -> AuditExtract:
    """The organization's events of the period (oldest first, at most AUDIT_ROWS) and the whole chain's check."""
    where = ((AuditEvent.organization_id == organization_id) & (AuditEvent.created_at >= period.since)
             & (AuditEvent.created_at < period.until))
    with db.session() as s:
        counts = dict(s.execute(select(AuditEvent.action, func.count()).where(where)
                                .group_by(AuditEvent.action)).all())
        events = s.scalars(select(AuditEvent).where(where).order_by(AuditEvent.id).limit(AUDIT_ROWS)).all()
        people = {e.actor_id for e in events if e.actor_id is not None}
        emails = dict(s.execute(select(User.id, User.email).where(User.id.in_(people),
                                                                  User.organization_id == organization_id)).all())
        rows = [{
            "event": e.id, "when": f"{_aware(e.created_at):%Y-%m-%d %H:%M:%S}", "action": e.action,
            "actor": "system" if e.actor_id is None else emails.get(e.actor_id, f"user #{e.actor_id}"),
            "target": f"{e.target_type} {e.target_id}" if e.target_type else "",
            "details": ", ".join(f"{k}={v}" for k, v in sorted((e.data or {}).items())),
        } for e in events]
    return AuditExtract(rows, sum(counts.values()), verify_chain(db), dict(sorted(counts.items())))


# ------------------------------------------------------------------------------------------------ retention


def _oldest(s: Session, organization_id: int) -> dict[str, datetime | None]:
    """The oldest row each policy governs, for this organization."""
    users = select(User.id).where(User.organization_id == organization_id)
    brands = select(Brand.id).where(Brand.organization_id == organization_id)
    job = (Job.organization_id == organization_id) & Job.status.in_(FINISHED)
    ended = func.coalesce(Job.finished_at, Job.created_at)
    month = s.scalar(select(func.min(MetricValue.period)).where(MetricValue.brand_id.in_(brands)))
    return {
        "metric_values_days": None if month is None else datetime.combine(month, time.min, tzinfo=UTC),
        "sessions_days": s.scalar(select(func.min(UserSession.last_seen_at)).where(UserSession.user_id.in_(users))),
        "jobs_days": s.scalar(select(func.min(ended)).where(job & ~Job.kind.like("export%"))),
        "exports_days": s.scalar(select(func.min(ended)).where(job & Job.kind.like("export%"))),
        "audit_days": s.scalar(select(func.min(AuditEvent.created_at))
                               .where(AuditEvent.organization_id == organization_id)),
    }


def retention_status(db: Database, organization_id: int, now: datetime) -> list[dict[str, Any]]:
    """Per kind of data: days kept, the cut-off today, and when the oldest row kept goes."""
    with db.session() as s:
        policy = s.get(RetentionPolicy, organization_id)
        oldest = _oldest(s, organization_id)
    rows = []
    for column, what in RETENTION_KINDS.items():
        days = int(getattr(policy, column)) if policy is not None else RETENTION_DEFAULTS[column]
        first = _aware(oldest[column])
        goes = None if first is None else max(first + timedelta(days=days), now)
        rows.append({
            "data": what, "kept_days": days, "policy": "organization's own" if policy else "default",
            "older_than_goes": f"{now - timedelta(days=days):%Y-%m-%d}",
            "oldest_kept": _day(first) or "none",
            "next_goes": "nothing to go" if goes is None
            else "at the next run" if goes <= now else f"{goes:%Y-%m-%d}",
        })
    return rows


# ------------------------------------------------------------------------------------------------ data-subject requests


def subject_requests(db: Database, organization_id: int, period: Period) -> list[dict[str, Any]]:
    """Requests of the period (copies, erasure requests, erasures) with the state each is in now."""
    with db.session() as s:
        events = s.execute(select(AuditEvent.created_at, AuditEvent.action, AuditEvent.target_id, AuditEvent.actor_id)
                           .where(AuditEvent.organization_id == organization_id,
                                  AuditEvent.action.in_(list(DSR_ACTIONS)),
                                  AuditEvent.created_at >= period.since, AuditEvent.created_at < period.until)
                           .order_by(AuditEvent.id)).all()
        ids = {int(t) for _, _, t, _ in events if str(t or "").isdigit()}
        people = {u.id: u for u in s.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    rows = []
    for created, action, target, actor in events:
        user = people.get(int(target)) if str(target or "").isdigit() else None
        erased = user is not None and user.erased_at is not None
        state = {Action.DATA_EXPORTED: "handled: copy downloaded by the person",
                 Action.USER_ERASED: "handled: personal data erased"}.get(action)
        if state is None:  # an erasure request: carried out since, or still open
            state = (f"handled: erased {_day(user.erased_at)}" if erased else "open: awaiting an administrator")
        rows.append({"when": f"{_aware(created):%Y-%m-%d %H:%M}", "request": DSR_ACTIONS[action],
                     "person": f"erased person #{target}" if erased or user is None else user.email,
                     "by": "the person" if actor is not None and str(actor) == str(target) else "an administrator",
                     "state": state})
    return rows
