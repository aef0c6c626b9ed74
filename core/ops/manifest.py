"""What a backup promises: per-table row counts and checksums computed in the database, plus the
audit chain head. Compared after a restore, they show the data came back exactly.

A table's checksum is the sum, modulo 2^64, of the first 64 bits of each row's MD5: independent
of row order (no sort, constant memory on a big table) and computed by the database itself.
PostgreSQL hashes the row's text form (`t::text`, with TimeZone UTC and fixed float output);
SQLite hashes `quote()` of each column through a small aggregate registered on the connection.
The checksum is dialect-specific: it compares a restore with its own backup, not across engines.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, text

_MASK = (1 << 64) - 1


def table_names(conn: Connection) -> list[str]:
    """Every user table of the database as it is (not as the models say), sorted."""
    if conn.dialect.name == "postgresql":
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    return [row[0] for row in conn.execute(text(sql))]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _SqliteChecksum:
    """Aggregate: sum of the first 64 bits of MD5(row text), modulo 2^64."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, value: str | None) -> None:
        digest = hashlib.md5((value or "").encode("utf-8"), usedforsecurity=False).digest()
        self.total = (self.total + int.from_bytes(digest[:8], "big")) & _MASK

    def finalize(self) -> str:
        return format(self.total, "016x")


def _table_checksum(conn: Connection, table: str) -> tuple[int, str]:
    if conn.dialect.name == "postgresql":
        row = conn.execute(text(
            f"SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint::numeric), 0) "
            f"FROM {_quote(table)} AS t")).one()
        # bigint is signed: fold the sum of signed values back to an unsigned 64-bit total.
        return int(row[0]), format(int(row[1]) & _MASK, "016x")
    columns = [r[1] for r in conn.execute(text(f"PRAGMA table_info({_quote(table)})"))]
    row_text = " || char(31) || ".join(f"quote({_quote(c)})" for c in columns) or "''"
    row = conn.execute(text(f"SELECT count(*), dc_checksum({row_text}) FROM {_quote(table)}")).one()
    return int(row[0]), row[1] or format(0, "016x")


def prepare(conn: Connection) -> None:
    """Session settings (PostgreSQL) or the aggregate (SQLite) the checksums rely on."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        conn.execute(text("SET LOCAL extra_float_digits = 1"))
        conn.execute(text("SET LOCAL DateStyle = 'ISO, YMD'"))
        conn.execute(text("SET LOCAL IntervalStyle = 'postgres'"))
    else:
        conn.connection.dbapi_connection.create_aggregate("dc_checksum", 1, _SqliteChecksum)


def audit_head(conn: Connection, tables: list[str]) -> dict[str, Any] | None:
    """The last audit event's id and hash (None when there is no audit trail)."""
    if "audit_events" not in tables:
        return None
    row = conn.execute(text("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1")).first()
    return {"id": row[0], "hash": row[1]} if row else {"id": None, "hash": None}


def compute(conn: Connection) -> dict[str, Any]:
    """{"tables": {name: {"rows": n, "checksum": hex}}, "audit_head": {...}} for the connection's snapshot."""
    prepare(conn)
    tables = table_names(conn)
    result: dict[str, Any] = {}
    for table in tables:
        rows, checksum = _table_checksum(conn, table)
        result[table] = {"rows": rows, "checksum": checksum}
    return {"tables": result, "audit_head": audit_head(conn, tables)}


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable mismatches between two manifests (empty when they agree)."""
    problems = []
    want, got = expected.get("tables", {}), actual.get("tables", {})
    for table in sorted(set(want) | set(got)):
        if table not in got:
            problems.append(f"table {table} is missing")
        elif table not in want:
            problems.append(f"table {table} was not in the backup")
        elif want[table] != got[table]:
            problems.append(f"table {table}: expected {want[table]}, found {got[table]}")
    if expected.get("audit_head") != actual.get("audit_head"):
        problems.append(f"audit chain head: expected {expected.get('audit_head')}, found {actual.get('audit_head')}")
    return problems
