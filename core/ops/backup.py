"""Encrypted backups, verified restores and the daily/weekly pruning of backup files.

PostgreSQL: `pg_dump --format=custom` runs inside the snapshot the manifest was computed in
(`pg_export_snapshot`), so the counts and checksums describe exactly what was dumped. SQLite: the
online backup API copies the live file into a private temporary snapshot, which is measured and
then streamed. Either way the bytes go through `container` (AES-256-GCM, chunked), never whole in
memory and never unencrypted into the backup directory.

A restore checks that the target is empty, then decrypts and authenticates the WHOLE file into a
private temporary file before it writes anything, restores it (one transaction on PostgreSQL),
and verifies the result against the manifest and the audit chain.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import URL, make_url

from core.config import child_process_env, normalize_database_url
from core.db import Database
from core.models.security import AuditEvent
from core.ops import container, events, manifest
from core.ops.container import BackupError
from core.security.audit import Action

SUFFIX = ".dcbk"
_NAME = re.compile(r"^dc-backup-(\d{8}T\d{6}Z)" + re.escape(SUFFIX) + "$")
_STAMP = "%Y%m%dT%H%M%SZ"
_READ = 1 << 20


class RestoreRefused(BackupError):
    """The target is not empty or does not match the backup; nothing was written."""


class RestoreVerificationFailed(BackupError):
    """Data was restored but does not match the manifest or the audit chain is broken."""


@dataclass(frozen=True)
class RestoreReport:
    tables: int
    rows: int
    audit_events: int


def backup_name(moment: datetime) -> str:
    return f"dc-backup-{moment.astimezone(UTC).strftime(_STAMP)}{SUFFIX}"


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, which goes through PGPASSWORD instead (not argv)."""
    env = child_process_env({"PGPASSWORD": str(url.password)} if url.password else {})
    plain = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


def _file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while piece := handle.read(_READ):
        yield piece


def backup(database_url: str, out_dir: Path, key: str | None, *,
           now: datetime | None = None, work_dir: Path | None = None, by: str = events.CLI) -> Path:
    """Write one encrypted backup of the database into `out_dir`; returns its path.

    `key`: the value of DIGICADENCE_BACKUP_KEY (`OpsConfig.backup_key`); refused when missing or malformed.

    Audited in the database backed up, after the snapshot (so the file does not hold its own event):
    `ops.backup_made` (file, size, counts, the audit head it holds, the key id), preceded by
    `ops.backup_key_changed` when the key differs from the previous backup's; `ops.backup_failed`
    with the reason when it fails and the database can still take the event.
    """
    try:
        path = _backup(database_url, out_dir, key, now=now, work_dir=work_dir)
    except Exception as exc:
        events.record_failure(normalize_database_url(database_url), Action.BACKUP_FAILED, exc, by=by,
                              out_dir=str(out_dir))
        raise
    header = read_header(path)
    tables = header["manifest"]["tables"]
    db = Database(normalize_database_url(database_url))
    try:
        with db.session() as s:
            previous = s.scalar(select(AuditEvent.data).where(AuditEvent.action == Action.BACKUP_MADE)
                                .order_by(AuditEvent.id.desc()).limit(1))
        if previous and previous.get("key_id") not in (None, header.get("key_id")):
            events.record_op(db, Action.BACKUP_KEY_CHANGED, by=by, previous_key_id=previous["key_id"],
                             key_id=header.get("key_id"))
        events.record_op(db, Action.BACKUP_MADE, by=by, file=path.name, bytes=path.stat().st_size,
                         tables=len(tables), rows=sum(t["rows"] for t in tables.values()),
                         audit_head=header["manifest"]["audit_head"], key_id=header.get("key_id"))
    finally:
        db.dispose()
    return path


def _backup(database_url: str, out_dir: Path, key: str | None, *,
            now: datetime | None, work_dir: Path | None) -> Path:
    master = container.master_key(key)
    url = make_url(normalize_database_url(database_url))
    created = (now or datetime.now(UTC)).astimezone(UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / backup_name(created)
    if final.exists():
        raise BackupError(f"{final} already exists")
    partial = final.with_name(final.name + ".partial")
    header = {"dialect": url.get_backend_name(), "created_at": created.isoformat(), "app": "digicadence"}
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            if url.get_backend_name() == "postgresql":
                _backup_postgresql(url, out, master, header)
            elif url.get_backend_name() == "sqlite":
                _backup_sqlite(url, out, master, header, work_dir)
            else:
                raise BackupError(f"backups of {url.get_backend_name()} are not supported")
            out.flush()
            os.fsync(out.fileno())
        partial.rename(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def _backup_postgresql(url: URL, out: IO[bytes], key: bytes, header: dict[str, Any]) -> None:
    if shutil.which("pg_dump") is None:
        raise BackupError("pg_dump is not on PATH: install the PostgreSQL client matching the server's version")
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            header["manifest"] = manifest.compute(conn)
            header["server_version"] = conn.execute(text("SHOW server_version")).scalar_one()
            target, env = _libpq(url)
            with tempfile.TemporaryFile() as errors:
                proc = subprocess.Popen(
                    ["pg_dump", "--format=custom", "--no-owner", "--no-acl", f"--snapshot={snapshot}",
                     "--dbname", target], stdout=subprocess.PIPE, stderr=errors, env=env)
                try:
                    container.write(out, key, header, _file_chunks(proc.stdout))
                finally:
                    proc.stdout.close()
                    code = proc.wait()
                if code != 0:
                    errors.seek(0)
                    raise BackupError(f"pg_dump failed ({code}): {errors.read().decode(errors='replace').strip()}")
    finally:
        engine.dispose()


def _backup_sqlite(url: URL, out: IO[bytes], key: bytes, header: dict[str, Any], work_dir: Path | None) -> None:
    source_path = _sqlite_path(url)
    if not source_path.exists():
        raise BackupError(f"no SQLite database at {source_path}")
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="dc-backup-") as tmp:
        snapshot_path = Path(tmp) / "snapshot.db"
        source = sqlite3.connect(source_path)
        snapshot = sqlite3.connect(snapshot_path)
        try:
            source.backup(snapshot)  # the online backup API: consistent while the app keeps writing
            snapshot.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            snapshot.close()
            source.close()
        engine = create_engine(f"sqlite:///{snapshot_path}")
        try:
            with engine.connect() as conn:
                header["manifest"] = manifest.compute(conn)
        finally:
            engine.dispose()
        with snapshot_path.open("rb") as handle:
            container.write(out, key, header, _file_chunks(handle))


def read_header(path: Path) -> dict[str, Any]:
    """The header of a backup file, read WITHOUT authenticating it (for listing; restore authenticates)."""
    with path.open("rb") as handle:
        return container.read_header(handle)[0]


def target_contents(url: URL) -> list[str]:
    """Names of what already lives in the target (empty list: safe to restore)."""
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if not path.exists() or path.stat().st_size == 0:
            return []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if url.get_backend_name() == "postgresql":
                return list(conn.execute(text(
                    "SELECT n.nspname || '.' || c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
                    "AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1 LIMIT 5")).scalars())
            return list(conn.execute(text("SELECT name FROM sqlite_master ORDER BY name LIMIT 5")).scalars())
    finally:
        engine.dispose()


def restore(path: Path, database_url: str, key: str | None, *,
            work_dir: Path | None = None, by: str = events.CLI) -> RestoreReport:
    """Restore `path` into the empty database at `database_url`, verify it, then audit it there.

    `key`: the value of DIGICADENCE_BACKUP_KEY the backup was made with.

    `ops.restored` lands in the RESTORED database after verification: that is the database in use
    from now on, and the one the backup came from may be gone. A refused or failed restore writes
    no event anywhere: the target is then untouched (refusals promise that) or to be thrown away.
    """
    master = container.master_key(key)
    url = make_url(normalize_database_url(database_url))
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    header = read_header(path)
    if header.get("dialect") != url.get_backend_name():
        raise RestoreRefused(f"this is a {header.get('dialect')} backup; the target is {url.get_backend_name()}")
    try:
        present = target_contents(url)
    except Exception as exc:  # a missing database, refused connection, …
        raise RestoreRefused(f"cannot open the target database: {exc.__class__.__name__}: {exc}") from exc
    if present:
        raise RestoreRefused(f"the target database is not empty (it holds {', '.join(present)}, …); "
                             f"restore only into a newly created, empty database")
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="dc-restore-") as tmp:
        plain_path = Path(tmp) / "payload"
        # Authenticate everything before writing anything to the target.
        with path.open("rb") as source, plain_path.open("wb") as plain:
            header, chunks = container.decrypt(source, master)
            for piece in chunks:
                plain.write(piece)
        if url.get_backend_name() == "postgresql":
            _restore_postgresql(url, plain_path)
        else:
            _restore_sqlite(url, plain_path)
    report = verify_restored(url, header["manifest"])
    return _record_restore(url, path, header, report, by)


def _record_restore(url: URL, path: Path, header: dict[str, Any], report: RestoreReport, by: str) -> RestoreReport:
    """`ops.restored` appended to the restored database (it links to the backed-up audit head), then
    the chain verified again; the report counts that event too."""
    from core.security.audit import verify_chain

    if header["manifest"].get("audit_head") is None:
        return report  # no audit_events table: not an application database, no trail to write to
    db = Database(url.render_as_string(hide_password=False))
    try:
        events.record_op(db, Action.RESTORED, by=by, file=path.name, backup_created_at=header.get("created_at"),
                         key_id=header.get("key_id"), tables=report.tables, rows=report.rows,
                         audit_head=header["manifest"].get("audit_head"))
        chain = verify_chain(db)
    finally:
        db.dispose()
    if not chain.ok:
        raise RestoreVerificationFailed(f"audit chain broken at event {chain.broken_id}: {chain.reason}")
    return RestoreReport(tables=report.tables, rows=report.rows, audit_events=chain.checked)


def _restore_postgresql(url: URL, payload: Path) -> None:
    if shutil.which("pg_restore") is None:
        raise BackupError("pg_restore is not on PATH: install the PostgreSQL client matching the server's version")
    target, env = _libpq(url)
    done = subprocess.run(["pg_restore", "--exit-on-error", "--single-transaction", "--no-owner", "--no-acl",
                           "--dbname", target, str(payload)], capture_output=True, env=env, check=False)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed, the target was rolled back: "
                          f"{done.stderr.decode(errors='replace').strip()}")


def _restore_sqlite(url: URL, payload: Path) -> None:
    target_path = _sqlite_path(url)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(payload)
    target = sqlite3.connect(target_path)
    try:
        source.execute("PRAGMA quick_check").fetchone()
        source.backup(target)
    finally:
        target.close()
        source.close()


def verify_restored(url: URL, expected: dict[str, Any]) -> RestoreReport:
    """Counts and checksums equal to the manifest, and the audit chain intact; raises otherwise."""
    from core.security.audit import verify_chain

    engine = create_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            actual = manifest.compute(conn)
    finally:
        engine.dispose()
    problems = manifest.differences(expected, actual)
    chain = None
    if "audit_events" in actual["tables"]:
        db = Database(url.render_as_string(hide_password=False))
        try:
            chain = verify_chain(db)
        finally:
            db.dispose()
        if not chain.ok:
            problems.append(f"audit chain broken at event {chain.broken_id}: {chain.reason}")
    if problems:
        raise RestoreVerificationFailed("the restored database does not match its backup: " + "; ".join(problems))
    tables = actual["tables"]
    return RestoreReport(tables=len(tables), rows=sum(t["rows"] for t in tables.values()),
                         audit_events=chain.checked if chain else 0)


def backup_date(path: Path) -> datetime | None:
    """When a backup was made, from its file name (files not named by `backup` are never pruned)."""
    match = _NAME.match(path.name)
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC) if match else None


def plan_prune(directory: Path, daily: int, weekly: int) -> tuple[list[Path], list[Path]]:
    """(keep, delete): the newest backup of each of the `daily` most recent days that have one, and of
    each of the `weekly` most recent ISO weeks that have one; everything else named by `backup` goes."""
    if daily < 0 or weekly < 0 or daily + weekly < 1:
        raise ValueError("keep at least one backup: --daily and --weekly must be ≥ 0 and not both 0")
    dated = sorted(((backup_date(p), p) for p in directory.glob(f"dc-backup-*{SUFFIX}") if backup_date(p)),
                   reverse=True)
    keep: set[Path] = set()
    for bucket, count in ((lambda d: d.date(), daily), (lambda d: tuple(d.isocalendar())[:2], weekly)):
        seen: list[date | tuple] = []
        for moment, path in dated:  # newest first, so the first of each bucket is its newest
            slot = bucket(moment)
            if slot in seen:
                continue
            if len(seen) == count:
                break
            seen.append(slot)
            keep.add(path)
    kept = [p for _, p in dated if p in keep]
    return kept, [p for _, p in dated if p not in keep]


def prune(directory: Path, daily: int, weekly: int, *, dry_run: bool = False) -> tuple[list[Path], list[Path]]:
    keep, delete = plan_prune(directory, daily, weekly)
    if not dry_run:
        for path in delete:
            path.unlink()
    return keep, delete
