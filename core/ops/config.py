"""What the operator commands (`python -m core.ops`) read from the environment, through core.config's reader
(the one place that reads the environment); they run without SECRET_KEY."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.config import INSTANCE_DIR, Keys, _environment, _instance_dir, database_url_from_env

BACKUP_KEY_ENV = "DIGICADENCE_BACKUP_KEY"


@dataclass(frozen=True)
class OpsConfig:
    """What the operator commands (`python -m core.ops`) read; they run without SECRET_KEY.

    The backup key is kept as given and checked where a backup is written or read
    (core.ops.container.master_key), so commands that need no key run without one.
    """

    database_url: str
    instance_dir: Path = INSTANCE_DIR
    redis_url: str | None = None
    backup_key: str | None = None  # DIGICADENCE_BACKUP_KEY: base64 of 32 random bytes
    backup_dir: Path = INSTANCE_DIR / "backups"  # DIGICADENCE_BACKUP_DIR
    keys: Keys = field(default_factory=Keys)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpsConfig:
        env = _environment(env)
        instance_dir = _instance_dir(env)
        return cls(
            database_url=database_url_from_env(env),
            instance_dir=instance_dir,
            redis_url=env.get("REDIS_URL") or None,
            backup_key=(env.get(BACKUP_KEY_ENV) or "").strip() or None,
            backup_dir=Path(env.get("DIGICADENCE_BACKUP_DIR") or instance_dir / "backups"),
            keys=Keys.from_env(env),
        )
