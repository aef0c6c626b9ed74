"""The Celery side of durable jobs: the app, the run and sweep tasks, their delivery settings, the beat schedule.

Delivery settings of the run task, and why:
- `acks_late` + `reject_on_worker_lost`: the message is acknowledged only after the job ends, so a
  worker process that dies mid-job (OOM, SIGKILL, lost node) leaves it to be delivered again;
  core.jobs.runner.execute makes every further delivery of a finished job a no-op.
- `autoretry_for` database `OperationalError` and Redis `ConnectionError`, with exponential backoff
  (capped, jittered) and a maximum: a restarting database costs a retry, not the job.
- The broker's visibility timeout (`make_celery`) exceeds any job's run time; a dead worker's job
  does not wait for it, because the beat-scheduled sweeper re-queues it once its heartbeat is stale
  (or its process is gone).
"""

from __future__ import annotations

import os
from typing import Any

import redis
from celery import Celery
from sqlalchemy.exc import OperationalError

from core.db import Database
from core.jobs.queue import RUN_TASK, SWEEP_TASK, QueueSettings
from core.jobs.runner import execute, sweep

TRANSIENT: tuple[type[BaseException], ...] = (OperationalError, redis.exceptions.ConnectionError)
MAX_RETRIES = 6
RETRY_BACKOFF_MAX_S = 300

_databases: dict[tuple[int, str], Database] = {}


def make_celery(redis_url: str, settings: QueueSettings, *, queue: str = "celery",
                name: str = "digicadence") -> Celery:
    """The one Celery app of a deployment (web process and worker): Redis as broker and backend, JSON only.

    The visibility timeout is how long an unacknowledged message waits before Redis hands it to
    another worker: longer than any job runs, or a live job would be delivered twice (harmless, but
    wasted work); a dead worker's job is picked up sooner by the sweeper. `queue` lets one Redis
    serve several deployments (or test runs) (Config.celery_queue).
    """
    app = Celery(name, broker=redis_url, backend=redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,  # long runs: one at a time per worker process
        task_track_started=True,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        task_default_queue=queue,
    )
    return app


class CeleryDispatcher:
    """Jobs as Celery tasks on Redis, keyed by the job id."""

    def __init__(self, celery_app: Any, settings: QueueSettings) -> None:
        self.celery, self.settings = celery_app, settings

    def dispatch(self, job_id: str) -> None:
        self.celery.send_task(RUN_TASK, args=[job_id], task_id=job_id, ignore_result=True,  # the row is the result
                              retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})


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


def beat_schedule(settings: QueueSettings) -> dict[str, dict[str, Any]]:
    """The sweeper every `sweep_every_s`; a sweep not started within one interval is dropped, not piled up."""
    every = settings.sweep_every_s
    return {"digicadence-sweep-jobs": {"task": SWEEP_TASK, "schedule": every, "options": {"expires": every}}}
