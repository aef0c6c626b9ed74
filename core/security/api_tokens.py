"""Credentials of the REST API: access JWTs, rotating refresh tokens and personal API tokens.

* Access tokens are JWTs signed with HS256 only (the allow-list; `none` and every other
  algorithm are refused), 15 minutes, with `exp`, `nbf`, `iat`, `iss`, `aud`, `sub` and `jti`
  required and checked. The header's `kid` picks the key from a `KeyRing`, so keys rotate: put a
  new key first in DIGICADENCE_JWT_KEYS (it signs), keep the old one until its tokens expired.
* Refresh tokens are opaque, 30 days, single use: each use returns a new one of the same family.
  Presenting a used one means it leaked, and the whole family is revoked.
* Personal API tokens are opaque, named, limited to some of the owner's permissions and
  optionally to one project or brand, expiring and revocable, shown once.

Only SHA-256 digests of opaque tokens are stored. Every token carries the user's
`session_epoch` of when it was issued: a password change, disabling, erasing or an MFA reset moves
the epoch and so ends every token of the person, as it ends their web sessions. Web-free.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.config import JWT_KEYS_ENV as KEYS_ENV
from core.config import Config, ensure_secret_file, parse_jwt_keys
from core.db import Database
from core.models.api import ApiToken, RefreshToken
from core.models.base import utcnow
from core.models.portfolio import Brand, Project, ProjectBrand
from core.models.security import User
from core.security.audit import Action, record
from core.security.authorizer import deny, permissions_for
from core.security.permissions import ALL_PERMISSIONS
from core.security.principal import Principal, load_principal

KEY_FILE = "jwt.key"
ALGORITHM = "HS256"
ALGORITHMS = [ALGORITHM]  # the allow-list handed to PyJWT
ISSUER = "digicadence"
AUDIENCE = "digicadence-api"
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)
PERSONAL_MAX_DAYS = 366
LEEWAY_S = 5  # clock skew tolerated between servers
REQUIRED_CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]
REFRESH_PREFIX = "dcr_"
PERSONAL_PREFIX = "dcp_"

TOKEN_ISSUED = Action.API_TOKEN_ISSUED
TOKEN_REFRESHED = Action.API_TOKEN_REFRESHED
REFRESH_REUSED = Action.API_REFRESH_REUSED
REFRESH_REVOKED = Action.API_REFRESH_REVOKED
PERSONAL_CREATED = Action.API_PERSONAL_TOKEN_CREATED
PERSONAL_REVOKED = Action.API_PERSONAL_TOKEN_REVOKED


class TokenRefused(Exception):
    """A bearer or refresh token was not accepted; `reason` is for the audit trail and tests only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


# ---- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRing:
    """Signing keys by key id; `current` signs, every key verifies."""

    keys: Mapping[str, bytes]
    current: str

    @classmethod
    def parse(cls, raw: str, source: str = KEYS_ENV) -> KeyRing:
        """`kid:secret,kid:secret` (first one signs); each secret at least 32 bytes (ConfigError otherwise)."""
        return cls.from_pairs(parse_jwt_keys(raw, source))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> KeyRing:
        keys = {kid: secret.encode() for kid, secret in pairs}
        return cls(keys, next(iter(keys)))

    @classmethod
    def from_config(cls, config: Config) -> KeyRing:
        """The configured keys (DIGICADENCE_JWT_KEYS), else one generated instance key in `instance/jwt.key`."""
        if config.keys.jwt:
            return cls.from_pairs(config.keys.jwt)
        path = config.instance_dir / KEY_FILE
        return cls.parse(ensure_secret_file(path, lambda: f"k{secrets.token_hex(4)}:{secrets.token_urlsafe(48)}"),
                         str(path))


# ---- what a bearer is ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bearer:
    """An accepted credential: whose, which kind, and its id (for the audit trail, never the token)."""

    user_id: int
    kind: str  # "access" or "personal"
    token_id: str
    principal: Principal


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class NewPersonalToken:
    token: str  # shown once
    info: dict[str, Any]


def narrow(principal: Principal, permissions: Iterable[str], scope: tuple[str, int] | None,
           session: Session) -> Principal:
    """The principal limited to `permissions`, and to one project or brand when `scope` is given."""
    wanted = frozenset(permissions)
    if scope is None:
        return replace(
            principal,
            system=principal.system & wanted,
            organizations={k: v & wanted for k, v in principal.organizations.items()},
            projects={k: v & wanted for k, v in principal.projects.items()},
            brands={k: v & wanted for k, v in principal.brands.items()},
        )
    kind, ident = scope
    obj = session.get(Project if kind == "project" else Brand, ident)
    held = permissions_for(principal, obj, session=session) & wanted if obj is not None else frozenset()
    base = Principal(user_id=principal.user_id, organization_id=principal.organization_id,
                     role_names=principal.role_names, db=principal.db)
    if kind == "project":
        members = frozenset(session.scalars(
            select(ProjectBrand.brand_id).join(Brand, Brand.id == ProjectBrand.brand_id)
            .where(ProjectBrand.project_id == ident, Brand.organization_id == getattr(obj, "organization_id", None))))
        return replace(base, projects={ident: held}, project_brands={ident: members})
    return replace(base, brands={ident: held})


# ---- the service -----------------------------------------------------------------------------


@dataclass
class ApiCredentials:
    """One per app: the database and the key ring."""

    db: Database
    ring: KeyRing

    @staticmethod
    def _now() -> datetime:
        return utcnow()

    # access tokens

    def _access_token(self, user: User, family: str) -> str:
        now = self._now()
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(user.id), "iat": now, "nbf": now,
                  "exp": now + ACCESS_TTL, "jti": secrets.token_hex(12), "ep": user.session_epoch, "fam": family}
        return jwt.encode(claims, self.ring.keys[self.ring.current], algorithm=ALGORITHM,
                          headers={"kid": self.ring.current})

    def _new_refresh(self, session: Session, user: User, family: str) -> str:
        token = REFRESH_PREFIX + secrets.token_urlsafe(32)
        session.add(RefreshToken(user_id=user.id, family=family, token_hash=digest(token), epoch=user.session_epoch,
                                 expires_at=self._now() + REFRESH_TTL))
        return token

    def issue(self, user_id: int) -> TokenPair:
        """A new access token and the first refresh token of a new family (after a complete sign-in)."""
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None or not user.is_active or user.erased_at is not None:
                raise TokenRefused("inactive_user")
            family = secrets.token_hex(16)
            refresh = self._new_refresh(session, user, family)
            record(session, TOKEN_ISSUED, actor=user.id, organization_id=user.organization_id, target=user,
                   data={"family": family})
            return TokenPair(self._access_token(user, family), refresh, int(ACCESS_TTL.total_seconds()))

    def decode_access(self, token: str) -> dict[str, Any]:
        """The verified claims, or TokenRefused: algorithm, key id, signature and every claim checked."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRefused("malformed") from exc
        if header.get("alg") not in ALGORITHMS:
            raise TokenRefused("algorithm_not_allowed")
        key = self.ring.keys.get(str(header.get("kid")))
        if key is None:
            raise TokenRefused("unknown_key")
        try:
            return jwt.decode(token, key, algorithms=ALGORITHMS, audience=AUDIENCE, issuer=ISSUER,
                              leeway=LEEWAY_S, options={"require": REQUIRED_CLAIMS, "strict_aud": True})
        except jwt.ExpiredSignatureError as exc:
            raise TokenRefused("expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenRefused(exc.__class__.__name__) from exc

    def authenticate(self, token: str) -> Bearer:
        """Whoever presents `token` (an access JWT or a personal token), as a Principal; else TokenRefused."""
        if token.startswith(PERSONAL_PREFIX):
            return self._personal(token)
        claims = self.decode_access(token)
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError) as exc:
            raise TokenRefused("bad_subject") from exc
        with self.db.session() as session:
            user = self._live_user(session, user_id, claims.get("ep"))
            family = str(claims.get("fam") or "")
            revoked = session.scalar(select(RefreshToken.id).where(RefreshToken.family == family,
                                                                   RefreshToken.revoked_at.is_not(None)).limit(1))
            if revoked is not None:
                raise TokenRefused("family_revoked")
            principal = replace(load_principal(session, user.id), db=self.db)
        return Bearer(user.id, "access", str(claims["jti"]), principal)

    @staticmethod
    def _live_user(session: Session, user_id: int, epoch: Any) -> User:
        user = session.get(User, user_id)
        if user is None or not user.is_active or user.erased_at is not None:
            raise TokenRefused("inactive_user")
        if epoch != user.session_epoch:
            raise TokenRefused("epoch_moved")
        return user

    # refresh tokens

    def refresh(self, token: str) -> TokenPair:
        """Use a refresh token once: a new pair in the same family. A reused token revokes the family."""
        now = self._now()
        with self.db.session() as session:
            row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(token))
                                 .with_for_update())
            if row is None:
                raise TokenRefused("unknown_refresh_token")
            if row.used_at is not None or row.revoked_at is not None:
                reused = row.used_at is not None and row.revoked_at is None
                self._revoke_family(session, row.family, now)
                user = session.get(User, row.user_id)
                record(session, REFRESH_REUSED, actor=row.user_id, target=("user", row.user_id),
                       organization_id=user.organization_id if user else None,
                       data={"family": row.family, "already_revoked": not reused})
                session.commit()
                raise TokenRefused("refresh_token_reused")
            if _aware(row.expires_at) <= now:
                raise TokenRefused("refresh_token_expired")
            user = self._live_user(session, row.user_id, row.epoch)
            row.used_at = now
            new = self._new_refresh(session, user, row.family)
            record(session, TOKEN_REFRESHED, actor=user.id, organization_id=user.organization_id, target=user,
                   data={"family": row.family})
            return TokenPair(self._access_token(user, row.family), new, int(ACCESS_TTL.total_seconds()))

    @staticmethod
    def _revoke_family(session: Session, family: str, now: datetime) -> None:
        session.execute(update(RefreshToken).where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=now).execution_options(synchronize_session=False))

    def revoke_refresh(self, token: str) -> bool:
        """Revoke the token's whole family (sign-out of a pipeline); False when the token is unknown."""
        with self.db.session() as session:
            row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(token)))
            if row is None:
                return False
            self._revoke_family(session, row.family, self._now())
            user = session.get(User, row.user_id)
            record(session, REFRESH_REVOKED, actor=row.user_id, target=("user", row.user_id),
                   organization_id=user.organization_id if user else None, data={"family": row.family})
            return True

    # personal tokens

    def _personal(self, token: str) -> Bearer:
        now = self._now()
        with self.db.session() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
            if row is None:
                raise TokenRefused("unknown_personal_token")
            if row.revoked_at is not None:
                raise TokenRefused("personal_token_revoked")
            if _aware(row.expires_at) <= now:
                raise TokenRefused("personal_token_expired")
            user = self._live_user(session, row.user_id, row.epoch)
            last = _aware(row.last_used_at)
            if last is None or now - last > timedelta(minutes=1):
                row.last_used_at = now
            scope = (row.scope_type, row.scope_id) if row.scope_type and row.scope_id is not None else None
            principal = narrow(load_principal(session, user.id), row.permissions or [], scope, session)
            return Bearer(user.id, "personal", str(row.id), replace(principal, db=self.db))

    def create_personal_token(self, principal: Principal, *, name: str, permissions: Iterable[str],
                              days: int, scope_type: str | None = None, scope_id: int | None = None
                              ) -> NewPersonalToken:
        """A new token of the principal's own; its permissions must be ones they hold (at the scope)."""
        name = " ".join(str(name or "").split())[:100]
        if not name:
            raise ValueError("give the token a name")
        perms = frozenset(str(p) for p in permissions)
        if not perms or perms - ALL_PERMISSIONS:
            raise ValueError(f"unknown or no permissions: {sorted(perms - ALL_PERMISSIONS)}")
        if not 1 <= int(days) <= PERSONAL_MAX_DAYS:
            raise ValueError(f"a token lives 1 to {PERSONAL_MAX_DAYS} days")
        if (scope_type is None) != (scope_id is None) or scope_type not in (None, "project", "brand"):
            raise ValueError("a scope is a project or a brand with its id")
        if principal.user_id is None:
            raise ValueError("only a person holds personal tokens")
        with self.db.session() as session:
            user = session.get(User, principal.user_id)
            if scope_type is not None:
                held = permissions_for(principal, (scope_type, scope_id), session=session)
                if not held:
                    deny(principal, next(iter(sorted(perms))), (scope_type, scope_id), "not found")
            else:
                held = principal.all_permissions
            if perms - held:
                deny(principal, sorted(perms - held)[0], (scope_type or "user", scope_id or principal.user_id),
                     "a token cannot hold permissions its owner does not")
            if session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.name == name)):
                raise ValueError("you already have a token with this name")
            token = PERSONAL_PREFIX + secrets.token_urlsafe(32)
            row = ApiToken(user_id=user.id, name=name, token_hash=digest(token), prefix=token[:12],
                           permissions=sorted(perms), scope_type=scope_type, scope_id=scope_id,
                           epoch=user.session_epoch, expires_at=self._now() + timedelta(days=int(days)))
            session.add(row)
            session.flush()
            record(session, PERSONAL_CREATED, actor=principal, organization_id=user.organization_id, target=user,
                   data={"token_id": row.id, "name": name, "permissions": sorted(perms),
                         "scope": f"{scope_type} {scope_id}" if scope_type else None, "days": int(days)})
            return NewPersonalToken(token, personal_token_info(row))

    def list_personal_tokens(self, user_id: int) -> list[dict[str, Any]]:
        """The person's own tokens, newest first, without secrets."""
        with self.db.session() as session:
            rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                   .order_by(ApiToken.id.desc())).all()
            return [personal_token_info(r) for r in rows]

    def revoke_personal_token(self, principal: Principal, token_id: int) -> bool:
        """Revoke one of the principal's own tokens; False when they have no such token."""
        with self.db.session() as session:
            row = session.get(ApiToken, token_id)
            if row is None or row.user_id != principal.user_id:
                return False
            if row.revoked_at is None:
                row.revoked_at = self._now()
                record(session, PERSONAL_REVOKED, actor=principal, organization_id=principal.organization_id,
                       target=("user", row.user_id), data={"token_id": row.id, "name": row.name})
            return True


def personal_token_info(row: ApiToken) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "permissions": list(row.permissions or []),
            "scope_type": row.scope_type, "scope_id": row.scope_id, "created_at": _aware(row.created_at),
            "expires_at": _aware(row.expires_at), "last_used_at": _aware(row.last_used_at),
            "revoked": row.revoked_at is not None}
