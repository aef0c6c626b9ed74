"""Who must use a security key, and an administrator's reset of someone's keys.

An organization may require its administrators (the roles that must use two-factor sign-in,
`MFA_REQUIRED_ROLES`) to hold a security key and sign in with it: one who has none is sent to
register one right after signing in (with their app's code), one who has a key may no longer use the
app's code instead. A reset removes every key of a person (e.g. a lost key) and ends their sessions.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.models.security import OrganizationSecurity, SecurityKey, User
from core.security.audit import Action
from core.security.grants import holds_role
from core.security.permissions import MFA_REQUIRED_ROLES
from core.security.principal import Principal
from core.security.webauthn_keys import KeyRefused, has_security_key, remove_key


class _AdminActions(Protocol):
    def _admin_action(self, actor: Principal, user_id: int, action: str, change: Any) -> None: ...


def policy_applies(session: Session, user: User) -> bool:
    """Whether the user's organization requires a key of administrators, and the user is one."""
    if user.organization_id is None:
        return False
    row = session.get(OrganizationSecurity, user.organization_id)
    return bool(row and row.security_key_for_admins) and holds_role(session, user.id, MFA_REQUIRED_ROLES)


def key_enrolment_needed(db: Database, user_id: int) -> bool:
    """Must register a key before doing anything else (the policy applies and they hold none)."""
    with db.session() as s:
        user = s.get(User, user_id)
        return user is not None and policy_applies(s, user) and not has_security_key(s, user_id)


def code_refused(db: Database, user_id: int) -> bool:
    """The app's code is not enough for this person: the policy applies and they hold a key to use."""
    with db.session() as s:
        user = s.get(User, user_id)
        return user is not None and policy_applies(s, user) and has_security_key(s, user_id)


def remove_own_key(db: Database, user_id: int, key_id: Any) -> None:
    """The person removes one of their keys, unless it is their last and the policy requires one of them."""
    with db.session() as s:
        user = s.get(User, user_id)
        last = user is not None and policy_applies(s, user) and s.scalar(
            select(func.count()).select_from(SecurityKey).where(SecurityKey.user_id == user_id)) <= 1
    if last:
        raise KeyRefused("last_key", "Your organization requires administrators to keep a security key: add another "
                                     "one before removing this one.")
    remove_key(db, user_id, key_id)


def reset_keys(accounts: _AdminActions, actor: Principal, user_id: int) -> None:
    """Remove every security key of the user and end their sessions (user:manage on them, no
    takeover of a stronger account: `Accounts._admin_action`); audited with the count removed."""

    def remove(session: Session, user: User) -> dict:
        removed = session.execute(delete(SecurityKey).where(SecurityKey.user_id == user.id)).rowcount
        user.session_epoch += 1
        return {"removed": removed}

    accounts._admin_action(actor, user_id, Action.SECURITY_KEYS_RESET, remove)
