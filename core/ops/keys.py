"""Re-encrypt every Fernet-encrypted value under the current key, without signing anyone out.

Rotation in three steps (docs/OPERATIONS.md): put a new key FIRST in DIGICADENCE_FERNET_KEYS and
keep the old one after it (every process decrypts with either, encrypts with the new one); run
`python -m core.ops rotate-keys`, which rewrites TOTP secrets, database session payloads and
Redis session records under the new key; then drop the old key. Session ids (cookies) and TOTP
secrets do not change, so sessions stay valid and authenticator apps keep working.

Database values rotate in one transaction: a value that no configured key opens stops the run
and nothing changes (the message names it). A Redis session no key opens is unusable anyway and
is counted, not fatal; each Redis record is rewritten under WATCH so a concurrent save wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from sqlalchemy import select

from core.db import Database
from core.models import User, UserSession
from core.ops import events
from core.security import audit
from core.security.audit import Action
from core.security.crypto import InvalidToken, SecretBox

REDIS_SESSION_PREFIX = "dc:session:"
_BATCH = 500


class RotationError(RuntimeError):
    """A stored value cannot be decrypted with any configured key; nothing was changed."""


@dataclass
class RotationReport:
    mfa_secrets: int = 0
    database_sessions: int = 0
    redis_sessions: int = 0
    redis_unreadable: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"mfa_secrets": self.mfa_secrets, "database_sessions": self.database_sessions,
                "redis_sessions": self.redis_sessions, "redis_unreadable": self.redis_unreadable}


def _rotate(box: SecretBox, token: str, what: str) -> str:
    try:
        return box.rotate(token)
    except InvalidToken as exc:
        raise RotationError(f"{what} cannot be decrypted with any key in DIGICADENCE_FERNET_KEYS; "
                            f"put back the key it was encrypted with (nothing was changed)") from exc


def rotate_database(db: Database, box: SecretBox, report: RotationReport | None = None, *,
                    by: str = events.CLI) -> RotationReport:
    """TOTP secrets and session payloads in the database, and the audit event, in one transaction."""
    report = report or RotationReport()
    with db.session() as s:
        for user in s.scalars(select(User).where(User.mfa_secret_encrypted.is_not(None))
                              .execution_options(yield_per=_BATCH)):
            user.mfa_secret_encrypted = _rotate(box, user.mfa_secret_encrypted, f"the TOTP secret of user {user.id}")
            report.mfa_secrets += 1
        for row in s.scalars(select(UserSession).where(UserSession.data != "").execution_options(yield_per=_BATCH)):
            row.data = _rotate(box, row.data, f"session {row.id[:12]}…")
            report.database_sessions += 1
        audit.record(s, Action.KEYS_ROTATED, data={"by": by, "outcome": "ok", **report.as_dict()},
                     personal={"os_user": events.os_user()})
    return report


def rotate_redis(client: redis.Redis, box: SecretBox, prefix: str = REDIS_SESSION_PREFIX,
                 report: RotationReport | None = None) -> RotationReport:
    """Session records in Redis (not the per-user key sets), TTL kept."""
    report = report or RotationReport()
    user_sets = prefix + "user:"
    for key in client.scan_iter(match=prefix + "*", count=_BATCH):
        if key.decode().startswith(user_sets):
            continue
        with client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:  # expired or deleted meanwhile
                        pipe.unwatch()
                        break
                    try:
                        rotated = box.rotate(raw.decode())
                    except InvalidToken:
                        report.redis_unreadable += 1
                        pipe.unwatch()
                        break
                    pipe.multi()
                    pipe.set(key, rotated, keepttl=True)
                    pipe.execute()
                    report.redis_sessions += 1
                    break
                except redis.WatchError:  # the app saved it meanwhile: read it again
                    continue
    return report


def rotate_keys(db: Database, box: SecretBox, redis_url: str | None = None,
                prefix: str = REDIS_SESSION_PREFIX, *, by: str = events.CLI) -> RotationReport:
    """Everything encrypted, under the box's first key: Redis sessions, then the database (all or nothing,
    with the audit event `ops.keys_rotated` holding every count). Values already under the new key are
    simply rewritten. A failure is audited as `ops.keys_rotation_failed` with the reason and what had
    been done (Redis sessions rewritten before the database step stopped are still readable)."""
    report = RotationReport()
    try:
        if redis_url:
            client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
            try:
                rotate_redis(client, box, prefix, report)
            finally:
                client.close()
        return rotate_database(db, box, report, by=by)
    except Exception as exc:
        done = {**report.as_dict(), "mfa_secrets": 0, "database_sessions": 0}  # the database step rolled back
        events.record_failure(db, Action.KEYS_ROTATION_FAILED, exc, by=by, **done)
        raise
