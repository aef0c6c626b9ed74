"""HTTP hardening for the whole server: security headers with a strict CSP, and CSRF.

* Headers come from flask-talisman. The Content-Security-Policy allows scripts from our own
  origin plus the hashes of Dash's inline scripts (`app.csp_hashes()`). Dash Pages registers
  one more inline script (its title callback) on the first request, so the hashes are
  refreshed before every request, after Dash's own set-up hooks and before Talisman's.
* CSRF comes from Flask-WTF. Form posts carry the token as a field; Dash's renderer copies the
  `_csrf_token` cookie into an `X-CSRFToken` header on every callback post, so that cookie holds
  a signed token and must stay readable by JavaScript (not HttpOnly). A post without a valid
  token gets a JSON 400 with the reason and runs nothing.
"""

from __future__ import annotations

import dash
from flask import Blueprint, jsonify, request
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

CSRF_COOKIE = "_csrf_token"


def content_security_policy(app: dash.Dash) -> dict[str, str | list[str]]:
    return {
        "default-src": "'self'",
        "script-src": ["'self'", *app.csp_hashes()],
        "style-src": ["'self'", "'unsafe-inline'"],  # Plotly and AG Grid set inline styles
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def harden(app: dash.Dash, *, https: bool, csrf_exempt: tuple[Blueprint, ...] = ()) -> None:
    """Apply headers and CSRF protection to `app.server`. Call after the app is complete.

    `csrf_exempt`: blueprints that take no cookie credentials at all (the bearer-token API), so a
    cross-site request has nothing to ride on; they get no CSRF check and no CSRF cookie.
    """
    server = app.server
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session's life; the session expires instead
        WTF_CSRF_SSL_STRICT=https,
    )
    csrf = CSRFProtect(server)
    exempt = {bp.name for bp in csrf_exempt}
    for bp in csrf_exempt:
        csrf.exempt(bp)
    talisman: Talisman | None = None

    @server.before_request  # registered before Talisman's own hook, so it runs first
    def refresh_script_hashes() -> None:
        talisman.content_security_policy["script-src"] = ["'self'", *app.csp_hashes()]

    talisman = Talisman(
        server,
        force_https=False,  # TLS is terminated by the proxy; HSTS is still sent over HTTPS
        strict_transport_security=True,
        session_cookie_secure=https,
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        content_security_policy=content_security_policy(app),
        x_content_type_options=True,
    )

    @server.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError):
        return jsonify(error="csrf_failed", reason=error.description), 400

    @server.after_request
    def csrf_cookie(response):
        if request.blueprint in exempt:
            return response
        if response.mimetype == "text/html" or request.path.startswith("/_dash"):
            response.set_cookie(
                CSRF_COOKIE, generate_csrf(), secure=https or request.is_secure, samesite="Lax", httponly=False
            )
        return response
