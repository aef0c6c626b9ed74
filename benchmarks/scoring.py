"""Recompute every DC score of an N-brand portfolio on PostgreSQL: ours beside a naive baseline.

    python -m benchmarks.scoring --brands 500 --json

Seeds (or reuses) a scratch database holding the benchmark portfolio, then in the same run:
* ours: `core.scoring.service.recompute_projects` — COPY out, vectorized numpy/pandas, COPY in;
* baseline: the same rows fetched with a plain cursor, scored by the per-row Python loops of
  `benchmarks.naive_scoring`, written back with executemany — what a first implementation does.
Two cases: cold (dc_scores emptied first, so every score is written) and warm (scores already
stored and unchanged: ours writes only what moved, the baseline rewrites everything). `speedup`
is the cold case, the conservative one. Both produce the same scores (checked). Timings are
medians of --repeat runs; ours' peak memory is measured by tracemalloc in a separate, untimed
run. The last line is one JSON object.

Two more figures, in the same run and database:
* I/O floor: what no recompute can beat — one COPY out of the value columns and one COPY in of
  the same score rows ours wrote (encoded beforehand, untimed) into the emptied dc_scores, in one
  transaction. `io_floor_ratio` = ours (cold) / floor.
* incremental: one new month for every brand imported through the real importer
  (`core.imports.commit`, which rescores the affected projects), until a read of the portfolio view
  (`core.portfolio.brand_ranking`, through the read cache warmed beforehand) of every project
  returns that month's scores. Beside it the previous trigger, the same import rescoring the
  projects whole. The month is removed again afterwards, so a rerun measures the same thing;
  `incremental_same_as_full` checks the month's scores against a full recompute.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import time
import tracemalloc
from datetime import date
from unittest import mock

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from benchmarks.naive_scoring import naive_scores
from core import pgcopy
from core.db import Database
from core.imports import commit
from core.models import Brand, DCScore, ImportBatch, Metric, MetricValue, Project
from core.portfolio import brand_ranking
from core.read_cache import cache_for
from core.scoring import service as scoring_service
from core.scoring.engine import compute_scores
from core.scoring.service import SCORE_COLUMNS, load_inputs, recompute_projects
from core.security import Principal
from core.security.permissions import ALL_PERMISSIONS

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_SCORE_KINDS = ["int4", "date", "int4", "text", "int4", "float8", "float8"]
# The portfolio view as read by someone who may see every project (scoping costs are not measured here).
EVERYONE = Principal(user_id=None, organization_id=None, system=ALL_PERMISSIONS)


def scratch_database(admin_url: str, name: str) -> str:
    """Create database `name` next to the admin URL's database if missing; return its URL."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def ensure_portfolio(db: Database, brands: int, fresh: bool) -> float | None:
    """Seed the N-brand portfolio unless the database already holds exactly that; seconds or None."""
    db.upgrade()
    with db.session() as s:
        have_brands = s.scalar(select(func.count()).select_from(Brand))
        have_values = s.scalar(select(func.count()).select_from(MetricValue))
    if not fresh and have_brands == brands and have_values:
        return None
    from core.demo import seed_demo

    started = time.perf_counter()
    seed_demo(db, brands=brands, reset=True)
    return time.perf_counter() - started


def naive_recompute(db: Database) -> dict[str, float]:
    """The baseline: fetch rows, loop in Python, insert row by row (executemany). Stage timings."""
    timings = {}
    with db.engine.begin() as conn:
        t0 = time.perf_counter()
        project_ids = list(conn.execute(select(Project.id)).scalars())
        rows = conn.execute(text(
            "SELECT pb.project_id, mv.period, mv.brand_id, mv.metric_id, mv.raw_value "
            "FROM metric_values mv JOIN project_brands pb ON pb.brand_id = mv.brand_id"
        )).all()
        meta = conn.execute(text(
            "SELECT m.id, m.platform_id, p.section_id, m.weight, m.direction FROM metrics m "
            "JOIN platforms p ON p.id = m.platform_id"
        )).all()
        metrics = {m[0]: tuple(m[1:]) for m in meta}
        platform_weights = dict(conn.execute(text("SELECT id, weight FROM platforms")).all())
        section_ids = dict(conn.execute(text("SELECT name, id FROM sections")).all())
        section_weights = {}
        for pid, weights in conn.execute(select(Project.id, Project.section_weights)).all():
            for name, weight in (weights or {}).items():
                section_weights[(pid, section_ids[name])] = float(weight)
        timings["load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = naive_scores(rows, metrics, platform_weights, section_weights)
        timings["compute_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(text("DELETE FROM dc_scores WHERE project_id = ANY(:ids)"), {"ids": project_ids})
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.executemany(
            f"INSERT INTO dc_scores ({', '.join(SCORE_COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s, %s)", scores
        )
        timings["store_s"] = time.perf_counter() - t0
    timings["total_s"] = sum(timings.values())
    timings["rows"] = len(rows)
    return timings


def score_rows(db: Database) -> pd.DataFrame:
    with db.engine.connect() as conn:
        return pd.DataFrame(conn.execute(select(*(getattr(DCScore, c) for c in SCORE_COLUMNS))).all(),
                            columns=SCORE_COLUMNS)


def snapshot(db: Database) -> pd.Series:
    return score_rows(db).set_index(SCORE_COLUMNS[:5])["score"].sort_index()


def month_scores(db: Database, month: date) -> pd.Series:
    scores = snapshot(db)
    return scores[scores.index.get_level_values("period") == month]


def truncate_scores(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("TRUNCATE dc_scores"))


def io_floor(db: Database, scores: pd.DataFrame) -> float:
    """Seconds to read the value columns and write `scores` (same rows, same table) in one transaction.

    The stream is encoded before the clock starts and dc_scores is emptied first, as in ours' cold
    case, so the write pays the same indexes, trigger and WAL; only the reading and the writing remain.
    """
    stream = pgcopy.encode(scores[SCORE_COLUMNS], _SCORE_KINDS)
    truncate_scores(db)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur, cur.copy(
            "COPY (SELECT period, brand_id, metric_id, raw_value FROM metric_values) TO STDOUT WITH (FORMAT binary)"
        ) as copy:
            for _chunk in copy:
                pass
        with raw.cursor() as cur, cur.copy(
            f"COPY dc_scores ({', '.join(SCORE_COLUMNS)}) FROM STDIN WITH (FORMAT binary)"
        ) as copy:
            copy.write(stream)
    return time.perf_counter() - started


def next_month_file(db: Database, seed: int = 13) -> tuple[bytes, date, int]:
    """A long-format metrics CSV for the month after the latest: every brand's every metric, the latest
    value moved by a few per cent (kept in the metric's range). Returns (bytes, month, organization id)."""
    with db.engine.connect() as conn:
        latest = conn.scalar(select(func.max(MetricValue.period)))
        rows = conn.execute(
            select(Brand.name, Brand.organization_id, Metric.code, Metric.min_value, Metric.max_value,
                   MetricValue.raw_value)
            .join(Brand, Brand.id == MetricValue.brand_id).join(Metric, Metric.id == MetricValue.metric_id)
            .where(MetricValue.period == latest).order_by(Brand.name, Metric.code)
        ).all()
    month = date(latest.year + latest.month // 12, latest.month % 12 + 1, 1)
    rng = np.random.default_rng(seed)
    moved = np.array([r.raw_value for r in rows]) * rng.uniform(0.95, 1.05, len(rows))
    lo = np.array([-np.inf if r.min_value is None else r.min_value for r in rows], dtype=float)
    hi = np.array([np.inf if r.max_value is None else r.max_value for r in rows], dtype=float)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["brand", "metric", "period", "value"])
    out.writerows((r.name, r.code, month.isoformat(), f"{v:.6g}") for r, v in zip(rows, np.clip(moved, lo, hi),
                                                                                strict=True))
    return buf.getvalue().encode(), month, rows[0].organization_id


def forget_month(db: Database, month: date) -> None:
    """Remove an imported month (values, scores, batches) so the portfolio is as seeded again."""
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM dc_scores WHERE period = :m"), {"m": month})
        conn.execute(text("DELETE FROM metric_values WHERE period = :m"), {"m": month})
        conn.execute(ImportBatch.__table__.delete())


def import_until_visible(db: Database, data: bytes, month: date, organization_id: int) -> float:
    """Seconds from the start of the import until a read of the portfolio view shows `month`'s new scores.

    The clock stops at the first project's view (the scores of every project commit together);
    every project's view is then checked, untimed, against the stored scores.
    """
    with db.engine.connect() as conn:
        project_ids = list(conn.execute(select(Project.id).order_by(Project.id)).scalars())
        for pid in project_ids:  # what people were looking at: the cache holds the latest month
            brand_ranking(conn, EVERYONE, pid)
    started = time.perf_counter()
    report = commit(db, organization_id, data, {"kind": "metrics"}, filename=f"metrics-{month:%Y-%m}.csv")
    if not report.committed or report.warnings:
        raise RuntimeError(f"import failed: {report.errors[:3]} {report.warnings}")
    with db.engine.connect() as conn:
        views = {project_ids[0]: brand_ranking(conn, EVERYONE, project_ids[0], month)}
    elapsed = time.perf_counter() - started
    with db.engine.connect() as conn:
        for pid in project_ids:
            view = views.get(pid)
            view = brand_ranking(conn, EVERYONE, pid) if view is None else view
            stored = dict(conn.execute(select(DCScore.brand_id, DCScore.score).where(
                DCScore.project_id == pid, DCScore.period == month, DCScore.level == "total")).all())
            shown = dict(zip(view["brand_id"], view["score"], strict=True))
            if not stored or shown != stored:
                raise RuntimeError(f"project {pid}: the portfolio view does not show {month}'s scores")
    return elapsed


def incremental(db: Database) -> dict[str, float | bool]:
    """Ours (rescoring the imported month) beside the previous trigger (rescoring whole projects)."""
    data, month, org = next_month_file(db)
    forget_month(db, month)
    cache_for(db.engine).clear()
    ours = import_until_visible(db, data, month, org)
    incremental_scores = month_scores(db, month)
    recompute_projects(db)
    full_scores = month_scores(db, month)
    same = incremental_scores.index.equals(full_scores.index) and bool(
        np.allclose(incremental_scores.to_numpy(), full_scores.to_numpy(), rtol=0, atol=1e-9))
    forget_month(db, month)

    def whole_projects(db_: Database, project_ids, _periods) -> int:
        return recompute_projects(db_, project_ids)

    with mock.patch.object(scoring_service, "rescore_after_change", whole_projects):
        baseline = import_until_visible(db, data, month, org)
    forget_month(db, month)
    return {"incremental_s": ours, "baseline_incremental_s": baseline, "incremental_same_as_full": same,
            "incremental_rows": data.count(b"\n") - 1}


def timed(fn, repeat: int, before=None) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), runs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of ours (median); baseline runs once")
    parser.add_argument("--database-url", default=None, help="PostgreSQL admin URL (default: local `test` database)")
    parser.add_argument("--database-name", default=None,
                        help="scratch database to seed or reuse (default: dc_bench_scoring_<brands>)")
    parser.add_argument("--fresh", action="store_true", help="reseed even if the portfolio is already there")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)

    url = scratch_database(args.database_url or DEFAULT_ADMIN_URL,
                           args.database_name or f"dc_bench_scoring_{args.brands}")
    db = Database(url)
    seeded = ensure_portfolio(db, args.brands, args.fresh)
    with db.session() as s:
        values = s.scalar(select(func.count()).select_from(MetricValue))
    print(f"portfolio: {args.brands} brands, {values:,} metric values"
          + (f" (seeded in {seeded:.1f} s)" if seeded else " (reused)"))

    # Ours (cold) and the I/O floor alternate, so a change in the machine's load weighs on both alike.
    ours_runs, floor_runs, stored = [], [], None
    for _ in range(args.repeat):
        ours_runs.append(timed(lambda: recompute_projects(db), 1, before=lambda: truncate_scores(db))[0])
        stored = score_rows(db) if stored is None else stored
        floor_runs.append(io_floor(db, stored))
    ours_s, floor_s = statistics.median(ours_runs), statistics.median(floor_runs)
    truncate_scores(db)
    recompute_projects(db)
    ours_warm_s, _ = timed(lambda: recompute_projects(db), args.repeat)
    ours_scores = stored.set_index(SCORE_COLUMNS[:5])["score"].sort_index()
    inc = incremental(db)
    with db.engine.connect() as conn:
        inputs = load_inputs(conn, conn.execute(select(Project.id)).scalars().all())
    compute_s, _ = timed(lambda: compute_scores(inputs), args.repeat)
    tracemalloc.start()
    recompute_projects(db)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    truncate_scores(db)
    baseline = naive_recompute(db)
    baseline_warm = naive_recompute(db)
    baseline_scores = snapshot(db)
    recompute_projects(db)  # leave our own result behind
    same_index = ours_scores.index.equals(baseline_scores.index)
    max_diff = float(np.max(np.abs(ours_scores.to_numpy() - baseline_scores.to_numpy()))) if same_index else None

    result = {
        "benchmark": "scoring", "brands": args.brands, "values": values, "score_rows": len(ours_scores),
        "ours_s": round(ours_s, 3), "ours_runs_s": [round(r, 3) for r in ours_runs],
        "baseline_s": round(baseline["total_s"], 3),
        "baseline_stages_s": {k: round(v, 3) for k, v in baseline.items() if k.endswith("_s") and k != "total_s"},
        "speedup": round(baseline["total_s"] / ours_s, 1),
        "ours_warm_s": round(ours_warm_s, 3), "baseline_warm_s": round(baseline_warm["total_s"], 3),
        "speedup_warm": round(baseline_warm["total_s"] / ours_warm_s, 1),
        "ours_compute_s": round(compute_s, 3), "baseline_compute_s": round(baseline["compute_s"], 3),
        "speedup_compute": round(baseline["compute_s"] / compute_s, 1),
        "ours_peak_mb": round(peak_mb, 1), "same_results": same_index and max_diff is not None and max_diff < 1e-9,
        "max_abs_diff": max_diff,
        "io_floor_s": round(floor_s, 3), "io_floor_runs_s": [round(r, 3) for r in floor_runs],
        "io_floor_ratio": round(ours_s / floor_s, 2),
        "incremental_s": round(inc["incremental_s"], 3),
        "baseline_incremental_s": round(inc["baseline_incremental_s"], 3),
        "speedup_incremental": round(inc["baseline_incremental_s"] / inc["incremental_s"], 1),
        "incremental_rows": inc["incremental_rows"], "incremental_same_as_full": inc["incremental_same_as_full"],
        "date": date.today().isoformat(),
    }
    print(f"{'seconds':28}{'ours':>10}{'baseline':>10}{'speedup':>10}")
    for label, ours_key, base_key, speed_key in (
        ("cold: every score written", "ours_s", "baseline_s", "speedup"),
        ("warm: scores unchanged", "ours_warm_s", "baseline_warm_s", "speedup_warm"),
        ("compute only (in memory)", "ours_compute_s", "baseline_compute_s", "speedup_compute"),
    ):
        print(f"{label:28}{result[ours_key]:10.3f}{result[base_key]:10.3f}{result[speed_key]:9.1f}×")
    print(f"{'new month imported, visible':28}{result['incremental_s']:10.3f}"
          f"{result['baseline_incremental_s']:10.3f}{result['speedup_incremental']:9.1f}×")
    print(f"I/O floor (read values, write scores): {result['io_floor_s']:.3f} s; "
          f"ours cold / floor = {result['io_floor_ratio']:.2f}")
    print(f"baseline stages (cold): {result['baseline_stages_s']}")
    print(f"ours peak traced memory: {peak_mb:.0f} MB; results identical: {result['same_results']}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
