"""Server-rendered sign-in: password, then the TOTP step (or forced enrolment), forced password
change, sign-out. Plain HTML forms, so password managers work and no JavaScript is needed.

Failures say one generic thing whatever went wrong, so nobody can probe which emails exist.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import urlsplit

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from flask_login import current_user, login_user, logout_user

from core.models import User
from core.runtime import get_db
from core.security import Accounts, InvalidCredentials, PasswordRejected
from core.security.audit import Action, record
from core.security.identity import sign_in_key
from core.security.security_key_policy import code_refused, key_enrolment_needed
from dashboard.auth.principal import SignedInUser
from dashboard.auth.sso_session import SSO_KEY, carry_over, provider_logout

PENDING_TTL_S = 300  # a password step is good for five minutes of second-factor entry
KEY_REQUIRED = "security_key_required"  # session flag: register a security key first (dashboard/auth/webauthn_views.py)


# What a browser does to a URL before resolving it (WHATWG URL parsing): strip leading and trailing
# C0 controls and spaces, drop tab/CR/LF anywhere, read a backslash as "/".
_C0_OR_SPACE = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")


def safe_next(target: str | None) -> str:
    """`next` as the browser will read it, if that is a path on this site; else the home page.

    Checking the raw string is not enough: "/<tab>/evil.test" passes a "starts with one slash" test
    but the browser drops the tab and goes to //evil.test, and a newline in a Location header
    is a 500. So normalize the way the browser does first, then accept only a path with no
    scheme, no authority and no control character.
    """
    url = (target or "").strip(_C0_OR_SPACE).translate(_TAB_OR_NEWLINE).replace("\\", "/")
    if not url.startswith("/") or url.startswith("//") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "/"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return "/"
    return url


def _accounts() -> Accounts:
    return current_app.extensions["digicadence.accounts"]


def _sign_in_expired(next_url: str) -> ResponseReturnValue:
    """Back to the password step: the pending second step is missing or older than PENDING_TTL_S."""
    flash("Your sign-in expired. Please start again.", "warning")
    return redirect(url_for("auth.login", next=next_url))


def _pending_user() -> int | None:
    pending = session.get("pending_user")
    if not pending or time.time() - session.get("pending_at", 0) > PENDING_TTL_S:
        return None
    return int(pending)


def _complete_sign_in(user_id: int, next_url: str):
    """The person passed every factor: new session id, Flask-Login state, epoch for invalidation."""
    with get_db().session() as s:
        user = s.get(User, user_id)
        signed_in = SignedInUser(user.id, user.email, user.name, user.organization_id, user.must_change_password)
        epoch = user.session_epoch
    carried = carry_over(user_id)  # SSO: kept so that sign-out reaches the provider too
    session.clear()
    session.rotate()
    session["epoch"] = epoch
    if carried is not None:
        session[SSO_KEY] = carried
    login_user(signed_in)
    if key_enrolment_needed(get_db(), user_id):  # security keys: an administrator must register one first
        session[KEY_REQUIRED] = True
        return redirect(url_for("webauthn.enrol_page", next=next_url))
    if signed_in.must_change_password:
        return redirect(url_for("auth.change_password", next=next_url))
    return redirect(next_url)


def _qr_data_uri(uri: str) -> str:
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _ip_rate() -> str:
    return current_app.config["DC_SIGNIN_RATE_PER_IP"]


def _account_rate() -> str:
    return current_app.config["DC_SIGNIN_RATE_PER_ACCOUNT"]


def _account_key() -> str:
    typed = request.form.get("email")
    return "account:" + (sign_in_key(typed) if typed else str(session.get("pending_user") or ""))


def login() -> ResponseReturnValue:
    """Email and password; then the second factor (or its enrolment), or straight in when none is needed."""
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    if request.method == "GET":
        return render_template("auth/login.html", title="Sign in", next=next_url, email="")
    email = request.form.get("email", "")
    result = _accounts().authenticate(email, request.form.get("password", ""),
                                      personal={"ip": request.remote_addr or ""})
    if not result.ok:
        return render_template("auth/login.html", title="Sign in", next=next_url, email=email,
                               error=result.message), 401
    if result.complete:
        return _complete_sign_in(result.user_id, next_url)
    session.clear()
    session.rotate()
    session["pending_user"], session["pending_at"] = result.user_id, time.time()
    step = "auth.enrol" if result.mfa_enrolment_required else "auth.mfa"
    return redirect(url_for(step, next=next_url))


def mfa() -> ResponseReturnValue:
    """The TOTP (or recovery) code after a password step of at most five minutes ago."""
    next_url = safe_next(request.args.get("next"))
    if (user_id := _pending_user()) is None:
        return _sign_in_expired(next_url)
    if request.method == "GET":
        return render_template("auth/mfa.html", title="Two-factor sign-in", next=next_url)
    if code_refused(get_db(), user_id):  # security keys: the organization wants administrators to use theirs
        return render_template("auth/mfa.html", title="Two-factor sign-in", next=next_url,
                               error="Your organization requires administrators to sign in with their security "
                                     "key. Use your key below."), 401
    if _accounts().verify_mfa(user_id, request.form.get("code", "")):
        return _complete_sign_in(user_id, next_url)
    return render_template("auth/mfa.html", title="Two-factor sign-in", next=next_url,
                           error="That code did not work. Try the current code from your app."), 401


def enrol() -> ResponseReturnValue:
    """Forced TOTP enrolment: show the secret as a QR code, confirm one code, hand out recovery codes."""
    next_url = safe_next(request.args.get("next"))
    if (user_id := _pending_user()) is None:
        return _sign_in_expired(next_url)
    accounts = _accounts()
    if request.method == "GET" or "enrol_secret" not in session:
        enrolment = accounts.begin_mfa_enrolment(user_id)
        session["enrol_secret"], session["enrol_uri"] = enrolment.secret, enrolment.provisioning_uri
    if request.method == "POST":
        try:
            codes = accounts.confirm_mfa_enrolment(user_id, request.form.get("code", ""))
        except (InvalidCredentials, ValueError):
            return render_template("auth/enrol.html", title="Set up two-factor sign-in", next=next_url,
                                   secret=session["enrol_secret"], qr=_qr_data_uri(session["enrol_uri"]),
                                   error="That code did not match. Check the time on your phone and retry."), 400
        response = _complete_sign_in(user_id, next_url)
        return render_template("auth/enrol.html", title="Save your recovery codes", recovery_codes=codes,
                               next=safe_next(response.location))
    return render_template("auth/enrol.html", title="Set up two-factor sign-in", next=next_url,
                           secret=session["enrol_secret"], qr=_qr_data_uri(session["enrol_uri"]))


def change_password() -> ResponseReturnValue:
    """A signed-in person changes their password; every other session of theirs ends."""
    next_url = safe_next(request.args.get("next"))
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path))
    title = "Change your password"
    if request.method == "GET":
        return render_template("auth/password.html", title=title, next=next_url)
    new = request.form.get("new", "")
    if new != request.form.get("confirm", ""):
        return render_template("auth/password.html", title=title, next=next_url,
                               error="The two new passwords differ."), 400
    try:
        _accounts().change_password(int(current_user.id), request.form.get("current", ""), new)
    except InvalidCredentials:
        return render_template("auth/password.html", title=title, next=next_url,
                               error="The current password is wrong."), 400
    except PasswordRejected as exc:
        return render_template("auth/password.html", title=title, next=next_url,
                               error="That password is not allowed: " + "; ".join(exc.messages)), 400
    # Every other session ended with the epoch; this one carries on under the new epoch.
    user_id = int(current_user.id)
    flash("Your password was changed. Other sessions were signed out.", "success")
    return _complete_sign_in(user_id, next_url)


def invite(token: str) -> ResponseReturnValue:
    """An invited person sets their first password; the token works once and expires."""
    title = "Set your password"
    if request.method == "GET":
        return render_template("auth/invite.html", title=title)
    new = request.form.get("new", "")
    if new != request.form.get("confirm", ""):
        return render_template("auth/invite.html", title=title, error="The two passwords differ."), 400
    try:
        _accounts().accept_invite(token, new)
    except InvalidCredentials:
        return render_template("auth/error.html", title="Invitation not valid",
                               message="This invitation link is invalid, already used or expired. "
                                       "Ask your administrator for a new one."), 400
    except PasswordRejected as exc:
        return render_template("auth/invite.html", title=title,
                               error="That password is not allowed: " + "; ".join(exc.messages)), 400
    flash("Your password is set. Sign in to continue.", "success")
    return redirect(url_for("auth.login"))


def logout() -> ResponseReturnValue:
    """Sign out (POST only, so a link on another site cannot do it), audited."""
    provider_url = None
    if current_user.is_authenticated:
        with get_db().session() as s:
            record(s, Action.SIGN_OUT, actor=int(current_user.id), organization_id=current_user.organization_id,
                   target=("user", int(current_user.id)))
        provider_url = provider_logout(int(current_user.id), current_user.organization_id)
    logout_user()
    session.destroy()
    return redirect(provider_url or url_for("auth.login"))  # SSO: RP-initiated logout at the provider too


def auth_blueprint(limiter: Limiter) -> Blueprint:
    """The sign-in routes, rate-limited per IP and per account (limits from the app config).

    The views are module functions; this only wires their routes and rate limits, so each view reads
    (and is measured for complexity) on its own.
    """
    bp = Blueprint("auth", __name__, template_folder="templates")
    per_ip = limiter.limit(_ip_rate, methods=["POST"])
    per_account = limiter.limit(_account_rate, methods=["POST"], key_func=_account_key)
    both = ["GET", "POST"]
    bp.add_url_rule("/login", view_func=per_ip(per_account(login)), methods=both)
    bp.add_url_rule("/login/mfa", view_func=per_ip(per_account(mfa)), methods=both)
    bp.add_url_rule("/login/enrol", view_func=per_ip(enrol), methods=both)
    bp.add_url_rule("/login/password", view_func=change_password, methods=both)
    bp.add_url_rule("/login/invite/<token>", view_func=per_ip(invite), methods=both)
    bp.add_url_rule("/logout", view_func=logout, methods=["POST"])
    return bp
