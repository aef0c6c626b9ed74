"""The accounts service: sign-in, lockout, MFA, passwords, user administration and erasure.

Web-free: pages, the API and jobs call these methods with a `Principal` for whoever acts. Failures
of sign-in carry a reason code for the audit trail and tests, but one generic outward message, and
an unknown e-mail costs the same bcrypt work as a known one, so nobody can tell which accounts
exist. Personal data in audit events goes to `personal`, never to the hashed `data`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.db import Database
from core.models.base import utcnow
from core.models.portfolio import Organization
from core.models.security import (
    AccountToken,
    PasswordHistory,
    User,
)
from core.observability import metrics
from core.security import mfa, sso_settings
from core.security.audit import Action, record
from core.security.authorizer import deny, permissions_for
from core.security.crypto import SecretBox
from core.security.grants import holds_role
from core.security.identity import IdentityRejected, normalize_display_name, normalize_email, shown_as_typed
from core.security.passwords import (
    REUSED,
    PasswordPolicy,
    PasswordRejected,
    check_password,
    dummy_hash,
    hash_password,
    verify_password,
)
from core.security.permissions import MFA_REQUIRED_ROLES, Permission
from core.security.personal_data import erase, export
from core.security.principal import Principal, load_principal
from core.security.settings import OrganizationPolicy, SecuritySettings, organization_policy
from core.security.webauthn_keys import has_security_key

GENERIC_FAILURE = "Invalid email or password."
log = logging.getLogger("digicadence.security")

# Reason codes of `AuthResult.reason`.
OK = "ok"
UNKNOWN_USER = "unknown_user"
BAD_PASSWORD = "bad_password"
LOCKED = "locked"
DISABLED = "disabled"
NO_PASSWORD = "no_password"
PASSWORDS_OFF = "passwords_off"  # the organization signs in through SSO; the user is no administrator


class InvalidCredentials(ValueError):
    """A password, code or token did not match (the message never says which part)."""


@dataclass(frozen=True)
class AuthResult:
    """Outcome of the password step. Sign the person in only when `complete` is true: with
    `mfa_required` call `verify_mfa` first, with `mfa_enrolment_required` enrol first."""

    ok: bool
    reason: str
    user_id: int | None = None
    must_change_password: bool = False
    mfa_required: bool = False
    mfa_enrolment_required: bool = False
    locked_until: datetime | None = None
    message: str = ""

    @property
    def complete(self) -> bool:
        return self.ok and not (self.mfa_required or self.mfa_enrolment_required)


@dataclass(frozen=True)
class NewUser:
    user_id: int
    temporary_password: str | None = None
    invite_token: str | None = None
    invite_expires_at: datetime | None = None


@dataclass
class Accounts:
    """One per app (or test): the database, the settings and the key box for TOTP secrets."""

    db: Database
    settings: SecuritySettings
    box: SecretBox  # the app's, from its Config (SecretBox.from_config): keys are never read behind its back

    # ---- helpers -------------------------------------------------------------------------------

    def _org_policy(self, session: Session, organization_id: int | None) -> OrganizationPolicy:
        return organization_policy(session, organization_id, self.settings)

    def _policy(self, session: Session, organization_id: int | None) -> PasswordPolicy:
        org = self._org_policy(session, organization_id)
        return PasswordPolicy(org.password_min_length, self.settings.password_max_length,
                              composition=org.password_composition)

    def password_problems(self, session: Session, user: User, password: str) -> list[str]:
        """Reason codes against the policy and the last N passwords (empty when acceptable)."""
        reasons = check_password(password, email=user.email, name=user.name,
                                 policy=self._policy(session, user.organization_id))
        recent = session.scalars(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.id)
                                 .order_by(PasswordHistory.id.desc()).limit(self.settings.password_history)).all()
        if any(verify_password(password, old) for old in recent):
            reasons.append(REUSED)
        return reasons

    def _set_password(self, session: Session, user: User, password: str, *, check: bool = True) -> None:
        if check:
            problems = self.password_problems(session, user, password)
            if problems:
                raise PasswordRejected(problems, self._policy(session, user.organization_id))
        user.password_hash = hash_password(password, self.settings.bcrypt_rounds)
        user.password_changed_at = utcnow()
        session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))
        session.flush()
        keep = select(PasswordHistory.id).where(PasswordHistory.user_id == user.id) \
            .order_by(PasswordHistory.id.desc()).limit(self.settings.password_history)
        session.execute(delete(PasswordHistory).where(PasswordHistory.user_id == user.id,
                                                      PasswordHistory.id.not_in(keep)))

    def _temporary_password(self, session: Session, user: User) -> str:
        """Random, and acceptable under the organization's policy (length, composition)."""
        policy = self._policy(session, user.organization_id)
        while True:
            candidate = secrets.token_urlsafe(max(15, policy.min_length))
            if not check_password(candidate, email=user.email, name=user.name, policy=policy):
                return candidate

    def _manage(self, session: Session, actor: Principal, user: User | None, permission: str = "user:manage") -> User:
        """Authorize `actor` to administer `user`: the permission on them, and no more power on
        their side than on the actor's (else a user manager could take over an admin account)."""
        if user is None:
            deny(actor, permission, ("user", None), "not found")
        held = permissions_for(actor, user, session=session)
        if permission not in held:
            deny(actor, permission, user)
        if not load_principal(session, user.id).all_permissions <= held:
            deny(actor, permission, user, "the user holds permissions the actor does not")
        return user

    @staticmethod
    def _now() -> datetime:
        return utcnow()

    @staticmethod
    def _aware(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment

    # ---- creating users ------------------------------------------------------------------------

    def create_user(self, actor: Principal, *, email: str, organization_id: int | None, name: str = "",
                    invite: bool = False) -> NewUser:
        """Create an account with a temporary password (changed at first sign-in) or an invitation.
        The address and name are normalized first (`core.security.identity`): a look-alike of
        another address or name raises `IdentityRejected` (a ValueError) with a plain reason."""
        email = normalize_email(email)
        name = normalize_display_name(name)
        with self.db.session() as session:
            if organization_id is None:
                if not actor.is_system_admin:
                    deny(actor, Permission.SYSTEM_MANAGE, ("system", None), "only System Administrators "
                         "create users outside organizations")
            else:
                org = session.get(Organization, organization_id) or ("organization", organization_id)
                if Permission.USER_MANAGE.value not in permissions_for(actor, org, session=session):
                    deny(actor, Permission.USER_MANAGE, org)
            if session.scalar(select(User.id).where(User.email == email)) is not None:
                raise ValueError("A user with this e-mail address already exists.")
            user = User(email=email, name=name, organization_id=organization_id)
            session.add(user)
            session.flush()
            result = NewUser(user.id)
            if invite:
                token = secrets.token_urlsafe(32)
                expires = self._now() + timedelta(hours=self.settings.invite_hours)
                session.add(AccountToken(user_id=user.id, purpose="invite", expires_at=expires,
                                         token_hash=hashlib.sha256(token.encode()).hexdigest()))
                result = NewUser(user.id, invite_token=token, invite_expires_at=expires)
            else:
                temporary = self._temporary_password(session, user)
                self._set_password(session, user, temporary, check=False)
                user.must_change_password = True
                result = NewUser(user.id, temporary_password=temporary)
            record(session, Action.USER_CREATED, actor=actor, organization_id=organization_id, target=user,
                   data={"invite": invite}, personal={"email": email, "name": user.name})
            return result

    def accept_invite(self, token: str, password: str) -> int:
        """Set the first password from an invitation; returns the user id."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self.db.session() as session:
            row = session.scalar(select(AccountToken).where(AccountToken.token_hash == digest,
                                                            AccountToken.purpose == "invite").with_for_update())
            if row is None or row.used_at is not None or self._aware(row.expires_at) <= self._now():
                raise InvalidCredentials("invalid or expired invitation")
            user = session.get(User, row.user_id)
            if user is None or not user.is_active:
                raise InvalidCredentials("invalid or expired invitation")
            self._set_password(session, user, password)
            row.used_at = self._now()
            record(session, Action.INVITE_ACCEPTED, actor=user.id, organization_id=user.organization_id,
                   target=user)
            return user.id

    # ---- signing in ----------------------------------------------------------------------------

    def authenticate(self, email: str, password: str, *, personal: dict | None = None) -> AuthResult:
        """The password step of signing in, with lockout. `personal`: e.g. {"ip": ...} for the audit.
        The address is looked up in its normalized form, so "Lena@A.EXAMPLE" finds lena@a.example;
        one that normalization refuses (an invisible character, mixed scripts) is an unknown user."""
        try:
            email, known_form = normalize_email(email), True
        except IdentityRejected:
            email, known_form = shown_as_typed(email), False
        now = self._now()
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.email == email, User.erased_at.is_(None))) \
                if known_form else None
            reason = OK
            if user is None:
                verify_password(password, dummy_hash(self.settings.bcrypt_rounds))
                reason = UNKNOWN_USER
            elif (locked := self._aware(user.locked_until)) is not None and locked > now:
                verify_password(password, dummy_hash(self.settings.bcrypt_rounds))
                reason = LOCKED
            elif not user.password_hash:
                verify_password(password, dummy_hash(self.settings.bcrypt_rounds))
                reason = NO_PASSWORD
            elif not verify_password(password, user.password_hash):
                reason = BAD_PASSWORD
            elif not user.is_active:
                reason = DISABLED
            elif not sso_settings.passwords_allowed(session, user):
                reason = PASSWORDS_OFF
            seen = {"email": email, **(personal or {})}
            if reason != OK:
                org = user.organization_id if user is not None else None
                target = ("user", user.id) if user is not None else None
                record(session, Action.SIGN_IN_FAILED, organization_id=org, target=target,
                       data={"reason": reason}, personal=seen)
                metrics.sign_in_failed("password", reason)
                # JSON logs escape the address, so a crafted one cannot forge a log line.
                log.warning("sign-in failed", extra={"event": "sign_in_failed", "reason": reason, "email": email})
                locked_until = self._aware(user.locked_until) if reason == LOCKED else None
                if reason == BAD_PASSWORD:
                    locked_until = self._count_failure(session, user, seen)
                message = sso_settings.PASSWORDS_OFF if reason == PASSWORDS_OFF else GENERIC_FAILURE
                return AuthResult(False, reason, message=message, locked_until=locked_until)
            second = user.mfa_enabled or has_security_key(session, user.id)  # an app's code, or a key
            enrol = not second and self._must_use_mfa(session, user)
            if not (second or enrol):
                # The password completes this sign-in. With a second factor still to pass, the count
                # stays: else knowing the password would allow endless code guesses without a lockout.
                user.failed_attempts = 0
            user.locked_until = None
            user.last_sign_in_at = now
            record(session, Action.SIGN_IN, actor=user.id, organization_id=user.organization_id, target=user,
                   data={"mfa_pending": second, "mfa_enrolment_required": enrol}, personal=seen)
            return AuthResult(True, OK, user.id, must_change_password=user.must_change_password,
                              mfa_required=second, mfa_enrolment_required=enrol)

    def _count_failure(self, session: Session, user: User, seen: dict) -> datetime | None:
        """Add one failed attempt atomically; lock the account when the threshold is reached."""
        count = session.execute(update(User).where(User.id == user.id)
                                .values(failed_attempts=User.failed_attempts + 1).returning(User.failed_attempts)
                                .execution_options(synchronize_session=False)).scalar_one()
        policy = self._org_policy(session, user.organization_id)
        if count < policy.lockout_threshold:
            return None
        until = self._now() + policy.lockout_duration
        session.execute(update(User).where(User.id == user.id).values(failed_attempts=0, locked_until=until)
                        .execution_options(synchronize_session=False))
        record(session, Action.LOCKED, organization_id=user.organization_id, target=("user", user.id),
               data={"attempts": count, "locked_until": until, "minutes": policy.lockout_minutes},
               personal=seen)
        metrics.account_locked()
        log.warning("account locked", extra={"event": "account_locked", "locked_user_id": user.id,
                                             "minutes": self.settings.lockout_minutes})
        return until

    def verify_mfa(self, user_id: int, code: str) -> bool:
        """Second step: a TOTP code (each time-step once) or an unused recovery code. Failures count
        toward the lockout like wrong passwords; only a success here starts the count again (a
        correct password alone does not, see `authenticate`)."""
        with self.db.session() as session:
            user = session.get(User, user_id, with_for_update=True)
            if user is None or not user.is_active or not user.mfa_enabled:
                return False
            locked = self._aware(user.locked_until)
            if locked is not None and locked > self._now():
                record(session, Action.MFA_FAILED, organization_id=user.organization_id, target=user,
                       data={"reason": LOCKED})
                metrics.sign_in_failed("mfa", LOCKED)
                return False
            if mfa.accept_totp(user, code, self.box):
                kind = "totp"
            elif len("".join(code.split())) > 6 and mfa.use_recovery_code(session, user, code):
                kind = "recovery_code"
                record(session, Action.MFA_RECOVERY_USED, actor=user.id, organization_id=user.organization_id,
                       target=user, data={"remaining": mfa.remaining_recovery_codes(session, user.id)})
            else:
                record(session, Action.MFA_FAILED, organization_id=user.organization_id, target=user,
                       data={"reason": "bad_code"})
                metrics.sign_in_failed("mfa", "bad_code")
                self._count_failure(session, user, {})
                return False
            user.failed_attempts = 0
            session.flush()
            record(session, Action.SIGN_IN, actor=user.id, organization_id=user.organization_id, target=user,
                   data={"factor": kind})
            return True

    def begin_mfa_enrolment(self, user_id: int) -> mfa.Enrolment:
        """A new secret and its otpauth:// URI (shown as a QR code); confirm with a code to enable."""
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None or not user.is_active:
                raise InvalidCredentials("no such active user")
            if user.mfa_enabled:
                raise ValueError("MFA is already enabled; an administrator must reset it first")
            return mfa.begin_enrolment(session, user, self.box, self.settings.totp_issuer)

    def confirm_mfa_enrolment(self, user_id: int, code: str) -> list[str]:
        """Enable MFA once a first code checks out; returns the recovery codes (shown once)."""
        with self.db.session() as session:
            user = session.get(User, user_id, with_for_update=True)
            if user is None or user.mfa_enabled or not mfa.accept_totp(user, code, self.box):
                raise InvalidCredentials("the code does not match")
            user.mfa_enabled = True
            user.failed_attempts = 0  # the sign-in this enrolment completes has passed both factors
            codes = mfa.new_recovery_codes(session, user, self.settings.recovery_codes)
            record(session, Action.MFA_ENROLLED, actor=user.id, organization_id=user.organization_id, target=user)
            return codes

    def _must_use_mfa(self, session: Session, user: User) -> bool:
        """Administrators always; everyone else when their organization's MFA policy says so."""
        return holds_role(session, user.id, MFA_REQUIRED_ROLES) or \
            self._org_policy(session, user.organization_id).mfa_everyone

    def mfa_required(self, user_id: int) -> bool:
        """Whether this user must use MFA (administrators, or every member under an "everyone" policy)."""
        with self.db.session() as session:
            user = session.get(User, user_id)
            return user is not None and self._must_use_mfa(session, user)

    # ---- passwords -----------------------------------------------------------------------------

    def change_password(self, user_id: int, current: str, new: str) -> None:
        """The user's own change: the current password, the policy and the history all apply."""
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None or not user.is_active or not verify_password(current, user.password_hash):
                raise InvalidCredentials("the current password is wrong")
            self._set_password(session, user, new)
            user.must_change_password = False
            user.session_epoch += 1  # every other session of this person ends
            record(session, Action.PASSWORD_CHANGED, actor=user.id, organization_id=user.organization_id,
                   target=user)

    def admin_reset_password(self, actor: Principal, user_id: int) -> str:
        """A new temporary password that must be changed at the next sign-in; returns it once."""
        with self.db.session() as session:
            user = self._manage(session, actor, session.get(User, user_id))
            temporary = self._temporary_password(session, user)
            self._set_password(session, user, temporary, check=False)
            user.must_change_password = True
            user.session_epoch += 1
            record(session, Action.PASSWORD_RESET, actor=actor, organization_id=user.organization_id, target=user)
            return temporary

    # ---- administration ------------------------------------------------------------------------

    # Actions after which the person's existing sessions must end.
    _ENDS_SESSIONS = (Action.USER_DISABLED, Action.USER_ERASED, Action.MFA_RESET)

    def _admin_action(self, actor: Principal, user_id: int, action: str, change) -> None:
        with self.db.session() as session:
            user = self._manage(session, actor, session.get(User, user_id))
            if user.id == actor.user_id and action in (Action.USER_DISABLED, Action.USER_ERASED):
                raise ValueError("you cannot do this to your own account")
            data = change(session, user) or {}
            if action in self._ENDS_SESSIONS:
                user.session_epoch += 1
            record(session, action, actor=actor, organization_id=user.organization_id, target=("user", user.id),
                   data=data)

    def disable_user(self, actor: Principal, user_id: int) -> None:
        self._admin_action(actor, user_id, Action.USER_DISABLED, lambda s, u: setattr(u, "is_active", False))

    def enable_user(self, actor: Principal, user_id: int) -> None:
        def enable(_session: Session, user: User) -> None:
            if user.erased_at is not None:
                raise ValueError("an erased user cannot be enabled")
            user.is_active = True
        self._admin_action(actor, user_id, Action.USER_ENABLED, enable)

    def unlock_user(self, actor: Principal, user_id: int) -> None:
        def unlock(_session: Session, user: User) -> None:
            user.locked_until = None
            user.failed_attempts = 0
        self._admin_action(actor, user_id, Action.UNLOCKED, unlock)

    def reset_mfa(self, actor: Principal, user_id: int) -> None:
        """Remove the user's TOTP secret and recovery codes; they enrol again at the next sign-in."""
        self._admin_action(actor, user_id, Action.MFA_RESET, mfa.clear_mfa)

    def erase_user(self, actor: Principal, user_id: int) -> None:
        """Right to erasure (`personal_data.erase`); the audit chain stays valid."""
        self._admin_action(actor, user_id, Action.USER_ERASED, lambda s, u: erase(s, u, self._now()))

    # ---- the person's own data -----------------------------------------------------------------

    def download_my_data(self, user_id: int) -> dict[str, Any]:
        """Everything stored about the person (`personal_data.export`); the download is audited."""
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise InvalidCredentials("no such user")
            data = export(session, user)
            record(session, Action.DATA_EXPORTED, actor=user.id, organization_id=user.organization_id, target=user)
            return data
