"""Security knobs with safe defaults, overridable from the environment (and lowered in tests), and the
per-organization policy on top of them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class SecuritySettings:
    """Costs, limits and lifetimes used by the accounts service."""

    bcrypt_rounds: int = 12
    lockout_threshold: int = 5
    lockout_minutes: int = 30
    password_min_length: int = 12
    password_max_length: int = 256
    password_history: int = 5
    invite_hours: int = 72
    totp_issuer: str = "Digi-Cadence"
    recovery_codes: int = 10

    @property
    def lockout_duration(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecuritySettings:
        """Read DIGICADENCE_BCRYPT_ROUNDS, DIGICADENCE_LOCKOUT_THRESHOLD, DIGICADENCE_LOCKOUT_MINUTES."""
        env = os.environ if env is None else env
        rounds = int(env.get("DIGICADENCE_BCRYPT_ROUNDS", cls.bcrypt_rounds))
        if not 4 <= rounds <= 31:
            raise ValueError("DIGICADENCE_BCRYPT_ROUNDS must be between 4 and 31")
        return cls(
            bcrypt_rounds=rounds,
            lockout_threshold=int(env.get("DIGICADENCE_LOCKOUT_THRESHOLD", cls.lockout_threshold)),
            lockout_minutes=int(env.get("DIGICADENCE_LOCKOUT_MINUTES", cls.lockout_minutes)),
        )


@dataclass(frozen=True)
class OrganizationPolicy:
    """What applies to members of one organization: its own values where set, else the system's.

    The minimum password length never drops below the system's (`SecuritySettings`): an
    organization may only make its policy stricter.
    """

    password_min_length: int
    password_composition: bool
    mfa_everyone: bool
    lockout_threshold: int
    lockout_minutes: int

    @property
    def lockout_duration(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)


def organization_policy(session: Session, organization_id: int | None,
                        settings: SecuritySettings) -> OrganizationPolicy:
    """The effective policy for an organization (users outside one get the system defaults)."""
    from core.models.security import OrganizationSecurity

    row = session.get(OrganizationSecurity, organization_id) if organization_id is not None else None
    return OrganizationPolicy(
        password_min_length=max(settings.password_min_length, (row.password_min_length if row else None) or 0),
        password_composition=bool(row and row.password_composition),
        mfa_everyone=bool(row and row.mfa_policy == "everyone"),
        lockout_threshold=(row.lockout_threshold if row else None) or settings.lockout_threshold,
        lockout_minutes=(row.lockout_minutes if row else None) or settings.lockout_minutes,
    )
