"""Security keys and passkeys (WebAuthn, via the `webauthn` package): registering, signing in, the counter rule.

A ceremony has two halves. `begin_*` returns the options for the browser's navigator.credentials
call and keeps the challenge and who asked in `store` (the web layer passes its server-side session);
`finish_*` takes it out of `store` before checking anything, so a challenge is never accepted twice,
nor after CEREMONY_TTL_S. Web-free: the relying party (the site's domain and origin) comes from the caller.

The counter rule: an authenticator counts its signatures. A use whose counter is not above the one
stored at the last use (when either is non-zero) means two copies of the key exist: it is refused and
audited as a possible cloned key. The signature is checked first, so only the real key's signature can
raise that alarm.

Refusals are `KeyRefused` with a reason code (audit, tests) and a sentence for the person. Audit events
are committed before the refusal is raised, so a refused attempt always leaves its trace.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from core.db import Database
from core.models.base import utcnow
from core.models.security import SecurityKey, User
from core.security.audit import Action, record

CEREMONY_TTL_S = 300  # the browser's prompt times out after two minutes; the state lives a little longer
NAME_MAX = 60
MAX_KEYS = 10
_TRANSPORTS = {t.value for t in AuthenticatorTransport}

# Reason codes of KeyRefused.
EXPIRED = "expired"
INVALID = "invalid"
UNKNOWN_KEY = "unknown_key"
WRONG_USER = "wrong_user"
CLONED = "cloned_key"
NOT_ALLOWED = "not_allowed"


@dataclass(frozen=True)
class RelyingParty:
    """The site as WebAuthn knows it: `id` a domain ("example.com", "localhost"), `origin` the
    scheme://host[:port] the browser reports."""

    id: str
    origin: str
    name: str = "Digi-Cadence"


class KeyRefused(ValueError):
    """A key ceremony was refused; `reason` is a code, the message a sentence for the person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_RETRY = "Your key's answer could not be checked. Try again."
_UNKNOWN = "That key is not registered here, or it was removed. Use another key or your code."


def clean_name(name: Any) -> str:
    """A key's name as shown in lists: 1–60 printable characters, spaces collapsed."""
    text = " ".join(name.split()) if isinstance(name, str) else ""
    if not text or len(text) > NAME_MAX or not text.isprintable():
        raise KeyRefused("bad_name", f"Give the key a name of 1 to {NAME_MAX} characters, e.g. “Blue YubiKey”.")
    return text


STATE_KEY = "webauthn_ceremony"
Store = MutableMapping[str, Any]


def _fresh(store: Store, kind: str, now: float | None) -> dict:
    """The ceremony state, taken out of `store` (single use), if it is one of `kind` and still young."""
    state = store.pop(STATE_KEY, None)
    now = time.time() if now is None else now
    if not isinstance(state, dict) or state.get("kind") != kind or now - float(state.get("at", 0)) > CEREMONY_TTL_S:
        raise KeyRefused(EXPIRED, "That took too long or was already used. Start again.")
    return state


def _descriptor(key: SecurityKey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in key.transports or [] if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(key.credential_id), transports=transports or None)


def _keys(session: Session, user_id: int) -> list[SecurityKey]:
    return list(session.scalars(select(SecurityKey).where(SecurityKey.user_id == user_id).order_by(SecurityKey.id)))


def has_security_key(session: Session, user_id: int) -> bool:
    return session.scalar(select(SecurityKey.id).where(SecurityKey.user_id == user_id).limit(1)) is not None


# ---- registration ------------------------------------------------------------------------------


def begin_registration(db: Database, rp: RelyingParty, store: Store, user_id: int, *, name: Any, passkey: bool,
                       now: float | None = None) -> dict:
    """Options for navigator.credentials.create() and the state to keep; a passkey is a discoverable
    credential with user verification (it signs in without a password)."""
    name = clean_name(name)
    with db.session() as s:
        user = s.get(User, user_id)
        if user is None or not user.is_active or user.erased_at is not None:
            raise KeyRefused(NOT_ALLOWED, "This account cannot add keys.")
        existing = _keys(s, user_id)
        if len(existing) >= MAX_KEYS:
            raise KeyRefused("too_many", f"You already have {MAX_KEYS} keys. Remove one first.")
        handle = existing[0].user_handle if existing else bytes_to_base64url(secrets.token_bytes(32))
        options = generate_registration_options(
            rp_id=rp.id, rp_name=rp.name, user_name=user.email, user_id=base64url_to_bytes(handle),
            user_display_name=user.name or user.email,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED if passkey else ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.REQUIRED if passkey
                else UserVerificationRequirement.PREFERRED),
            exclude_credentials=[_descriptor(k) for k in existing],
        )
    store[STATE_KEY] = {"kind": "register", "challenge": bytes_to_base64url(options.challenge), "user_id": user_id,
                        "user_handle": handle, "passkey": bool(passkey), "name": name,
                        "at": time.time() if now is None else now}
    return json.loads(options_to_json(options))


def _transports(credential: Any) -> list[str]:
    listed = credential.get("response", {}).get("transports") if isinstance(credential, dict) else None
    return sorted({t for t in listed if t in _TRANSPORTS}) if isinstance(listed, list) else []


def finish_registration(db: Database, rp: RelyingParty, store: Store, user_id: int, credential: Any,
                        now: float | None = None) -> dict:
    """Verify the browser's answer to `begin_registration` (its challenge used once) and store the key; audited."""
    state = _fresh(store, "register", now)
    if state.get("user_id") != user_id:
        raise KeyRefused(EXPIRED, "That took too long or was already used. Start again.")
    if not isinstance(credential, dict | str):
        raise KeyRefused(INVALID, _RETRY)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=base64url_to_bytes(state["challenge"]),
            expected_rp_id=rp.id, expected_origin=rp.origin, require_user_verification=state["passkey"])
    except Exception as exc:  # untrusted bytes: whatever fails to verify is a refusal, never a 500
        raise KeyRefused(INVALID, _RETRY) from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    with db.session() as s:
        if s.scalar(select(SecurityKey.id).where(SecurityKey.credential_id == credential_id)) is not None:
            raise KeyRefused("duplicate", "This key is already registered.")
        user = s.get(User, user_id)
        key = SecurityKey(user_id=user_id, credential_id=credential_id, user_handle=state["user_handle"],
                          public_key=verified.credential_public_key, sign_count=verified.sign_count,
                          transports=_transports(credential), name=state["name"], is_passkey=state["passkey"])
        s.add(key)
        s.flush()
        record(s, Action.SECURITY_KEY_ADDED, actor=user_id, organization_id=user.organization_id,
               target=("user", user_id), data={"key_id": key.id, "passkey": key.is_passkey},
               personal={"key_name": key.name})
        return _row(key)


# ---- authentication ----------------------------------------------------------------------------


def begin_authentication(db: Database, rp: RelyingParty, store: Store, user_id: int | None = None,
                         now: float | None = None) -> dict:
    """Options for navigator.credentials.get(). With `user_id`: a second factor, one of that person's
    keys. Without: a passkey sign-in, any discoverable credential of this site, user verification required."""
    allow: list[PublicKeyCredentialDescriptor] = []
    if user_id is not None:
        with db.session() as s:
            allow = [_descriptor(k) for k in _keys(s, user_id)]
        if not allow:
            raise KeyRefused("no_keys", "You have no security key yet. Use the code from your app.")
    options = generate_authentication_options(
        rp_id=rp.id, allow_credentials=allow,
        user_verification=UserVerificationRequirement.PREFERRED if user_id is not None
        else UserVerificationRequirement.REQUIRED)
    store[STATE_KEY] = {"kind": "authenticate", "challenge": bytes_to_base64url(options.challenge),
                        "user_id": user_id, "at": time.time() if now is None else now}
    return json.loads(options_to_json(options))


FailureCounter = Callable[[Session, User], Any]


def finish_authentication(db: Database, rp: RelyingParty, store: Store, credential: Any, *,
                          count_failure: FailureCounter | None = None, now: float | None = None,
                          personal: dict | None = None) -> int:
    """Verify the browser's answer to `begin_authentication` (its challenge used once); returns the user id.

    The key's counter and last use are updated and the sign-in audited. A refusal is audited (and counted
    toward the account's lockout by `count_failure`, e.g. Accounts._count_failure: every failed second
    factor, and a passkey of the person's own whose answer fails) before KeyRefused is raised.
    """
    state = _fresh(store, "authenticate", now)
    if not isinstance(credential, dict | str):
        raise KeyRefused(INVALID, _RETRY)
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise KeyRefused(INVALID, _RETRY) from exc
    with db.session() as s:
        outcome = _authenticate(s, rp, state, parsed, count_failure, personal or {})
    if isinstance(outcome, KeyRefused):
        raise outcome
    return outcome


def _refuse(s: Session, reason: str, message: str, *, user: User | None, second_factor: bool,
            count_failure: FailureCounter | None = None, data: dict | None = None) -> KeyRefused:
    action = Action.MFA_FAILED if second_factor else Action.SIGN_IN_FAILED
    factor = "security_key" if second_factor else "passkey"
    record(s, action, organization_id=user.organization_id if user else None,
           target=("user", user.id) if user else None, data={"reason": reason, "factor": factor, **(data or {})})
    # A second factor's failure counts like a wrong code; a passkey's counts when the key is the person's own
    # and its answer fails (a bad signature, no user verification, a cloned counter), like a wrong password:
    # so nobody gets endless tries at one account. An unknown key names no account to count against.
    if user is not None and count_failure is not None and (second_factor or reason in (INVALID, CLONED)):
        count_failure(s, user)
    return KeyRefused(reason, message)


def _authenticate(s: Session, rp: RelyingParty, state: dict, parsed, count_failure,
                  personal: dict) -> int | KeyRefused:
    second_factor = state.get("user_id") is not None
    pending = s.get(User, state["user_id"]) if second_factor else None
    key = s.scalar(select(SecurityKey).where(SecurityKey.credential_id == parsed.id).with_for_update())
    handle = parsed.response.user_handle
    if key is None or (second_factor and (pending is None or key.user_id != pending.id)):
        reason = UNKNOWN_KEY if key is None else WRONG_USER
        return _refuse(s, reason, _UNKNOWN, user=pending or _owner(s, handle), second_factor=second_factor,
                       count_failure=count_failure)
    user = s.get(User, key.user_id, with_for_update=True)
    locked = user.locked_until is not None and _aware(user.locked_until) > utcnow()
    if not user.is_active or user.erased_at is not None or locked or (
            handle and bytes_to_base64url(handle) != key.user_handle):
        return _refuse(s, NOT_ALLOWED, "This account cannot sign in now. Ask your administrator.", user=user,
                       second_factor=second_factor)
    try:
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=base64url_to_bytes(state["challenge"]), expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=key.public_key,
            credential_current_sign_count=0,  # the counter rule is ours, below, so it can be audited
            require_user_verification=not second_factor)
    except Exception:  # untrusted bytes: whatever fails to verify is a refusal (audited), never a 500
        return _refuse(s, INVALID, _RETRY, user=user, second_factor=second_factor, count_failure=count_failure)
    presented, stored = verified.new_sign_count, key.sign_count
    if (presented or stored) and presented <= stored:
        record(s, Action.SECURITY_KEY_CLONE_SUSPECTED, organization_id=user.organization_id, target=("user", user.id),
               data={"key_id": key.id, "stored_count": stored, "presented_count": presented})
        return _refuse(s, CLONED, "This key was refused: its use counter went backwards, which happens when a key "
                       "has been copied. Use another key and tell your administrator.", user=user,
                       second_factor=second_factor, count_failure=count_failure, data={"key_id": key.id})
    key.sign_count, key.last_used_at = presented, utcnow()
    user.failed_attempts, user.locked_until = 0, None
    if not second_factor:
        user.last_sign_in_at = utcnow()
    record(s, Action.SIGN_IN, actor=user.id, organization_id=user.organization_id, target=user,
           data={"factor": "security_key" if second_factor else "passkey", "key_id": key.id}, personal=personal)
    return user.id


def _owner(s: Session, handle: bytes | None) -> User | None:
    """Whose passkey this was, by the user handle it carries (a removed key of someone who still has
    others): only to file the refusal under that person in the audit trail."""
    if not handle:
        return None
    owner = s.scalar(select(SecurityKey.user_id).where(SecurityKey.user_handle == bytes_to_base64url(handle)).limit(1))
    return s.get(User, owner) if owner is not None else None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# ---- the person's own keys ---------------------------------------------------------------------


def _row(key: SecurityKey) -> dict:
    return {"id": key.id, "name": key.name, "passkey": key.is_passkey, "transports": list(key.transports or []),
            "created_at": key.created_at.isoformat() if key.created_at else None,
            "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None}


def list_keys(db: Database, user_id: int) -> list[dict]:
    """The person's keys, oldest first (their own only: the id comes from the signed-in session)."""
    with db.session() as s:
        return [_row(k) for k in _keys(s, user_id)]


def _key_id(value: Any) -> int | None:
    """A key id as a browser may send it (number or digits), within the column's range; else None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        ident = int(value)
    except ValueError:
        return None
    return ident if 0 < ident < 2**31 else None


def owns_key(db: Database, user_id: int, key_id: Any) -> bool:
    """Whether `key_id` (from a browser) names one of this person's keys."""
    if (ident := _key_id(key_id)) is None:
        return False
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(SecurityKey).where(
            SecurityKey.id == ident, SecurityKey.user_id == user_id)) == 1


def _own(s: Session, user_id: int, key_id: Any) -> SecurityKey:
    ident = _key_id(key_id)
    key = s.get(SecurityKey, ident) if ident is not None else None
    if key is None or key.user_id != user_id:
        raise KeyRefused(UNKNOWN_KEY, "That key is not one of yours, or it was already removed.")
    return key


def rename_key(db: Database, user_id: int, key_id: Any, name: Any) -> dict:
    """Rename one of the person's keys; audited."""
    name = clean_name(name)
    with db.session() as s:
        key = _own(s, user_id, key_id)
        key.name = name
        user = s.get(User, user_id)
        record(s, Action.SECURITY_KEY_RENAMED, actor=user_id, organization_id=user.organization_id,
               target=("user", user_id), data={"key_id": key.id}, personal={"key_name": name})
        return _row(key)


def remove_key(db: Database, user_id: int, key_id: Any) -> None:
    """Remove one of the person's keys; it no longer signs in. Audited."""
    with db.session() as s:
        key = _own(s, user_id, key_id)
        user = s.get(User, user_id)
        s.delete(key)
        record(s, Action.SECURITY_KEY_REMOVED, actor=user_id, organization_id=user.organization_id,
               target=("user", user_id), data={"key_id": key.id})
