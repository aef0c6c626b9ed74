"""`/setup?token=…`: the first System Administrator for people without a terminal (issue 14).

Only while no System Administrator exists and the demo is off; the token is the one the app wrote
to its log at start (core.setup.first_admin.setup_token) and is never shown in a response. A wrong
token is refused with a 403 page; once an administrator exists the page is a 404 and the token is
spent (it is derived from the newest user id). The account is made by
`core.setup.first_admin.create_first_admin`, the same function as `python -m core.setup create-admin`,
so the policy and the audit are the same.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter

from core.runtime import app_state
from core.security import PasswordRejected
from core.setup.first_admin import AdminExists, create_first_admin, setup_token_matches, system_admin_exists

TITLE = "Create the first administrator"


def _ip_rate() -> str:
    return current_app.config["DC_SIGNIN_RATE_PER_IP"]


def _form(error: str | None = None, email: str = "", name: str = "", status: int = 200) -> ResponseReturnValue:
    return render_template("auth/setup.html", title=TITLE, error=error, email=email, name=name), status


def first_admin() -> ResponseReturnValue:
    """GET shows the form, POST creates the administrator and sends them to sign in (MFA enrolment next)."""
    state = app_state()
    if state.config.demo_mode or system_admin_exists(state.db):
        abort(404)
    if not setup_token_matches(state.db, state.config.secret_key, request.args.get("token")):
        return render_template("auth/error.html", title="Setup link not valid",
                               message="This setup link is not valid. Use the link with the token that the server "
                                       "wrote to its log at start, or run `python -m core.setup create-admin`."), 403
    if request.method == "GET":
        return _form()
    email, name = request.form.get("email", ""), request.form.get("name", "")
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        return _form("The two passwords differ.", email, name, 400)
    try:
        create_first_admin(state.db, state.config.security, email=email, name=name, password=password,
                           via="setup-page")
    except AdminExists:
        abort(404)
    except PasswordRejected as exc:
        return _form("That password is not allowed: " + "; ".join(exc.messages) + ".", email, name, 400)
    except ValueError as exc:
        return _form(str(exc), email, name, 400)
    flash("The first administrator was created. Sign in: you will set up two-factor sign-in first "
          "(have an authenticator app ready).", "success")
    return redirect(url_for("auth.login"))


def setup_blueprint(limiter: Limiter) -> Blueprint:
    """The setup route, rate-limited per address like the sign-in."""
    bp = Blueprint("setup", __name__, template_folder="templates")
    bp.add_url_rule("/setup", view_func=limiter.limit(_ip_rate, methods=["POST"])(first_admin),
                    methods=["GET", "POST"])
    return bp
