"""Per-organization retention: what is old enough to go, a dry-run report, and the enforcement a
scheduled job runs (Celery beat, `worker.py`).

What each policy column governs (days, counted back from now):
- metric_values_days: metric values whose period (month) started before the cutoff; the scores of
  the projects they fed are recomputed afterwards.
- sessions_days: database session rows last used before the cutoff (they stopped working long
  before; Redis sessions expire by themselves).
- jobs_days / exports_days: finished jobs (succeeded, failed, cancelled) that finished before the
  cutoff; jobs whose kind starts with "export" follow exports_days, the others jobs_days.
- audit_days: audit events are never deleted. Events older than their organization's audit_days
  move to `audit_archive` with their hashes, as a prefix of the chain (the move stops at the first
  event still to keep), so the archive verifies from genesis and the live trail from its last hash.

Rows of no organization (system administrators' sessions, system jobs and events) use the defaults.
Every enforcement is audited (`ops.retention_applied`, one event per organization that lost rows,
and `ops.audit_archived`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from core.db import Database
from core.models import AuditArchive, AuditEvent, Brand, Job, MetricValue, Organization, ProjectBrand, User, UserSession
from core.models.operations import RETENTION_DEFAULTS, RETENTION_MINIMUMS, RetentionPolicy
from core.scoring.service import recompute_projects
from core.security import audit

FINISHED = ("succeeded", "failed", "cancelled")
TABLES = ("metric_values", "user_sessions", "jobs", "exports", "audit_events")
SYSTEM = None  # the bucket of rows that belong to no organization
_ARCHIVE_BATCH = 5000


class PolicyRejected(ValueError):
    """A policy value is missing, not a whole number, or below its minimum; nothing was changed."""


@dataclass
class RetentionReport:
    """Rows per organization (None: no organization) and table that go (dry run) or went."""

    now: datetime
    dry_run: bool
    counts: dict[int | None, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(TABLES, 0)))
    names: dict[int | None, str] = field(default_factory=dict)
    rescored_projects: list[int] = field(default_factory=list)
    archive_anchor: str | None = None

    def total(self) -> int:
        return sum(sum(row.values()) for row in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "dry_run": self.dry_run, "archive_anchor": self.archive_anchor,
                "organizations": [{"organization_id": org, "name": self.names.get(org, "(no organization)"),
                                   **counts} for org, counts in sorted(self.counts.items(), key=lambda kv: kv[0] or 0)],
                "rescored_projects": self.rescored_projects}

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        out = [f"retention at {self.now.isoformat(timespec='seconds')} ({'dry run' if self.dry_run else 'applied'})"]
        for entry in self.as_dict()["organizations"]:
            parts = [f"{t}={entry[t]}" for t in TABLES if t != "audit_events"]
            archive = "to archive" if self.dry_run else "archived"
            out.append(f"  org {entry['organization_id'] or '-':>4} {entry['name'][:40]:<40} {verb}: "
                       f"{' '.join(parts)}; audit events {archive}={entry['audit_events']}")
        if len(out) == 1:
            out.append("  nothing is older than its organization's policy")
        return out


def validate(values: dict[str, Any]) -> dict[str, int]:
    """Whole numbers of days, each at least its minimum; PolicyRejected names every problem at once."""
    problems, clean = [], {}
    for column, raw in values.items():
        if column not in RETENTION_DEFAULTS:
            problems.append(f"unknown setting {column!r} (known: {', '.join(RETENTION_DEFAULTS)})")
            continue
        try:
            days = int(raw)
            if str(raw).strip() != str(days) and not isinstance(raw, int):
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"{column} must be a whole number of days, not {raw!r}")
            continue
        if days < RETENTION_MINIMUMS[column]:
            problems.append(f"{column} must be at least {RETENTION_MINIMUMS[column]} days (got {days})")
        clean[column] = days
    if problems:
        raise PolicyRejected("; ".join(problems))
    return clean


def set_policy(db: Database, organization_id: int, *, actor: Any = None, **days: Any) -> dict[str, int]:
    """Create or change an organization's policy (unspecified columns keep their value or default)."""
    clean = validate(days)
    with db.session() as s:
        if s.get(Organization, organization_id) is None:
            raise PolicyRejected(f"no organization {organization_id}")
        policy = s.get(RetentionPolicy, organization_id) or RetentionPolicy(organization_id=organization_id,
                                                                            **RETENTION_DEFAULTS)
        for column, value in clean.items():
            setattr(policy, column, value)
        s.add(policy)
        s.flush()
        result = {c: getattr(policy, c) for c in RETENTION_DEFAULTS}
        audit.record(s, "ops.retention_policy_set", actor=actor, organization_id=organization_id,
                     target=("organization", organization_id), data=result)
    return result


def policies(session: Session) -> dict[int | None, dict[str, int]]:
    """Every organization's effective policy, and the defaults under None."""
    result: dict[int | None, dict[str, int]] = {SYSTEM: dict(RETENTION_DEFAULTS)}
    for org_id in session.scalars(select(Organization.id)):
        result[org_id] = dict(RETENTION_DEFAULTS)
    for policy in session.scalars(select(RetentionPolicy)):
        result[policy.organization_id] = {c: getattr(policy, c) for c in RETENTION_DEFAULTS}
    return result


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _conditions(org: int | None, policy: dict[str, int], now: datetime) -> dict[str, tuple[Any, Any]]:
    """(table, where clause) per governed kind, for one organization's rows."""
    cut = {c: now - timedelta(days=d) for c, d in policy.items()}
    brands = select(Brand.id).where(Brand.organization_id == org)
    users = select(User.id).where(User.organization_id == org if org is not None else User.organization_id.is_(None))
    owner = (UserSession.user_id.in_(users) if org is not None
             else or_(UserSession.user_id.in_(users), UserSession.user_id.is_(None)))
    job_org = Job.organization_id == org if org is not None else Job.organization_id.is_(None)
    finished = Job.status.in_(FINISHED)
    ended = func.coalesce(Job.finished_at, Job.created_at)
    is_export = Job.kind.like("export%")
    conditions = {
        "user_sessions": (UserSession, owner & (UserSession.last_seen_at < cut["sessions_days"])),
        "jobs": (Job, job_org & finished & ~is_export & (ended < cut["jobs_days"])),
        "exports": (Job, job_org & finished & is_export & (ended < cut["exports_days"])),
    }
    if org is not None:
        conditions["metric_values"] = (MetricValue, MetricValue.brand_id.in_(brands)
                                       & (MetricValue.period < cut["metric_values_days"].date()))
    return conditions


def _archivable_until(session: Session, rules: dict[int | None, dict[str, int]],
                      now: datetime) -> tuple[int | None, dict]:
    """The last id of the longest prefix of audit events that are all past their organization's audit_days."""
    last_id, per_org = None, defaultdict(int)
    rows = session.execute(select(AuditEvent.id, AuditEvent.organization_id, AuditEvent.created_at)
                           .order_by(AuditEvent.id).execution_options(yield_per=_ARCHIVE_BATCH))
    for event_id, org, created in rows:
        days = rules.get(org, rules[SYSTEM])["audit_days"]
        if _aware(created) >= now - timedelta(days=days):
            break
        last_id = event_id
        per_org[org if org in rules else SYSTEM] += 1
    return last_id, per_org


_ARCHIVE_COLUMNS = ("id", "organization_id", "actor_id", "action", "target_type", "target_id", "data", "personal",
                    "created_at", "prev_hash", "hash")


def _apply_policies(s: Session, report: RetentionReport, rules: dict, now: datetime) -> set[int]:
    """Count (dry run) or delete what each policy retires; returns the brands whose metric values went."""
    touched_brands: set[int] = set()
    for org, policy in rules.items():
        for table, (model, where) in _conditions(org, policy, now).items():
            if model is MetricValue and not report.dry_run:
                touched_brands.update(s.scalars(select(MetricValue.brand_id).where(where).distinct()))
            if report.dry_run:
                count = s.scalar(select(func.count()).select_from(model).where(where))
            else:
                count = s.execute(delete(model).where(where).execution_options(synchronize_session=False)).rowcount
            if count:
                report.counts[org][table] += count
    return touched_brands


def _archive_audit(s: Session, report: RetentionReport, upto: int, events: int, now: datetime, actor: Any) -> None:
    """Move audit events up to `upto` into the archive (the chain continues from its last hash), audited."""
    columns = [getattr(AuditEvent, c) for c in _ARCHIVE_COLUMNS]
    source: Select = select(*columns, literal(now).label("archived_at")).where(AuditEvent.id <= upto)
    s.execute(insert(AuditArchive).from_select([*_ARCHIVE_COLUMNS, "archived_at"], source))
    s.execute(delete(AuditEvent).where(AuditEvent.id <= upto).execution_options(synchronize_session=False))
    report.archive_anchor = s.scalar(select(AuditArchive.hash).order_by(AuditArchive.id.desc()).limit(1))
    audit.record(s, "ops.audit_archived", actor=actor,
                 data={"up_to_id": upto, "events": events, "anchor": report.archive_anchor})


def run(db: Database, *, dry_run: bool = False, now: datetime | None = None, actor: Any = None) -> RetentionReport:
    """Report (dry run) or enforce every organization's policy; one transaction for all of it."""
    now = _aware(now or datetime.now(UTC))
    report = RetentionReport(now=now, dry_run=dry_run)
    with db.session() as s:
        if not dry_run:
            audit.lock_chain(s)  # no append may slip between the archive copy and the delete
        rules = policies(s)
        report.names = {SYSTEM: "(no organization)",
                        **dict(s.execute(select(Organization.id, Organization.name)).all())}
        touched_brands = _apply_policies(s, report, rules, now)
        upto, archived = _archivable_until(s, rules, now)
        for org, count in archived.items():
            report.counts[org]["audit_events"] += count
        if upto is not None and not dry_run:
            _archive_audit(s, report, upto, sum(archived.values()), now, actor)
        if not dry_run:
            for org, counts in report.counts.items():
                if any(v for t, v in counts.items() if t != "audit_events"):
                    audit.record(s, "ops.retention_applied", actor=actor, organization_id=org,
                                 data={"counts": counts, "policy": rules.get(org, rules[SYSTEM])})
        if touched_brands:
            report.rescored_projects = sorted(set(s.scalars(
                select(ProjectBrand.project_id).where(ProjectBrand.brand_id.in_(touched_brands)))))
    if report.rescored_projects:
        recompute_projects(db, report.rescored_projects)
    return report


def register_task(celery_app: Any, db: Database, name: str = "digicadence.retention") -> Any:
    """The Celery task the beat schedule runs (worker.py): enforce retention, return the report."""

    @celery_app.task(name=name)
    def enforce_retention() -> dict[str, Any]:
        return run(db).as_dict()

    return enforce_retention
