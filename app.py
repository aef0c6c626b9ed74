"""Digi-Cadence entry point.

`python app.py` runs the embedded default: SQLite under instance/, migrations applied, the demo
portfolio seeded on first start. Under gunicorn (`gunicorn app:server`) the configuration comes
from the environment only, and a missing SECRET_KEY stops the start with the reason.
"""

from __future__ import annotations

import logging
import sys

import dash
import redis
from flask import Flask
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix

from api.health import bp as health_bp
from api.v1 import init_api
from core import read_cache
from core.alert_rules import evaluate_quietly
from core.config import Config, ConfigError
from core.db import Database
from core.jobs.executor import install as install_job_queue
from core.jobs.queue import QueueSettings
from core.jobs.tasks import make_celery
from core.models import Organization
from core.observability.web import init_observability
from core.runtime import AppState
from core.security import DemoCredential, SecretBox, ensure_demo_users
from core.security_alerts import run as security_alerts
from core.setup.first_admin import setup_token
from core.subscriptions import delivery as subscription_delivery
from core.subscriptions.scheduler import SubscriptionTimer
from dashboard.auth import init_auth
from dashboard.envelope import install_body_limits
from dashboard.errors import register_server_errors
from dashboard.hardening import harden
from dashboard.shell import build_dash
from dashboard.unsubscribe import unsubscribe_blueprint

log = logging.getLogger("digicadence")


def create_app(config: Config | None = None, *, seed_demo: bool | None = None) -> dash.Dash:
    """Build the Flask server and the Dash app on it; migrations run before the first request."""
    config = config or Config.from_env()
    server = Flask(__name__)
    server.config.update(SECRET_KEY=config.secret_key, JSON_SORT_KEYS=False)
    db = Database(config.database_url)
    db.upgrade()
    read_cache.configure(db.engine, config.read_cache_entries, config.read_cache_mb * 2**20)
    if config.redis_url:  # read models computed by one process serve the others (core.read_cache)
        read_cache.share(db.engine, redis.Redis.from_url(config.redis_url, socket_timeout=0.5,
                                                         socket_connect_timeout=0.5), config.secret_key)
    logins: list[DemoCredential] = []
    if config.demo_mode if seed_demo is None else seed_demo:
        logins = seed_demo_data(db, config)
    server.extensions["digicadence"] = AppState(config=config, db=db, demo_logins=logins)
    if not config.demo_mode:
        announce_setup(db, config)
    server.register_blueprint(health_bp)
    server.register_blueprint(unsubscribe_blueprint)
    init_auth(server, config, db)
    api_bp = init_api(server, config, server.extensions["digicadence.limiter"])
    app = build_dash(server)
    init_observability(app, config)
    # One job system: Celery on Redis when REDIS_URL is set (worker.py runs the same app), else in-process.
    job_settings = QueueSettings.from_env(config.job_env)
    celery_app = make_celery(config.redis_url, job_settings, queue=config.celery_queue) if config.redis_url else None
    server.extensions["digicadence.celery"] = celery_app
    dispatcher = install_job_queue(server, db, celery_app, job_settings)
    # Report subscriptions: the SMTP settings for their deliveries; in the embedded default their schedule's
    # timer (with Celery, beat runs the same tick: worker.py).
    # Security alerts (core.security_alerts) run on the same timer, after the subscriptions' tick.
    subscription_delivery.configure(config.mail, config.secret_key)
    security_alerts.configure(config.alerting)
    security_alerts.start(db)
    if celery_app is None and config.mail.tick_s:
        server.extensions["digicadence.subscriptions"] = SubscriptionTimer(
            db, dispatcher, config.mail.tick_s, also=[lambda: security_alerts.run_quietly(db)]).start()
    register_server_errors(server)
    harden(app, https=config.https, csrf_exempt=(api_bp,))
    install_body_limits(app, config)  # after harden: callback posts are checked after sign-in and CSRF
    if config.proxy_hops:  # behind a TLS proxy: the client's address and scheme, not the proxy's
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=config.proxy_hops, x_proto=config.proxy_hops)
    return app


def seed_demo_data(db: Database, config: Config) -> list[DemoCredential]:
    """Demo mode only: the demo portfolio on first start, and the six demo users with fresh logins."""
    from core.demo import ensure_demo

    summary = ensure_demo(db, seed=config.demo_seed)
    if summary is not None:
        log.info("Seeded the demo portfolio: %d brands, %d metric values in %.1f s",
                 summary.brands, summary.metric_values, summary.seconds)
    with db.session() as s:
        org_ids = list(s.scalars(select(Organization.id).order_by(Organization.id)))
    if not org_ids:
        return []
    if summary is not None:  # a fresh demo: its alerts, as an import would have raised them
        for org_id in org_ids:
            evaluate_quietly(db, org_id)
    return ensure_demo_users(db, *org_ids, box=SecretBox.from_config(config), password=config.demo_password,
                             totp_secret=config.demo_totp_secret, settings=config.security, renew_random=True)


def announce_setup(db: Database, config: Config) -> None:
    """Without the demo and without a System Administrator: log the one-time setup link (never in a response)."""
    token = setup_token(db, config.secret_key)
    if token is not None:
        log.warning("No System Administrator exists yet. Create the first one at /setup?token=%s (works until "
                    "one exists), or run: python -m core.setup create-admin --email EMAIL --name NAME", token)


def print_logins(logins: list[DemoCredential]) -> None:
    print("  Demo sign-in (each role at its own scope):")
    for login in logins:
        line = f"    {login.role:<28} {login.email:<36} {login.password or '(unchanged)'}"
        if login.totp_secret:
            line += f"   TOTP secret {login.totp_secret}"
        print(line)
    print("  Administrators also need a 6-digit code: add the TOTP secret to an authenticator app,")
    print("  or run: .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\"")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = Config.from_env(demo_default=True)
    except ConfigError as exc:
        sys.exit(f"Digi-Cadence cannot start: {exc}")
    app = create_app(config)
    url = f"http://{config.host}:{config.port}/"
    print(f"\n  Digi-Cadence is running at {url}")
    if config.demo_mode:
        print(f"  Demo portfolio in {config.database_url}")
        print_logins(app.server.extensions["digicadence"].demo_logins)
    print("  Press Ctrl+C to stop.\n", flush=True)
    app.run(host=config.host, port=config.port, debug=False)


_production_app: dash.Dash | None = None


def __getattr__(name: str):
    """`app:server` for gunicorn, built on first access from the environment alone.

    Lazy so that importing `create_app` (tests, CLIs) never builds a production app.
    """
    global _production_app
    if name not in ("app", "server"):
        raise AttributeError(name)
    if _production_app is None:
        try:
            _production_app = create_app()
        except ConfigError as exc:
            sys.exit(f"Digi-Cadence cannot start: {exc}")
    return _production_app if name == "app" else _production_app.server


if __name__ == "__main__":
    main()
