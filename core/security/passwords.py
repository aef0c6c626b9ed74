"""Password policy and hashing.

Hashing is bcrypt over a pre-hash: bcrypt reads at most 72 bytes (and bcrypt 5 refuses more), so
the UTF-8 password is first reduced to base64(SHA-256(password)) — 44 ASCII bytes, no NUL — and
every character of a long password counts. Stored hashes carry the prefix `bcrypt-sha256$` so
a later scheme can be told apart. Passwords are NFKC-normalized before checks and hashing, so
the same password typed on different keyboards matches.

The common-password list is zxcvbn's 30,000 most frequent leaked passwords (a pinned PyPI
dependency, read from the installed package; nothing is downloaded at run time).
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import bcrypt

SCHEME = "bcrypt-sha256$"

# Reason codes returned by `check_password`; the UI turns them into sentences.
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
COMMON = "common"
CONTAINS_EMAIL = "contains_email"
CONTAINS_NAME = "contains_name"
COMPOSITION = "composition"
REUSED = "reused"

# What each reason means to the person choosing the password.
REASON_TEXT = {
    TOO_SHORT: "it must have at least 12 characters",
    TOO_LONG: "it is too long",
    COMMON: "it is one of the most common passwords",
    CONTAINS_EMAIL: "it contains your email address",
    CONTAINS_NAME: "it contains your name",
    COMPOSITION: "your organization requires lower- and upper-case letters, a digit and a symbol",
    REUSED: "it is one of your last five passwords",
}


class PasswordRejected(ValueError):
    """The password breaks the policy; `reasons` lists the reason codes."""

    def __init__(self, reasons: list[str], policy: PasswordPolicy | None = None) -> None:
        super().__init__("password rejected: " + ", ".join(reasons))
        self.reasons = reasons
        self.policy = policy

    @property
    def messages(self) -> list[str]:
        """Sentences for the person; the length rule names the organization's own minimum."""
        out = []
        for reason in self.reasons:
            if reason == TOO_SHORT and self.policy is not None:
                out.append(f"it must have at least {self.policy.min_length} characters")
            else:
                out.append(REASON_TEXT.get(reason, reason))
        return out


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    max_length: int = 256
    # Opt-in per organization: one lowercase, one uppercase, one digit and one other character.
    composition: bool = False


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """zxcvbn's list of the 30,000 most common passwords, lowercased."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def is_common(password: str) -> bool:
    """True for a listed password, a listed word padded with digits/symbols, or a short unit repeated.

    "password1234", "!!dragon2024" and "abcabcabcabc" are as weak as the words they are made of.
    """
    lowered = normalize(password).lower()
    listed = common_passwords()
    if lowered in listed:
        return True
    core = _EDGE.sub("", lowered)
    if core and core in listed:
        return True
    return any(len(lowered) % size == 0 and lowered == lowered[:size] * (len(lowered) // size)
               for size in range(1, len(lowered) // 2 + 1))


def _personal_tokens(email: str | None, name: str | None) -> tuple[list[str], list[str]]:
    email_tokens: list[str] = []
    if email and "@" in email:
        local = email.split("@", 1)[0].lower()
        email_tokens = [t for t in {local, *re.split(r"[._+\-]+", local)} if len(t) >= 3]
    name_tokens = [t for t in re.split(r"[\W_]+", (name or "").lower()) if len(t) >= 3]
    return email_tokens, name_tokens


def check_password(password: str, *, email: str | None = None, name: str | None = None,
                   policy: PasswordPolicy | None = None) -> list[str]:
    """Reason codes the password breaks the policy for; an empty list means it is acceptable."""
    policy = policy or PasswordPolicy()
    password = normalize(password)
    reasons: list[str] = []
    if len(password) < policy.min_length:
        reasons.append(TOO_SHORT)
    if len(password) > policy.max_length:
        reasons.append(TOO_LONG)
    if is_common(password):
        reasons.append(COMMON)
    lowered = password.lower()
    email_tokens, name_tokens = _personal_tokens(email, name)
    if any(t in lowered for t in email_tokens):
        reasons.append(CONTAINS_EMAIL)
    if any(t in lowered for t in name_tokens):
        reasons.append(CONTAINS_NAME)
    if policy.composition and not (
        re.search(r"[a-z]", password) and re.search(r"[A-Z]", password)
        and re.search(r"\d", password) and re.search(r"[^A-Za-z0-9]", password)
    ):
        reasons.append(COMPOSITION)
    return reasons


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(normalize(password).encode("utf-8")).digest())


def hash_password(password: str, rounds: int = 12) -> str:
    """bcrypt of the SHA-256 pre-hash; `rounds` is the bcrypt cost (12 in production)."""
    return SCHEME + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, hashed: str | None) -> bool:
    """Constant-time check of a password against a stored hash; False for no or foreign hashes."""
    if not hashed or not hashed.startswith(SCHEME):
        return False
    try:
        return bcrypt.checkpw(_prehash(password), hashed[len(SCHEME):].encode("ascii"))
    except ValueError:
        return False


# A valid hash to check against when the email is unknown, so both paths cost the same.
@lru_cache(maxsize=4)
def dummy_hash(rounds: int) -> str:
    return hash_password("not a real password, only for timing", rounds)
