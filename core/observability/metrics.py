"""Every Prometheus metric of the app, and the functions the code calls to record them.

Label values come from bounded sets only (route templates, registered callback ids, job kinds,
reason codes), never from raw paths or user input, so the number of series stays fixed.

Under gunicorn with several workers each process keeps its own values; with
PROMETHEUS_MULTIPROC_DIR set (before this module is imported) prometheus_client writes them to
files in that folder and `render()` adds them up. deploy/gunicorn.conf.py sets and empties the
folder at start and marks dead workers, so their live gauges drop out.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Engine, event

from core.config import prometheus_multiproc_dir
from core.models.security_alerts import CHANNELS, SECURITY_ALERT_KINDS

if (_folder := prometheus_multiproc_dir()) is not None:  # each process writes there from its first value
    _folder.mkdir(parents=True, exist_ok=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds. The page target is p95 < 0.8 s, so the buckets are dense around it.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
_JOB_BUCKETS = (0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)

HTTP_LATENCY = Histogram(
    "digicadence_http_request_duration_seconds", "HTTP request latency by route template",
    ["method", "route", "status"], buckets=_LATENCY_BUCKETS)
CALLBACK_LATENCY = Histogram(
    "digicadence_dash_callback_duration_seconds", "Dash callback latency by callback (its output id)",
    ["callback", "status"], buckets=_LATENCY_BUCKETS)
JOB_DURATION = Histogram(
    "digicadence_job_duration_seconds", "Background job run time by kind and final status "
    "(the _count series counts outcomes)", ["kind", "status"], buckets=_JOB_BUCKETS)
SIGN_IN_FAILURES = Counter(
    "digicadence_sign_in_failures_total", "Failed sign-in steps by step (password, mfa) and reason",
    ["step", "reason"])
READ_CACHE = Counter(
    "digicadence_read_cache_total", "Read-model lookups in the per-process cache by read model and outcome "
    "(hit, miss, bypass: no data version yet)", ["read_model", "outcome"])
LOCKOUTS = Counter("digicadence_account_lockouts_total", "Accounts locked after too many failed attempts")
SECURITY_ALERTS = Counter(
    "digicadence_security_alerts_total", "Security alerts raised by kind (core.security_alerts: lockout_burst, "
    "denial_spike, admin_grant, mfa_reset, new_network, audit_chain)", ["kind"])
SECURITY_ALERT_SENDS = Counter(
    "digicadence_security_alert_sends_total", "Attempts to send a security alert by channel and outcome (sent; "
    "retrying: failed, tried again later; failed: given up, the alert list says why)", ["channel", "outcome"])
for _kind in SECURITY_ALERT_KINDS:  # every kind shows from the start, at 0
    SECURITY_ALERTS.labels(kind=_kind)
POOL_CHECKED_OUT = Gauge(
    "digicadence_db_pool_checked_out", "Database connections checked out of the pool now",
    multiprocess_mode="livesum")
POOL_SIZE = Gauge(
    "digicadence_db_pool_size", "Connections each pool keeps open (summed over processes)",
    multiprocess_mode="livesum")
POOL_CAPACITY = Gauge(
    "digicadence_db_pool_capacity", "Most connections the pools may open: size plus overflow (summed over processes)",
    multiprocess_mode="livesum")

# Reason codes the accounts service uses; anything else is counted as "other".
_SIGN_IN_REASONS = {"unknown_user", "bad_password", "locked", "disabled", "no_password", "bad_code"}
_JOB_STATUSES = {"succeeded", "failed", "cancelled"}


def job_finished(kind: str, status: str, seconds: float | None) -> None:
    """A job reached a final status; `seconds` from its start (None when it never started)."""
    status = status if status in _JOB_STATUSES else "other"
    JOB_DURATION.labels(kind=_bounded(kind), status=status).observe(max(float(seconds or 0.0), 0.0))


def sign_in_failed(step: str, reason: str) -> None:
    SIGN_IN_FAILURES.labels(step=step if step in ("password", "mfa") else "other",
                            reason=reason if reason in _SIGN_IN_REASONS else "other").inc()


def account_locked() -> None:
    LOCKOUTS.inc()


def security_alert_raised(kind: str) -> None:
    SECURITY_ALERTS.labels(kind=kind if kind in SECURITY_ALERT_KINDS else "other").inc()


def security_alert_send(channel: str, outcome: str) -> None:
    SECURITY_ALERT_SENDS.labels(channel=channel if channel in CHANNELS else "other",
                                outcome=outcome if outcome in ("sent", "retrying", "failed") else "other").inc()


def request_finished(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_LATENCY.labels(method=method, route=route, status=str(status)).observe(seconds)


def callback_finished(callback: str, status: int, seconds: float) -> None:
    CALLBACK_LATENCY.labels(callback=callback, status=str(status)).observe(seconds)


def _bounded(value: Any, limit: int = 64) -> str:
    """Job kinds are code constants; cut anything longer so a bug cannot explode a label."""
    return str(value)[:limit]


def observe_pool(engine: Engine) -> None:
    """Keep the pool gauges current from the engine's checkout/checkin events."""
    pool = engine.pool
    size = pool.size() if hasattr(pool, "size") else 0
    overflow = max(getattr(pool, "_max_overflow", 0), 0)
    POOL_SIZE.set(size)
    POOL_CAPACITY.set(size + overflow)
    event.listen(pool, "checkout", lambda *_: POOL_CHECKED_OUT.inc())
    event.listen(pool, "checkin", lambda *_: POOL_CHECKED_OUT.dec())


def render() -> bytes:
    """The exposition text: every process's values in multiprocess mode, this process's otherwise."""
    if prometheus_multiproc_dir() is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def mark_process_dead(pid: int) -> None:
    """gunicorn child_exit hook: drop a dead worker's live gauges (its counters stay counted)."""
    if prometheus_multiproc_dir() is not None:
        multiprocess.mark_process_dead(pid)


def caller_allowed(token: str | None, authorization: str | None, remote_addr: str | None, forwarded: bool) -> bool:
    """Who may read metrics: the bearer token when one is configured, else a direct loopback caller only
    (`forwarded`: the request carries X-Forwarded-For/Forwarded/X-Real-IP, i.e. came through a proxy)."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    if forwarded:
        return False
    try:
        return ipaddress.ip_address(remote_addr or "").is_loopback
    except ValueError:
        return False


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *_args) -> None:  # scrapes every few seconds would flood the log
        pass


def serve(port: int, token: str | None, host: str = "0.0.0.0") -> threading.Thread:
    """/metrics on its own port, for processes without a web server (the Celery worker), with the same
    access rule as the web app's /metrics."""

    def app(request: dict[str, Any], start_response: Any) -> list[bytes]:  # WSGI: `request` is its environ dict
        forwarded = any(request.get(k) for k in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP"))
        if request.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not caller_allowed(token, request.get("HTTP_AUTHORIZATION"), request.get("REMOTE_ADDR"), forwarded):
            start_response("401 Unauthorized" if token else "403 Forbidden", [("Content-Type", "text/plain")])
            return [b"not allowed\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Cache-Control", "no-store")])
        return [render()]

    server = make_server(host, port, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True)
    thread.server = server  # type: ignore[attr-defined]  (tests and shutdown reach it here)
    thread.start()
    return thread


def clear_folder() -> None:
    """Remove a previous run's metric files (call once at start, before any child process exists)."""
    folder = prometheus_multiproc_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.glob("*.db"):
            path.unlink()
