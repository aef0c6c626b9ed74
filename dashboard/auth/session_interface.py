"""Flask session interface backed by `core.sessions`: the cookie carries only a random id.

Flask-Login and Flask-WTF keep their state in `flask.session` as usual; this class makes that
session server-side. A new id is issued at sign-in (`rotate`), the record is touched at most
once a minute, and an empty session of an anonymous visitor is never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask, Request, Response, request, session
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy.exc import DBAPIError
from werkzeug.datastructures import CallbackDict

from core.sessions import SessionRecord, SessionStore, SessionStoreUnavailable, new_session_id, session_key

COOKIE = "dc_session"
TOUCH_EVERY = timedelta(minutes=1)


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict | None = None, sid: str | None = None, record: SessionRecord | None = None):
        def on_update(_self) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.record = record
        self.modified = False
        self.rotate_requested = False
        self.destroyed = False
        self.store_failed = False
        self.open_error: Exception | None = None

    def rotate(self) -> None:
        """Give this session a new id at the next save (sign-in: no session fixation)."""
        self.rotate_requested = True
        self.modified = True

    def destroy(self) -> None:
        """Forget the session server-side and clear the cookie (sign-out)."""
        self.clear()
        self.destroyed = True


class ServerSessionInterface(SessionInterface):
    def __init__(self, store: SessionStore, *, secure: bool) -> None:
        self.store = store
        self.secure = secure

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(COOKIE)
        if sid:
            try:
                record = self.store.load(sid)
            except (SessionStoreUnavailable, DBAPIError) as exc:
                # Raised here, Flask could not render any answer; `raise_if_store_failed` raises it
                # from the first before-request hook instead, where the error handlers answer 503.
                failed = ServerSession()
                failed.store_failed, failed.open_error = True, exc
                return failed
            if record is not None:
                return ServerSession(record.data, sid=sid, record=record)
        return ServerSession()

    def save_session(self, app: Flask, session: ServerSession | None, response: Response) -> None:
        if not isinstance(session, ServerSession) or session.store_failed:
            return  # the store failed at open or at a first save: the 503 answer must not fail again
        try:
            self._save(session, response)
        except SessionStoreUnavailable:
            session.store_failed = True
            raise

    def _save(self, session: ServerSession, response: Response) -> None:
        now = datetime.now(UTC)
        if session.destroyed or (not session and session.record is not None and session.modified):
            if session.record is not None:
                self.store.delete(session.record.key)
            response.delete_cookie(COOKIE, path="/")
            return
        if not session:
            return  # an anonymous visitor who stored nothing gets no record
        record = session.record
        if session.rotate_requested or record is None:
            if record is not None:
                self.store.delete(record.key)
            session.sid = new_session_id()
            record = SessionRecord(key=session_key(session.sid), created_at=now, last_seen_at=now,
                                   expires_at=now + self.store.absolute)
        elif not session.modified and now - record.last_seen_at < TOUCH_EVERY:
            return

        record.data = dict(session)
        record.user_id = int(session["_user_id"]) if session.get("_user_id") else None
        record.epoch = int(session.get("epoch", 0))
        record.last_seen_at = now
        record.ip = request.remote_addr or ""
        record.user_agent = request.headers.get("User-Agent", "")[:300]
        self.store.save(record)
        session.record = record
        response.set_cookie(COOKIE, session.sid, httponly=True, secure=self.secure, samesite="Lax", path="/",
                            expires=record.expires_at)


# Served without a session even when its store is down (the 503 page needs its stylesheet).
SESSIONLESS_PREFIXES = ("/healthz", "/vendor/", "/assets/", "/_dash-component-suites/", "/_favicon", "/favicon.ico")


def raise_if_store_failed() -> None:
    """First before-request hook: a session store that failed at open fails the request (→ 503)."""
    error = getattr(session, "open_error", None)
    if error is not None and not request.path.startswith(SESSIONLESS_PREFIXES):
        raise error
