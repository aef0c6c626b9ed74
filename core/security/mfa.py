"""TOTP second factor (RFC 6238 via pyotp) and single-use recovery codes.

A code is accepted once: the user row remembers the last time-step that was used and any code
for that step or an earlier one is refused, which stops a replayed or shoulder-surfed code.
Secrets are stored encrypted (`SecretBox`); recovery codes have 80 random bits and are stored as
SHA-256 hashes (enough for random codes, and a lookup needs no per-code bcrypt).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.models.base import utcnow
from core.models.security import RecoveryCode, User
from core.security.crypto import SecretBox

STEP_SECONDS = 30
# Codes from one step before or after are accepted (clock drift), each step only once.
VALID_WINDOW = 1
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


@dataclass(frozen=True)
class Enrolment:
    secret: str
    provisioning_uri: str


def new_secret() -> str:
    return pyotp.random_base32()


def begin_enrolment(session: Session, user: User, box: SecretBox, issuer: str = "Digi-Cadence") -> Enrolment:
    """Store a new (not yet enabled) encrypted secret and return it with its otpauth:// URI."""
    secret = new_secret()
    user.mfa_secret_encrypted = box.encrypt(secret)
    user.mfa_enabled = False
    user.mfa_last_timestep = None
    session.flush()
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer))


def matching_timestep(secret: str, code: str, last_timestep: int | None, now: float | None = None) -> int | None:
    """The time-step `code` belongs to, if it is valid and later than `last_timestep`; else None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step if last_timestep is None or step > last_timestep else None
    return None


def accept_totp(user: User, code: str, box: SecretBox, now: float | None = None) -> bool:
    """Check a TOTP code and consume its time-step (the caller commits the user row)."""
    if not user.mfa_secret_encrypted:
        return False
    step = matching_timestep(box.decrypt(user.mfa_secret_encrypted), code, user.mfa_last_timestep, now)
    if step is None:
        return False
    user.mfa_last_timestep = step
    return True


def _hash_code(code: str) -> str:
    normalized = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normalized.encode("ascii", "ignore")).hexdigest()


def new_recovery_codes(session: Session, user: User, count: int = 10) -> list[str]:
    """Replace the user's recovery codes; the plain codes are returned once and never stored."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))  # 80 bits
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_code(c)) for c in codes)
    session.flush()
    return codes


def use_recovery_code(session: Session, user: User, code: str) -> bool:
    """Accept an unused recovery code of this user once."""
    row = session.scalar(select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash_code(code),
        RecoveryCode.used_at.is_(None)).with_for_update())
    if row is None:
        return False
    row.used_at = utcnow()
    session.flush()
    return True


def remaining_recovery_codes(session: Session, user_id: int) -> int:
    return len(session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))).all())


def clear_mfa(session: Session, user: User) -> None:
    user.mfa_secret_encrypted = None
    user.mfa_enabled = False
    user.mfa_last_timestep = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.flush()
