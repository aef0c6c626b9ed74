"""The Celery worker for durable jobs: `celery -A worker:celery worker --loglevel=INFO`.

`celery -A worker:celery beat` runs the schedule: the job sweeper (core.jobs.tasks.beat_schedule),
retention, the report subscriptions' tick (core.subscriptions.scheduler) and the security alert pass
(core.security_alerts.run).

It builds the same app as the web process, from the same environment (REDIS_URL, DATABASE_URL,
SECRET_KEY), so the job tasks are registered on the same Celery app and queue the web process sends
to. It never seeds the demo or resets demo logins: the web process does.
"""

from __future__ import annotations

import os
import sys

from celery.signals import setup_logging, worker_init, worker_process_init, worker_process_shutdown

from app import create_app
from core.config import Config, ConfigError
from core.jobs.queue import QueueSettings
from core.jobs.tasks import beat_schedule
from core.observability import logs, metrics

try:
    _config = Config.from_env()
except ConfigError as exc:
    sys.exit(f"Digi-Cadence worker cannot start: {exc}")
if not _config.redis_url:
    sys.exit("Digi-Cadence worker cannot start: set REDIS_URL (the web process must use the same one)")

dash_app = create_app(_config, seed_demo=False)
celery = dash_app.server.extensions["digicadence.celery"]


@setup_logging.connect
def _json_logs(loglevel=None, **_kwargs) -> None:
    """Celery leaves logging to us when this is connected: the same JSON lines as the web process."""
    logs.configure(loglevel or "INFO")


@worker_init.connect
def _serve_metrics(**_kwargs) -> None:
    """Job metrics are recorded in the pool's child processes; with DIGICADENCE_WORKER_METRICS_PORT set,
    the main process serves them all (PROMETHEUS_MULTIPROC_DIR) at :PORT/metrics, guarded like the web's."""
    if _config.worker_metrics_port:
        metrics.clear_folder()  # a previous run's files; the pool's children start after this
        metrics.serve(_config.worker_metrics_port, _config.metrics_token)


@worker_process_init.connect
def _yield_to_the_web(**_kwargs) -> None:
    """Pool processes run at a lower CPU priority (DIGICADENCE_WORKER_NICE, default 10; 0 keeps it):
    an optimization may take seconds longer, a page must not wait behind it where the two share cores."""
    if _config.worker_nice > 0:
        os.nice(_config.worker_nice)


@worker_process_shutdown.connect
def _child_gone(pid=None, **_kwargs) -> None:
    metrics.mark_process_dead(pid or os.getpid())


# Scheduled operations, run by `celery -A worker:celery beat` (one beat process per deployment).
from celery.schedules import crontab  # noqa: E402

from core.ops.retention import register_task as register_retention_task  # noqa: E402

register_retention_task(celery, dash_app.server.extensions["digicadence"].db)
celery.conf.beat_schedule = {
    **(celery.conf.beat_schedule or {}),
    "retention-daily": {"task": "digicadence.retention", "schedule": crontab(hour=3, minute=30)},
}
celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}),
                             **beat_schedule(QueueSettings.from_env(_config.job_env))}

# Report subscriptions: beat's tick queues the due deliveries (core.subscriptions.scheduler).
from core.jobs.queue import EXTENSION as JOB_QUEUE  # noqa: E402
from core.subscriptions.scheduler import register_task as register_subscription_task  # noqa: E402

celery.conf.beat_schedule = {**celery.conf.beat_schedule,
                             **register_subscription_task(celery, dash_app.server.extensions["digicadence"].db,
                                                          dash_app.server.extensions[JOB_QUEUE])}

# Security alerts: beat's pass at the same interval reads the audit trail and tells the contacts
# (core.security_alerts.run; create_app configured the contacts).
from core.security_alerts.run import register_task as register_security_alert_task  # noqa: E402

celery.conf.beat_schedule = {**celery.conf.beat_schedule,
                             **register_security_alert_task(celery, dash_app.server.extensions["digicadence"].db,
                                                            float(_config.mail.tick_s or 60))}
