"""Company sign-in (OpenID Connect) on the web: start, callback, and the provider half of sign-out.

The protocol and the decisions are in `core.security.sso`; this module moves the browser. A started
flow (state, nonce, PKCE verifier, organization) lives in the server-side session and is taken out
at the callback, so it works once. After the provider, the person goes through the same steps as
after a password: our TOTP step when the provider did no second factor and one is needed, then
`views._complete_sign_in`, the one place a session starts.

The page that sends the person on is a plain page with a link and a meta refresh, not a redirect:
the sign-in form's CSP allows forms to post only to this site (`form-action 'self'`), and browsers
apply that to redirects after a form too.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter

from core.runtime import get_db
from core.security import sso_settings
from core.security.oidc import Flow, SSORefused
from core.security.sso import SingleSignOn
from dashboard.auth.sso_session import SSO_KEY, _sso
from dashboard.auth.views import _complete_sign_in, safe_next

FLOW_KEY = "oidc_flow"


def _callback_uri() -> str:
    return url_for("sso.callback", _external=True)


def sso_available() -> bool:
    """Whether any organization signs in through SSO (the sign-in page shows the company button then)."""
    return sso_settings.any_enabled(get_db())


def _login_page(next_url: str, message: str, address: str) -> ResponseReturnValue:
    return render_template("auth/login.html", title="Sign in", next=next_url, email="", sso_address=address,
                           sso_error=message), 400


def start() -> ResponseReturnValue:
    """The address (or organization) typed on the sign-in page → its provider, flow kept server-side."""
    next_url = safe_next(request.args.get("next"))
    address = request.form.get("sso_address", "")[:254]
    try:
        url, flow = _sso().begin(address, _callback_uri(), next_url)
    except SSORefused as exc:
        return _login_page(next_url, exc.message, address)
    session[FLOW_KEY] = flow.as_dict()
    return render_template("auth/sso_continue.html", title="Continue to your company sign-in", url=url)


def callback() -> ResponseReturnValue:
    """Back from the provider: check everything, then the same steps as after a password."""
    flow = Flow.from_dict(session.pop(FLOW_KEY, None))  # taken out first: a state works once
    try:
        result = _sso().finish(flow, request.args.to_dict(), _callback_uri(),
                               personal={"ip": request.remote_addr or ""})
    except SSORefused as exc:
        return render_template("auth/error.html", title="Company sign-in refused", message=exc.message), 403
    next_url = flow.next_url if flow is not None else "/"
    carried = {"user": result.user_id, "org": result.organization_id, "id_token": result.id_token}
    if result.mfa_required or result.mfa_enrolment_required:
        session.clear()
        session.rotate()
        session["pending_user"], session["pending_at"] = result.user_id, time.time()
        session[SSO_KEY] = carried
        step = "auth.enrol" if result.mfa_enrolment_required else "auth.mfa"
        return redirect(url_for(step, next=next_url))
    session[SSO_KEY] = carried
    return _complete_sign_in(result.user_id, next_url)


def sso_blueprint(limiter: Limiter, sso: SingleSignOn) -> Blueprint:
    """The company sign-in routes (rate-limited per IP like the password form)."""
    current = Blueprint("sso", __name__)
    per_ip = limiter.limit(lambda: current_app.config["DC_SIGNIN_RATE_PER_IP"])
    current.add_url_rule("/login/sso", view_func=per_ip(start), methods=["POST"])
    current.add_url_rule("/auth/oidc/callback", view_func=per_ip(callback), methods=["GET"])

    @current.record_once
    def _install(state) -> None:
        state.app.extensions["digicadence.sso"] = sso

    @current.app_context_processor
    def _sso_context() -> dict:
        return {"sso_available": sso_available}

    return current
