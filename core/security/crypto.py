"""Encryption at rest for small secrets (TOTP seeds) with rotatable Fernet keys.

Keys come from DIGICADENCE_FERNET_KEYS (comma-separated; the first encrypts, all decrypt; read and
checked by core.config), so a key is rotated by putting the new one first, re-encrypting
(`SecretBox.rotate`), then dropping the old one. Without the variable the embedded default keeps
one key in `instance/fernet.key`, created with mode 0600.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.config import FERNET_KEYS_ENV as KEYS_ENV
from core.config import Config, ensure_secret_file

KEY_FILE = "fernet.key"

__all__ = ["KEYS_ENV", "InvalidToken", "SecretBox", "load_keys"]


def load_keys(configured: Sequence[str], instance_dir: Path) -> list[bytes]:
    """The configured keys (`Keys.fernet`), current first; else the instance key, made on first use."""
    if configured:
        return [k.encode("ascii") for k in configured]
    return [ensure_secret_file(instance_dir / KEY_FILE, lambda: Fernet.generate_key().decode("ascii")).encode("ascii")]


class SecretBox:
    """Encrypts and decrypts text with a MultiFernet; the first key is the current one."""

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is needed")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_config(cls, config: Config) -> SecretBox:
        """The app's box: its configured keys, else its instance key."""
        return cls(load_keys(config.keys.fernet, config.instance_dir))

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain text; raises `InvalidToken` when no configured key opens it."""
        return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")

    def rotate(self, token: str) -> str:
        """The same secret re-encrypted under the current key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")
