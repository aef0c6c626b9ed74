"""Server-side sessions: records keyed by the SHA-256 of a random cookie id, payload encrypted.

Two stores with one interface: the database (the embedded default, and PostgreSQL) and Redis
(when REDIS_URL is set). Either way a session dies when idle past `idle`, when older than
`absolute`, when deleted (logout, revoke), or — checked by the web layer — when the user's
`session_epoch` moved past the one it was made under (password change, MFA reset, disable).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis
from cryptography.fernet import InvalidToken
from sqlalchemy import delete, select

from core.db import Database
from core.models import UserSession
from core.security.crypto import SecretBox


class SessionStoreUnavailable(RuntimeError):
    """The session store cannot be reached (Redis down): nobody can be recognized or signed in until it returns.

    The web layer answers 503 with a clear page; nothing stored elsewhere is affected.
    """


def _redis_guarded(method: Callable) -> Callable:
    @functools.wraps(method)
    def guarded(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            reason = f"the session store (Redis) is unavailable: {exc.__class__.__name__}"
            raise SessionStoreUnavailable(reason) from exc

    return guarded


def new_session_id() -> str:
    """256 random bits for the cookie; never stored as such."""
    return secrets.token_urlsafe(32)


def session_key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


log = logging.getLogger(__name__)


def _open(box: SecretBox, token: str) -> dict | None:
    """A stored payload, or None when no configured key opens it (a key retired too early, or a
    session written by another deployment sharing the store): that session is simply not there."""
    if not token:
        return None
    try:
        return json.loads(box.decrypt(token))
    except InvalidToken:
        log.warning("a stored session could not be decrypted with the configured keys; treating it as signed out")
        return None

@dataclass
class SessionRecord:
    """What a store keeps for one session (data decrypted)."""

    key: str
    user_id: int | None = None
    epoch: int = 0
    data: dict = field(default_factory=dict)
    created_at: datetime = field(default_factory=_now)
    last_seen_at: datetime = field(default_factory=_now)
    expires_at: datetime = field(default_factory=_now)
    ip: str = ""
    user_agent: str = ""

    def alive(self, idle: timedelta, now: datetime | None = None) -> bool:
        now = now or _now()
        return _aware(self.expires_at) > now and _aware(self.last_seen_at) + idle > now


class SessionStore(Protocol):
    idle: timedelta
    absolute: timedelta

    def load(self, sid: str) -> SessionRecord | None: ...
    def save(self, record: SessionRecord) -> None: ...
    def delete(self, key: str) -> None: ...
    def for_user(self, user_id: int) -> list[SessionRecord]: ...
    def delete_for_user(self, user_id: int, keep: str | None = None) -> int: ...


@dataclass
class DatabaseSessionStore:
    """Sessions as rows of `user_sessions`."""

    db: Database
    box: SecretBox
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)

    def _record(self, row: UserSession) -> SessionRecord:
        return SessionRecord(
            key=row.id, user_id=row.user_id, epoch=row.epoch,
            data=_open(self.box, row.data) or {},
            created_at=_aware(row.created_at), last_seen_at=_aware(row.last_seen_at),
            expires_at=_aware(row.expires_at), ip=row.ip, user_agent=row.user_agent,
        )

    def load(self, sid: str) -> SessionRecord | None:
        with self.db.session() as s:
            row = s.get(UserSession, session_key(sid))
            if row is None:
                return None
            record = self._record(row)
            if not record.alive(self.idle):
                s.delete(row)
                return None
            return record

    def save(self, record: SessionRecord) -> None:
        with self.db.session() as s:
            row = s.get(UserSession, record.key) or UserSession(id=record.key, expires_at=record.expires_at)
            row.user_id, row.epoch = record.user_id, record.epoch
            row.data = self.box.encrypt(json.dumps(record.data, default=str))
            row.created_at, row.last_seen_at, row.expires_at = record.created_at, record.last_seen_at, record.expires_at
            row.ip, row.user_agent = record.ip[:64], record.user_agent[:300]
            s.add(row)

    def delete(self, key: str) -> None:
        with self.db.session() as s:
            s.execute(delete(UserSession).where(UserSession.id == key))

    def for_user(self, user_id: int) -> list[SessionRecord]:
        with self.db.session() as s:
            rows = s.scalars(select(UserSession).where(UserSession.user_id == user_id)
                             .order_by(UserSession.last_seen_at.desc())).all()
            return [r for r in (self._record(row) for row in rows) if r.alive(self.idle)]

    def delete_for_user(self, user_id: int, keep: str | None = None) -> int:
        with self.db.session() as s:
            stmt = delete(UserSession).where(UserSession.user_id == user_id)
            if keep:
                stmt = stmt.where(UserSession.id != keep)
            return s.execute(stmt).rowcount


@dataclass
class RedisSessionStore:
    """Sessions as Redis strings with a TTL, plus a per-user set of keys for listing and revoking."""

    client: redis.Redis
    box: SecretBox
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    prefix: str = "dc:session:"

    @classmethod
    def from_url(cls, url: str, box: SecretBox, **kwargs) -> RedisSessionStore:
        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), box, **kwargs)

    def _user_set(self, user_id: int) -> str:
        return f"{self.prefix}user:{user_id}"

    def _get(self, key: str) -> SessionRecord | None:
        raw = self.client.get(self.prefix + key)
        if raw is None:
            return None
        meta = _open(self.box, raw.decode())
        if meta is None:
            return None
        return SessionRecord(
            key=key, user_id=meta["user_id"], epoch=meta["epoch"], data=meta["data"],
            created_at=datetime.fromisoformat(meta["created_at"]),
            last_seen_at=datetime.fromisoformat(meta["last_seen_at"]),
            expires_at=datetime.fromisoformat(meta["expires_at"]), ip=meta["ip"], user_agent=meta["user_agent"],
        )

    @_redis_guarded
    def load(self, sid: str) -> SessionRecord | None:
        record = self._get(session_key(sid))
        return record if record is not None and record.alive(self.idle) else None

    @_redis_guarded
    def save(self, record: SessionRecord) -> None:
        payload = {
            "user_id": record.user_id, "epoch": record.epoch, "data": record.data,
            "created_at": record.created_at.isoformat(), "last_seen_at": record.last_seen_at.isoformat(),
            "expires_at": record.expires_at.isoformat(), "ip": record.ip, "user_agent": record.user_agent,
        }
        remaining = min(self.idle, _aware(record.expires_at) - _now())
        ttl = max(int(remaining.total_seconds()), 1)
        pipe = self.client.pipeline()
        pipe.set(self.prefix + record.key, self.box.encrypt(json.dumps(payload, default=str)), ex=ttl)
        if record.user_id is not None:
            pipe.sadd(self._user_set(record.user_id), record.key)
            pipe.expire(self._user_set(record.user_id), int(self.absolute.total_seconds()))
        pipe.execute()

    @_redis_guarded
    def delete(self, key: str) -> None:
        record = self._get(key)
        self.client.delete(self.prefix + key)
        if record is not None and record.user_id is not None:
            self.client.srem(self._user_set(record.user_id), key)

    @_redis_guarded
    def for_user(self, user_id: int) -> list[SessionRecord]:
        records = []
        for raw_key in self.client.smembers(self._user_set(user_id)):
            key = raw_key.decode()
            record = self._get(key)
            if record is None or not record.alive(self.idle):
                self.client.srem(self._user_set(user_id), key)
            else:
                records.append(record)
        return sorted(records, key=lambda r: r.last_seen_at, reverse=True)

    @_redis_guarded
    def delete_for_user(self, user_id: int, keep: str | None = None) -> int:
        keys = [k.decode() for k in self.client.smembers(self._user_set(user_id)) if k.decode() != keep]
        if keys:
            self.client.delete(*(self.prefix + k for k in keys))
            self.client.srem(self._user_set(user_id), *keys)
        return len(keys)
