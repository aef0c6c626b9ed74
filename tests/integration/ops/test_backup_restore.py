"""Backup → restore into a fresh database gives the same rows; tampering, a wrong key or a
non-empty target are refused before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.db import Database
from core.ops import backup as ops_backup
from core.ops import container, manifest
from core.ops.backup import RestoreRefused, RestoreVerificationFailed
from core.ops.container import KEY_ENV, BackupKeyMissing, BackupTampered, new_key
from core.security.audit import verify_chain

pytestmark = pytest.mark.usefixtures("pg_client_tools")


def _manifest(url: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            return manifest.compute(conn)
    finally:
        engine.dispose()


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return manifest.table_names(conn)
    finally:
        engine.dispose()


def test_backup_then_restore_gives_identical_counts_checksums_and_a_valid_chain(populated, fresh_url, backup_key,
                                                                                  tmp_path):
    db, _ = populated
    source = _manifest(db.url)  # before: the backup's own audit event is appended after its snapshot
    path = ops_backup.backup(db.url, tmp_path / "backups", backup_key)
    assert path.name.startswith("dc-backup-") and path.stat().st_mode & 0o777 == 0o600
    header = ops_backup.read_header(path)
    assert header["dialect"] == db.dialect and header["format"] == container.FORMAT_VERSION
    assert header["manifest"] == source
    assert source["tables"]["metric_values"]["rows"] > 100 and source["audit_head"]["hash"]
    raw = path.read_bytes()
    assert b"PGDMP" not in raw and b"SQLite format 3" not in raw  # the dump itself is only ciphertext
    target = fresh_url()
    report = ops_backup.restore(path, target, backup_key)
    assert report.rows == sum(t["rows"] for t in source["tables"].values()) and report.audit_events >= 3
    restored = _manifest(target)  # the backup's data, then one more audit event: `ops.restored`
    assert restored["tables"].pop("audit_events")["rows"] == source["tables"].pop("audit_events")["rows"] + 1
    assert restored["tables"] == source["tables"] and restored["audit_head"]["id"] == source["audit_head"]["id"] + 1
    restored = Database(target)
    try:
        assert verify_chain(restored).ok
    finally:
        restored.dispose()


def test_restore_verification_fails_loudly_on_a_broken_chain_or_a_mismatch(populated, fresh_url, backup_key,
                                                                          tmp_path):
    db, _ = populated
    with db.engine.begin() as conn:  # an audit trail broken before the backup (superuser, trigger off)
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        conn.execute(text("UPDATE audit_events SET action = 'test.rewritten' WHERE id = (SELECT min(id) "
                          "FROM audit_events)"))
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    path = ops_backup.backup(db.url, tmp_path / "b", backup_key)
    target = fresh_url()
    with pytest.raises(RestoreVerificationFailed, match="audit chain broken"):
        ops_backup.restore(path, target, backup_key)
    expected = ops_backup.read_header(path)["manifest"]
    engine = create_engine(target)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM brands WHERE id = (SELECT max(id) FROM brands)"))
    engine.dispose()
    with pytest.raises(RestoreVerificationFailed, match="table brands"):
        ops_backup.verify_restored(make_url(target), expected)


def test_checksums_see_a_changed_value(populated, fresh_url, backup_key, tmp_path):
    db, _ = populated
    before = _manifest(db.url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE metric_values SET raw_value = raw_value + 1 WHERE brand_id = "
                          "(SELECT min(brand_id) FROM metric_values)"))
    after = _manifest(db.url)
    assert after["tables"]["metric_values"]["rows"] == before["tables"]["metric_values"]["rows"]
    assert manifest.differences(before, after) == [  # and the data token, which every such write changes
        f"table data_versions: expected {before['tables']['data_versions']}, found {after['tables']['data_versions']}",
        f"table metric_values: expected {before['tables']['metric_values']}, found {after['tables']['metric_values']}"]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["header", "payload", "truncated"])
def test_a_tampered_backup_is_refused_and_nothing_is_written(populated, fresh_url, backup_key, tmp_path, where):
    db, _ = populated
    path = ops_backup.backup(db.url, tmp_path / "b", backup_key)
    size = path.stat().st_size
    if where == "header":  # a checksum in the manifest: readable without the key, but authenticated
        data = path.read_bytes()
        at = data.index(b'"brands":{"checksum":"') + len(b'"brands":{"checksum":"')
        path.write_bytes(data[:at] + (b"0" if data[at:at + 1] != b"0" else b"1") + data[at + 1:])
    elif where == "payload":
        _flip(path, size - 100)
    else:
        path.write_bytes(path.read_bytes()[: size - 50])
    target = fresh_url()
    with pytest.raises(BackupTampered):
        ops_backup.restore(path, target, backup_key)
    assert _tables(target) == []


def test_a_wrong_key_or_no_key_is_refused(populated, fresh_url, backup_key, tmp_path):
    db, _ = populated
    path = ops_backup.backup(db.url, tmp_path / "b", backup_key)
    target = fresh_url()
    with pytest.raises(BackupTampered, match="another key"):
        ops_backup.restore(path, target, new_key())
    with pytest.raises(BackupKeyMissing, match=KEY_ENV):
        ops_backup.restore(path, target, None)
    with pytest.raises(BackupKeyMissing, match=KEY_ENV):
        ops_backup.backup(db.url, tmp_path / "b2", None)
    assert _tables(target) == [] and not (tmp_path / "b2").exists()


def test_a_non_empty_target_is_refused(populated, fresh_url, backup_key, tmp_path):
    db, _ = populated
    path = ops_backup.backup(db.url, tmp_path / "b", backup_key)
    target = fresh_url()
    engine = create_engine(target)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE keepme (id integer)"))
        conn.execute(text("INSERT INTO keepme VALUES (1)"))
    engine.dispose()
    with pytest.raises(RestoreRefused, match="not empty"):
        ops_backup.restore(path, target, backup_key)
    assert _tables(target) == ["keepme"]
    with pytest.raises(RestoreRefused, match="not empty"):
        ops_backup.restore(path, db.url, backup_key)


def test_prune_keeps_the_newest_per_day_and_per_week(tmp_path):
    start = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # a Sunday
    for day in range(21):
        for hour in (1, 13):
            moment = start - timedelta(days=day) - timedelta(hours=23 - hour)
            (tmp_path / ops_backup.backup_name(moment)).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a backup")
    keep, delete = ops_backup.prune(tmp_path, daily=3, weekly=2)
    kept = sorted(p.name for p in keep)
    assert kept == sorted([
        "dc-backup-20261129T130000Z.dcbk", "dc-backup-20261128T130000Z.dcbk", "dc-backup-20261127T130000Z.dcbk",
        # newest of ISO week 48 (Sun 29th, already kept) and of week 47 (Sun 22nd)
        "dc-backup-20261122T130000Z.dcbk",
    ])
    assert len(delete) == 42 - 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "notes.txt"])
    with pytest.raises(ValueError):
        ops_backup.plan_prune(tmp_path, 0, 0)
