"""The pass: read the audit trail after the cursor, run the detectors and the chain check, store each finding
once, count it, queue and send its deliveries.

Called on the report subscriptions' schedule: the embedded default's timer (`SubscriptionTimer`, every
DIGICADENCE_SUBSCRIPTION_TICK_S) and, with Celery, beat's `digicadence.security_alerts.pass` at the same
interval (`register_task`, worker.py). One pass runs at a time across processes: it takes a lease on the
`security_alert_state` row by compare-and-set, and a pass that finds the lease held does nothing. The
findings, their deliveries, the learned networks and the moved cursor commit in one transaction per batch,
so a crash loses nothing and raises nothing twice; `security_alerts.dedup_key` is unique besides.

The app's start (`start`), or else the first pass, on a database never watched starts watching from the trail's
newest event: it raises nothing about the past, and the first pass learns every person's sign-in networks
from the whole trail before it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.config import AlertingSettings
from core.db import Database
from core.models import AuditEvent, SecurityAlert, SecurityAlertState, SecurityKnownNetwork
from core.models.base import utcnow
from core.observability import metrics
from core.security_alerts import chain, delivery
from core.security_alerts.detectors import SIGN_INS, Finding, aware, detect, learn_networks, sign_in_networks
from core.settings import SecurityAlertPolicy, security_alert_policy

log = logging.getLogger(__name__)
PASS_TASK = "digicadence.security_alerts.pass"
BATCH = 2000  # audit events read per transaction
MAX_BATCHES = 25  # per pass: a backlog is worked off over the next passes
LEASE = timedelta(minutes=15)
STATE_ID = 1
_state: dict[str, Any] = {"settings": AlertingSettings()}


def configure(settings: AlertingSettings) -> None:
    """The system's contacts and the whole-chain interval for this process (app.create_app)."""
    _state["settings"] = settings


def settings() -> AlertingSettings:
    return _state["settings"]


def _take_lease(db: Database, now: datetime) -> bool:
    """Hold the pass for LEASE; False when another process holds it. The first pass makes the row."""
    with db.session() as s:
        won = s.execute(update(SecurityAlertState).where(
            SecurityAlertState.id == STATE_ID,
            (SecurityAlertState.lease_until.is_(None)) | (SecurityAlertState.lease_until < now))
            .values(lease_until=now + LEASE)).rowcount
        if won:
            return True
        if s.get(SecurityAlertState, STATE_ID) is not None:
            return False
    return _start(db, now)


def _start(db: Database, now: datetime) -> bool:
    """The first pass: the cursor at the newest event, networks learned from every sign-in so far."""
    try:
        with db.session() as s:
            cursor, head = chain.initial(s)
            s.add(SecurityAlertState(id=STATE_ID, cursor=cursor, lease_until=now + LEASE, verified_id=cursor,
                                     verified_hash=head, learn_until=cursor))
            s.flush()
    except IntegrityError:  # another process made it at the same moment: it runs this pass
        return False
    return True


def start(db: Database) -> None:
    """At the app's start: a database never watched starts being watched now (its newest event), so the events
    between this start and the first tick are judged too. Cheap when it has been watched before."""
    with db.session() as s:
        if s.get(SecurityAlertState, STATE_ID) is not None:
            return
    if _start(db, utcnow()):
        _release(db)


def _learn_past(db: Database) -> None:
    """The networks of every sign-in before the watch began (once, in the first pass after it began)."""
    with db.session() as s:
        state = s.get(SecurityAlertState, STATE_ID)
        if not state.learn_until:
            return
        known: dict[int, dict[str, SecurityKnownNetwork]] = {}
        rows = s.execute(select(AuditEvent).where(AuditEvent.action.in_(SIGN_INS), AuditEvent.id <= state.learn_until)
                         .order_by(AuditEvent.id).execution_options(yield_per=1000)).scalars()
        for event, _ip, network in sign_in_networks(rows):
            learn_networks(s, int(event.actor_id), known.setdefault(int(event.actor_id), {}), network,
                           aware(event.created_at))
        state.learn_until = 0


def _release(db: Database) -> None:
    with db.session() as s:
        s.execute(update(SecurityAlertState).where(SecurityAlertState.id == STATE_ID).values(lease_until=None))


def _store(session: Session, findings: list[Finding], alerting: AlertingSettings) -> list[tuple[int, str]]:
    """Insert the findings whose key is new and queue their deliveries; (id, kind) of the new alerts."""
    unique = list({f.dedup_key: f for f in findings}.values())
    if not unique:
        return []
    rows = [{"organization_id": f.organization_id, "kind": f.kind, "subject": f.subject[:80],
             "dedup_key": f.dedup_key, "user_id": f.user_id, "title": f.title[:300], "detail": f.detail,
             "personal": f.personal, "event_id": f.event_id, "occurred_at": f.occurred_at, "created_at": utcnow()}
            for f in unique]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (dialect.insert(SecurityAlert).values(rows).on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(SecurityAlert.id, SecurityAlert.kind))
    added = [(r.id, r.kind) for r in session.execute(stmt)]
    for alert_id, _kind in added:
        delivery.queue(session, session.get(SecurityAlert, alert_id), alerting)
    return added


def _policies(session: Session) -> Any:
    cache: dict[int | None, SecurityAlertPolicy] = {}

    def policy(organization_id: int | None) -> SecurityAlertPolicy:
        if organization_id not in cache:
            cache[organization_id] = security_alert_policy(session, organization_id)
        return cache[organization_id]
    return policy


def _chain(db: Database, alerting: AlertingSettings, now: datetime) -> list[tuple[int, str]]:
    """The chain check in its own transaction, which writes only at the end (a long walk blocks no writer)."""
    with db.session() as s, s.no_autoflush:
        state = s.get(SecurityAlertState, STATE_ID)
        findings = chain.check(s, state, now, timedelta(hours=alerting.chain_full_hours))
        return _store(s, findings, alerting)


def _batch(db: Database, alerting: AlertingSettings) -> tuple[list[tuple[int, str]], bool]:
    """One transaction: up to BATCH new events through the detectors, the cursor moved; (new alerts, more?)."""
    with db.session() as s:
        state = s.get(SecurityAlertState, STATE_ID)
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.id > state.cursor)
                                .order_by(AuditEvent.id).limit(BATCH)))
        if not events:
            return [], False
        added = _store(s, detect(s, events, state.cursor, _policies(s)), alerting)
        state.cursor = events[-1].id
    return added, len(events) == BATCH


def run_pass(db: Database, now: datetime | None = None, alerting: AlertingSettings | None = None) -> dict[str, int]:
    """One pass; counts of new alerts by kind and of sends by outcome ({"skipped": 1}: another pass runs)."""
    now, alerting = now or utcnow(), alerting or settings()
    if not _take_lease(db, now):
        return {"skipped": 1}
    counts: dict[str, int] = {}
    try:
        _learn_past(db)
        added = []
        for _number in range(MAX_BATCHES):
            found, more = _batch(db, alerting)
            added += found
            if not more:
                break
        added += _chain(db, alerting, now)
        for _alert_id, kind in added:
            metrics.security_alert_raised(kind)
            counts[kind] = counts.get(kind, 0) + 1
        if counts:
            log.warning("security alerts raised: %s", counts, extra={"event": "security_alerts", "counts": counts})
    finally:
        _release(db)
    for outcome, n in delivery.send_due(db, now).items():
        if n:
            counts[outcome] = n
    return counts


def run_quietly(db: Database) -> None:
    """The scheduled pass: a failure is logged and the next tick tries again (the cursor has not moved)."""
    try:
        run_pass(db)
    except Exception:
        log.exception("security alert pass failed; trying again at the next tick")


def register_task(celery_app: Any, db: Database, every: float) -> dict[str, dict[str, Any]]:
    """The Celery beat side (worker.py): the pass task, and its beat entry every `every` seconds."""
    from core.jobs.tasks import _database as worker_database

    @celery_app.task(name=PASS_TASK, ignore_result=True, shared=False)  # bound to this app's database only
    def security_alert_pass() -> dict[str, int]:
        return run_pass(worker_database(db.url))  # an engine of this worker process, not the parent's

    return {"digicadence-security-alerts": {"task": PASS_TASK, "schedule": every, "options": {"expires": every}}}
