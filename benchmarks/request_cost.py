"""Server cost of one request: CPU seconds and SQL statements per request, beside a baseline commit.

    python -m benchmarks.request_cost --baseline d8cb2d9 --rounds 40 --json
    python -m benchmarks.request_cost --rounds 20                   # the working tree alone

Why: the load test (benchmarks.load) asks about 250 requests a second of two cores at 200 users, so
what decides whether it holds is the CPU each request costs the web worker. Wall time on a shared
machine mostly measures waiting for a core; `time.process_time` around the WSGI call measures the
request itself, and a cursor event counts its SQL statements.

How: one fresh PostgreSQL database with the demo portfolio and users (as benchmarks.load seeds it)
and one empty Redis database (sessions, the shared read cache, as in production). Then, for each
tree — the baseline commit (`git archive` of --baseline into a scratch folder) first, then the working
tree — a child process builds the app in-process (Flask's test client, no server, no network), signs
in the executive and the marketer, replays their journeys (benchmarks.journeys, the same random
choices in both trees) --warmup rounds, then --rounds measured rounds. Redis is emptied between the
trees, so neither inherits the other's cached results. Sign-in (bcrypt, cost 12) is left out of the
figures. The baseline runs first because the working tree may add a migration: its app upgrades the
database at start, which the baseline's would refuse. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
PASSWORD = "request-cost-passphrase-42"
ROLES = ("Portfolio Manager", "Brand Manager")  # the journeys that need no job worker
TARGET_RATIO = 0.5


def _summary(samples: list[tuple[str, float, int]]) -> dict:
    """Per page and overall: requests, CPU ms per request (mean, p95) and SQL statements per request."""

    def figures(rows: list[tuple[str, float, int]]) -> dict:
        cpu = sorted(r[1] for r in rows)
        return {
            "requests": len(rows),
            "cpu_ms_per_request": round(1000 * sum(cpu) / len(rows), 2),
            "cpu_ms_p95": round(1000 * cpu[min(len(cpu) - 1, round(0.95 * (len(cpu) - 1)))], 2),
            "sql_per_request": round(sum(r[2] for r in rows) / len(rows), 2),
        }

    pages = sorted({name.split(" ", 1)[0] for name, _, _ in samples})
    return {
        "all": figures(samples),
        "pages": {page: figures([s for s in samples if s[0].split(" ", 1)[0] == page]) for page in pages},
    }


def child(args: argparse.Namespace) -> dict:
    """One tree in this process: build the app from `args.root`, replay the journeys, measure."""
    _use_tree(args.root)
    import cProfile
    import random
    import time

    from sqlalchemy import event

    from app import create_app
    from benchmarks.dash_client import DashTab, flask_csrf, flask_transport
    from benchmarks.journeys import JOURNEYS, ROLE_EMAILS, sign_in
    from core.config import Config

    app = create_app(Config.from_env(), seed_demo=False)
    server = app.server
    counter = {"sql": 0}
    event.listen(
        server.extensions["digicadence"].db.engine,
        "before_cursor_execute",
        lambda *_a, **_k: counter.__setitem__("sql", counter["sql"] + 1),
    )
    samples: list[tuple[str, float, int]] = []
    current = {"name": "", "measure": False}
    inner_wsgi = server.wsgi_app

    profiler = cProfile.Profile(time.process_time) if args.profile else None

    def measured_wsgi(environ, start_response):
        """Server CPU and statements of one request, response body included (Dash streams nothing)."""
        measure = current["measure"] and not current["name"].startswith("sign-in")
        if measure and profiler is not None:
            profiler.enable()
        cpu, sql = time.process_time(), counter["sql"]
        body = b"".join(inner_wsgi(environ, start_response))
        if measure:
            samples.append((current["name"], time.process_time() - cpu, counter["sql"] - sql))
            if profiler is not None:
                profiler.disable()
        return [body]

    server.wsgi_app = measured_wsgi
    tabs = {}
    for role in ROLES:
        client = server.test_client()
        inner = flask_transport(client)

        def send(method, path, name, *a, _inner=inner, **kw):
            current["name"] = name
            return _inner(method, path, name, *a, **kw)

        sign_in(send, ROLE_EMAILS[role], PASSWORD)
        tabs[role] = (send, flask_csrf(client))

    random.seed(20261207)  # both trees make the same choices in the same order
    for number in range(args.warmup + args.rounds):
        current["measure"] = number >= args.warmup
        for role in ROLES:
            send, csrf = tabs[role]
            JOURNEYS[role](DashTab(send, "http://localhost", csrf), lambda low, high: None)
    if profiler is not None:
        profiler.dump_stats(args.profile)
    result = {"root": args.root, **_summary(samples)}
    print(json.dumps(result))
    return result


def _extract(ref: str, into: Path) -> str:
    """The files of commit `ref` of this repository in `into` (a scratch copy, no .git)."""
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", ref], cwd=HERE.parent.parent, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return str(into / "tree")


def _run_child(root: str, mode: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    """Run this file as a child on the tree at `root` (its modules first on the path); its JSON line."""
    command = [
        sys.executable,
        str(HERE),
        "--child",
        mode,
        "--root",
        root,
        "--rounds",
        str(args.rounds),
        "--warmup",
        str(args.warmup),
        "--admin-url",
        args.database_url,
    ]
    if args.profile and mode == "measure":
        command += ["--profile", f"{args.profile}.{Path(root).name}"]
    done = subprocess.run(command, env={**env, "PYTHONPATH": root}, capture_output=True, text=True, cwd=root)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"{mode} in {root} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


def _empty_redis(url: str) -> None:
    """Forget the sessions and shared read-cache entries of the tree just measured."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def _use_tree(root: str) -> None:
    """Import the project from `root`: first on the path, and not this file's folder (its `dashboard.py`
    would shadow the package)."""
    sys.path[:] = [root, *(p for p in sys.path if Path(p or ".").resolve() != HERE.parent)]


def prepare(args: argparse.Namespace) -> dict:
    """Seed the database (with the code of `args.root`, so its migrations are the ones applied)."""
    _use_tree(args.root)
    from benchmarks.load import Run, prepare_database

    run = Run(args.admin_url)
    url, seeded = prepare_database(run, PASSWORD)
    result = {"url": url, "database": run.database, "workdir": str(run.workdir), "seeded": seeded}
    print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="", help="a commit to measure first, in the same run")
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds of both journeys")
    parser.add_argument("--warmup", type=int, default=3, help="rounds before measuring (first-use caches)")
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL admin URL; a scratch database is made beside it and dropped",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7", help="an empty Redis database")
    parser.add_argument(
        "--profile",
        default="",
        help="write cProfile stats (CPU time, server side, measured rounds) of each tree to PROFILE.<folder name>",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=("prepare", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--root", default=str(HERE.parent.parent), help=argparse.SUPPRESS)
    parser.add_argument("--admin-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "prepare":
        return prepare(args)
    if args.child == "measure":
        return child(args)

    _use_tree(str(HERE.parent.parent))
    from benchmarks.load import Run, app_env

    run = Run(args.database_url)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="dc-request-cost-") as scratch:
        try:
            run.claim_redis(args.redis_url)
            baseline_root = _extract(args.baseline, Path(scratch)) if args.baseline else None
            oldest = baseline_root or str(HERE.parent.parent)
            seeded = _run_child(oldest, "prepare", args, dict(os.environ))
            run.database, run.workdir = seeded["database"], Path(seeded["workdir"])
            print(seeded["seeded"], flush=True)
            env = {**app_env(run, seeded["url"], args.redis_url, 8050, 1), "DIGICADENCE_DEMO_PASSWORD": PASSWORD}
            trees = ([("baseline", baseline_root)] if baseline_root else []) + [("current", str(HERE.parent.parent))]
            for name, root in trees:
                results[name] = _run_child(root, "measure", args, env)
                _empty_redis(args.redis_url)
                overall = results[name]["all"]
                print(
                    f"{name:9} {overall['requests']:5} requests  {overall['cpu_ms_per_request']:7.2f} ms CPU each "
                    f"(p95 {overall['cpu_ms_p95']:.1f})  {overall['sql_per_request']:5.2f} SQL statements each",
                    flush=True,
                )
                for page, row in results[name]["pages"].items():
                    print(
                        f"    {page:10} {row['requests']:5}  {row['cpu_ms_per_request']:7.2f} ms  "
                        f"{row['sql_per_request']:5.2f} SQL",
                        flush=True,
                    )
        finally:
            run.cleanup()
    summary = {
        "benchmark": "request_cost",
        "rounds": args.rounds,
        "warmup": args.warmup,
        "baseline_ref": args.baseline or None,
        **results,
    }
    if "baseline" in results:
        base, now = results["baseline"]["all"], results["current"]["all"]
        summary["cpu_ratio"] = round(now["cpu_ms_per_request"] / base["cpu_ms_per_request"], 3)
        summary["sql_ratio"] = round(now["sql_per_request"] / base["sql_per_request"], 3)
        summary["target_cpu_ratio"] = TARGET_RATIO
        print(
            f"CPU per request {summary['cpu_ratio']:.2f}× the baseline (target ≤ {TARGET_RATIO}), "
            f"SQL statements {summary['sql_ratio']:.2f}×",
            flush=True,
        )
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
