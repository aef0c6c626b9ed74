"""Preview (dry run) and commit of an import: catalogue look-ups, diff against stored rows, upsert.

Both entry points run the same validation and the same diff, so the preview's counts are what
the commit will do. The commit is one transaction — the ImportBatch row and every upsert — and
writes nothing at all when the file has any error. Only new and changed rows are sent to the
database, so re-importing a file leaves it untouched (0 inserted, 0 updated, N unchanged).

A file over the import limits (`ImportLimits`, enforced by the readers) is not reported row by row:
both raise `FileRefused` before anything is read past the limit, and nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, bindparam, column, literal, select, table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.config import ImportLimits
from core.db import Database
from core.imports.mapping import ImportSpec, MappingError, parse_spec
from core.imports.readers import FileError, FileRefused, RawFile, Source, load_source, read_table
from core.imports.report import ImportReport, RowError, TableCounts
from core.imports.validate import Catalog, Parsed, validate
from core.models import (
    Brand,
    Channel,
    ControlValue,
    ImportBatch,
    Metric,
    MetricValue,
    Organization,
    Outcome,
    ProjectBrand,
    Spend,
    utcnow,
)
from core.scoring.service import rescore_after_change
from core.security.audit import record
from core.setup.classification import default_level

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _TablePlan:
    table: Table
    keys: tuple[str, ...]
    values: tuple[str, ...]  # compared to decide update vs unchanged, and written on update


_PLANS = {
    "metric_values": _TablePlan(MetricValue.__table__, ("brand_id", "metric_id", "period"), ("raw_value",)),
    "spend": _TablePlan(Spend.__table__, ("brand_id", "channel_id", "period"), ("amount", "granularity")),
    "outcomes": _TablePlan(Outcome.__table__, ("brand_id", "period"), ("revenue", "units", "granularity")),
    "control_values": _TablePlan(ControlValue.__table__, ("brand_id", "name", "period"), ("value",)),
}


# The tables a brand's response-curve fit reads (core.response_curves): a change makes its model stale.
MODEL_INPUTS = ("spend", "outcomes", "control_values")


def load_catalog(conn: Connection, organization_id: int) -> Catalog:
    """Brands, channels and metrics of this organization only (never another's of the same name or code).
    Metrics come from the organization's framework: imports refer to them and never create one."""
    brands = conn.execute(select(Brand.name, Brand.id).where(Brand.organization_id == organization_id)).all()
    metrics = conn.execute(select(Metric.id, Metric.code, Metric.name, Metric.min_value, Metric.max_value)
                           .where(Metric.organization_id == organization_id)).all()
    channels = _channels(conn, organization_id)
    return Catalog(
        brands={name: bid for name, bid in brands},
        metrics={mid: (code, name, lo, hi) for mid, code, name, lo, hi in metrics},
        channels={name.casefold(): (cid, name) for cid, name in channels},
    )


def _with_channel_ids(frames: dict[str, pd.DataFrame], catalog: Catalog) -> dict[str, pd.DataFrame]:
    """Spend rows get channel ids; a channel not created yet gets -1 (so every row is an insert)."""
    if "spend" not in frames:
        return frames
    spend = frames["spend"]
    ids = spend["channel"].str.casefold().map({k: v[0] for k, v in catalog.channels.items()})
    return {**frames, "spend": spend.assign(channel_id=ids.fillna(-1).astype("int64"))}


def _prepare_rows(name: str, frame: pd.DataFrame, spec: ImportSpec) -> pd.DataFrame:
    if name in ("spend", "outcomes"):
        frame = frame.assign(granularity=spec.granularity)
    return frame


def _existing(conn: Connection, plan: _TablePlan, frame: pd.DataFrame) -> pd.DataFrame:
    """Stored rows that could share a key with the file: same brands, in the file's period range."""
    t = plan.table
    cols = [*plan.keys, *plan.values]
    query = select(*(t.c[c] for c in cols)).where(
        t.c.brand_id.in_(sorted(int(b) for b in frame["brand_id"].unique())),
        t.c.period.between(frame["period"].min().date(), frame["period"].max().date()),
    )
    for extra in ("metric_id", "channel_id", "name"):
        if extra in plan.keys:
            values = frame[extra].unique().tolist()
            query = query.where(t.c[extra].in_([v if isinstance(v, str) else int(v) for v in values]))
    rows = conn.execute(query).all()
    existing = pd.DataFrame(dict(zip(cols, map(list, zip(*rows, strict=True)), strict=True)) if rows else {
        c: [] for c in cols}, columns=cols)
    for col in plan.values:
        if col != "granularity":  # NULL units come back as None: make them NaN to compare with the file's
            existing[col] = pd.to_numeric(existing[col]).astype("float64")
    if not existing.empty:
        existing["period"] = pd.to_datetime(existing["period"]).astype("datetime64[us]")
    else:
        existing["period"] = existing["period"].astype("datetime64[us]")
    return existing


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)):
        return (a.astype(str) == b.astype(str)).to_numpy()
    x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
    return np.isclose(x, y, rtol=1e-12, atol=0.0) | (np.isnan(x) & np.isnan(y))


def diff(conn: Connection, name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Tag each row `insert`, `update` or `unchanged` against what is stored."""
    plan = _PLANS[name]
    if frame.empty:
        return frame.assign(action=pd.Series(dtype=str))
    existing = _existing(conn, plan, frame)
    if existing.empty:
        return frame.assign(action="insert")
    merged = frame.merge(existing, on=list(plan.keys), how="left", suffixes=("", "_old"), indicator=True)
    found = (merged["_merge"] == "both").to_numpy()
    same = np.ones(len(merged), dtype=bool)
    for col in plan.values:
        same &= _same(merged[col], merged[f"{col}_old"])
    action = np.where(~found, "insert", np.where(same, "unchanged", "update"))
    return frame.assign(action=action)


def _columns(frame: pd.DataFrame, columns: list[str]) -> list[np.ndarray]:
    """Column arrays of plain Python values (NaN as None), the shape both bulk paths want."""
    out = []
    for col in columns:
        values = frame[col].to_numpy(dtype=object)
        out.append(np.where(pd.isna(values), None, values) if frame[col].hasnans else values)
    return out


def _upsert(conn: Connection, plan: _TablePlan, frame: pd.DataFrame, columns: list[str],
            constants: Mapping[str, Any]) -> None:
    """Bulk `INSERT … ON CONFLICT (key) DO UPDATE` of new and changed rows, built with the dialect's insert.

    `columns` vary per row; `constants` (the source, the time stamp) are the same for every row.
    PostgreSQL: COPY the varying columns into a temporary table, then one INSERT … SELECT adding
    the constants once (COPY is ~10x faster than parameter batches, and formatting a constant per
    row is most of the CSV's cost). SQLite: one executemany on the DB-API cursor, skipping per-row
    bind work.
    """
    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        _upsert_postgresql(conn, plan, frame, columns, constants)
    else:
        _upsert_sqlite(conn, plan, frame.assign(**constants), [*columns, *constants])


def _upsert_postgresql(conn: Connection, plan: _TablePlan, frame: pd.DataFrame, columns: list[str],
                       constants: Mapping[str, Any]) -> None:
    tmp_name = f"_import_{plan.table.name}"
    conn.exec_driver_sql(f'CREATE TEMPORARY TABLE IF NOT EXISTS "{tmp_name}" ON COMMIT DROP AS '
                         f'SELECT {", ".join(columns)} FROM "{plan.table.name}" WITH NO DATA')
    conn.exec_driver_sql(f'TRUNCATE "{tmp_name}"')
    # pandas writes floats in their shortest round-trip form, so stored values equal the file's exactly.
    text = frame[columns].assign(period=frame["period"].dt.strftime("%Y-%m-%d")).to_csv(
        index=False, header=False, lineterminator="\n")
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f'COPY "{tmp_name}" ({", ".join(columns)}) FROM STDIN WITH (FORMAT csv)') as copy:
        copy.write(text.encode("utf-8"))
    tmp = table(tmp_name, *(column(c) for c in columns))
    fixed = [literal(v, plan.table.c[c].type) for c, v in constants.items()]
    written = [*columns, *constants]
    stmt = postgresql.insert(plan.table).from_select(written, select(*(tmp.c[c] for c in columns), *fixed))
    updates = [c for c in written if c not in plan.keys]
    conn.execute(stmt.on_conflict_do_update(index_elements=list(plan.keys),
                                            set_={c: stmt.excluded[c] for c in updates}))


def _upsert_sqlite(conn: Connection, plan: _TablePlan, frame: pd.DataFrame, columns: list[str]) -> None:
    stmt = sqlite.insert(plan.table).values({c: bindparam(c) for c in columns})
    updates = [c for c in columns if c not in plan.keys]
    stmt = stmt.on_conflict_do_update(index_elements=list(plan.keys), set_={c: stmt.excluded[c] for c in updates})
    compiled = stmt.compile(dialect=conn.dialect)
    # Values already in the form SQLAlchemy's SQLite types store: ISO date text, processed timestamps.
    values = {c: frame[c] for c in columns}
    values["period"] = frame["period"].dt.strftime("%Y-%m-%d")
    if "updated_at" in values:
        process = plan.table.c.updated_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        stamp = pd.Timestamp(frame["updated_at"].iloc[0]).to_pydatetime()
        values["updated_at"] = pd.Series(process(stamp) if process else stamp, index=frame.index)
    ordered = pd.DataFrame(values)
    params = list(zip(*_columns(ordered, list(compiled.positiontup or columns)), strict=True))
    conn.connection.driver_connection.cursor().executemany(str(compiled), params)


def _channels(conn: Connection, organization_id: int) -> list[Any]:
    """The organization's own channel catalogue: (id, name) rows."""
    return list(conn.execute(select(Channel.id, Channel.name).where(Channel.organization_id == organization_id)))


def _create_channels(conn: Connection, organization_id: int, names: list[str], dialect: str) -> None:
    """Insert the organization's missing channels, tolerating one created meanwhile by someone else."""
    if not names:
        return
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    conn.execute(insert(Channel.__table__).on_conflict_do_nothing(index_elements=["organization_id", "name"]),
                 [{"organization_id": organization_id, "name": n} for n in names])


_Run = tuple[ImportReport, Parsed | None, RawFile | None, ImportSpec | None]


def _run(db: Database, organization_id: int, source: Source, spec: ImportSpec | Mapping[str, Any],
         filename: str | None, kind: str | None, limits: ImportLimits | None, new_brands: bool = False) -> _Run:
    """Read, validate and diff; shared by preview and commit. `FileRefused` propagates."""
    report = ImportReport(kind=kind or (spec.kind if isinstance(spec, ImportSpec) else str(spec.get("kind", ""))),
                          filename=filename or (str(source) if isinstance(source, str) else getattr(
                              source, "name", "") or ""))
    try:
        spec = parse_spec(spec, kind=kind)
        report.kind = spec.kind
    except MappingError as exc:
        report.add_errors([RowError(None, None, "invalid_mapping", p) for p in exc.problems])
        return report, None, None, None
    try:
        raw = load_source(source, filename, limits)
        report.filename, report.sha256 = raw.filename, raw.sha256
        table = read_table(raw, limits)
    except FileRefused:
        raise
    except FileError as exc:
        report.add_errors([RowError(None, None, exc.code, exc.reason)])
        return report, None, None, spec
    report.total_rows = len(table)
    with db.engine.connect() as conn:
        if conn.execute(select(Organization.id).where(Organization.id == organization_id)).first() is None:
            report.add_errors([RowError(None, None, "unknown_organization", f"no organization {organization_id}")])
            return report, None, raw, spec
        catalog = load_catalog(conn, organization_id)
        catalog.allow_new_brands = new_brands
        parsed = validate(table, spec, catalog)
        report.new_brands = [name for _id, name in catalog.new_brands.values()]
        parsed.new_brands = dict(catalog.new_brands.values())
        report.add_errors(parsed.errors)
        report.sample = parsed.sample
        report.channels_created = list(parsed.new_channels)
        parsed.frames = _with_channel_ids(parsed.frames, catalog)
        for name, frame in parsed.frames.items():
            tagged = diff(conn, name, _prepare_rows(name, frame, spec))
            parsed.frames[name] = tagged
            counts = tagged["action"].value_counts()
            report.tables[name] = TableCounts(int(counts.get("insert", 0)), int(counts.get("update", 0)),
                                              int(counts.get("unchanged", 0)))
    return report, parsed, raw, spec


def preview(db: Database, organization_id: int, source: Source, spec: ImportSpec | Mapping[str, Any], *,
            filename: str | None = None, kind: str | None = None,
            limits: ImportLimits | None = None, new_brands: bool = False) -> ImportReport:
    """Dry run: everything `commit` would check and count, with nothing written.

    With `new_brands` (the caller may create brands: `portfolio:manage` on the organization) a brand
    name that matches none of the organization's is not an error but listed in `report.new_brands`:
    the commit creates them only when it is given exactly that list back (`create_brands`).

    `source` is a path, bytes or a binary file-like object; `filename` (needed for bytes) picks
    CSV or XLSX by its extension. A file over `limits` (default: the documented defaults) raises
    `FileRefused`.
    """
    report, _parsed, _raw, _spec = _run(db, organization_id, source, spec, filename, kind, limits, new_brands)
    return report


def _confirmed(report: ImportReport, create_brands: Sequence[str] | None) -> bool:
    """Whether the confirmation names exactly the brands this file would create (case aside); else an error."""
    wanted = {" ".join(str(n).split()).casefold() for n in create_brands or ()}
    found = {n.casefold() for n in report.new_brands}
    if wanted == found:
        return True
    listed = ", ".join(f"'{n}'" for n in report.new_brands) or "none"
    report.add_errors([RowError(None, None, "unconfirmed_brands",
                                f"this file names {len(found)} brand(s) not in the organization ({listed}); "
                                f"the confirmation named {len(wanted)} ({', '.join(sorted(wanted)) or 'none'}). "
                                "Preview the file again and confirm exactly the brands it lists.")])
    return False


def _create_brands(session: Session, organization_id: int, parsed: Parsed, user_id: int | None,
                   report: ImportReport) -> None:
    """Insert the confirmed new brands and give their rows the real ids (in the import's transaction)."""
    if not parsed.new_brands:
        return
    real: dict[int, int] = {}
    for provisional, name in parsed.new_brands.items():
        brand = Brand(organization_id=organization_id, name=name)
        session.add(brand)
        session.flush()
        real[provisional] = brand.id
        record(session, "brand.created", actor=user_id, organization_id=organization_id, target=brand,
               data={"name": name, "projects": [], "via": "import"})
    for name, frame in parsed.frames.items():
        parsed.frames[name] = frame.assign(brand_id=frame["brand_id"].replace(real))
    report.brands_created = list(parsed.new_brands.values())


def commit(db: Database, organization_id: int, source: Source, spec: ImportSpec | Mapping[str, Any],
           user_id: int | None = None, *, filename: str | None = None, kind: str | None = None,
           limits: ImportLimits | None = None, new_brands: bool = False,
           create_brands: Sequence[str] | None = None) -> ImportReport:
    """Validate and, only if the file has no error at all, write it in one transaction.

    A file over `limits` raises `FileRefused` before anything is written.

    After metric values change, the DC scores of every project holding a touched brand are
    recomputed for the periods those values fall in (after the data commit, so a scoring failure
    never loses the import; it is reported as a warning).

    Brands the file names that do not exist (only with `new_brands`) are created in the same
    transaction when `create_brands` lists exactly them; otherwise nothing is written.
    """
    report, parsed, raw, spec = _run(db, organization_id, source, spec, filename, kind, limits,
                                     new_brands or bool(create_brands))
    if report.ok and (report.new_brands or create_brands):
        _confirmed(report, create_brands)
    if not report.ok or parsed is None or raw is None or spec is None:
        report.channels_created = []
        return report
    dialect = db.dialect
    touched_brands: set[int] = set()
    touched_periods: set[date] = set()  # of metric values: the only periods whose scores can move
    refit: set[int] = set()  # brands whose model inputs changed
    with db.session() as session:
        batch = ImportBatch(organization_id=organization_id, user_id=user_id, kind=spec.kind,
                            filename=raw.filename[:300], sha256=raw.sha256, rows=report.total_rows,
                            inserted=report.to_insert, updated=report.to_update, unchanged=report.unchanged,
                            classification=default_level(session, organization_id, "import"))
        session.add(batch)
        session.flush()
        _create_brands(session, organization_id, parsed, user_id, report)
        conn = session.connection()
        source_label = spec.source or f"import:{batch.id}"
        if parsed.new_channels:
            _create_channels(conn, organization_id, parsed.new_channels, dialect)
            channels = {n.casefold(): cid for cid, n in _channels(conn, organization_id)}
            spend = parsed.frames["spend"]
            parsed.frames["spend"] = spend.assign(channel_id=spend["channel"].str.casefold().map(channels))
        now = utcnow()
        for name, frame in parsed.frames.items():
            plan = _PLANS[name]
            todo = frame[frame["action"] != "unchanged"]
            if todo.empty:
                continue
            touched_brands.update(int(b) for b in todo["brand_id"].unique())
            if name in MODEL_INPUTS:
                refit.update(int(b) for b in todo["brand_id"].unique())
            constants: dict[str, Any] = {"source": source_label}
            if name == "metric_values":
                touched_periods.update(pd.Timestamp(p).date() for p in todo["period"].unique())
                constants["updated_at"] = now
            _upsert(conn, plan, todo, [*plan.keys, *plan.values], constants)
        project_ids: list[int] = []
        if spec.kind == "metrics" and touched_brands:
            project_ids = sorted(conn.execute(
                select(ProjectBrand.project_id).distinct().where(ProjectBrand.brand_id.in_(sorted(touched_brands)))
            ).scalars())
    report.committed = True
    report.batch_id = batch.id
    report.refit_brands = sorted(refit)
    if project_ids:
        _recompute(db, project_ids, sorted(touched_periods), report)
    return report


def _recompute(db: Database, project_ids: list[int], periods: list[date], report: ImportReport) -> None:
    """Rescore the touched periods of the affected projects (the scores of other periods cannot move)."""
    try:
        rescore_after_change(db, project_ids, periods)
    except Exception as exc:  # the data is committed; the scores can be recomputed later
        log.exception("DC score recompute failed after import batch %s", report.batch_id)
        report.warnings.append(f"DC scores not recomputed: {exc.__class__.__name__}: {exc}")
        return
    report.projects_recomputed = project_ids


