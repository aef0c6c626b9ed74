"""Configuration from the environment: safe embedded defaults, refusal without a real secret."""

from __future__ import annotations

import pytest

from core.config import Config, ConfigError, normalize_database_url


def test_outside_demo_a_missing_secret_refuses_to_start_and_says_why(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Config.from_env({"DIGICADENCE_INSTANCE_DIR": str(tmp_path)})


@pytest.mark.parametrize("weak", ["", "dev", "change-me", "short"])
def test_default_or_weak_secrets_are_refused(tmp_path, weak):
    with pytest.raises(ConfigError):
        Config.from_env({"SECRET_KEY": weak, "DIGICADENCE_INSTANCE_DIR": str(tmp_path)})


def test_demo_mode_makes_a_private_persistent_secret(tmp_path):
    env = {"DIGICADENCE_INSTANCE_DIR": str(tmp_path)}
    first = Config.from_env(env, demo_default=True)
    second = Config.from_env(env, demo_default=True)
    assert first.demo_mode and len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "demo_secret_key").stat().st_mode & 0o777 == 0o600
    assert first.database_url == f"sqlite:///{tmp_path / 'digicadence.db'}"


def test_demo_can_be_switched_off_explicitly(tmp_path):
    with pytest.raises(ConfigError):
        Config.from_env({"DIGICADENCE_DEMO": "0", "DIGICADENCE_INSTANCE_DIR": str(tmp_path)}, demo_default=True)


def test_environment_overrides(tmp_path):
    config = Config.from_env({
        "SECRET_KEY": "x" * 40, "DATABASE_URL": "postgres://u@h/db", "REDIS_URL": "redis://h:6379/0",
        "PORT": "9000", "DIGICADENCE_INSTANCE_DIR": str(tmp_path),
    })
    assert not config.demo_mode
    assert config.database_url == "postgresql+psycopg://u@h/db"
    assert config.redis_url == "redis://h:6379/0" and config.port == 9000


def test_url_normalization_leaves_other_drivers_alone():
    assert normalize_database_url("postgresql+psycopg://a/b") == "postgresql+psycopg://a/b"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_the_session_store_is_chosen_and_checked(tmp_path):
    base = {"SECRET_KEY": "s" * 32, "DIGICADENCE_INSTANCE_DIR": str(tmp_path)}
    assert Config.from_env(base).session_store is None
    redis_url = {**base, "REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert Config.from_env({**redis_url, "DIGICADENCE_SESSION_STORE": "database"}).session_store == "database"
    with pytest.raises(ConfigError, match="'redis' or 'database'"):
        Config.from_env({**redis_url, "DIGICADENCE_SESSION_STORE": "memcache"})
    with pytest.raises(ConfigError, match="needs REDIS_URL"):
        Config.from_env({**base, "DIGICADENCE_SESSION_STORE": "redis"})
