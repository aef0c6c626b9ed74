"""Retention: policies with minimums, a dry run that changes nothing, enforcement per organization,
and the audit trail archived (never dropped) with the chain still verifying."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.models import (
    AuditArchive,
    AuditEvent,
    Brand,
    DCScore,
    Job,
    MetricValue,
    Organization,
    ProjectBrand,
    User,
    UserSession,
)
from core.models.operations import RetentionPolicy
from core.ops import retention
from core.scoring.service import recompute_projects
from core.security.audit import GENESIS_HASH, chain_hash, chain_head, record, verify_chain

NOW = datetime.now(UTC)
OLD_PERIOD = date(2015, 1, 1)


def _orgs(db) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(Organization.id).order_by(Organization.id)))


def _old_event(s, org: int | None, age_days: int, action: str = "test.old") -> AuditEvent:
    """An audit event written `age_days` ago, properly chained (as if it had been recorded then)."""
    event = AuditEvent(organization_id=org, actor_id=None, action=action, data={"age": age_days},
                       personal={"email": "someone@example.com"}, created_at=NOW - timedelta(days=age_days))
    event.prev_hash = chain_head(s) or GENESIS_HASH
    event.hash = chain_hash(event.prev_hash, event)
    s.add(event)
    s.flush()
    return event


def _setup(db):
    """Old and recent rows of each governed kind in two organizations."""
    first, second = _orgs(db)[:2]
    with db.engine.begin() as conn:  # the trail is rebuilt with controlled timestamps
        conn.execute(text("TRUNCATE audit_events" if db.dialect == "postgresql" else "DELETE FROM audit_events"))
    with db.session() as s:
        for org, age in ((first, 800), (second, 790), (None, 780), (first, 100), (second, 900), (first, 5)):
            _old_event(s, org, age)
        brand = s.scalar(select(Brand.id).where(Brand.organization_id == first).order_by(Brand.id))
        metric = s.scalar(select(MetricValue.metric_id).where(MetricValue.brand_id == brand).limit(1))
        s.add(MetricValue(brand_id=brand, metric_id=metric, period=OLD_PERIOD, raw_value=1.0))
        users = {}
        for org in (first, second):
            user = User(organization_id=org, email=f"retention-{org}@example.com", name="R")
            s.add(user)
            s.flush()
            users[org] = user.id
        for org, seen in ((first, 60), (first, 1), (second, 60)):
            s.add(UserSession(id=uuid.uuid4().hex, user_id=users[org], data="", expires_at=NOW - timedelta(days=seen),
                              created_at=NOW - timedelta(days=seen), last_seen_at=NOW - timedelta(days=seen)))
        for org, kind, age, status in ((first, "optimize", 400, "succeeded"), (first, "optimize", 400, "running"),
                                       (first, "export-csv", 40, "succeeded"), (second, "optimize", 10, "failed")):
            s.add(Job(id=str(uuid.uuid4()), organization_id=org, kind=kind, status=status,
                      created_at=NOW - timedelta(days=age), finished_at=NOW - timedelta(days=age)))
    recompute_projects(db)
    return first, second, brand


def test_policies_have_minimums_and_bad_input_changes_nothing(populated):
    db, _ = populated
    org = _orgs(db)[0]
    assert retention.set_policy(db, org, metric_values_days=1000)["metric_values_days"] == 1000
    with pytest.raises(retention.PolicyRejected) as refused:
        retention.set_policy(db, org, metric_values_days=7, jobs_days="ninety", colour=3)
    message = str(refused.value)
    assert "at least 730" in message and "whole number" in message and "unknown setting" in message
    with db.session() as s:
        assert s.get(RetentionPolicy, org).metric_values_days == 1000
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "ops.retention_policy_set")) == 1
    with pytest.raises((IntegrityError, DBAPIError)), db.session() as s:  # the database refuses too
        s.execute(text("UPDATE retention_policies SET sessions_days = 1"))


def test_dry_run_reports_per_org_and_changes_nothing_then_run_enforces(populated):
    db, _ = populated
    first, second, brand = _setup(db)
    retention.set_policy(db, second, audit_days=1000, jobs_days=30)
    with db.session() as s:
        before = {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                  for m in (MetricValue, UserSession, Job, AuditEvent)}
    plan = retention.run(db, dry_run=True, now=NOW)
    with db.session() as s:
        assert before == {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                          for m in (MetricValue, UserSession, Job, AuditEvent)}
    assert plan.counts[first]["metric_values"] == 1 and plan.counts[first]["user_sessions"] == 1
    assert plan.counts[second]["user_sessions"] == 1
    assert plan.counts[first]["jobs"] == 1  # the running one stays
    assert plan.counts[first]["exports"] == 1  # export kinds follow exports_days (30)
    assert plan.counts[second]["jobs"] == 0
    # The trail goes as a prefix: 800 (first) and 790 (second: audit_days 1000, so it stays) → stops there.
    assert plan.counts[first]["audit_events"] == 1 and plan.counts[second]["audit_events"] == 0
    assert any("would delete" in line for line in plan.lines())

    done = retention.run(db, now=NOW)
    assert {k: dict(v) for k, v in done.counts.items()} == {k: dict(v) for k, v in plan.counts.items()}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MetricValue).where(MetricValue.period == OLD_PERIOD)) == 0
        assert s.scalar(select(func.count()).select_from(DCScore).where(DCScore.period == OLD_PERIOD)) == 0
        assert s.scalar(select(func.count()).select_from(AuditArchive)) == 1
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions.count("ops.retention_applied") == 2 and "ops.audit_archived" in actions
    assert done.rescored_projects == sorted(projects_of_brands_in(db, [brand]))
    assert verify_chain(db).ok


def projects_of_brands_in(db, brands):
    with db.engine.connect() as conn:
        return set(conn.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id.in_(brands))))


def test_archived_trail_verifies_from_its_anchor_and_tampering_is_still_caught(populated):
    db, _ = populated
    _setup(db)
    # 120 days on, the first three events are past 730 days; the fourth (220 days) ends the prefix, so the
    # 1020-day-old event after it stays live too: the archive is always a prefix of the chain.
    report = retention.run(db, now=NOW + timedelta(days=120))
    with db.session() as s:
        archived = s.scalars(select(AuditArchive).order_by(AuditArchive.id)).all()
        first_live = s.scalar(select(AuditEvent).order_by(AuditEvent.id).limit(1))
        assert archived[0].prev_hash == GENESIS_HASH and archived[0].personal  # kept whole, hashes and all
    assert len(archived) == 3 and report.archive_anchor == archived[-1].hash == first_live.prev_hash
    full = verify_chain(db)
    assert full.ok and full.checked == len(archived) + len(_live(db))
    assert verify_chain(db, anchor=report.archive_anchor).ok
    assert not verify_chain(db, anchor=GENESIS_HASH).ok
    record(db, "test.after_archive")  # new events keep linking to the chain's head
    assert verify_chain(db).ok
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            with pytest.raises(DBAPIError), conn.begin_nested():  # archive is append-only
                conn.execute(text("UPDATE audit_archive SET action = 'x' WHERE id = :id"), {"id": archived[1].id})
            with pytest.raises(DBAPIError), conn.begin_nested():  # a live event not archived cannot go
                conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": first_live.id})
            conn.execute(text("ALTER TABLE audit_archive DISABLE TRIGGER audit_archive_append_only"))
        conn.execute(text("UPDATE audit_archive SET action = 'test.harmless' WHERE id = :id"), {"id": archived[1].id})
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_archive ENABLE TRIGGER audit_archive_append_only"))
    broken = verify_chain(db)
    assert not broken.ok and broken.broken_id == archived[1].id


def _live(db):
    with db.session() as s:
        return list(s.scalars(select(AuditEvent.id)))


def test_the_worker_schedules_retention_and_the_task_runs(tmp_path):
    """worker.py as Celery loads it: the beat entry exists and the task enforces retention."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REDIS_TEST_URL

    script = ("import json, worker; entry = worker.celery.conf.beat_schedule['retention-daily']; "
              "result = worker.celery.tasks[entry['task']].apply().get(); "
              "print(json.dumps({'task': entry['task'], 'schedule': str(entry['schedule']), 'result': result}))")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "REDIS_URL": REDIS_TEST_URL,
           "SECRET_KEY": "s" * 32, "DIGICADENCE_INSTANCE_DIR": str(tmp_path), "DIGICADENCE_DEMO": "0"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["task"] == "digicadence.retention" and "30 3" in out["schedule"]
    assert out["result"]["dry_run"] is False and out["result"]["organizations"] == []
