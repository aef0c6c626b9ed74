"""The JWT key ring: rotation by key id, the instance key file, and weak keys refused."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

import pytest

from core.config import Config, ConfigError
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


def _config(tmp_path, **env: str) -> Config:
    return Config.from_env({"SECRET_KEY": "s" * 32, "DIGICADENCE_INSTANCE_DIR": str(tmp_path), **env})


def test_instance_key_is_generated_once_with_private_permissions(tmp_path):
    first = KeyRing.from_config(_config(tmp_path))
    second = KeyRing.from_config(_config(tmp_path))
    assert first == second and len(first.keys[first.current]) >= 32
    assert stat.S_IMODE((tmp_path / "jwt.key").stat().st_mode) == 0o600
    assert KeyRing.from_config(_config(tmp_path, DIGICADENCE_JWT_KEYS=NEW)).current == "new"


@pytest.mark.parametrize("raw", ["short:abc", "no-separator" + "x" * 40, ":" + "x" * 40, " , "])
def test_weak_or_malformed_keys_are_refused(raw, tmp_path):
    with pytest.raises(ConfigError, match="DIGICADENCE_JWT_KEYS"):
        KeyRing.parse(raw)
    with pytest.raises(ConfigError, match="DIGICADENCE_JWT_KEYS"):  # refused when the config is read, at start
        _config(tmp_path, DIGICADENCE_JWT_KEYS=raw)
