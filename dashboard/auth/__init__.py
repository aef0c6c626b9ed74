"""Sign-in and the request gate: server-side sessions, Flask-Login, rate limits, 401/403.

`init_auth` wires it onto the Flask server. Every request passes `gate`: public paths (sign-in,
health, static files) pass; Dash's data endpoints need a signed-in user (401 JSON otherwise);
pages need one too (redirect to /login) and the page's permission (403 page otherwise).
"""

from __future__ import annotations

from datetime import timedelta

import dash
from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user

from api.v1 import PREFIX as API_PREFIX
from api.v1 import api_not_found, is_api_request
from core.config import Config
from core.db import Database
from core.security import Accounts, SecretBox
from core.security.authorizer import Forbidden
from core.security.sso import SingleSignOn
from core.sessions import DatabaseSessionStore, RedisSessionStore, SessionStore
from dashboard.auth.principal import current_principal, login_manager, page_allowed
from dashboard.auth.session_interface import ServerSessionInterface, raise_if_store_failed
from dashboard.auth.setup_view import setup_blueprint
from dashboard.auth.sso_views import sso_blueprint
from dashboard.auth.views import auth_blueprint
from dashboard.auth.webauthn_views import enrolment_answer, webauthn_blueprint

PUBLIC_PREFIXES = ("/login", "/auth/oidc/", "/setup", "/healthz", "/readyz", "/vendor/", "/assets/",
                   "/_dash-component-suites/", "/_favicon", "/favicon.ico",
                   "/auth/webauthn/sign-in/",  # a key as second factor, or a passkey: checked by the endpoints
                   "/unsubscribe/")  # one-click unsubscribe: its signed token is checked (dashboard/unsubscribe.py)
# Paths that do their own access control instead of the sign-in (Prometheus does not sign in).
SELF_GUARDED_PATHS = ("/metrics",)
DASH_DATA_PREFIXES = ("/_dash-update-component", "/_dash-layout", "/_dash-dependencies", "/_reload-hash")


def session_store(config: Config, db: Database, box: SecretBox) -> SessionStore:
    idle, absolute = timedelta(minutes=config.session_idle_minutes), timedelta(hours=config.session_absolute_hours)
    if config.redis_url and config.session_store != "database":
        return RedisSessionStore.from_url(config.redis_url, box, idle=idle, absolute=absolute)
    return DatabaseSessionStore(db, box, idle=idle, absolute=absolute)


def _page_for(path: str) -> dict | None:
    wanted = path.rstrip("/") or "/"
    for page in dash.page_registry.values():
        if (page.get("path", "").rstrip("/") or "/") == wanted:
            return page
    return None


ARCHIVED_REASON = "Your organization is archived."


def _archived_answer(path: str):
    """Members of an archived organization see why they see nothing (their grants give nothing meanwhile)."""
    if path == "/logout" or not getattr(current_user, "organization_archived", False):
        return None
    if path.startswith(DASH_DATA_PREFIXES):
        return jsonify(error="organization_archived", reason=ARCHIVED_REASON), 403
    return render_template("auth/archived.html", title="This organization is archived"), 403


def gate():
    path = request.path
    if path.startswith(PUBLIC_PREFIXES) or path in SELF_GUARDED_PATHS:
        return None
    if is_api_request():
        return None  # routed to /api/v1, which authenticates every call by bearer token itself
    if path.startswith(API_PREFIX + "/"):
        return api_not_found()  # under /api/v1 but no API route: never the dashboard's pages
    signed_in = current_user.is_authenticated
    if signed_in and (archived := _archived_answer(path)) is not None:
        return archived
    if signed_in and (key_first := enrolment_answer(path, path.startswith(DASH_DATA_PREFIXES))) is not None:
        return key_first  # an administrator whose organization requires a security key registers one first
    if path.startswith(DASH_DATA_PREFIXES):
        if not signed_in:
            return jsonify(error="unauthenticated", reason="sign in first"), 401
        if current_user.must_change_password:
            return jsonify(error="password_change_required", reason="change your password first"), 403
        return None
    if not signed_in:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if current_user.must_change_password and path != "/logout":
        return redirect(url_for("auth.change_password", next=path))
    page = _page_for(path)
    if page is not None and not page_allowed(current_principal(), page):
        return render_template("auth/error.html", title="403 — not allowed",
                               message="You do not have access to this page."), 403
    return None


def init_auth(server: Flask, config: Config, db: Database) -> Accounts:
    """Attach sessions, sign-in, rate limits and the gate to `server`; returns the Accounts service."""
    box = SecretBox.from_config(config)
    accounts = Accounts(db, config.security, box)
    server.extensions["digicadence.accounts"] = accounts
    server.session_interface = ServerSessionInterface(session_store(config, db, box), secure=config.https)
    server.config.setdefault("DC_SIGNIN_RATE_PER_IP", config.signin_rate_per_ip)
    server.config.setdefault("DC_SIGNIN_RATE_PER_ACCOUNT", config.signin_rate_per_account)
    login_manager.init_app(server)
    # in_memory_fallback: while Redis is down the limits hold per process instead of failing sign-in.
    limiter = Limiter(get_remote_address, app=server, storage_uri=config.redis_url or "memory://",
                      headers_enabled=True, strategy="moving-window", in_memory_fallback_enabled=True)
    server.extensions["digicadence.limiter"] = limiter
    server.register_blueprint(auth_blueprint(limiter))
    server.register_blueprint(setup_blueprint(limiter))
    server.register_blueprint(sso_blueprint(limiter, SingleSignOn(accounts)))
    server.register_blueprint(webauthn_blueprint(limiter))
    server.before_request(raise_if_store_failed)
    server.before_request(gate)

    @server.errorhandler(Forbidden)
    def forbidden(error: Forbidden):
        if request.path.startswith(DASH_DATA_PREFIXES) or request.is_json:
            return jsonify(error="forbidden", reason="not permitted"), 403
        return render_template("auth/error.html", title="403 — not allowed", message="You may not do this."), 403

    @server.errorhandler(401)
    def unauthenticated(_error):
        return jsonify(error="unauthenticated", reason="sign in first"), 401

    @server.errorhandler(429)
    def too_many(error):
        response = render_template("auth/error.html", title="Too many attempts",
                                   message="Too many attempts. Wait a minute and try again."), 429
        return response

    return accounts
