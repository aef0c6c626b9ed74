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
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from benchmarks.naive_scoring import naive_scores
from core.db import Database
from core.models import Brand, DCScore, MetricValue, Project
from core.scoring.engine import compute_scores
from core.scoring.service import SCORE_COLUMNS, load_inputs, recompute_projects

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


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


def snapshot(db: Database) -> pd.Series:
    with db.engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(select(*(getattr(DCScore, c) for c in SCORE_COLUMNS))).all(),
                             columns=SCORE_COLUMNS)
    return frame.set_index(SCORE_COLUMNS[:5])["score"].sort_index()


def truncate_scores(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("TRUNCATE dc_scores"))


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
    parser.add_argument("--fresh", action="store_true", help="reseed even if the portfolio is already there")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)

    url = scratch_database(args.database_url or DEFAULT_ADMIN_URL, f"dc_bench_scoring_{args.brands}")
    db = Database(url)
    seeded = ensure_portfolio(db, args.brands, args.fresh)
    with db.session() as s:
        values = s.scalar(select(func.count()).select_from(MetricValue))
    print(f"portfolio: {args.brands} brands, {values:,} metric values"
          + (f" (seeded in {seeded:.1f} s)" if seeded else " (reused)"))

    ours_s, ours_runs = timed(lambda: recompute_projects(db), args.repeat, before=lambda: truncate_scores(db))
    ours_warm_s, _ = timed(lambda: recompute_projects(db), args.repeat)
    ours_scores = snapshot(db)
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
        "max_abs_diff": max_diff, "date": date.today().isoformat(),
    }
    print(f"{'seconds':28}{'ours':>10}{'baseline':>10}{'speedup':>10}")
    for label, ours_key, base_key, speed_key in (
        ("cold: every score written", "ours_s", "baseline_s", "speedup"),
        ("warm: scores unchanged", "ours_warm_s", "baseline_warm_s", "speedup_warm"),
        ("compute only (in memory)", "ours_compute_s", "baseline_compute_s", "speedup_compute"),
    ):
        print(f"{label:28}{result[ours_key]:10.3f}{result[base_key]:10.3f}{result[speed_key]:9.1f}×")
    print(f"baseline stages (cold): {result['baseline_stages_s']}")
    print(f"ours peak traced memory: {peak_mb:.0f} MB; results identical: {result['same_results']}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
