"""What a person sees when something fails on our side: a message and a reference id.

Callback exceptions go to Dash's global `on_error` hook: the traceback is logged with a short
reference, and the shell's error banner shows the reference, never the stack trace. Refusals
(Forbidden, 401/403 aborts) are not errors: they are re-raised so they keep their status.

A service that is down is not a bug, so it gets its own words and no reference:
- the job queue (Redis as Celery broker/result store) unreachable: a callback that starts or follows a
  job answers "background jobs are unavailable right now; nothing was lost" in its own message area
  (an output `*-message.children`), or in the banner as a warning when it has none;
- the session store (Redis sessions) unreachable: 503 page — nobody can be recognized or signed in;
- the database unreachable (down, restarting): 503, "nothing was changed". The engine's pre-ping
  replaces dead connections, so once it is back the next request works without a restart.
"""

from __future__ import annotations

import logging
import uuid

import dash
import dash_bootstrap_components as dbc
import redis
from dash import no_update, set_props
from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from core.security.authorizer import Forbidden
from core.sessions import SessionStoreUnavailable

log = logging.getLogger("digicadence.errors")
BANNER_ID = "app-error"


def error_banner() -> dbc.Alert:
    return dbc.Alert(id=BANNER_ID, is_open=False, dismissable=True, color="danger", className="mb-3")


def new_reference() -> str:
    return uuid.uuid4().hex[:10]


JOBS_UNAVAILABLE = "Background jobs are unavailable right now; nothing was lost. Try again in a few minutes."
SIGN_IN_UNAVAILABLE = ("Signing in is unavailable right now (the session service is down); nothing was lost. "
                       "Try again in a few minutes.")
DATABASE_UNAVAILABLE = "The database is unavailable right now; nothing was changed. Try again in a moment."


def _chain(error: BaseException | None):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def queue_unavailable(error: BaseException) -> bool:
    """The broker or result store cannot be reached (kombu wraps Redis' connection errors)."""
    from kombu.exceptions import OperationalError as BrokerDown

    return any(isinstance(e, BrokerDown | redis.ConnectionError | redis.TimeoutError) for e in _chain(error))


def database_unavailable(error: BaseException) -> bool:
    """A lost or refused database connection, as opposed to a bad query."""
    words = ("connection", "connect", "server closed", "terminating", "shutting down")
    return any(isinstance(e, DBAPIError) and (e.connection_invalidated or (
        isinstance(e, OperationalError | InterfaceError) and any(w in str(e.orig).lower() for w in words)))
        for e in _chain(error))


def _notice_outputs(text: str):
    """The callback's outputs with `text` in its message area (`*-message.children`); None if it has none."""
    outputs = dash.ctx.outputs_list
    single = isinstance(outputs, dict)
    specs = [outputs] if single else list(outputs or [])
    hits = [str(o.get("id", "")).endswith("-message") and o.get("property") == "children" for o in specs]
    if not any(hits):
        return None
    values = [dbc.Alert(text, color="warning", className="py-2 mb-0") if hit else no_update for hit in hits]
    return values[0] if single else values


def on_callback_error(error: Exception):
    """Dash `on_error`: log the failure with a reference and show the reference in the banner."""
    if isinstance(error, Forbidden | HTTPException):
        raise error
    for unavailable, text in ((queue_unavailable, JOBS_UNAVAILABLE), (database_unavailable, DATABASE_UNAVAILABLE)):
        if unavailable(error):
            log.warning("callback at %s: %s (%s)", request.path, text, error.__class__.__name__)
            answer = _notice_outputs(text)
            if answer is not None:
                return answer  # returned, not set_props: a background callback's request sends outputs only
            set_props(BANNER_ID, {"is_open": True, "color": "warning", "children": text})
            return None
    reference = new_reference()
    log.error("callback failed (reference %s) at %s", reference, request.path, exc_info=error)
    set_props(BANNER_ID, {"is_open": True, "color": "danger",
                          "children": f"Something went wrong on our side; nothing was changed. "
                                      f"If it keeps happening, quote reference {reference}."})
    return None


def _unavailable(text: str):
    """503 for a service that is down: JSON for data requests, a short page for people."""
    if request.path.startswith(("/_dash-", "/api/")) or request.is_json:
        return jsonify(error="service_unavailable", reason=text), 503
    return render_template("auth/error.html", title="Temporarily unavailable", message=text), 503


def register_server_errors(server: Flask) -> None:
    """Uncaught errors outside callbacks: JSON or a short page with the reference, no traceback."""

    @server.errorhandler(Exception)
    def unexpected(error: Exception):
        # Errors outside the view (opening the session) reach here wrapped in a 500.
        original = getattr(error, "original_exception", None) or error
        if any(isinstance(e, SessionStoreUnavailable) for e in _chain(original)):
            log.warning("session store unavailable at %s: %s", request.path, original)
            return _unavailable(SIGN_IN_UNAVAILABLE)
        if database_unavailable(original):
            log.warning("database unavailable at %s: %s", request.path, original.__class__.__name__)
            return _unavailable(DATABASE_UNAVAILABLE)
        if isinstance(error, HTTPException):
            return error
        reference = new_reference()
        log.error("request failed (reference %s) at %s", reference, request.path, exc_info=error)
        return jsonify(error="internal_error", reason="something went wrong on our side",
                       reference=reference), 500
