"""gunicorn settings for the web process: `gunicorn -c deploy/gunicorn.conf.py app:server`.

Every value can be overridden from the environment (names below). Prometheus multiprocess mode:
each worker writes its metrics to files in PROMETHEUS_MULTIPROC_DIR, `/metrics` adds them up; the
folder's metric files are removed when gunicorn starts, and a dead worker's live gauges when it exits.
Logs are JSON lines on stderr (core.observability.logs); the app writes one access line per request
with its route, status, duration, request id and user id, so gunicorn's own access log is off.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

# Must be set before prometheus_client is imported anywhere (workers import the app after fork).
METRICS_DIR = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                                    os.path.join(tempfile.gettempdir(), "digicadence-metrics"))

from core.observability.logs import LOGGING  # noqa: E402  (needs the path above)

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8050')}")
# Callbacks are CPU-bound (pandas, scoring) with database waits in between: about two workers per
# core. In containers os.cpu_count() sees the host, so set WEB_CONCURRENCY to match the CPU limit.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 17))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))  # the slowest export or optimizer preview
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))  # behind a proxy that keeps connections open
# Recycle workers now and then so slow growth (pandas, plotly caches) cannot accumulate. A new worker
# builds the app (seconds of CPU), so the jitter is wide: under even load, workers with a narrow one
# all reached the limit within seconds of each other and the whole server stalled while they booted.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "2500"))
# Heartbeat files in memory: a container's overlay filesystem can stall them and get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn 27's control socket defaults to ~/.gunicorn/gunicorn.ctl: shared by every gunicorn of the
# user on a host, and unwritable in the image (non-root, read-only home). Nothing here uses it.
control_socket_disable = True
limit_request_line = 8190
limit_request_fields = 100

accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
logconfig_dict = LOGGING


def on_starting(server) -> None:
    """Empty the metrics folder: values of a previous run's processes must not be added in."""
    from core.observability.metrics import clear_folder

    clear_folder()


def post_worker_init(worker) -> None:
    """The app is built: take its start-up objects (about 370,000 on the demo: Dash's registry, Plotly's
    templates, pandas) out of the garbage collector's view. A full collection otherwise scans them all
    every few hundred requests, a pause of about 300 ms that lands on whichever request is running."""
    import gc

    gc.collect()
    gc.freeze()


def child_exit(server, worker) -> None:
    """A worker ended: its live gauges (pool use) stop counting; its counters stay in the totals."""
    from core.observability.metrics import mark_process_dead

    mark_process_dead(worker.pid)
