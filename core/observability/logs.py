"""Structured logs: one JSON object per line, with the request id and the signed-in user's id.

JSON escapes newlines and control characters inside values, so a crafted e-mail address or path
cannot forge a second log line. Values given as `extra=` become their own fields.

`configure(level)` installs the JSON handler on the root logger (gunicorn's config and the Celery
worker call it); `LOGGING` is the same as a dictConfig for gunicorn's `logconfig_dict`.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# What we accept from a proxy or client as a request id: short, printable, no separators that
# could confuse a log reader. Anything else is replaced by a fresh id.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@+=-]{1,128}$")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is sane, else a new random id."""
    if header and _SANE_REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `user_id` to every record made inside a Flask request."""

    def filter(self, record: logging.LogRecord) -> bool:
        from flask import g, has_request_context

        if has_request_context():
            if not hasattr(record, "request_id"):
                record.request_id = g.get("request_id")
            if not hasattr(record, "user_id"):
                # Flask-Login keeps the user it loaded in g._login_user; reading it never triggers
                # a database load from inside a log call.
                user = g.get("_login_user")
                record.user_id = int(user.id) if user is not None and getattr(user, "is_authenticated", False) \
                    else None
        return True


def json_formatter() -> JsonFormatter:
    return JsonFormatter(FORMAT, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         json_ensure_ascii=True)


def json_handler(stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestContextFilter())
    return handler


def configure(level: str | int = "INFO") -> None:
    """JSON lines on stderr for the root logger (replaces its handlers)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(json_handler())
    root.setLevel(level)


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": RequestContextFilter}},
    "formatters": {"json": {"()": json_formatter}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                            "formatter": "json", "filters": ["request"]}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        # The app writes its own access line per request (route, status, duration, request id).
        "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        # One "setup plugin" line per plugin per worker start otherwise; upgrades still log at WARNING+.
        "alembic.runtime.plugins": {"level": "WARNING"},
    },
}
