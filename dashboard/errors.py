"""What a person sees when something fails on our side: a message and a reference id.

Callback exceptions go to Dash's global `on_error` hook: the traceback is logged with a short
reference, and the shell's error banner shows the reference, never the stack trace. Refusals
(Forbidden, 401/403 aborts) are not errors: they are re-raised so they keep their status.
"""

from __future__ import annotations

import logging
import uuid

import dash_bootstrap_components as dbc
from dash import set_props
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from core.security.authorizer import Forbidden

log = logging.getLogger("digicadence.errors")
BANNER_ID = "app-error"


def error_banner() -> dbc.Alert:
    return dbc.Alert(id=BANNER_ID, is_open=False, dismissable=True, color="danger", className="mb-3")


def new_reference() -> str:
    return uuid.uuid4().hex[:10]


def on_callback_error(error: Exception) -> None:
    """Dash `on_error`: log the failure with a reference and show the reference in the banner."""
    if isinstance(error, Forbidden | HTTPException):
        raise error
    reference = new_reference()
    log.error("callback failed (reference %s) at %s", reference, request.path, exc_info=error)
    set_props(BANNER_ID, {"is_open": True,
                          "children": f"Something went wrong on our side; nothing was changed. "
                                      f"If it keeps happening, quote reference {reference}."})


def register_server_errors(server: Flask) -> None:
    """Uncaught errors outside callbacks: JSON or a short page with the reference, no traceback."""

    @server.errorhandler(Exception)
    def unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return error
        reference = new_reference()
        log.error("request failed (reference %s) at %s", reference, request.path, exc_info=error)
        return jsonify(error="internal_error", reason="something went wrong on our side",
                       reference=reference), 500
