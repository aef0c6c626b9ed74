"""Operator commands: `python -m core.ops <command>` (docs/OPERATIONS.md has examples).

  backup          write an encrypted backup (needs DIGICADENCE_BACKUP_KEY)
  restore         restore a backup into an empty database and verify it
  prune-backups   keep the newest backup of N days and M weeks, delete the rest
  retention       enforce (or --dry-run: report) every organization's retention policy
  retention-policy  show or set one organization's policy
  mask            make an anonymized copy for non-production use
  rotate-keys     re-encrypt TOTP secrets and sessions under the first DIGICADENCE_FERNET_KEYS key
  new-backup-key  print a fresh backup key

Exit status: 0 done, 1 a check failed (tampered backup, verification mismatch), 2 refused or bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from core.config import ConfigError, normalize_database_url
from core.db import Database
from core.ops import backup as backups
from core.ops import container, keys, masking, retention
from core.ops.backup import RestoreRefused, RestoreVerificationFailed
from core.ops.config import OpsConfig
from core.ops.container import BackupError, BackupKeyMissing, BackupTampered
from core.security.crypto import KEYS_ENV, SecretBox, load_keys


def _parser(config: OpsConfig) -> argparse.ArgumentParser:
    """The commands; defaults (backup folder, Redis) come from `config`."""
    parser = argparse.ArgumentParser(prog="python -m core.ops", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    sub = parser.add_subparsers(dest="command", required=True)
    url_help = "default: $DATABASE_URL or the embedded SQLite file"
    default_dir = str(config.backup_dir)

    p = sub.add_parser("backup", help="write an encrypted backup")
    p.add_argument("--database-url", help=url_help)
    p.add_argument("--out-dir", default=default_dir, help="default: $DIGICADENCE_BACKUP_DIR or instance/backups")
    p.add_argument("--work-dir", help="where the SQLite snapshot is staged (default: the system temp dir)")

    p = sub.add_parser("restore", help="restore a backup into an EMPTY database, then verify it")
    p.add_argument("file", type=Path)
    p.add_argument("--database-url", required=True, help="the empty target database")
    p.add_argument("--work-dir", help="where the decrypted payload is staged before restoring")

    p = sub.add_parser("prune-backups", help="keep N daily and M weekly backups")
    p.add_argument("--dir", default=default_dir)
    p.add_argument("--daily", type=int, required=True)
    p.add_argument("--weekly", type=int, required=True)
    p.add_argument("--dry-run", action="store_true")

    p = sub.add_parser("retention", help="enforce every organization's retention policy")
    p.add_argument("--database-url", help=url_help)
    p.add_argument("--dry-run", action="store_true", help="report what would go, change nothing")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("retention-policy", help="show or set an organization's retention policy")
    p.add_argument("organization_id", type=int)
    p.add_argument("--database-url", help=url_help)
    for column in retention.RETENTION_DEFAULTS:
        p.add_argument("--" + column.replace("_", "-"), dest=column, help=f"days (at least "
                       f"{retention.RETENTION_MINIMUMS[column]}, default {retention.RETENTION_DEFAULTS[column]})")

    p = sub.add_parser("mask", help="make an anonymized copy for non-production use")
    p.add_argument("--source-url", required=True)
    p.add_argument("--target-url", required=True, help="an empty database")
    p.add_argument("--noise", type=float, default=0.08, help="σ of the log-normal value noise (default 0.08)")
    p.add_argument("--seed", type=int, default=None, help="fix the noise (default: fresh randomness)")

    p = sub.add_parser("rotate-keys", help=f"re-encrypt secrets under the first key of {KEYS_ENV}")
    p.add_argument("--database-url", help=url_help)
    p.add_argument("--redis-url", default=config.redis_url, help="default: $REDIS_URL (sessions there)")

    sub.add_parser("new-backup-key", help="print a fresh base64 key for DIGICADENCE_BACKUP_KEY")
    return parser


def main(argv: Sequence[str] | None = None, config: OpsConfig | None = None) -> int:
    """Run one command; `config` defaults to the environment's (`OpsConfig.from_env`)."""
    try:
        config = config or OpsConfig.from_env()
    except ConfigError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    args = _parser(config).parse_args(argv)
    try:
        return _run(args, config)
    except BackupKeyMissing as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except BackupTampered as exc:
        print(f"REFUSED, nothing was restored: {exc}", file=sys.stderr)
        return 1
    except RestoreVerificationFailed as exc:
        print(f"VERIFICATION FAILED: {exc}", file=sys.stderr)
        return 1
    except (RestoreRefused, BackupError, masking.MaskError, retention.PolicyRejected, keys.RotationError,
            ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2


def _db_url(value: str | None, config: OpsConfig) -> str:
    return normalize_database_url(value) if value else config.database_url


def _retention_policy(args: argparse.Namespace, config: OpsConfig) -> int:
    """Set an organization's retention periods, or print them when none is given."""
    db = Database(_db_url(args.database_url, config))
    try:
        values = {c: getattr(args, c) for c in retention.RETENTION_DEFAULTS if getattr(args, c) is not None}
        if values:
            policy = retention.set_policy(db, args.organization_id, **values)
        else:
            with db.session() as s:
                policy = retention.policies(s).get(args.organization_id)
            if policy is None:
                raise ValueError(f"no organization {args.organization_id}")
    finally:
        db.dispose()
    print(json.dumps({"organization_id": args.organization_id, **policy}))
    return 0


def _rotate_keys(args: argparse.Namespace, config: OpsConfig) -> int:
    """Re-encrypt every stored secret under the first key of the key list."""
    current = load_keys(config.keys.fernet, config.instance_dir)
    if len(current) == 1:
        print(f"note: {KEYS_ENV} holds one key; values are re-encrypted under it. To rotate, put a new key "
              f"first and keep the old one after it.", file=sys.stderr)
    db = Database(_db_url(args.database_url, config))
    try:
        report = keys.rotate_keys(db, SecretBox(current), args.redis_url)
    finally:
        db.dispose()
    print(f"re-encrypted under the first key: {json.dumps(report.as_dict())}")
    if report.redis_unreadable:
        print(f"{report.redis_unreadable} Redis sessions no key opens were left (they cannot be used anyway)",
              file=sys.stderr)
    return 0


def _run(args: argparse.Namespace, config: OpsConfig) -> int:
    if args.command == "new-backup-key":
        print(container.new_key())
        return 0
    if args.command == "backup":
        path = backups.backup(_db_url(args.database_url, config), Path(args.out_dir), config.backup_key,
                              work_dir=Path(args.work_dir) if args.work_dir else None)
        header = backups.read_header(path)
        tables = header["manifest"]["tables"]
        print(f"backup written: {path} ({path.stat().st_size} bytes, {len(tables)} tables, "
              f"{sum(t['rows'] for t in tables.values())} rows, audit head {header['manifest']['audit_head']})")
        return 0
    if args.command == "restore":
        report = backups.restore(args.file, args.database_url, config.backup_key,
                                 work_dir=Path(args.work_dir) if args.work_dir else None)
        print(f"restored and verified: {report.tables} tables, {report.rows} rows with their checksums, "
              f"audit chain of {report.audit_events} events intact")
        return 0
    if args.command == "prune-backups":
        keep, delete = backups.prune(Path(args.dir), args.daily, args.weekly, dry_run=args.dry_run)
        verb = "would delete" if args.dry_run else "deleted"
        for path in delete:
            print(f"{verb} {path}")
        print(f"kept {len(keep)} backups, {verb} {len(delete)}")
        return 0
    if args.command == "retention":
        db = Database(_db_url(args.database_url, config))
        try:
            report = retention.run(db, dry_run=args.dry_run)
        finally:
            db.dispose()
        print(json.dumps(report.as_dict()) if args.json else "\n".join(report.lines()))
        return 0
    if args.command == "retention-policy":
        return _retention_policy(args, config)
    if args.command == "mask":
        report = masking.mask(args.source_url, args.target_url, sigma=args.noise, seed=args.seed)
        print(f"masked copy written: {sum(report.rows.values())} rows in {len(report.rows)} tables, "
              f"{report.audit_events} audit events (chain recomputed), {report.scores} DC scores recomputed; "
              f"not copied: {', '.join(report.skipped)}")
        return 0
    if args.command == "rotate-keys":
        return _rotate_keys(args, config)
    raise AssertionError(args.command)  # pragma: no cover - argparse allows only the commands above


if __name__ == "__main__":
    sys.exit(main())
