"""Audit events of the operator commands: backups, restores, masked copies and key rotations.

Who ran it: these commands run from a shell (or a scheduled worker) with no signed-in user, so,
as with retention's events, `actor_id` stays empty. `data.by` says how it ran ("cli" for
`python -m core.ops`) and `data.outcome` whether it worked ("ok" or "failed", with the reason);
`personal.os_user` names the account on the machine that ran it. That account may name a person,
so it sits in `personal` (outside the hash, blanked on erasure) like every other personal detail.

Which database holds the event, and why (see each caller):
- backup made: the database backed up, appended right AFTER the snapshot, so the backup file does
  not contain its own event; the event's `prev_hash` is the backup's `audit_head`.
- restore done: the RESTORED database, appended after its contents and chain were verified against
  the backup, so it links to the backed-up head and says where this database came from. The
  database the backup was taken from may be gone (that is why one restores); nothing is written
  for a refused or failed restore, since the target is then untouched or must be thrown away.
- masked copy made: the SOURCE (production) database, where a copy of its data leaving matters.
- key rotation: the database whose secrets were re-encrypted (Fernet); a change of the backup key
  is recorded by the first backup made under the new key.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from core.db import Database
from core.security import audit

log = logging.getLogger(__name__)
CLI = "cli"
REASON_LIMIT = 500


def os_user() -> str:
    """The account this process runs under, from the system's user database (not the environment,
    which the caller controls)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):  # no pwd (Windows) or a uid with no name (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def record_op(target: Database | str, action: str, *, by: str = CLI, outcome: str = "ok", **data: Any) -> None:
    """Append one operator event to `target` (a Database, or a URL opened and closed here)."""
    db = target if isinstance(target, Database) else Database(target)
    try:
        audit.record(db, action, data={"by": by, "outcome": outcome, **data}, personal={"os_user": os_user()})
    finally:
        if db is not target:
            db.dispose()


def record_failure(target: Database | str, action: str, exc: BaseException, *, by: str = CLI, **data: Any) -> None:
    """Audit a failed operation where the database can still take it; never hides the original error
    (the database may be what failed)."""
    reason = f"{exc.__class__.__name__}: {exc}"[:REASON_LIMIT]
    try:
        record_op(target, action, by=by, outcome="failed", reason=reason, **data)
    except Exception as audit_error:  # best effort: the caller re-raises `exc`
        log.warning("could not audit %s (%s): %s", action, reason, audit_error)


__all__ = ["CLI", "os_user", "record_failure", "record_op"]
