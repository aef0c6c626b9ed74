"""Memory of one web worker replaying the three journeys: RSS beside the Python heap, per variant.

    python -m benchmarks.memory --rounds 60 --json
    python -m benchmarks.memory --variants baseline,trim --rounds 30
    python -m benchmarks.memory --variants no_read_cache --roles Analyst --rounds 40   # one journey alone

Why: under the load test gunicorn workers' RSS climbs for minutes. This finds out, without locust,
whether Python objects pile up (tracemalloc's total climbs; the snapshot diff names the lines) or
native memory does (the Python heap is flat while RSS climbs: glibc keeping freed pages).

How: one fresh PostgreSQL database with the demo portfolio and users (as benchmarks.load seeds
it), one empty Redis database and a Celery worker for the optimizer's jobs (as in production). Then,
for each variant, a child process builds the app in-process (Flask's test client, so no server
noise), signs in the executive, the marketer and the analyst, and repeats their journeys
(benchmarks.journeys) --rounds times after --warmup rounds, sampling RSS every round. Variants run
one after another in the same run against the same data, so their growth per 1,000 requests can be
compared as ratios to the baseline:
- baseline: as deployed before this benchmark (glibc defaults);
- tracemalloc: the baseline with tracemalloc on (its own overhead inflates RSS: read its heap column);
- arena2: MALLOC_ARENA_MAX=2;
- trim_threshold: MALLOC_TRIM_THRESHOLD_=131072 (glibc's dynamic threshold off, trimming at 128 KB);
- trim: glibc's malloc_trim(0) after every --trim-every requests (as a gunicorn post_request hook would);
- no_read_cache, tracemalloc_no_read_cache: DIGICADENCE_READ_CACHE_ENTRIES=0 (what is left without it).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

from benchmarks.load import DEFAULT_ADMIN_URL, Run, app_env, prepare_database, procfile_command

VARIANTS: dict[str, dict[str, str]] = {
    "baseline": {},
    "tracemalloc": {},
    "arena2": {"MALLOC_ARENA_MAX": "2"},
    "trim_threshold": {"MALLOC_TRIM_THRESHOLD_": "131072"},
    "trim": {},
    "no_read_cache": {"DIGICADENCE_READ_CACHE_ENTRIES": "0"},
    "tracemalloc_no_read_cache": {"DIGICADENCE_READ_CACHE_ENTRIES": "0"},
}
PASSWORD = "memory-bench-passphrase-42"


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope: steadier than last-minus-first on a noisy series."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def _anonymous_mb() -> float | None:
    """Anonymous memory of this process (heap, arenas, C extensions' buffers), without file-backed pages
    (code and libraries touched for the first time): Linux /proc/self/smaps_rollup, else None."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return None
    return sum(int(line.split()[1]) for line in text.splitlines() if line.startswith("Anonymous:")) / 1024


def _pymalloc_arenas_mb() -> float | None:
    """Memory in CPython's small-object arenas (256 KB each), freed objects' slots included: an arena goes
    back to the system only once every object in it is gone, which tracemalloc's total does not show."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode(errors="replace")
    arenas = next((int(line.split("=")[1].replace(",", "")) for line in text.splitlines()
                   if line.startswith("# arenas allocated current")), None)
    return arenas * 256 / 1024 if arenas is not None else None  # None: not reported (tracemalloc on)


def _app_frame(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame of the app's own code (core/, dashboard/, api/) in an allocation's traceback."""
    root = str(Path(__file__).resolve().parent.parent)
    for frame in traceback:  # most recent first
        if frame.filename.startswith(root) and "/.venv/" not in frame.filename and "/benchmarks/" not in frame.filename:
            return f"{frame.filename[len(root) + 1:]}:{frame.lineno}"
    return "-"


def child(args: argparse.Namespace) -> dict:
    """One variant in this process: build the app, replay the journeys, report the samples."""
    from app import create_app
    from benchmarks.dash_client import DashTab, flask_csrf, flask_transport
    from benchmarks.journeys import JOURNEYS, ROLE_EMAILS, sign_in
    from core import read_cache
    from core.config import Config

    if args.variant.startswith("tracemalloc"):
        tracemalloc.start(30)
    config = Config.from_env()  # the parent passed what benchmarks.load passes gunicorn
    app = create_app(config, seed_demo=False)
    trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim if args.variant == "trim" else None
    counted = {"requests": 0, "trims": 0}
    tabs = {}
    roles = [r.strip() for r in args.roles.split(",")] if args.roles else list(JOURNEYS)
    for role in roles:
        client = app.server.test_client()
        inner = flask_transport(client)

        def send(*a, _inner=inner, **kw):
            response = _inner(*a, **kw)
            counted["requests"] += 1
            if trim is not None and counted["requests"] % args.trim_every == 0:
                trim(0)  # what a gunicorn post_request hook calling malloc_trim would do
                counted["trims"] += 1
            return response

        sign_in(send, ROLE_EMAILS[role], PASSWORD)
        tabs[role] = (send, flask_csrf(client))

    def one_round() -> None:
        for role in roles:
            journey, (send, csrf) = JOURNEYS[role], tabs[role]
            tab = DashTab(send, "http://localhost", csrf, poll_timeout_s=300, sleep=lambda s: time.sleep(min(s, 0.2)))
            journey(tab, lambda low, high: None)

    me = psutil.Process()
    for _ in range(args.warmup):
        one_round()
    base_snapshot = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
    compiled_start = len(app.server.extensions["digicadence"].db.engine._compiled_cache or ())
    samples = []
    started = time.monotonic()
    for number in range(args.rounds + 1):
        if number:
            one_round()
        heap = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
        samples.append({"round": number, "requests": counted["requests"], "rss_mb": me.memory_info().rss / 2**20,
                        "anon_mb": _anonymous_mb(), "arenas_mb": _pymalloc_arenas_mb(),
                        "heap_mb": heap / 2**20 if heap is not None else None})
    top = []
    if base_snapshot is not None:
        diff = tracemalloc.take_snapshot().compare_to(base_snapshot, "traceback")
        top = [f"{stat.size_diff / 1024:+.0f} KB {stat.traceback[0].filename}:{stat.traceback[0].lineno}"
               f" from {_app_frame(stat.traceback)}" for stat in diff[:8]]
    reqs = [s["requests"] / 1000 for s in samples]
    engine = app.server.extensions["digicadence"].db.engine
    cache = read_cache.cache_for(engine)
    values = list(cache._lru.values()) if cache._lru is not None else []
    cached_mb = sum(len(pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)) for v in values) / 2**20
    result = {
        "variant": args.variant, "rounds": args.rounds, "requests": samples[-1]["requests"] - samples[0]["requests"],
        "seconds": round(time.monotonic() - started, 1),
        "rss_start_mb": round(samples[0]["rss_mb"], 1), "rss_end_mb": round(samples[-1]["rss_mb"], 1),
        "rss_mb_per_1000_requests": round(_slope(reqs, [s["rss_mb"] for s in samples]), 2),
        "anon_mb_per_1000_requests": round(_slope(reqs, [s["anon_mb"] for s in samples]), 2)
        if samples[0]["anon_mb"] is not None else None,
        "pymalloc_arenas_mb_per_1000_requests": round(_slope(reqs, [s["arenas_mb"] for s in samples]), 2)
        if samples[0]["arenas_mb"] is not None else None,
        "heap_mb_per_1000_requests": round(_slope(reqs, [s["heap_mb"] for s in samples]), 2)
        if samples[0]["heap_mb"] is not None else None,
        "heap_start_mb": round(samples[0]["heap_mb"], 1) if samples[0]["heap_mb"] is not None else None,
        "heap_end_mb": round(samples[-1]["heap_mb"], 1) if samples[-1]["heap_mb"] is not None else None,
        "trims": counted["trims"], "read_cache_entries": len(values),
        "sqlalchemy_compiled_cache": {"start": compiled_start, "end": len(engine._compiled_cache or ())},
        "read_cache_pickled_mb": round(cached_mb, 1),
        "top_heap_growth": top,
        "rss_trend_mb": [round(s["rss_mb"], 1) for s in samples[:: max(1, args.rounds // 10)]],
    }
    print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="journey rounds measured per variant")
    parser.add_argument("--warmup", type=int, default=5, help="rounds before measuring (first-use caches)")
    parser.add_argument("--variants", default="baseline,no_read_cache,trim,arena2,tracemalloc")
    parser.add_argument("--trim-every", type=int, default=50)
    parser.add_argument("--roles", default="", help="journeys to replay, e.g. 'Analyst' (default: all three)")
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="an empty Redis database")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant in this process
    args = parser.parse_args(argv)
    if args.variant:
        return child(args)

    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    run = Run(args.database_url)
    results = []
    try:
        run.claim_redis(args.redis_url)
        url, seeded = prepare_database(run, PASSWORD)
        print(seeded, flush=True)
        env = {**app_env(run, url, args.redis_url, 8050, 1), "DIGICADENCE_DEMO_PASSWORD": PASSWORD}
        run.start("worker", ["bash", "-c", "exec " + procfile_command("worker")], env)
        for name in names:
            command = [sys.executable, "-m", "benchmarks.memory", "--variant", name, "--rounds", str(args.rounds),
                       "--warmup", str(args.warmup), "--trim-every", str(args.trim_every), "--roles", args.roles]
            done = subprocess.run(command, env={**env, **VARIANTS[name]}, capture_output=True, text=True,
                                  cwd=os.getcwd())
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode or not lines:
                raise SystemExit(f"variant {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
            results.append(json.loads(lines[-1]))
            r = results[-1]
            print(f"{name:15} {r['requests']:6} req  RSS {r['rss_start_mb']:7.1f} → {r['rss_end_mb']:7.1f} MB  "
                  f"{r['rss_mb_per_1000_requests']:6.2f} MB/1000 req  anonymous {r['anon_mb_per_1000_requests']}  "
                  f"pymalloc arenas {r['pymalloc_arenas_mb_per_1000_requests']}  heap "
                  f"{r['heap_mb_per_1000_requests'] if r['heap_mb_per_1000_requests'] is not None else '-'}  "
                  f"read cache {r['read_cache_entries']} entries {r['read_cache_pickled_mb']} MB pickled  "
                  f"SQLAlchemy compiled cache {r['sqlalchemy_compiled_cache']}",
                  flush=True)
            for line in r["top_heap_growth"]:
                print("    " + line)
    finally:
        run.cleanup()
    base = next((r for r in results if r["variant"] == "baseline"), None)
    for r in results:
        r["growth_ratio_to_baseline"] = (round(r["rss_mb_per_1000_requests"] / base["rss_mb_per_1000_requests"], 2)
                                         if base and base["rss_mb_per_1000_requests"] > 0 else None)
    summary = {"benchmark": "memory", "roles": args.roles or "all",
               "rounds": args.rounds, "warmup": args.warmup, "trim_every": args.trim_every,
               "variants": results}
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
