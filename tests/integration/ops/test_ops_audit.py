"""Backups, restores, masked copies and key rotations leave audit events (issue 12 item 12): who ran
them (the CLI: `by` "cli" and the OS account), the outcome, failures with their reason, each in the
database core/ops/events.py names, and the chain still verifies after every one."""

from __future__ import annotations

import os
import pwd

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from core.db import Database
from core.models import AuditEvent
from core.ops import backup as ops_backup
from core.ops.__main__ import main
from core.ops.backup import RestoreRefused
from core.ops.container import KEY_ENV, new_key
from core.ops.keys import RotationError, rotate_keys
from core.ops.masking import MaskError, mask
from core.security.audit import verify_chain
from core.security.crypto import SecretBox, load_keys

pytestmark = pytest.mark.usefixtures("pg_client_tools")
ME = pwd.getpwuid(os.getuid()).pw_name


def events(url_or_db) -> list[AuditEvent]:
    db = url_or_db if isinstance(url_or_db, Database) else Database(url_or_db)
    try:
        assert verify_chain(db).ok, verify_chain(db)
        with db.session() as s:
            return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    finally:
        if db is not url_or_db:
            db.dispose()


def assert_by_cli(event: AuditEvent, action: str, outcome: str = "ok") -> None:
    assert event.action == action and event.actor_id is None, (event.action, event.data)
    assert event.data["by"] == "cli" and event.data["outcome"] == outcome, event.data
    assert event.personal == {"os_user": ME}


def test_backup_and_restore_are_audited_on_the_right_side(populated, fresh_url, backup_key, tmp_path, monkeypatch,
                                                          capsys):
    db, _ = populated
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert main(["backup", "--database-url", db.url, "--out-dir", str(tmp_path / "a")]) == 2
    failed = events(db)[-1]
    assert_by_cli(failed, "ops.backup_failed", "failed")
    assert KEY_ENV in failed.data["reason"]

    monkeypatch.setenv(KEY_ENV, backup_key)
    assert main(["backup", "--database-url", db.url, "--out-dir", str(tmp_path / "a")]) == 0
    [path] = list((tmp_path / "a").iterdir())
    header = ops_backup.read_header(path)
    made = events(db)[-1]
    assert_by_cli(made, "ops.backup_made")
    assert made.data["file"] == path.name and made.data["key_id"] == header["key_id"]
    assert made.data["audit_head"] == header["manifest"]["audit_head"]
    assert made.prev_hash == header["manifest"]["audit_head"]["hash"], "appended right after the snapshot"

    target = fresh_url()
    report = ops_backup.restore(path, target, backup_key)
    restored = events(target)
    assert_by_cli(restored[-1], "ops.restored")
    assert restored[-1].data["file"] == path.name and restored[-1].prev_hash == made.prev_hash
    assert [e.hash for e in restored[:-1]] == [e.hash for e in events(db)[:-1]], "the backed-up trail, then the event"
    assert report.audit_events == len(restored)
    with pytest.raises(RestoreRefused):  # refused: the (non-empty) target gets nothing
        ops_backup.restore(path, target, backup_key)
    assert len(events(target)) == len(restored)

    other = new_key()  # the backup key was rotated: the next backup says so
    second = ops_backup.backup(db.url, tmp_path / "b", other)
    changed, made_again = events(db)[-2:]
    assert_by_cli(changed, "ops.backup_key_changed")
    assert changed.data["previous_key_id"] == header["key_id"]
    assert changed.data["key_id"] == ops_backup.read_header(second)["key_id"] != header["key_id"]
    assert_by_cli(made_again, "ops.backup_made")


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # no dialect-specific step here; the writer is tested on both
def test_a_masked_copy_and_key_rotations_are_audited_in_the_source(populated, fresh_url, tmp_path):
    db, _ = populated
    target = fresh_url()
    report = mask(db.url, target, seed=1)
    made = events(db)[-1]
    assert_by_cli(made, "ops.masked_copy_made")
    assert made.data["rows"] == sum(report.rows.values()) and made.data["audit_events"] == report.audit_events
    assert made.data["copy_to"].split("/")[-1] == target.split("/")[-1]
    with pytest.raises(RestoreRefused):
        mask(db.url, target, seed=1)
    failed = events(db)[-1]
    assert_by_cli(failed, "ops.masked_copy_failed", "failed")
    assert "not empty" in failed.data["reason"]
    with pytest.raises(MaskError):
        mask(db.url, fresh_url(), sigma=5)  # bad input changes nothing, audit included
    assert events(db)[-1].id == failed.id

    old = load_keys((), tmp_path)[0]
    rotation = rotate_keys(db, SecretBox([Fernet.generate_key(), old]))
    rotated = events(db)[-1]
    assert_by_cli(rotated, "ops.keys_rotated")
    assert rotated.data["mfa_secrets"] == rotation.mfa_secrets > 0
    with pytest.raises(RotationError):
        rotate_keys(db, SecretBox([Fernet.generate_key()]))
    failed = events(db)[-1]
    assert_by_cli(failed, "ops.keys_rotation_failed", "failed")
    assert "cannot be decrypted" in failed.data["reason"] and failed.data["mfa_secrets"] == 0
