"""Password policy and hashing: length, common passwords, personal data, composition, 72 bytes."""

from __future__ import annotations

import bcrypt
import pytest

from core.security.passwords import (
    COMMON,
    COMPOSITION,
    CONTAINS_EMAIL,
    CONTAINS_NAME,
    SCHEME,
    TOO_LONG,
    TOO_SHORT,
    PasswordPolicy,
    check_password,
    common_passwords,
    hash_password,
    is_common,
    verify_password,
)

GOOD = "tangerine-kayak-orbit"


def test_the_shipped_list_is_large():
    assert len(common_passwords()) >= 10_000
    assert {"password", "123456", "qwerty", "dragon"} <= common_passwords()


@pytest.mark.parametrize(("password", "reasons"), [
    (GOOD, []),
    ("short-pw1", [TOO_SHORT]),
    ("x" * 11, [TOO_SHORT, COMMON]),
    ("Pz9!" * 65, [TOO_LONG, COMMON]),  # 260 characters, and a repeated unit is weak too
])
def test_length_rules(password, reasons):
    assert check_password(password) == reasons


def test_length_limits_are_inclusive():
    policy = PasswordPolicy(min_length=12, max_length=128)
    base = "mZ4#qTr8!wLp"
    assert check_password(base, policy=policy) == []
    assert check_password(base[:11], policy=policy) == [TOO_SHORT]
    long_ok = "".join(chr(ord("a") + (i * 7) % 26) + str(i % 10) for i in range(64))  # 128 characters
    assert len(long_ok) == 128 and check_password(long_ok, policy=policy) == []
    assert check_password(long_ok + "x", policy=policy) == [TOO_LONG]


@pytest.mark.parametrize("password", [
    "1qaz2wsx3edc", "qwerty123456", "PASSWORD1234", "!!dragon2024!!", "monkey123456789", "abcabcabcabc",
    "aaaaaaaaaaaaaaaa",
])
def test_common_and_trivially_padded_passwords_are_refused(password):
    assert is_common(password)
    assert COMMON in check_password(password)


def test_uncommon_password_is_not_flagged():
    assert not is_common(GOOD)


def test_personal_data_is_refused():
    assert check_password("ishaan.mehta-2026!", email="ishaan.mehta@acme.example") == [CONTAINS_EMAIL]
    assert check_password("my-mehta-password9", email="ishaan.mehta@acme.example") == [CONTAINS_EMAIL]
    assert check_password("Fernandez-rocks-77", name="Lucia Fernandez") == [CONTAINS_NAME]
    assert check_password(GOOD, email="ishaan.mehta@acme.example", name="Lucia Fernandez") == []


def test_composition_is_off_by_default_and_opt_in():
    assert check_password(GOOD) == []
    strict = PasswordPolicy(composition=True)
    assert check_password(GOOD, policy=strict) == [COMPOSITION]
    assert check_password("Tangerine-kayak-0rbit", policy=strict) == []


def hash_rounds(hashed: str) -> int:
    """The bcrypt cost a stored hash was made with (the number after the algorithm)."""
    return int(hashed[len(SCHEME):].split("$")[2])


def test_hash_and_verify_roundtrip():
    hashed = hash_password(GOOD, rounds=4)
    assert hashed.startswith(SCHEME) and hash_rounds(hashed) == 4
    assert verify_password(GOOD, hashed)
    assert not verify_password(GOOD + "x", hashed)
    assert not verify_password(GOOD, None)
    assert not verify_password(GOOD, "$2b$04$" + "x" * 53)  # not our scheme


def test_default_cost_is_at_least_12():
    assert hash_rounds(hash_password(GOOD)) >= 12


def test_no_silent_truncation_past_72_bytes():
    prefix = "é" * 40  # 80 UTF-8 bytes: already past bcrypt's 72-byte limit
    first, second = prefix + "-first", prefix + "-second"
    with pytest.raises(ValueError):  # bcrypt itself refuses, so the pre-hash is what makes this work
        bcrypt.hashpw(first.encode(), bcrypt.gensalt(4))
    hashed = hash_password(first, rounds=4)
    assert verify_password(first, hashed)
    assert not verify_password(second, hashed)


def test_unicode_is_normalized():
    composed, decomposed = "caf\u00e9-kayak-orbit", "cafe\u0301-kayak-orbit"
    assert verify_password(decomposed, hash_password(composed, rounds=4))
