"""The JWT key ring: rotation by key id, the instance key file, and weak keys refused."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

import pytest

from core.security.api_tokens import AUDIENCE, ISSUER, ApiCredentials, KeyRing, TokenRefused

OLD = "old:" + "o" * 40
NEW = "new:" + "n" * 40


def _token(ring: KeyRing) -> str:
    import jwt
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "1", "iat": now, "nbf": now, "exp": now + timedelta(minutes=5),
              "jti": "j"}
    return jwt.encode(claims, ring.keys[ring.current], algorithm="HS256", headers={"kid": ring.current})


def test_rotation_keeps_old_tokens_valid_until_the_old_key_is_dropped():
    before = KeyRing.parse(OLD)
    during = KeyRing.parse(f"{NEW},{OLD}")
    after = KeyRing.parse(NEW)
    issued = _token(before)
    assert during.current == "new"
    assert ApiCredentials(None, during).decode_access(issued)["sub"] == "1"  # type: ignore[arg-type]
    with pytest.raises(TokenRefused) as refused:
        ApiCredentials(None, after).decode_access(issued)  # type: ignore[arg-type]
    assert refused.value.reason == "unknown_key"


def test_instance_key_is_generated_once_with_private_permissions(tmp_path):
    first = KeyRing.from_env({}, instance_dir=tmp_path)
    second = KeyRing.from_env({}, instance_dir=tmp_path)
    assert first == second and len(first.keys[first.current]) >= 32
    assert stat.S_IMODE((tmp_path / "jwt.key").stat().st_mode) == 0o600
    assert KeyRing.from_env({"DIGICADENCE_JWT_KEYS": NEW}, instance_dir=tmp_path).current == "new"


@pytest.mark.parametrize("raw", ["short:abc", "no-separator" + "x" * 40, ":" + "x" * 40, " , "])
def test_weak_or_malformed_keys_are_refused(raw):
    with pytest.raises(ValueError):
        KeyRing.parse(raw)
