"""The Celery worker for background callbacks and durable jobs: `celery -A worker:celery worker --loglevel=INFO`.

`celery -A worker:celery beat` runs the schedule: the job sweeper (core.job_tasks.beat_schedule).

It builds the same app as the web process, from the same environment (REDIS_URL, DATABASE_URL,
SECRET_KEY), so every page's background callback is registered as a Celery task under the same
name the web process queues. It never seeds the demo or resets demo logins: the web process does.
"""

from __future__ import annotations

import sys

from app import create_app
from core.config import Config, ConfigError
from core.job_tasks import beat_schedule

try:
    _config = Config.from_env()
except ConfigError as exc:
    sys.exit(f"Digi-Cadence worker cannot start: {exc}")
if not _config.redis_url:
    sys.exit("Digi-Cadence worker cannot start: set REDIS_URL (the web process must use the same one)")

dash_app = create_app(_config, seed_demo=False)
celery = dash_app.server.extensions["digicadence.celery"]
celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **beat_schedule()}
