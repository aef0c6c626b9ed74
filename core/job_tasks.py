"""The Celery side of durable jobs: the run and sweep tasks, their delivery settings, the beat schedule.

Delivery settings of the run task, and why:
- `acks_late` + `reject_on_worker_lost`: the message is acknowledged only after the job ends, so a
  worker process that dies mid-job (OOM, SIGKILL, lost node) leaves it to be delivered again;
  core.job_queue.execute makes every further delivery of a finished job a no-op.
- `autoretry_for` database `OperationalError` and Redis `ConnectionError`, with exponential backoff
  (capped, jittered) and a maximum: a restarting database costs a retry, not the job.
- The broker's visibility timeout (core.jobs.make_celery) exceeds any job's run time; a dead
  worker's job does not wait for it, because the beat-scheduled sweeper re-queues it once its
  heartbeat is stale (or its process is gone).
"""

from __future__ import annotations

import os
from typing import Any

import redis
from sqlalchemy.exc import OperationalError

from core.db import Database
from core.job_queue import RUN_TASK, SWEEP_TASK, CeleryDispatcher, QueueSettings, execute, sweep

TRANSIENT: tuple[type[BaseException], ...] = (OperationalError, redis.exceptions.ConnectionError)
MAX_RETRIES = 6
RETRY_BACKOFF_MAX_S = 300

_databases: dict[tuple[int, str], Database] = {}


def _database(url: str) -> Database:
    """One engine per worker process: pooled connections must not cross the prefork fork."""
    key = (os.getpid(), url)
    if key not in _databases:
        _databases[key] = Database(url)
    return _databases[key]


def register_tasks(celery_app: Any, database_url: str, settings: QueueSettings) -> None:
    """Register the run and sweep tasks on `celery_app`, bound to the app's database (never sent in messages)."""

    @celery_app.task(name=RUN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True,
                     autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=RETRY_BACKOFF_MAX_S,
                     retry_jitter=True, max_retries=MAX_RETRIES)
    def run_job(self, job_id: str) -> str:
        return execute(_database(database_url), str(job_id), settings, transient=TRANSIENT)

    @celery_app.task(name=SWEEP_TASK, ignore_result=True, autoretry_for=TRANSIENT, max_retries=2, retry_backoff=2)
    def sweep_jobs() -> dict[str, int]:
        return sweep(_database(database_url), CeleryDispatcher(celery_app, settings))


def beat_schedule(settings: QueueSettings | None = None) -> dict[str, dict[str, Any]]:
    """The sweeper every `sweep_every_s`; a sweep not started within one interval is dropped, not piled up."""
    every = (settings or QueueSettings.from_env()).sweep_every_s
    return {"digicadence-sweep-jobs": {"task": SWEEP_TASK, "schedule": every, "options": {"expires": every}}}
