"""Write a generated portfolio into the database, and the `seed_demo` / `ensure_demo` entry points.

Catalogue and portfolio rows (a few hundred) go through the ORM; the big series (metric values,
weekly spend, outcomes and control series such as `event:festive`) are bulk-loaded: COPY on
PostgreSQL, executemany of plain tuples on SQLite, both inside the same transaction as the rest,
so a failed seed leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Date, DateTime, MetaData, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from core.db import Database
from core.demo.catalogue import CHANNELS, build_framework
from core.demo.generate import DEFAULT_MONTHS, Portfolio, generate_benchmark, generate_demo
from core.models import (
    Brand,
    Channel,
    FrameworkVersion,
    Metric,
    Organization,
    Project,
    ProjectBrand,
    ResponseCurve,
    Section,
)
from core.scoring.service import recompute_projects

SOURCE = "demo"
# Serializes concurrent first starts (several gunicorn workers calling ensure_demo) on PostgreSQL.
_ADVISORY_LOCK_KEY = 0x44435F44454D4F  # "DC_DEMO"


class DemoDataExists(RuntimeError):
    """The database already holds data; seeding again needs reset=True (--reset)."""


@dataclass
class DemoSummary:
    """What a seed wrote, how long it took, and the anomalies it planted (for alert checks)."""

    seed: int
    mode: str
    organizations: list[str]
    projects: int
    brands: int
    own_brands: int
    metrics: int
    periods: int
    first_period: date
    last_period: date
    metric_values: int
    channels: int
    spend_rows: int
    outcome_rows: int
    response_curves: int
    dc_scores: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    control_rows: int = 0  # weekly control series of the own brands (the festive season)

    def describe(self) -> str:
        """A few human-readable lines for the CLI."""
        t = self.timings
        return "\n".join([
            f"Seeded the {self.mode} portfolio (seed {self.seed}) in {self.seconds:.2f} s "
            f"(generate {t.get('generate', 0):.2f} s, load {t.get('load', 0):.2f} s, "
            f"score {t.get('score', 0):.2f} s)",
            f"  organizations: {', '.join(self.organizations)}",
            f"  projects {self.projects}, brands {self.brands} ({self.own_brands} own), metrics {self.metrics}, "
            f"periods {self.periods} ({self.first_period:%Y-%m} … {self.last_period:%Y-%m})",
            f"  metric values {self.metric_values:,}"
            + (f" ({self.metric_values / t['load_values']:,.0f} rows/s)" if t.get("load_values") else ""),
            f"  channels {self.channels}, weekly spend rows {self.spend_rows:,}, outcome rows {self.outcome_rows:,}, "
            f"control rows {self.control_rows:,}, true response curves {self.response_curves}",
            f"  DC score rows {self.dc_scores:,}",
            f"  anomalies injected: {len(self.anomalies)}",
        ])


def seed_demo(db: Database, *, seed: int = 42, brands: int | None = None, end_month: date | None = None,
              reset: bool = False, months: int = DEFAULT_MONTHS) -> DemoSummary:
    """Generate and load the demo portfolio (or, with `brands=N`, the N-brand benchmark one).

    Refuses to write into a database that already holds portfolio data unless `reset`, which
    first deletes all data (built-in roles excepted). Then materializes the DC scores.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    if not reset:
        _refuse_if_data(db)  # fail fast, before generating; checked again under the lock below
    t0 = time.perf_counter()
    if brands is None:
        portfolio = generate_demo(seed, end_month, months=months)
    else:
        portfolio = generate_benchmark(brands, seed, end_month, months=months)
    timings["generate"] = time.perf_counter() - t0

    # One transaction for reset and load: a seed that fails leaves the previous data in place.
    with db.session() as session:
        if db.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        if reset:
            t0 = time.perf_counter()
            _clear(session.connection())
            timings["reset"] = time.perf_counter() - t0
        else:
            _refuse_if_data(session)
        t0 = time.perf_counter()
        counts, project_ids, brand_ids = _load(session, portfolio, timings)
        timings["load"] = time.perf_counter() - t0
    _analyze(db)

    t0 = time.perf_counter()
    scores = int(recompute_projects(db, project_ids))
    timings["score"] = time.perf_counter() - t0
    _analyze(db, "dc_scores")  # empty at the first ANALYZE: without statistics every score read plans blind

    return DemoSummary(
        seed=seed,
        mode=portfolio.mode,
        organizations=portfolio.organizations["name"].tolist(),
        projects=len(portfolio.projects),
        brands=len(portfolio.brands),
        own_brands=int(portfolio.members.loc[portfolio.members["role"] == "own", "brand"].nunique()),
        metrics=len(portfolio.metrics),
        periods=len(portfolio.periods),
        first_period=portfolio.periods[0],
        last_period=portfolio.periods[-1],
        channels=len(portfolio.channels),
        dc_scores=scores,
        seconds=time.perf_counter() - started,
        timings=timings,
        anomalies=[
            {"brand_id": int(brand_ids[a["brand_index"]]),
             **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in a.items() if k != "brand_index"}}
            for a in portfolio.anomalies
        ],
        **counts,
    )


def _analyze(db: Database, table: str | None = None) -> None:
    """Refresh planner statistics (and the visibility map, for index-only scans) after a bulk load:
    with none, PostgreSQL assumes a handful of rows per table and picks nested loops that run a
    thousand times slower on the real data."""
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM (ANALYZE) {table or ''}"))


def ensure_demo(db: Database, seed: int = 42, *, months: int = DEFAULT_MONTHS) -> DemoSummary | None:
    """Seed the demo when the database holds no organization yet (the app's first start).

    Safe when several workers start at once: the loser sees the winner's data and returns None.
    """
    with db.session() as session:
        if session.scalar(select(func.count()).select_from(Organization)):
            return None
    try:
        return seed_demo(db, seed=seed, months=months)
    except DemoDataExists:
        return None
    except (IntegrityError, OperationalError):
        # SQLite has no advisory lock: a concurrent seed shows up as a conflict instead.
        with db.session() as session:
            if session.scalar(select(func.count()).select_from(Organization)):
                return None
        raise


def _refuse_if_data(target: Database | Session) -> None:
    def check(session: Session) -> None:
        found = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Organization, Brand, Section, Metric, Channel)
        }
        present = {name: n for name, n in found.items() if n}
        if present:
            listing = ", ".join(f"{n} {name}" for name, n in present.items())
            raise DemoDataExists(
                f"The database already holds data ({listing}); refusing to seed the demo on top of it. "
                "Pass reset=True (CLI: --reset) to delete all data and seed afresh."
            )

    if isinstance(target, Session):
        check(target)
    else:
        with target.session() as session:
            check(session)


def _clear(conn: Connection) -> None:
    meta = MetaData()
    meta.reflect(bind=conn)
    tables = [t for t in meta.sorted_tables if t.name != "alembic_version"]
    postgres = conn.dialect.name == "postgresql"
    builtin: list[dict] = []
    roles = meta.tables.get("roles")
    if roles is not None and "is_builtin" in roles.c:
        builtin = [dict(r._mapping) for r in conn.execute(select(roles).where(roles.c.is_builtin.is_(True)))]
    if postgres:
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables):
            conn.execute(table.delete())
    if builtin:
        conn.execute(roles.insert(), builtin)
        if postgres:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('roles', 'id'), (SELECT max(id) FROM roles))"))


def _load(session: Session, p: Portfolio, timings: dict[str, float]) -> tuple[dict[str, int], list[int], np.ndarray]:
    """Insert the whole portfolio in the session's transaction; returns row counts, project and brand ids."""
    # The demo's money is Indian rupees (its metric catalogue and alerts say INR), its outcome revenue.
    orgs = {row.name: Organization(name=row.name, slug=row.slug, currency="INR", outcome_unit="revenue")
            for row in p.organizations.itertuples()}
    session.add_all(orgs.values())
    session.flush()
    # Each organization has its own framework, the template's (its values point at its own metrics).
    frameworks = {org: build_framework(organization.id, p.metrics) for org, organization in orgs.items()}
    framework_rows = [row for parts in frameworks.values() for part in parts for row in part]
    # Each organization has its own channel catalogue (its spend and curves point at its own rows).
    channels = {(org, c.name): Channel(organization_id=organization.id, name=c.name)
                for org, organization in orgs.items() for c in CHANNELS}
    projects = [
        Project(organization=orgs[row.org], name=row.name, section_weights=dict(row.section_weights))
        for row in p.projects.itertuples()
    ]
    brands = [Brand(organization=orgs[row.org], name=row.name, category=row.category) for row in p.brands.itertuples()]
    session.add_all([*framework_rows, *channels.values(), *orgs.values(), *projects, *brands])
    session.add_all([FrameworkVersion(organization_id=organization.id, note="the template (demo)")
                     for organization in orgs.values()])
    session.flush()
    session.add_all([
        ProjectBrand(project_id=projects[row.project].id, brand_id=brands[row.brand].id, role=row.role)
        for row in p.members.itertuples()
    ])
    brand_org = [row.org for row in p.brands.itertuples()]
    channel_ids = {key: c.id for key, c in channels.items()}
    session.add_all([
        ResponseCurve(brand_id=brands[c["brand"]].id, channel_id=channel_ids[brand_org[c["brand"]], c["channel"]],
                      kind="truth",
                      params=c["params"], diagnostics=c["diagnostics"])
        for c in p.curves
    ])
    session.flush()

    brand_ids = np.array([b.id for b in brands], dtype=np.int64)
    # (brand, metric): the brand's organization's metric.
    metric_ids = np.array([[m.id for m in frameworks[org][2]] for org in brand_org], dtype=np.int64)
    now = datetime.now(UTC)

    t0 = time.perf_counter()
    n_b, n_m, n_t = p.values.shape
    b, m, t = (a.ravel() for a in np.meshgrid(np.arange(n_b), np.arange(n_m), np.arange(n_t), indexing="ij"))
    n_values = bulk_insert(session, "metric_values", {
        "brand_id": brand_ids[b], "metric_id": metric_ids[b, m], "period": _dates(session, p.periods)[t],
        "raw_value": p.values.ravel(), "source": SOURCE, "updated_at": _timestamp(session, now),
    })
    timings["load_values"] = time.perf_counter() - t0

    n_spend = n_outcomes = n_controls = 0
    if p.spend.size:
        n_o, n_c, n_w = p.spend.shape
        weeks = _dates(session, p.weeks)
        o, c, w = (a.ravel() for a in np.meshgrid(np.arange(n_o), np.arange(n_c), np.arange(n_w), indexing="ij"))
        ch_ids = np.array([[channel_ids[brand_org[b], ch.name] for ch in p.channels] for b in p.mmm_brands],
                          dtype=np.int64)  # (own brand, channel): the brand's organization's channel
        n_spend = bulk_insert(session, "spend", {
            "brand_id": brand_ids[p.mmm_brands[o]], "channel_id": ch_ids[o, c], "period": weeks[w],
            "granularity": "week", "amount": p.spend.ravel(), "source": SOURCE,
        })
        o, w = (a.ravel() for a in np.meshgrid(np.arange(n_o), np.arange(n_w), indexing="ij"))
        n_outcomes = bulk_insert(session, "outcomes", {
            "brand_id": brand_ids[p.mmm_brands[o]], "period": weeks[w], "granularity": "week",
            "revenue": p.revenue.ravel(), "units": p.units.ravel(), "source": SOURCE,
        })
    if p.controls.size:
        n_o, n_k, n_w = p.controls.shape
        o, k, w = (a.ravel() for a in np.meshgrid(np.arange(n_o), np.arange(n_k), np.arange(n_w), indexing="ij"))
        n_controls = bulk_insert(session, "control_values", {
            "brand_id": brand_ids[p.mmm_brands[o]], "name": np.array(p.control_names, dtype=object)[k],
            "period": _dates(session, p.weeks)[w], "value": p.controls.ravel(), "source": SOURCE,
        })
    counts = {"metric_values": n_values, "spend_rows": n_spend, "outcome_rows": n_outcomes,
              "control_rows": n_controls, "response_curves": len(p.curves)}
    return counts, [pr.id for pr in projects], brand_ids


def _dates(session: Session, days: Sequence[date]) -> np.ndarray:
    """Dates as the driver wants them (objects for psycopg, SQLAlchemy's text form for SQLite)."""
    process = Date().bind_processor(session.get_bind().dialect)
    return np.array([process(d) if process else d for d in days], dtype=object)


def _timestamp(session: Session, moment: datetime) -> Any:
    process = DateTime(timezone=True).bind_processor(session.get_bind().dialect)
    return process(moment) if process else moment


def bulk_insert(session: Session, table: str, columns: dict[str, Any]) -> int:
    """Insert column arrays (scalars broadcast) into `table` through the raw driver connection.

    PostgreSQL: binary COPY … FROM STDIN through psycopg 3. SQLite: executemany of plain tuples.
    Either way inside the session's current transaction. Returns the number of rows.
    """
    lengths = {len(v) for v in columns.values() if isinstance(v, np.ndarray)}
    if len(lengths) != 1:
        raise ValueError(f"columns of {table} must be arrays of one length, got lengths {sorted(lengths)}")
    n = lengths.pop()
    lists = [v.tolist() if isinstance(v, np.ndarray) else [v] * n for v in columns.values()]
    names = ", ".join(columns)
    raw = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "postgresql":
        with raw.cursor() as cur:
            # Binary COPY is ~4x faster than text here (no float formatting); it needs the column types.
            cur.execute(
                "SELECT attname, atttypid::int FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (table,),
            )
            oids = dict(cur.fetchall())
            # Per-row foreign-key triggers cost ~5x the COPY itself (20 s of 24 s for a million rows).
            # The PostgreSQL manual's bulk-load recipe: drop the foreign keys, load, add them back,
            # which validates them all in one join. Transactional DDL: a failure restores them.
            cur.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
                (table,),
            )
            foreign_keys = cur.fetchall()
            cur.execute("SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass", (table,))
            if not cur.fetchone()[0]:
                foreign_keys = []  # not the owner: keep the constraints and pay for the checks
            for name, _ in foreign_keys:
                cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([oids[name] for name in columns])
                for row in zip(*lists, strict=True):
                    copy.write_row(row)
            for name, definition in foreign_keys:
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    else:
        cur = raw.cursor()
        try:
            cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})",
                            zip(*lists, strict=True))
        finally:
            cur.close()
    return n
