"""Database side of the DC score: load inputs per project, materialize and read scores.

Recomputing is whole-project within a period: the min–max range of a metric depends on every
brand of the project, so changing one value can move every brand's score in that period, and
nothing outside it. So a change confined to some periods (an import of new months) recomputes just
those periods of the affected projects, with the same result as a full recompute.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select, text, update

from core import pgcopy
from core.db import Database
from core.models import Metric, Platform, Project, ProjectBrand, Section
from core.scoring.engine import VALUE_COLUMNS, ScoreInputs, compute_scores, decompose_change

SCORE_COLUMNS = ["project_id", "period", "brand_id", "level", "node_id", "score", "coverage"]

# The brands spelled out let the (period, brand) index find a few periods' rows; the project of each
# row is attached in numpy (`_per_project`), so the server only scans, never joins.
_VALUES_SQL = """
SELECT period, brand_id, metric_id, raw_value FROM metric_values WHERE brand_id IN ({brands}){period_filter}
"""


_LEVEL_CODES = {"total": 0, "section": 1, "platform": 2}
_SCORE_KINDS = ["int4", "date", "int4", "text", "int4", "float8", "float8"]


def _read_frame(conn: Connection, sql: str, names: list[str], kinds: list[str], *,
                packed: bool = False) -> pd.DataFrame:
    """Run a SELECT of fixed-width columns into a frame; binary COPY on PostgreSQL, or with `packed`
    one server-packed value (`pgcopy.read_packed`, for the smaller reads a page makes).

    Periods come back as datetime64, not date objects: a million Python dates would cost more
    than the whole computation.
    """
    if conn.dialect.name == "postgresql":
        return (pgcopy.read_packed if packed else pgcopy.copy_out)(conn, sql, names, kinds)
    frame = pd.read_sql_query(text(sql), conn)
    frame.columns = names
    for name, kind in zip(names, kinds, strict=True):
        if kind == "date":
            frame[name] = pd.to_datetime(frame[name], format="ISO8601")
    return frame


def _catalogue(conn: Connection, project_ids: list[int]) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """The framework of the projects' organizations: metrics, platform weights, section weights per
    project (the project's own `section_weights`, by section name, else the section's weight) and
    the normalization method per project. Only these organizations' framework is read: another
    organization's sections never weigh in, even under the same name."""
    projects = conn.execute(
        select(Project.id, Project.organization_id, Project.normalization, Project.section_weights)
        .where(Project.id.in_(project_ids))
    ).all()
    orgs = sorted({org for _, org, _, _ in projects})
    metrics = pd.DataFrame(
        conn.execute(
            select(Metric.id, Metric.platform_id, Platform.section_id, Metric.weight, Metric.direction).join(Platform)
            .where(Metric.organization_id.in_(orgs))
        ).all(),
        columns=["metric_id", "platform_id", "section_id", "weight", "direction"],
    ).set_index("metric_id")
    platforms = pd.Series(dict(conn.execute(
        select(Platform.id, Platform.weight).join(Section).where(Section.organization_id.in_(orgs))).all()),
        dtype=float)
    sections = conn.execute(
        select(Section.organization_id, Section.id, Section.name, Section.weight)
        .where(Section.organization_id.in_(orgs))
    ).all()
    method = pd.Series({pid: str(getattr(norm, "value", norm)) for pid, _, norm, _ in projects}, dtype=object)
    weights = [
        (pid, sid, float((sw or {}).get(name, default)))
        for pid, org, _, sw in projects
        for sorg, sid, name, default in sections
        if sorg == org
    ]
    section_weights = pd.DataFrame(weights, columns=["project_id", "section_id", "weight"])
    return metrics, platforms, section_weights, method


def _period_list(periods: Iterable[date]) -> str:
    """Periods as an SQL list of date literals (parsed first, so nothing but a date reaches the SQL)."""
    return ", ".join(f"'{date.fromisoformat(str(p)[:10]).isoformat()}'" for p in periods) or "NULL"


def _per_project(values: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """The value rows (period, brand_id, metric_id, value) once per project holding their brand.

    What a join with project_brands would give, done on a few hundred memberships in numpy: a
    brand in one project (the usual case) keeps its rows as they are, one in several repeats them.
    """
    members = members.sort_values(["brand_id", "project_id"])
    brands, projects = members["brand_id"].to_numpy(np.int64), members["project_id"].to_numpy(np.int64)
    known, first, count = np.unique(brands, return_index=True, return_counts=True)
    at = np.searchsorted(known, values["brand_id"].to_numpy(np.int64))
    if len(known) == len(brands):  # every brand in one project
        return pd.DataFrame({"project_id": projects[first[at]], **{c: values[c].to_numpy() for c in values}},
                            columns=VALUE_COLUMNS)
    repeat = count[at]
    rows = np.repeat(np.arange(len(values)), repeat)
    nth = np.arange(len(rows)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    out = {"project_id": projects[first[at][rows] + nth], **{c: values[c].to_numpy()[rows] for c in values}}
    return pd.DataFrame(out, columns=VALUE_COLUMNS)


def load_inputs(conn: Connection, project_ids: Iterable[int], periods: Iterable[date] | None = None) -> ScoreInputs:
    """Everything `core.scoring.engine` needs for the given projects (optionally some periods)."""
    ids = sorted({int(p) for p in project_ids})
    if not ids:
        raise ValueError("no project ids given")
    members = pd.DataFrame(conn.execute(
        select(ProjectBrand.project_id, ProjectBrand.brand_id).where(ProjectBrand.project_id.in_(ids))).all(),
        columns=["project_id", "brand_id"])
    period_filter = "" if periods is None else f" AND period IN ({_period_list(periods)})"
    brands = ", ".join(map(str, sorted(set(members["brand_id"].tolist())))) or "NULL"
    values = _read_frame(conn, _VALUES_SQL.format(brands=brands, period_filter=period_filter),
                         ["period", "brand_id", "metric_id", "value"], ["date", "int4", "int4", "float8"],
                         packed=periods is not None)
    metrics, platforms, section_weights, method = _catalogue(conn, ids)
    return ScoreInputs(_per_project(values, members), metrics, platforms, section_weights, method)


def _sqlite_rows(frame: pd.DataFrame) -> list[tuple]:
    out = frame.copy()
    out["period"] = pd.to_datetime(out["period"]).dt.strftime("%Y-%m-%d")
    return list(out.itertuples(index=False, name=None))


def _changes(conn: Connection, ids: list[int], scores: pd.DataFrame,
             periods: list[date] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """(rows to upsert, keys to delete, nothing stored yet): what differs from the stored scores
    of these projects (in `periods` only, when given).

    After an import most periods' scores are unchanged; writing only the difference keeps the
    write, the WAL and table bloat proportional to what moved.
    """
    keys = SCORE_COLUMNS[:5]
    level_code = "CASE level " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in _LEVEL_CODES.items()) + " END"
    in_periods = "" if periods is None else f" AND period IN ({_period_list(periods)})"
    old = _read_frame(
        conn,
        f"SELECT project_id, period, brand_id, {level_code}, node_id, score, coverage FROM dc_scores "
        f"WHERE project_id IN ({', '.join(map(str, ids))}){in_periods}",
        SCORE_COLUMNS, ["int4", "date", "int4", "int4", "int4", "float8", "float8"], packed=periods is not None,
    )
    if old.empty:
        return scores[SCORE_COLUMNS], old[keys], True
    old["level"] = np.array(list(_LEVEL_CODES), dtype=object)[old["level"].to_numpy()]
    new = scores[SCORE_COLUMNS].copy()
    new["period"] = pd.to_datetime(new["period"])
    merged = new.merge(old, on=keys, how="outer", suffixes=("", "_old"), indicator=True)
    present = merged["_merge"] != "right_only"
    moved = (merged["_merge"] == "left_only") | ~(
        np.isclose(merged["score"], merged["score_old"], rtol=0, atol=1e-12)
        & np.isclose(merged["coverage"], merged["coverage_old"], rtol=0, atol=1e-12)
    )
    return merged.loc[present & moved, SCORE_COLUMNS], merged.loc[~present, keys], False


def _store_scores(conn: Connection, ids: list[int], scores: pd.DataFrame, periods: list[date] | None = None) -> int:
    """Make dc_scores of these projects (in `periods`, when given) equal to `scores`; returns the
    number of rows written."""
    upsert, gone, fresh = _changes(conn, ids, scores, periods)
    keys = SCORE_COLUMNS[:5]
    if conn.dialect.name == "postgresql":
        if len(gone):
            conn.execute(text(
                f"CREATE TEMP TABLE dc_scores_gone ON COMMIT DROP AS "
                f"SELECT {', '.join(keys)} FROM dc_scores WITH NO DATA"
            ))
            pgcopy.copy_in(conn, "dc_scores_gone", gone, _SCORE_KINDS[:5])
            conn.execute(text(
                "DELETE FROM dc_scores d USING dc_scores_gone g WHERE "
                + " AND ".join(f"d.{k} = g.{k}" for k in keys)
            ))
        if fresh:
            pgcopy.copy_in(conn, "dc_scores", upsert, _SCORE_KINDS)  # first materialization: plain append
        elif len(upsert):
            conn.execute(text("CREATE TEMP TABLE dc_scores_new (LIKE dc_scores) ON COMMIT DROP"))
            pgcopy.copy_in(conn, "dc_scores_new", upsert, _SCORE_KINDS)
            conn.execute(text(
                f"INSERT INTO dc_scores SELECT * FROM dc_scores_new ON CONFLICT ({', '.join(keys)}) "
                "DO UPDATE SET score = EXCLUDED.score, coverage = EXCLUDED.coverage"
            ))
        return len(upsert) + len(gone)
    raw = conn.connection.dbapi_connection
    if len(gone):
        raw.executemany("DELETE FROM dc_scores WHERE " + " AND ".join(f"{k} = ?" for k in keys), _sqlite_rows(gone))
    if len(upsert):
        raw.executemany(
            f"INSERT INTO dc_scores ({', '.join(SCORE_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET score = excluded.score, coverage = excluded.coverage",
            _sqlite_rows(upsert),
        )
    return len(upsert) + len(gone)


def recompute_projects(db: Database, project_ids: Iterable[int] | None = None,
                       periods: Iterable[date] | None = None) -> int:
    """Recompute the scores of the given projects (all when None) and store them, in one transaction.

    With `periods`, only those periods are recomputed and stored (scores of a period depend on
    that period's values alone, see the module docstring): what an import of a few months needs.
    Returns the number of score rows the recomputed projects (periods) now hold. Only rows whose
    value moved are written; readers see the old scores until the commit.
    """
    with db.engine.begin() as conn:
        return recompute_on(conn, project_ids, periods)


def recompute_on(conn: Connection, project_ids: Iterable[int] | None = None,
                 periods: Iterable[date] | None = None) -> int:
    """`recompute_projects` inside the caller's transaction on `conn`: a change of the metric
    framework and the scores it implies commit (or roll back) together (core.setup.framework)."""
    wanted = None if periods is None else sorted({date.fromisoformat(str(p)[:10]) for p in periods})
    if project_ids is None:
        ids = list(conn.execute(select(Project.id)).scalars())
    else:
        ids = sorted({int(p) for p in project_ids})
    if not ids or wanted == []:
        return 0
    scores = compute_scores(load_inputs(conn, ids, wanted))
    _store_scores(conn, ids, scores, wanted)
    conn.execute(update(Project).where(Project.id.in_(ids)).values(scores_computed_at=datetime.now(UTC)))
    return len(scores)


def rescore_after_change(db: Database, project_ids: Iterable[int], periods: Iterable[date]) -> int:
    """Bring the projects' scores up to date after values changed in `periods` only.

    A project never scored (`scores_computed_at` unset) gets a full recompute, since scores it
    should already hold for other periods may be missing; the others recompute just `periods`.
    Returns the number of score rows written back (as `recompute_projects`).
    """
    ids = sorted({int(p) for p in project_ids})
    if not ids:
        return 0
    with db.engine.connect() as conn:
        never = set(conn.execute(
            select(Project.id).where(Project.id.in_(ids), Project.scores_computed_at.is_(None))).scalars())
    held = recompute_projects(db, sorted(never)) if never else 0
    scored = [p for p in ids if p not in never]
    return held + (recompute_projects(db, scored, periods) if scored else 0)


def score_change(conn: Connection, project_id: int, brand_id: int, period_from: date, period_to: date) -> pd.DataFrame:
    """Per-metric contributions to a brand's DC-score change between two periods."""
    inputs = load_inputs(conn, [project_id], periods=[period_from, period_to])
    return decompose_change(inputs, brand_id, project_id, period_from, period_to)
