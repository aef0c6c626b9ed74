"""The per-organization security policy on top of the system's `SecuritySettings`.

`SecuritySettings` (costs, limits, lifetimes) is part of the app's `Config` and defined there, with
the rest of what the environment sets; it is re-exported here for the security code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from core.config import SecuritySettings

__all__ = ["OrganizationPolicy", "SecuritySettings", "organization_policy"]


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
    security_key_for_admins: bool = False

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
        security_key_for_admins=bool(row and row.security_key_for_admins),
    )
