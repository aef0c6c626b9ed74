"""Security keys and passkeys on the web: the JSON endpoints that assets/webauthn.js calls around
navigator.credentials.create/get, and the page an administrator is sent to when a key is required.

Kept apart from dashboard/auth/views.py; a successful key sign-in goes through the same
`_complete_sign_in` as the password and code steps, so sessions and the audit behave the same.
The ceremony state lives in the server-side session and is used once (core.security.webauthn_keys).
Every endpoint answers JSON; a refusal is a 4xx with a reason in plain words, never a 500.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from flask_login import current_user

from core.models.security import User
from core.runtime import app_state, get_db
from core.security import webauthn_keys as wk
from dashboard.auth.views import KEY_REQUIRED as REQUIRED
from dashboard.auth.views import _accounts, _complete_sign_in, _ip_rate, _pending_user, safe_next

# Where a person who must register a key may still go (the page, its endpoints, signing out).
ENROL_PATHS = ("/auth/webauthn/", "/logout")


def relying_party() -> wk.RelyingParty:
    """The configured domain and origin, else this request's host (a browser refuses keys for any other)."""
    config = app_state().config
    return wk.RelyingParty(id=config.webauthn_rp_id or urlsplit(request.host_url).hostname or "localhost",
                           origin=config.webauthn_origin or request.host_url.rstrip("/"))


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _refused(exc: wk.KeyRefused, status: int = 400) -> ResponseReturnValue:
    return jsonify(error=exc.reason, reason=str(exc)), status


def _signed_in() -> int | None:
    return int(current_user.id) if current_user.is_authenticated else None


def register_options() -> ResponseReturnValue:
    """Options to create a key for the signed-in person, named as they typed it."""
    if (user_id := _signed_in()) is None:
        return jsonify(error="unauthenticated", reason="Sign in first."), 401
    body = _body()
    try:
        options = wk.begin_registration(get_db(), relying_party(), session, user_id, name=body.get("name"),
                                        passkey=body.get("passkey") is not False)
    except wk.KeyRefused as exc:
        return _refused(exc)
    return jsonify(options=options)


def register_verify() -> ResponseReturnValue:
    """Store the new key; an administrator sent here by the key policy may carry on afterwards."""
    if (user_id := _signed_in()) is None:
        return jsonify(error="unauthenticated", reason="Sign in first."), 401
    try:
        key = wk.finish_registration(get_db(), relying_party(), session, user_id, _body().get("credential"))
    except wk.KeyRefused as exc:
        return _refused(exc)
    session.pop(REQUIRED, None)
    return jsonify(ok=True, key=key, message=f"“{key['name']}” is added.")


def sign_in_options() -> ResponseReturnValue:
    """A second factor for the person who passed the password step, or a passkey sign-in (no password)."""
    second_factor = _body().get("mode") == "second_factor"
    user_id = _pending_user() if second_factor else None
    if second_factor and user_id is None:
        return jsonify(error="expired", reason="Your sign-in expired. Please start again."), 400
    try:
        options = wk.begin_authentication(get_db(), relying_party(), session, user_id)
    except wk.KeyRefused as exc:
        return _refused(exc)
    return jsonify(options=options)


def sign_in_verify() -> ResponseReturnValue:
    """Check the key's answer; on success the sign-in completes exactly as after a code."""
    body = _body()
    next_url = safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    accounts = _accounts()
    try:
        user_id = wk.finish_authentication(get_db(), relying_party(), session, body.get("credential"),
                                           count_failure=lambda s, u: accounts._count_failure(s, u, {}),
                                           personal={"ip": request.remote_addr or ""})
    except wk.KeyRefused as exc:
        return _refused(exc, 401)
    response = _complete_sign_in(user_id, next_url)
    return jsonify(ok=True, redirect=response.location)


def enrol_page() -> ResponseReturnValue:
    """Register a key before anything else (the organization requires one of administrators)."""
    next_url = safe_next(request.args.get("next"))
    if not session.get(REQUIRED):
        return redirect(next_url)
    return render_template("auth/security_key.html", title="Add a security key", next=next_url)


def enrolment_answer(path: str, dash_data: bool) -> ResponseReturnValue | None:
    """For the request gate: while a required key is missing, only the key page and signing out are open."""
    if not session.get(REQUIRED) or path.startswith(ENROL_PATHS):
        return None
    if dash_data:
        return jsonify(error="security_key_required", reason="Add a security key first."), 403
    return redirect(url_for("webauthn.enrol_page", next=path))


def second_factors() -> dict:
    """Which second factors the sign-in page offers the pending person (for the template)."""
    user_id = _pending_user()
    if user_id is None:
        return {"key": False, "code": True}
    with get_db().session() as s:
        user = s.get(User, user_id)
        return {"key": wk.has_security_key(s, user_id), "code": bool(user and user.mfa_enabled)}


def webauthn_blueprint(limiter: Limiter) -> Blueprint:
    """Routes under /auth/webauthn; the sign-in ones are public (the gate lets /auth/webauthn/sign-in/ through)
    and rate-limited per address like the password form."""
    bp = Blueprint("webauthn", __name__, url_prefix="/auth/webauthn")
    per_ip = limiter.limit(_ip_rate, methods=["POST"])
    bp.add_url_rule("/register/options", view_func=register_options, methods=["POST"])
    bp.add_url_rule("/register/verify", view_func=register_verify, methods=["POST"])
    bp.add_url_rule("/sign-in/options", view_func=per_ip(sign_in_options), methods=["POST"])
    bp.add_url_rule("/sign-in/verify", view_func=per_ip(sign_in_verify), methods=["POST"])
    bp.add_url_rule("/enrol", view_func=enrol_page, methods=["GET"])
    bp.app_context_processor(lambda: {"second_factors": second_factors})
    return bp
