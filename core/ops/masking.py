"""An anonymized copy of a database for non-production use: `python -m core.ops mask`.

What the copy holds (docs/OPERATIONS.md has the full table):
- organizations, projects, brands and people pseudonymized by id ("Brand 12", "user7@example.invalid"):
  stable within the copy, unrelated to the real names, so nothing maps back without the source;
- metric values, spend, revenue, units and control values multiplied by independent log-normal
  noise (default σ = 0.08), then rescaled per metric (per channel for spend, per table otherwise)
  so each one's mean and standard deviation equal the source's; values stay inside a metric's
  plausible range. Ranks of individual rows change, the distributions do not;
- secrets removed: password hashes replaced by an unusable marker, TOTP secrets, recovery codes,
  password history, invitations and sessions dropped; every person must be given a password on
  the copy (e.g. `python -m core.demo` users or an admin reset);
- the audit trail (archive and live, in order) with `personal` blanked and strings in `data`
  that name a pseudonymized thing replaced; its hash chain is RECOMPUTED from genesis, so it
  verifies on the copy and none of its hashes matches production. The copy's last event,
  `ops.masked_copy`, says it is a masked copy;
- not copied: scenarios and jobs (their results are real figures; re-run them on the copy),
  fitted response curves (refit on the copy), DC scores (recomputed on the copy at the end).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table, func, insert, select, text
from sqlalchemy.engine import make_url

from core.config import normalize_database_url
from core.db import Database
from core.models import Base
from core.ops import events
from core.ops.backup import RestoreRefused, target_contents
from core.scoring.service import recompute_projects
from core.security.audit import GENESIS_HASH, Action, canonical_json

UNUSABLE_PASSWORD = "!masked-copy: no password; set one on the copy"
_BATCH = 5000
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

# Tables not copied (secrets, derived or real-figure results); dc_scores is recomputed afterwards.
SKIPPED = {"user_sessions", "mfa_recovery_codes", "password_history", "account_tokens", "jobs", "scenarios",
           "response_curves", "dc_scores",
           # security alerts name people and addresses in words; their sends name the contacts
           "security_alerts", "security_alert_deliveries", "security_known_networks", "security_alert_state"}
# Copied another way: the archive joins the live trail (chain recomputed); the target has its own version
# and its own data token (its triggers set one as the rows arrive).
_SEPARATE = {"audit_events", "audit_archive", "alembic_version", "data_versions",
             "data_version_pending"}


class MaskError(RuntimeError):
    """The copy cannot be made (non-empty target, schema mismatch); the message says why."""


@dataclass
class MaskReport:
    rows: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    scores: int = 0
    audit_events: int = 0


class Pseudonyms:
    """Real name → pseudonym for everything renamed, so free text (audit data) can be scrubbed too."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def add(self, real: str | None, fake: str) -> str:
        if real and len(real) >= 3:
            self.names[real.lower()] = fake
            self._pattern = None
        return fake

    def scrub(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if not isinstance(value, str):
            return value
        if self.names:
            if self._pattern is None:  # one alternation, longest first: "Acme Foods" before "Acme"
                ordered = sorted(self.names, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)
            value = self._pattern.sub(lambda m: self.names[m.group(0).lower()], value)
        return _EMAIL.sub(lambda m: m.group(0) if m.group(0).endswith(".invalid") else "masked@example.invalid", value)


def _noise(values: np.ndarray, rng: np.random.Generator, sigma: float,
           lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Multiplicative log-normal noise, rescaled so mean and sd equal the input's, clipped to [lo, hi]."""
    if len(values) == 0:
        return values
    noisy = values * np.exp(rng.normal(0.0, sigma, len(values)))
    if len(values) > 1 and noisy.std() > 0:
        noisy = (noisy - noisy.mean()) / noisy.std() * values.std() + values.mean()
    else:
        noisy = noisy - noisy.mean() + values.mean()
    if lo is not None or hi is not None:
        noisy = np.clip(noisy, lo, hi)
    if (values >= 0).all():
        noisy = np.maximum(noisy, 0.0)  # amounts that cannot be negative stay so
    return noisy


def _rows(conn: Connection, table: Table, *where: Any) -> Iterator[list[dict[str, Any]]]:
    order = list(table.primary_key.columns)
    result = conn.execution_options(yield_per=_BATCH).execute(select(table).where(*where).order_by(*order))
    for part in result.mappings().partitions(_BATCH):
        yield [dict(row) for row in part]


def mask(source_url: str, target_url: str, *, sigma: float = 0.08, seed: int | None = None,
         by: str = events.CLI) -> MaskReport:
    """Copy `source_url` into the empty `target_url`, masked; DC scores recomputed on the copy.

    Audited in the SOURCE, where a copy of its data leaving matters: `ops.masked_copy_made` (where
    to, counts) or `ops.masked_copy_failed` with the reason. The copy's own trail ends with its
    `ops.masked_copy` marker.
    """
    if not 0 < sigma <= 1:  # bad input: refused before anything, audit included, is written
        raise MaskError("the noise level must be in (0, 1]")
    where = make_url(normalize_database_url(target_url)).render_as_string(hide_password=True)
    try:
        report = _mask(source_url, target_url, sigma=sigma, seed=seed)
    except Exception as exc:
        events.record_failure(normalize_database_url(source_url), Action.MASKED_COPY_FAILED, exc, by=by,
                              copy_to=where)
        raise
    events.record_op(normalize_database_url(source_url), Action.MASKED_COPY_MADE, by=by, copy_to=where,
                     rows=sum(report.rows.values()), tables=len(report.rows), audit_events=report.audit_events,
                     scores=report.scores, noise=sigma, seed_fixed=seed is not None)
    return report


def _mask(source_url: str, target_url: str, *, sigma: float, seed: int | None) -> MaskReport:
    target_parsed = make_url(normalize_database_url(target_url))
    if present := target_contents(target_parsed):
        raise RestoreRefused(f"the target database is not empty (it holds {', '.join(present)}, …); "
                             f"mask only into a newly created, empty database")
    source, target = Database(normalize_database_url(source_url)), Database(normalize_database_url(target_url))
    try:
        with source.engine.connect() as src:
            revision = src.execute(text("SELECT version_num FROM alembic_version")).scalar()
        target.upgrade()
        with target.engine.connect() as tgt:
            head = tgt.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if revision != head:
            raise MaskError(f"the source is at migration {revision}, this code at {head}: upgrade the source "
                            f"(or use the matching release) first")
        report = _copy(source, target, np.random.default_rng(seed), sigma)
        report.scores = recompute_projects(target)
        return report
    finally:
        source.dispose()
        target.dispose()


def _copy(source: Database, target: Database, rng: np.random.Generator, sigma: float) -> MaskReport:
    report = MaskReport(skipped=sorted(SKIPPED))
    names = Pseudonyms()
    tables = Base.metadata.tables
    with source.engine.connect() as src, target.engine.begin() as tgt:
        if tgt.dialect.name == "sqlite":
            tgt.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        metric_bounds = {row.id: (row.min_value, row.max_value) for row in src.execute(
            select(tables["metrics"].c.id, tables["metrics"].c.min_value, tables["metrics"].c.max_value))}
        transforms: dict[str, Callable[[list[dict]], list[dict]]] = {
            "organizations": lambda rows: [{**r, "name": names.add(r["name"], f"Organization {r['id']}"),
                                            "slug": names.add(r["slug"], f"org-{r['id']}")} for r in rows],
            "projects": lambda rows: [{**r, "name": names.add(r["name"], f"Project {r['id']}")} for r in rows],
            "brands": lambda rows: [{**r, "name": names.add(r["name"], f"Brand {r['id']}")} for r in rows],
            "users": lambda rows: [_mask_user(r, names) for r in rows],
            "roles": lambda rows: [r if r["is_builtin"] else {**r, "name": names.add(r["name"], f"Role {r['id']}")}
                                   for r in rows],
            "organization_security": lambda rows: [{**r, "security_contacts": None, "security_webhook_url": None}
                                                   for r in rows],
            "import_batches": lambda rows: [{**r, "filename": f"import-{r['id']}.csv",
                                             "sha256": hashlib.sha256(f"masked-{r['id']}".encode()).hexdigest()}
                                            for r in rows],
        }
        for table in Base.metadata.sorted_tables:
            name = table.name
            if name in SKIPPED or name in _SEPARATE:
                continue
            if name == "metric_values":
                report.rows[name] = _copy_grouped(src, tgt, table, "metric_id", ["raw_value"], rng, sigma,
                                                  metric_bounds)
            elif name == "spend":
                report.rows[name] = _copy_grouped(src, tgt, table, "channel_id", ["amount"], rng, sigma)
            elif name == "outcomes":
                report.rows[name] = _copy_grouped(src, tgt, table, None, ["revenue", "units"], rng, sigma)
            elif name == "control_values":
                report.rows[name] = _copy_grouped(src, tgt, table, "name", ["value"], rng, sigma)
            else:
                transform = transforms.get(name, lambda rows: rows)
                count = 0
                for rows in _rows(src, table):
                    tgt.execute(insert(table), transform(rows))
                    count += len(rows)
                report.rows[name] = count
        report.audit_events = _copy_audit(src, tgt, names)
        _reset_sequences(tgt)
    return report


def _mask_user(row: dict[str, Any], names: Pseudonyms) -> dict[str, Any]:
    names.add(row["name"], f"User {row['id']}")
    names.add(row["email"], f"user{row['id']}@example.invalid")
    local = row["email"].split("@", 1)[0] if row["email"] else ""
    names.add(local, f"user{row['id']}")
    return {**row, "email": f"user{row['id']}@example.invalid", "name": f"User {row['id']}",
            "password_hash": UNUSABLE_PASSWORD, "mfa_secret_encrypted": None, "mfa_enabled": False,
            "mfa_last_timestep": None, "failed_attempts": 0, "locked_until": None,
            "session_epoch": (row.get("session_epoch") or 0) + 1}


def _copy_grouped(src: Connection, tgt: Connection, table: Table, group: str | None, columns: list[str],
                  rng: np.random.Generator, sigma: float, bounds: dict[int, tuple] | None = None) -> int:
    """Copy a value table, noising `columns` per `group` (whole table when None) with mean and sd kept.

    One group is read at a time, so memory follows the largest group, not the table."""
    keys = [None] if group is None else list(src.execute(select(table.c[group]).distinct()).scalars())
    count = 0
    for key in keys:
        where = [] if group is None else [table.c[group] == key]
        rows = [row for part in _rows(src, table, *where) for row in part]
        lo, hi = (bounds or {}).get(key, (None, None))
        for column in columns:
            present = [i for i, r in enumerate(rows) if r[column] is not None]
            values = np.array([rows[i][column] for i in present], dtype=float)
            for i, value in zip(present, _noise(values, rng, sigma, lo, hi), strict=True):
                rows[i][column] = float(value)
        for row in rows:
            if "source" in row:
                row["source"] = "masked"
        for start in range(0, len(rows), _BATCH):
            tgt.execute(insert(table), rows[start:start + _BATCH])
        count += len(rows)
    return count


class _Event:
    """The attributes `canonical_json` reads, for an event dict."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__.update(row)


def _copy_audit(src: Connection, tgt: Connection, names: Pseudonyms) -> int:
    """Archive then live events, personal blanked, data scrubbed, chain recomputed; then `ops.masked_copy`."""
    events, archive = Base.metadata.tables["audit_events"], Base.metadata.tables["audit_archive"]
    prev, count, last_id = GENESIS_HASH, 0, 0
    for table in (archive, events):
        for rows in _rows(src, table):
            out = []
            for row in rows:
                row = {c.name: row[c.name] for c in events.columns}
                row.update(personal={}, data=names.scrub(row["data"] or {}),
                           target_id=names.scrub(row["target_id"]), prev_hash=prev)
                row["hash"] = hashlib.sha256((prev + canonical_json(_Event(row))).encode("utf-8")).hexdigest()
                prev, last_id = row["hash"], row["id"]
                out.append(row)
            tgt.execute(insert(events), out)
            count += len(out)
    marker = {"id": last_id + 1, "organization_id": None, "actor_id": None, "action": "ops.masked_copy",
              "target_type": None, "target_id": None, "personal": {}, "created_at": datetime.now(UTC),
              "data": {"events_copied": count, "chain": "recomputed from genesis on the masked copy"},
              "prev_hash": prev}
    marker["hash"] = hashlib.sha256((prev + canonical_json(_Event(marker))).encode("utf-8")).hexdigest()
    tgt.execute(insert(events), [marker])
    return count + 1


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: rows came with their ids, so move each serial sequence past the largest one."""
    if conn.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type.python_type, type) or pk[0].type.python_type is not int:
            continue
        sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                {"t": table.name, "c": pk[0].name}).scalar()
        if sequence:
            top = conn.execute(select(func.max(pk[0])).select_from(table)).scalar()
            conn.execute(text("SELECT setval(:s, :v, :called)"),
                         {"s": sequence, "v": top or 1, "called": top is not None})
