"""Where pages, endpoints and CLI hooks find the running app's database and config.

The Flask app keeps one AppState in `app.extensions["digicadence"]`; inside a request,
`app_state()` returns it. Jobs get their Database passed explicitly instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from core.config import Config
from core.db import Database


@dataclass
class AppState:
    config: Config
    db: Database
    demo_logins: list = field(default_factory=list)  # demo mode: printed once at start-up


def app_state() -> AppState:
    return current_app.extensions["digicadence"]


def get_db() -> Database:
    return app_state().db
