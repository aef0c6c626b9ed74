"""Encryption at rest for small secrets (TOTP seeds) with rotatable Fernet keys.

Keys come from DIGICADENCE_FERNET_KEYS (comma-separated; the first encrypts, all decrypt), so a
key is rotated by putting the new one first, re-encrypting (`SecretBox.rotate`), then dropping
the old one. Without the variable the embedded default keeps one key in `instance/fernet.key`,
created with mode 0600.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.config import INSTANCE_DIR

KEYS_ENV = "DIGICADENCE_FERNET_KEYS"
KEY_FILE = "fernet.key"

__all__ = ["KEYS_ENV", "InvalidToken", "SecretBox", "load_keys"]


def load_keys(env: Mapping[str, str] | None = None, instance_dir: Path | None = None) -> list[bytes]:
    """The configured keys, current first; creates the instance key file when none are set."""
    env = os.environ if env is None else env
    raw = env.get(KEYS_ENV, "").strip()
    if raw:
        return [k.strip().encode("ascii") for k in raw.split(",") if k.strip()]
    directory = Path(instance_dir or env.get("DIGICADENCE_INSTANCE_DIR") or INSTANCE_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / KEY_FILE
    try:
        # O_EXCL: two processes starting at once cannot both write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return [path.read_bytes().strip()]
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    return [path.read_bytes().strip()]


class SecretBox:
    """Encrypts and decrypts text with a MultiFernet; the first key is the current one."""

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is needed")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, instance_dir: Path | None = None) -> SecretBox:
        return cls(load_keys(env, instance_dir))

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain text; raises `InvalidToken` when no configured key opens it."""
        return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")

    def rotate(self, token: str) -> str:
        """The same secret re-encrypted under the current key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")
