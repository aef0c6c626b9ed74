"""The one audit writer: an append-only, hash-chained trail of who did what.

Each event's hash is SHA-256 over the previous event's hash followed by the event's canonical
JSON (sorted keys, no whitespace, timestamps ISO 8601 in UTC). `personal` — e-mail addresses,
IP addresses, anything that names a person — sits outside the hashed content, so erasing a person
blanks it without breaking the chain. Appends are serialized (PostgreSQL: a transaction-scoped
advisory lock taken before the last hash is read; SQLite: BEGIN IMMEDIATE), so concurrent
writers cannot fork the chain. On PostgreSQL a trigger (migration 0002) refuses UPDATE and DELETE.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session

from core.db import Database
from core.models.base import utcnow
from core.models.operations import AuditArchive
from core.models.security import AuditEvent

GENESIS_HASH = "0" * 64
# Key of the PostgreSQL advisory lock that serializes appends (any constant unique to this use).
AUDIT_LOCK_KEY = 0x44430A0D17


class Action:
    """Names of audited actions, so callers and readers spell them the same way."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    SIGN_OUT = "auth.sign_out"
    # Single sign-on (core.security.sso): accepted by the provider and us, refused (data.reason), signed out.
    SSO_SIGN_IN = "auth.sso_sign_in"
    SSO_REFUSED = "auth.sso_refused"
    SSO_SIGN_OUT = "auth.sso_sign_out"
    SSO_LINKED = "auth.sso_linked"
    SESSION_REVOKED = "auth.session_revoked"
    LOCKED = "auth.locked"
    UNLOCKED = "auth.unlocked"
    MFA_ENROLLED = "mfa.enrolled"
    MFA_FAILED = "mfa.failed"
    MFA_RECOVERY_USED = "mfa.recovery_code_used"
    MFA_RESET = "mfa.reset"
    # Security keys and passkeys (core.security.webauthn_keys).
    SECURITY_KEY_ADDED = "security_key.added"
    SECURITY_KEY_RENAMED = "security_key.renamed"
    SECURITY_KEY_REMOVED = "security_key.removed"
    SECURITY_KEYS_RESET = "security_key.reset"
    SECURITY_KEY_CLONE_SUSPECTED = "security_key.clone_suspected"
    PASSWORD_CHANGED = "password.changed"
    PASSWORD_RESET = "password.reset"
    USER_CREATED = "user.created"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_ERASED = "user.erased"
    INVITE_ACCEPTED = "user.invite_accepted"
    DATA_EXPORTED = "user.data_exported"
    ERASURE_REQUESTED = "user.erasure_requested"
    ROLE_CREATED = "role.created"
    GRANT_CREATED = "grant.created"
    GRANT_REVOKED = "grant.revoked"
    SETTINGS_CHANGED = "settings.changed"
    # Portfolio setup (core/setup/organizations.py): System Administrators manage organizations.
    ORGANIZATION_CREATED = "organization.created"
    ORGANIZATION_RENAMED = "organization.renamed"
    ORGANIZATION_ARCHIVED = "organization.archived"
    ORGANIZATION_UNARCHIVED = "organization.unarchived"
    IMPORT_COMMITTED = "import.committed"
    SCENARIO_RUN = "scenario.run"
    SCENARIO_SAVED = "scenario.saved"
    MODEL_FITTED = "model.fitted"  # a brand's response curves were fitted and kept as a new fit version
    EXPORT = "report.exported"
    # Data classification (issue 17): a level or an organization default set; an export of
    # confidential or restricted data (core.reports.classified), with its watermark's who and when.
    CLASSIFICATION_CHANGED = "classification.changed"
    CLASSIFIED_EXPORT = "report.classified_export"
    ACCESS_DENIED = "authz.denied"
    API_CALL = "api.call"
    API_TOKEN_ISSUED = "api.token_issued"
    API_TOKEN_REFRESHED = "api.token_refreshed"
    API_REFRESH_REUSED = "api.refresh_reused"
    API_REFRESH_REVOKED = "api.refresh_revoked"
    API_PERSONAL_TOKEN_CREATED = "api.personal_token_created"
    API_PERSONAL_TOKEN_REVOKED = "api.personal_token_revoked"
    # Operator commands (core.ops; core/ops/events.py says which database holds each and why).
    BACKUP_MADE = "ops.backup_made"
    BACKUP_FAILED = "ops.backup_failed"
    BACKUP_KEY_CHANGED = "ops.backup_key_changed"
    RESTORED = "ops.restored"
    MASKED_COPY_MADE = "ops.masked_copy_made"
    MASKED_COPY_FAILED = "ops.masked_copy_failed"
    KEYS_ROTATED = "ops.keys_rotated"
    KEYS_ROTATION_FAILED = "ops.keys_rotation_failed"


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify_chain`: ok, or the first broken event and why; `last_id`/`last_hash`: the last event
    found intact (None when none was), where a later walk can go on from."""

    ok: bool
    checked: int
    broken_id: int | None = None
    reason: str | None = None
    last_id: int | None = None
    last_hash: str | None = None


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds; naive values (SQLite reads them so) are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _normalize(value: Any) -> Any:
    """JSON-able form that survives a JSONB round trip unchanged (integral floats become ints)."""
    if isinstance(value, dict):
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_normalize(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("audit data cannot hold NaN or infinity")
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def canonical_json(event: AuditEvent) -> str:
    """The hashed content of an event: everything but id, personal and the hashes themselves."""
    content = {
        "action": event.action,
        "actor_id": event.actor_id,
        "organization_id": event.organization_id,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "data": _normalize(event.data or {}),
        "created_at": iso_utc(event.created_at),
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical_json(event)).encode("utf-8")).hexdigest()


def _target(target: Any) -> tuple[str | None, str | None]:
    if target is None:
        return None, None
    if isinstance(target, tuple):
        kind, ident = target
        return str(kind), None if ident is None else str(ident)
    kind = getattr(target, "__tablename__", type(target).__name__.lower()).removesuffix("s")
    return kind, str(getattr(target, "id", None))


def _actor_id(actor: Any) -> int | None:
    if actor is None or isinstance(actor, int):
        return actor
    for attribute in ("user_id", "id"):
        if hasattr(actor, attribute):
            return getattr(actor, attribute)
    raise TypeError(f"cannot tell the actor from {actor!r}")


def lock_chain(session: Session) -> None:
    """Serialize appends until this transaction ends, before the last hash is read."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    elif dialect == "sqlite":
        dbapi = connection.connection.dbapi_connection
        if not dbapi.in_transaction:  # an open write transaction already holds the write lock
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:  # pragma: no cover - only the two supported databases
        raise NotImplementedError(f"audit chain locking for {dialect}")


def record(session_or_db: Session | Database, action: str, *, actor: Any = None,
           organization_id: int | None = None, target: Any = None, data: dict | None = None,
           personal: dict | None = None) -> AuditEvent:
    """Append one event. With a Session it joins that unit of work (and commits with it); with a
    Database it is written and committed on its own (used for denials, which roll the caller back).

    `actor`: a user id, User or Principal; `target`: a model object or a (kind, id) pair.
    Put anything that identifies a person into `personal`, never into `data`.
    """
    if isinstance(session_or_db, Database):
        with session_or_db.session() as session:
            event = record(session, action, actor=actor, organization_id=organization_id, target=target,
                           data=data, personal=personal)
        return event
    session = session_or_db
    target_type, target_id = _target(target)
    event = AuditEvent(
        organization_id=organization_id,
        actor_id=_actor_id(actor),
        action=action,
        target_type=target_type,
        target_id=target_id,
        data=_normalize(data or {}),
        personal=_normalize(personal or {}),
        created_at=utcnow(),
    )
    session.flush()  # the caller's pending writes first, so they take the write lock in order
    lock_chain(session)
    event.prev_hash = chain_head(session) or GENESIS_HASH
    event.hash = chain_hash(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


def chain_head(session: Session) -> str | None:
    """The newest hash of the trail: the last live event's, else the last archived one's (None: empty)."""
    for model in (AuditEvent, AuditArchive):
        last = session.execute(select(model.hash).order_by(model.id.desc()).limit(1)).scalar()
        if last:
            return last
    return None


def verify_chain(db: Database | Session, batch: int = 1000, anchor: str | None = None,
                 after_id: int = 0) -> VerifyResult:
    """Walk the trail in id order; name the first event whose link or content does not match.

    The trail is the archive (events retention moved out, `core.ops.retention`) followed by the
    live events. By default both are walked from the genesis hash, so the live part must link to
    the archive's last hash. With `anchor` only the live events are walked, the first linking to
    `anchor` (e.g. the last hash of an archive kept elsewhere); with `after_id` too, only the live events
    after that one, the first linking to `anchor` (the security alerts' incremental check goes on from the
    last event it found intact).
    """
    if isinstance(db, Database):
        with db.session() as session:
            return verify_chain(session, batch, anchor, after_id)
    parts = (AuditEvent,) if anchor is not None else (AuditArchive, AuditEvent)
    expected_prev = GENESIS_HASH if anchor is None else anchor
    checked, last_id = 0, None
    for model in parts:
        query = select(model).order_by(model.id)
        if after_id and model is AuditEvent:
            query = query.where(model.id > after_id)
        for event in db.execute(query.execution_options(yield_per=batch)).scalars():
            if event.prev_hash != expected_prev:
                return VerifyResult(False, checked, event.id, "prev_hash does not match the previous event's hash",
                                    last_id, expected_prev if last_id is not None else None)
            if event.hash != chain_hash(event.prev_hash, event):
                return VerifyResult(False, checked, event.id, "hash does not match the event's content",
                                    last_id, expected_prev if last_id is not None else None)
            expected_prev, last_id = event.hash, event.id
            checked += 1
    return VerifyResult(True, checked, last_id=last_id, last_hash=expected_prev if last_id is not None else None)


def blank_personal(session: Session, user_id: int) -> int:
    """Erase the personal data of events (live and archived) a person did or was the target of; the
    chain stays valid."""
    blanked = 0
    for model in (AuditEvent, AuditArchive):
        result = session.execute(
            update(model)
            .where(or_(model.actor_id == user_id, (model.target_type == "user") & (model.target_id == str(user_id))))
            .values(personal={})
            .execution_options(synchronize_session=False)
        )
        blanked += result.rowcount
    return blanked
