"""The load test: the app under gunicorn with its Celery worker, on PostgreSQL and Redis, under locust.

    python -m benchmarks.load --users 50 --minutes 5 --json
    python -m benchmarks.load --users 5 --minutes 0.5            # smoke run

What it does, all in throw-away places it removes again (also on Ctrl+C):
1. creates a fresh PostgreSQL database next to --database-url (default: the local `test` database),
   migrates it and seeds the standard demo portfolio (core.demo: 2 organizations, 4 projects,
   72 brands, 60 metrics, 36 months) and the demo users with a random password for this run;
   It takes an empty Redis database (--redis-url, default db 7) and empties it again at the end.
2. starts the Procfile's `web` command (gunicorn; WEB_CONCURRENCY = 2 × cores + 1 workers unless
   --workers) and its `worker` command (Celery), both with REDIS_URL, DATABASE_URL, SECRET_KEY and
   sign-in rate limits raised for the run (everyone signs in from 127.0.0.1);
3. runs locust headless (benchmarks/locustfile.py) with the three kinds of user mixed 5:3:2
   (executives : marketers : analysts), each signing in once and repeating their journey;
4. prints p50/p95 per page (all requests of a page: page, layout, dependencies, callbacks, polls),
   the error count with the first failures, and the memory (RSS) of gunicorn (master + workers) and
   the Celery worker (with its pool) after the warm-up and at the end. The last line is one JSON object.

Memory growth is measured from the end of the warm-up (the first quarter of the run) to the end, so
lazy imports and first-use caches do not pose as a leak; the RSS right after start-up is printed too,
and the JSON carries the total every 30 s (`rss_trend_mb`): a leak climbs steadily, warming flattens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from core.config import PROJECT_ROOT

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
PAGES = ("sign-in", "portfolio", "brand", "optimizer", "scenarios")
TARGETS = {"errors": 0, "p95_ms": 800, "rss_growth_pct": 10}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_command(kind: str) -> str:
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == kind:
            return command.strip()
    raise SystemExit(f"Procfile has no {kind!r} process")


@dataclass
class Run:
    """Everything the run started, so cleanup can undo exactly that."""

    admin_url: str
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dc-load-")))
    database: str | None = None
    redis_url: str | None = None  # set once the run has claimed that (empty) Redis database
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def claim_redis(self, url: str) -> None:
        """Take a Redis database for the run; it must be empty, as it is emptied again at the end."""
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
        try:
            keys = client.dbsize()
        except redis.RedisError as exc:
            raise SystemExit(f"Redis not reachable at {url}: {exc}") from exc
        finally:
            client.close()
        if keys:
            db = client.connection_pool.connection_kwargs.get("db", 0)
            raise SystemExit(f"Redis database {db} at {url} holds {keys} key{'s' * (keys != 1)}; the load test "
                             f"needs an empty one, which it empties again when done: pass another with "
                             f"--redis-url, or empty this one (redis-cli -n {db} flushdb)")
        self.redis_url = url

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("w")
        # Its own session: cleanup signals this process group (the process and its children) only.
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.processes[name] = proc
        return proc

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self, name: str, timeout: float = 20) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # stragglers of the group (a pool child, a worker)
            os.killpg(proc.pid, signal.SIGKILL)

    def cleanup(self) -> None:
        for name in list(self.processes)[::-1]:
            self.stop(name)
        if self.database:
            admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            finally:
                admin.dispose()
            self.database = None
        if self.redis_url:  # sessions, rate-limit counters, Celery results, the shared read cache
            client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=5)
            try:
                client.flushdb()
            finally:
                client.close()
            self.redis_url = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def prepare_database(run: Run, password: str) -> tuple[str, str]:
    """A fresh database with the schema, the demo portfolio and the demo users; (url, what was seeded)."""
    from core.db import Database
    from core.demo import seed_demo
    from core.models import Organization
    from core.security import SecretBox, ensure_demo_users
    from core.security.crypto import load_keys

    run.database = f"dc_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(run.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{run.database}"'))
    finally:
        admin.dispose()
    url = make_url(run.admin_url).set(database=run.database).render_as_string(hide_password=False)
    db = Database(url)
    try:
        db.upgrade()  # once here, not raced by every gunicorn worker at boot
        summary = seed_demo(db)
        with db.session() as s:
            org_ids = list(s.scalars(select(Organization.id).order_by(Organization.id)))
        ensure_demo_users(db, *org_ids, password=password, box=SecretBox(load_keys((), run.workdir)))
    finally:
        db.dispose()
    seeded = (f"demo portfolio: {len(summary.organizations)} organizations, {summary.projects} projects, "
              f"{summary.brands} brands, {summary.metrics} metrics, {summary.periods} months, "
              f"{summary.metric_values:,} metric values")
    return url, seeded


def app_env(run: Run, url: str, redis_url: str, port: int, workers: int) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DIGICADENCE_")},
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_hex(32),
        "DIGICADENCE_DEMO": "0",
        "DIGICADENCE_INSTANCE_DIR": str(run.workdir),
        # Every simulated person signs in from 127.0.0.1, many to one demo account; the limits
        # themselves are tested in tests/integration/web/test_sign_in.py.
        "DIGICADENCE_SIGNIN_RATE_PER_IP": "100000 per minute",
        "DIGICADENCE_SIGNIN_RATE_PER_ACCOUNT": "100000 per minute",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "PYTHONUNBUFFERED": "1",
    }


def wait_ready(run: Run, base_url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    web_ok = worker_ok = False
    while time.monotonic() < deadline:
        for name in ("web", "worker"):
            if run.processes[name].poll() is not None:
                raise SystemExit(f"{name} exited with {run.processes[name].returncode}:\n{run.log_tail(name)}")
        if not web_ok:
            with contextlib.suppress(requests.RequestException):
                web_ok = requests.get(f"{base_url}/readyz", timeout=2).status_code == 200
        worker_ok = worker_ok or " ready." in run.log_tail("worker", 100_000)
        if web_ok and worker_ok:
            return
        time.sleep(1)
    raise SystemExit(f"app not ready within {timeout:.0f} s (web {web_ok}, worker {worker_ok}):\n"
                     f"{run.log_tail('web')}\n{run.log_tail('worker')}")


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (empty once gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants, in bytes (0 once gone)."""
    total = 0
    for proc in tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


class MemorySampler(threading.Thread):
    """Every few seconds: RSS of gunicorn (master + workers) and the Celery worker (with its pool), and
    the CPU seconds of every process of each watched tree (locust too, once added), so the report can
    say where the machine's two cores went. CPU of a process is its last reading: a gunicorn worker
    recycled between two samples loses at most one interval."""

    def __init__(self, pids: dict[str, int], every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.pids, self.every = dict(pids), every
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.cpu: dict[str, dict[int, float]] = {name: {} for name in pids}
        self.cpu_only: dict[str, int] = {}
        self.halt = threading.Event()

    def watch(self, name: str, pid: int) -> None:
        """Add a tree for CPU only (not in the memory totals)."""
        self.cpu.setdefault(name, {})
        self.cpu_only[name] = pid

    def cpu_seconds(self) -> dict[str, float]:
        return {name: sum(by_pid.values()) for name, by_pid in self.cpu.items()}

    def sample(self) -> dict[str, int]:
        values = {name: tree_rss(pid) for name, pid in self.pids.items()}
        for name, pid in {**self.pids, **self.cpu_only}.items():
            for proc in tree(pid):
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    self.cpu[name][proc.pid] = times.user + times.system
        self.samples.append((time.monotonic(), values))
        return values

    def run(self) -> None:
        while not self.halt.wait(self.every):
            self.sample()

    def at(self, moment: float) -> dict[str, int]:
        """The first sample at or after `moment` (the last one if none)."""
        for when, values in self.samples:
            if when >= moment:
                return values
        return self.samples[-1][1]


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """From locust's response-time histogram {rounded ms: count}."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = fraction * total, 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= rank:
            return float(ms)
    return float(max(histogram))


def summarize(entries: list[dict]) -> dict:
    """Per page (the first word of a request name) and overall: requests, failures, p50, p95, max."""
    pages: dict[str, dict] = {}
    overall: dict[int, int] = {}
    for entry in entries:
        page = entry["name"].split(" ", 1)[0]
        row = pages.setdefault(page, {"requests": 0, "failures": 0, "hist": {}})
        row["failures"] += entry["num_failures"]
        if entry["method"] == "JOURNEY":
            continue  # a failed journey, not a request: counted as a failure, not timed
        row["requests"] += entry["num_requests"]
        for ms, count in entry["response_times"].items():
            row["hist"][int(float(ms))] = row["hist"].get(int(float(ms)), 0) + count
            overall[int(float(ms))] = overall.get(int(float(ms)), 0) + count
    table = {page: {"requests": r["requests"], "failures": r["failures"], "p50_ms": percentile(r["hist"], 0.5),
                    "p95_ms": percentile(r["hist"], 0.95), "max_ms": float(max(r["hist"])) if r["hist"] else None}
             for page, r in sorted(pages.items(), key=lambda kv: PAGES.index(kv[0]) if kv[0] in PAGES else 99)}
    slowest = sorted(((percentile({int(float(k)): v for k, v in e["response_times"].items()}, 0.95) or 0,
                       e["num_requests"], e["name"]) for e in entries if e["method"] != "JOURNEY"), reverse=True)[:6]
    return {"pages": table, "requests": sum(overall.values()), "errors": sum(r["failures"] for r in pages.values()),
            "p50_ms": percentile(overall, 0.5), "p95_ms": percentile(overall, 0.95), "slowest": slowest}


def read_cache_outcomes(base_url: str) -> dict[str, int]:
    """Read-model cache lookups by outcome (hit, shared_hit, miss, bypass) from the app's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text_ = requests.get(f"{base_url}/metrics", timeout=10).text
    except requests.RequestException:
        return {}
    totals: dict[str, int] = {}
    for family in text_string_to_metric_families(text_):
        if family.name == "digicadence_read_cache":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    outcome = sample.labels["outcome"]
                    totals[outcome] = totals.get(outcome, 0) + int(sample.value)
    return totals


def failures(path: Path, limit: int = 8) -> list[str]:
    import csv

    if not path.exists():
        return []
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    return [f"{r.get('Occurrences')}× {r.get('Method')} {r.get('Name')}: {r.get('Error', '')[:300]}"
            for r in rows[:limit]]


def run_locust(run: Run, base_url: str, args, password: str) -> subprocess.Popen:
    env = {**os.environ, "DIGICADENCE_DEMO_PASSWORD": password, "DC_LOAD_MIX": args.mix,
           "DC_LOAD_THINK_SCALE": str(args.think_scale)}
    spawn_rate = args.spawn_rate or max(1.0, args.users / 10)
    command = [sys.executable, "-m", "locust", "-f", str(PROJECT_ROOT / "benchmarks" / "locustfile.py"),
               "--headless", "--users", str(args.users), "--spawn-rate", str(spawn_rate),
               "--run-time", f"{max(1, round(args.minutes * 60))}s", "--host", base_url, "--only-summary",
               "--json-file", str(run.workdir / "stats"), "--csv", str(run.workdir / "locust"),
               "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    return run.start("locust", command, env)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: 2 × cores + 1)")
    parser.add_argument("--mix", default="5:3:2", help="executives:marketers:analysts (default 5:3:2)")
    parser.add_argument("--spawn-rate", type=float, default=None, help="users started per second (default users/10)")
    parser.add_argument("--think-scale", type=float, default=1.0, help="factor on every pause between steps")
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL (a database is "
                        "created next to it and dropped at the end)")
    parser.add_argument("--redis-url", default=os.environ.get("DC_LOAD_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    workers = args.workers or 2 * (os.cpu_count() or 1) + 1

    run = Run(admin_url=args.database_url)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        run.claim_redis(args.redis_url)
        password = secrets.token_urlsafe(18)
        url, seeded = prepare_database(run, password)
        print(f"database {run.database}: {seeded}", flush=True)
        port = _free_port()
        env = app_env(run, url, args.redis_url, port, workers)
        run.start("worker", ["bash", "-c", "exec " + procfile_command("worker")], env)
        run.start("web", ["bash", "-c", "exec " + procfile_command("web")], env)
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(run, base_url)
        sampler = MemorySampler({"gunicorn": run.processes["web"].pid, "celery": run.processes["worker"].pid})
        boot = sampler.sample()
        workers = len(psutil.Process(run.processes["web"].pid).children())  # what gunicorn really started
        print(f"app up on {base_url}: gunicorn with {workers} workers, Celery worker; {args.users} users "
              f"({args.mix}) for {args.minutes:g} min", flush=True)
        sampler.start()
        started = time.monotonic()
        cpu_before = sampler.cpu_seconds()
        locust = run_locust(run, base_url, args, password)
        sampler.watch("locust", locust.pid)
        locust.wait(timeout=args.minutes * 60 + 300)
        sampler.halt.set()
        end = sampler.sample()
        elapsed = time.monotonic() - started
        cpu = {name: round(spent - cpu_before.get(name, 0.0), 1) for name, spent in sampler.cpu_seconds().items()}
        warm = sampler.at(started + args.minutes * 60 / 4)
        trend = [round(sum(v.values()) / 2 ** 20) for when, v in sampler.samples if when >= started][::6]
        cache = read_cache_outcomes(base_url)
        stats_path = run.workdir / "stats.json"
        if not stats_path.exists():
            raise SystemExit(f"locust wrote no stats:\n{run.log_tail('locust')}")
        stats = summarize(json.loads(stats_path.read_text()))
        failed = failures(run.workdir / "locust_failures.csv")
        errors_log = [line for line in run.log_tail("web", 200_000).splitlines() if " ERROR " in line or
                      "Traceback" in line]
    finally:
        run.cleanup()
        signal.signal(signal.SIGTERM, previous)

    mb = 2 ** 20
    start_total, end_total = sum(warm.values()), sum(end.values())
    growth = (end_total - start_total) / start_total * 100 if start_total else None
    print(f"\n{'page':12} {'requests':>9} {'failures':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for page, row in stats["pages"].items():
        print(f"{page:12} {row['requests']:9d} {row['failures']:9d} {row['p50_ms'] or 0:8.0f} "
              f"{row['p95_ms'] or 0:8.0f} {row['max_ms'] or 0:8.0f}")
    print(f"{'all':12} {stats['requests']:9d} {stats['errors']:9d} {stats['p50_ms'] or 0:8.0f} "
          f"{stats['p95_ms'] or 0:8.0f}")
    print("slowest requests (p95 ms, count, name):", "; ".join(f"{p:.0f} {n}× {name}" for p, n, name in
                                                                stats["slowest"]))
    for line in failed:
        print("  failure:", line)
    if errors_log:
        print(f"  app log: {len(errors_log)} error lines, first: {errors_log[0][:300]}")
    for name in ("gunicorn", "celery"):
        print(f"RSS {name:8} boot {boot[name] / mb:7.0f} MB   after warm-up {warm[name] / mb:7.0f} MB   "
              f"end {end[name] / mb:7.0f} MB")
    looked_up = sum(cache.values())
    if looked_up:
        print("read cache: " + ", ".join(f"{k} {v / looked_up * 100:.0f}%" for k, v in sorted(cache.items()))
              + f" of {looked_up:,} lookups")
    cores = os.cpu_count() or 1
    print(f"CPU seconds over the run ({elapsed:.0f} s × {cores} cores = {elapsed * cores:.0f} available): "
          + ", ".join(f"{name} {spent:.0f} ({spent / (elapsed * cores) * 100:.0f}%)" for name, spent in cpu.items()))
    result = {
        "benchmark": "load", "users": args.users, "minutes": args.minutes, "mix": args.mix, "workers": workers,
        "portfolio": seeded, "requests": stats["requests"], "p50_ms": stats["p50_ms"], "p95_ms": stats["p95_ms"],
        "errors": stats["errors"], "rss_boot_mb": round(sum(boot.values()) / mb),
        "rss_start_mb": round(start_total / mb), "rss_end_mb": round(end_total / mb),
        "rss_growth_pct": round(growth, 1) if growth is not None else None, "rss_trend_mb": trend,
        "cpu_s": cpu, "cores": cores, "elapsed_s": round(elapsed), "read_cache": cache,
        "pages": {page: {k: row[k] for k in ("requests", "failures", "p50_ms", "p95_ms")}
                  for page, row in stats["pages"].items()},
        "targets": TARGETS,
    }
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: every process, the database and the Redis keys were removed")
