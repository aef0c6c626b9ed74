"""Configuration from the environment: safe embedded defaults, refusal without a real secret."""

from __future__ import annotations

import stat
import threading

import pytest

from core.config import (
    AlertingSettings,
    Config,
    ConfigError,
    Keys,
    MailSettings,
    SecuritySettings,
    ensure_secret_file,
    normalize_database_url,
    prometheus_multiproc_dir,
)
from core.ops.config import OpsConfig


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


def test_everything_else_the_app_reads_keeps_its_documented_default(tmp_path):
    config = Config.from_env({"SECRET_KEY": "s" * 32, "DIGICADENCE_INSTANCE_DIR": str(tmp_path)})
    assert config.security == SecuritySettings() and config.security.bcrypt_rounds == 12
    assert (config.security.lockout_threshold, config.security.lockout_minutes) == (5, 30)
    assert config.keys == Keys() and (config.read_cache_entries, config.read_cache_mb) == (512, 64)
    assert config.demo_password is None and config.demo_totp_secret is None
    # Report subscriptions: no SMTP (deliveries say "mail is not configured"), links to the local app.
    assert config.mail == MailSettings() and config.mail.smtp_host is None
    assert config.mail.public_url == "http://127.0.0.1:8050"
    assert (config.mail.max_attempts, config.mail.retry_base_s, config.mail.tick_s) == (4, 60, 60)
    ops = OpsConfig.from_env({"DIGICADENCE_INSTANCE_DIR": str(tmp_path)})
    assert ops.backup_dir == tmp_path / "backups" and ops.backup_key is None and ops.redis_url is None
    assert ops.database_url == f"sqlite:///{tmp_path / 'digicadence.db'}"
    assert prometheus_multiproc_dir({}) is None
    assert prometheus_multiproc_dir({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}) == tmp_path


def test_the_variables_of_the_other_modules_are_read_here(tmp_path):
    config = Config.from_env({
        "SECRET_KEY": "s" * 32, "DIGICADENCE_INSTANCE_DIR": str(tmp_path), "DIGICADENCE_BCRYPT_ROUNDS": "4",
        "DIGICADENCE_LOCKOUT_THRESHOLD": "3", "DIGICADENCE_LOCKOUT_MINUTES": "7",
        "DIGICADENCE_READ_CACHE_ENTRIES": "0", "DIGICADENCE_READ_CACHE_MB": "8",
        "DIGICADENCE_DEMO_PASSWORD": "pw-lantern-harbour",
        "DIGICADENCE_DEMO_TOTP_SECRET": "JBSWY3DPEHPK3PXP", "DIGICADENCE_JWT_KEYS": "a:" + "x" * 32,
        "DIGICADENCE_SMTP_HOST": "smtp.example.com", "DIGICADENCE_SMTP_PORT": "2525", "DIGICADENCE_SMTP_USER": "u",
        "DIGICADENCE_SMTP_PASSWORD": "p", "DIGICADENCE_SMTP_STARTTLS": "1", "DIGICADENCE_MAIL_FROM": "dc@example.com",
        "DIGICADENCE_PUBLIC_URL": "https://dc.example.com/", "DIGICADENCE_DELIVERY_MAX_ATTEMPTS": "6",
        "DIGICADENCE_DELIVERY_RETRY_BASE_S": "30", "DIGICADENCE_SUBSCRIPTION_TICK_S": "0",
    })
    assert config.mail == MailSettings(smtp_host="smtp.example.com", smtp_port=2525, mail_from="dc@example.com",
                                       smtp_user="u", smtp_password="p", smtp_starttls=True,
                                       public_url="https://dc.example.com", max_attempts=6, retry_base_s=30, tick_s=0)
    security = config.security
    assert (security.bcrypt_rounds, security.lockout_threshold, security.lockout_minutes) == (4, 3, 7)
    assert (config.read_cache_entries, config.read_cache_mb) == (0, 8) and config.keys.jwt == (("a", "x" * 32),)
    assert (config.demo_password, config.demo_totp_secret) == ("pw-lantern-harbour", "JBSWY3DPEHPK3PXP")
    ops = OpsConfig.from_env({"DIGICADENCE_BACKUP_DIR": str(tmp_path / "b"), "DIGICADENCE_BACKUP_KEY": " k ",
                              "REDIS_URL": "redis://h/1"})
    assert (ops.backup_dir, ops.backup_key, ops.redis_url) == (tmp_path / "b", "k", "redis://h/1")


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("DIGICADENCE_BCRYPT_ROUNDS", "3", "between 4 and 31"),
    ("DIGICADENCE_BCRYPT_ROUNDS", "twelve", "whole number"),
    ("DIGICADENCE_LOCKOUT_THRESHOLD", "0", "at least 1"),
    ("DIGICADENCE_READ_CACHE_ENTRIES", "-1", "at least 0"),
    ("DIGICADENCE_READ_CACHE_ENTRIES", "many", "whole number"),
    ("DIGICADENCE_READ_CACHE_MB", "0", "at least 1"),
    ("DIGICADENCE_DEMO_TOTP_SECRET", "not base32!", "base32"),
    ("PORT", "http", "whole number"),
    ("DIGICADENCE_MAX_JSON_DEPTH", "0", "at least 1"),
    ("DIGICADENCE_SMTP_PORT", "70000", "between 1 and 65535"),
    ("DIGICADENCE_DELIVERY_MAX_ATTEMPTS", "0", "between 1 and 20"),
    ("DIGICADENCE_SUBSCRIPTION_TICK_S", "soon", "whole number"),
])
def test_a_bad_value_stops_the_start_and_names_the_variable(tmp_path, name, value, reason):
    env = {"SECRET_KEY": "s" * 32, "DIGICADENCE_INSTANCE_DIR": str(tmp_path), name: value}
    with pytest.raises(ConfigError, match=name) as refused:
        Config.from_env(env)
    assert reason in str(refused.value)


def test_a_secret_file_is_made_once_private_and_whole(tmp_path):
    path = tmp_path / "nested" / "token"
    made = []

    def make() -> str:
        made.append(1)
        return f"secret-{len(made)}\n"

    assert ensure_secret_file(path, make) == "secret-1"
    assert ensure_secret_file(path, make) == "secret-1" and len(made) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["token"], "no temporary file is left behind"


def test_processes_starting_at_once_agree_on_one_secret(tmp_path):
    path = tmp_path / "shared.key"
    barrier = threading.Barrier(8)
    results: list[str] = []

    def make_slowly(n: int) -> str:
        barrier.wait()  # every writer has its temporary file before any links it into place
        return f"writer-{n}"

    threads = [threading.Thread(target=lambda n=n: results.append(ensure_secret_file(path, lambda: make_slowly(n))))
               for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1 and path.read_text() == results[0]


def test_an_empty_secret_file_is_refused_not_used(tmp_path):
    path = tmp_path / "fernet.key"
    path.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        ensure_secret_file(path, lambda: "never")


def test_security_alert_settings_default_to_nobody_and_refuse_a_bad_address():
    assert AlertingSettings.from_env({}) == AlertingSettings((), None, 6)
    given = AlertingSettings.from_env({"DIGICADENCE_SECURITY_CONTACTS": " Ops@Example.com; soc@example.com ,",
                                       "DIGICADENCE_SECURITY_WEBHOOK_URL": "https://hooks.example/x",
                                       "DIGICADENCE_SECURITY_CHAIN_FULL_HOURS": "2"})
    assert given == AlertingSettings(("ops@example.com", "soc@example.com"), "https://hooks.example/x", 2)
    with pytest.raises(ConfigError, match="DIGICADENCE_SECURITY_CONTACTS: 'ops' is not an e-mail address"):
        AlertingSettings.from_env({"DIGICADENCE_SECURITY_CONTACTS": "ops"})
    with pytest.raises(ConfigError, match="DIGICADENCE_SECURITY_WEBHOOK_URL"):
        AlertingSettings.from_env({"DIGICADENCE_SECURITY_WEBHOOK_URL": "hooks.example"})
    with pytest.raises(ConfigError, match="DIGICADENCE_SECURITY_CHAIN_FULL_HOURS"):
        AlertingSettings.from_env({"DIGICADENCE_SECURITY_CHAIN_FULL_HOURS": "0"})
