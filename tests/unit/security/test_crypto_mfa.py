"""Fernet key handling and rotation; TOTP time-steps and replay without a database."""

from __future__ import annotations

import stat

import pyotp
import pytest
from cryptography.fernet import Fernet

from core.config import ConfigError, Keys
from core.security.crypto import KEYS_ENV, InvalidToken, SecretBox, load_keys
from core.security.mfa import STEP_SECONDS, matching_timestep


def test_key_file_is_created_once_with_mode_0600(tmp_path):
    first = load_keys((), tmp_path)
    path = tmp_path / "fernet.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keys((), tmp_path) == first
    Fernet(first[0])  # a valid key


def test_keys_from_the_environment_come_first(tmp_path):
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys = Keys.from_env({KEYS_ENV: f"{a}, {b}"})
    assert load_keys(keys.fernet, tmp_path) == [a.encode(), b.encode()]
    assert not (tmp_path / "fernet.key").exists()


@pytest.mark.parametrize("raw", ["not-a-key", Fernet.generate_key().decode()[:-4],
                                 f"{Fernet.generate_key().decode()},x"])
def test_a_malformed_key_is_refused_when_the_config_is_read(raw):
    with pytest.raises(ConfigError, match=KEYS_ENV):
        Keys.from_env({KEYS_ENV: raw})


def test_rotation_keeps_decrypting_and_moves_to_the_new_key():
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = SecretBox([old]).encrypt("JBSWY3DPEHPK3PXP")
    rotated_box = SecretBox([new, old])
    assert rotated_box.decrypt(token) == "JBSWY3DPEHPK3PXP"
    rotated = rotated_box.rotate(token)
    assert SecretBox([new]).decrypt(rotated) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidToken):
        SecretBox([new]).decrypt(token)


def test_a_code_is_accepted_for_its_step_once_and_never_for_an_earlier_step():
    secret = pyotp.random_base32()
    now = 1_800_000_000.0
    code = pyotp.TOTP(secret).at(now)
    step = int(now // STEP_SECONDS)
    assert matching_timestep(secret, code, None, now) == step
    assert matching_timestep(secret, code, step, now) is None  # replay
    previous = pyotp.TOTP(secret).at(now - STEP_SECONDS)
    assert matching_timestep(secret, previous, None, now) == step - 1  # drift window
    assert matching_timestep(secret, previous, step, now) is None  # older than the last used step
    assert matching_timestep(secret, pyotp.TOTP(secret).at(now - 3 * STEP_SECONDS), None, now) is None
    assert matching_timestep(secret, "12345", None, now) is None
    assert matching_timestep(secret, "abcdef", None, now) is None
