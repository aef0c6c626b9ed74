"""`python -m core.ops`: each command as an operator types it, with its messages and exit codes."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from core.ops.__main__ import main
from core.ops.container import KEY_ENV
from core.security.crypto import KEYS_ENV, load_keys

pytestmark = pytest.mark.usefixtures("pg_client_tools")


def test_backup_restore_prune_through_the_cli(populated, fresh_url, backup_key, tmp_path, monkeypatch, capsys):
    db, _ = populated
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert main(["backup", "--database-url", db.url, "--out-dir", str(tmp_path / "b")]) == 2
    assert KEY_ENV in capsys.readouterr().err
    monkeypatch.setenv(KEY_ENV, backup_key)
    assert main(["backup", "--database-url", db.url, "--out-dir", str(tmp_path / "b")]) == 0
    assert "backup written" in capsys.readouterr().out
    [path] = list((tmp_path / "b").iterdir())
    target = fresh_url()
    assert main(["restore", str(path), "--database-url", target]) == 0
    assert "restored and verified" in capsys.readouterr().out
    assert main(["restore", str(path), "--database-url", target]) == 2
    assert "not empty" in capsys.readouterr().err
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF
    path.write_bytes(bytes(data))
    assert main(["restore", str(path), "--database-url", fresh_url()]) == 1
    assert "REFUSED, nothing was restored" in capsys.readouterr().err
    assert main(["prune-backups", "--dir", str(tmp_path / "b"), "--daily", "1", "--weekly", "0", "--dry-run"]) == 0
    assert "kept 1 backups" in capsys.readouterr().out


def test_retention_mask_and_rotate_through_the_cli(populated, fresh_url, tmp_path, monkeypatch, capsys):
    db, _ = populated
    assert main(["retention", "--database-url", db.url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and ("would delete" in out or "nothing is older" in out)
    assert main(["retention-policy", "1", "--database-url", db.url, "--sessions-days", "2"]) == 2
    assert "at least 7" in capsys.readouterr().err
    assert main(["retention-policy", "1", "--database-url", db.url, "--sessions-days", "14"]) == 0
    assert json.loads(capsys.readouterr().out)["sessions_days"] == 14
    assert main(["retention", "--database-url", db.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dry_run"] is False

    assert main(["mask", "--source-url", db.url, "--target-url", fresh_url(), "--seed", "3"]) == 0
    assert "masked copy written" in capsys.readouterr().out

    old = load_keys((), tmp_path)[0].decode()
    monkeypatch.setenv(KEYS_ENV, f"{Fernet.generate_key().decode()},{old}")
    assert main(["rotate-keys", "--database-url", db.url, "--redis-url", ""]) == 0
    assert '"mfa_secrets": 2' in capsys.readouterr().out
    monkeypatch.setenv(KEYS_ENV, Fernet.generate_key().decode())  # a key that opens nothing stored
    assert main(["rotate-keys", "--database-url", db.url, "--redis-url", ""]) == 2
    assert "cannot be decrypted" in capsys.readouterr().err
