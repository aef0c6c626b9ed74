"""Server time of every dashboard callback on the N-brand portfolio, beside its database time.

    python -m benchmarks.dashboard --brands 500 --json

Seeds (or reuses) the benchmark portfolio in a scratch PostgreSQL database, signs in as the
Portfolio Manager (the whole organization in scope) and, for every page that person may open,
replays what the browser does: the page-routing request, then each callback the page fires on
load with the layout's initial values, then again after a filter change (another option of the
callback's first dropdown). Each replay runs --repeat times through Flask's test client, so the
figure is server time without a network. Beside it: the time the same request spent inside
database calls (SQLAlchemy cursor events), so `overhead_ratio` = server time / database time
says how much the Python side adds, and `cpu` is the median CPU time the process spent on the
request (the test client serves in-process): on a shared, busy machine wall time mostly measures
waiting for a core, CPU time what the request itself costs. Button-started callbacks (the optimizer's
Run, which submits a job) are not replayed: jobs are measured by the optimizer benchmark. The last line is
one JSON object. The app caches no results, so every replay does the whole work (only
PostgreSQL's buffers and SQLAlchemy's compiled statements are warm).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import dash
from sqlalchemy import delete, event, func, select

from benchmarks.scoring import DEFAULT_ADMIN_URL, ensure_portfolio, scratch_database
from core.config import Config
from core.db import Database
from core.models import Organization, User
from core.security import SecuritySettings, ensure_demo_users
from core.security.crypto import SecretBox, load_keys

PASSWORD = "bench-marking-passphrase-42"
INTERNAL = ("_pages_location", "_pages_content", "_pages_store", "_pages_dummy")


def _components(tree, found: dict) -> dict:
    """Every component with a string id in a layout tree: id → props."""
    if isinstance(tree, list):
        for item in tree:
            _components(item, found)
    elif isinstance(tree, dict) and "props" in tree:
        props = tree["props"]
        if isinstance(props.get("id"), str):
            found[props["id"]] = props
        for value in props.values():
            if isinstance(value, dict | list):
                _components(value, found)
    return found


def _body(key: str, entry: dict, values: list) -> dict:
    from dash._utils import split_callback_id

    deps = [*entry["inputs"], *entry.get("state", [])]
    filled = [{**dep, "value": value} for dep, value in zip(deps, values, strict=True)]
    return {"output": key, "outputs": split_callback_id(key), "inputs": filled[: len(entry["inputs"])],
            "state": filled[len(entry["inputs"]):],
            "changedPropIds": [f"{d['id']}.{d['property']}" for d in entry["inputs"][:1]]}


class DbTimer:
    """Sums the time spent in database calls between `reset()` and reading `.seconds`."""

    def __init__(self, engine) -> None:
        self.seconds = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, *_args) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, *_args) -> None:
        self.seconds += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())

    def reset(self) -> None:
        self.seconds = 0.0


def _timed(client, timer: DbTimer, body: dict, headers: dict,
           repeat: int) -> tuple[list[float], list[float], list[float], int]:
    totals, dbs, cpus, status = [], [], [], 0
    for _ in range(repeat):
        timer.reset()
        started, cpu = time.perf_counter(), time.process_time()
        response = client.post("/_dash-update-component", json=body, headers=headers)
        totals.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        dbs.append(timer.seconds * 1000)
        status = response.status_code
    return totals, dbs, cpus, status


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database-url", default=None, help="PostgreSQL admin URL (default: local `test` database)")
    parser.add_argument("--database-name", default=None,
                        help="scratch database to seed or reuse (default: dc_bench_dashboard_<brands>)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from app import create_app
    from tests.support import csrf_headers, sign_in

    name = args.database_name or f"dc_bench_dashboard_{args.brands}"
    url = scratch_database(args.database_url or DEFAULT_ADMIN_URL, name)
    db = Database(url)
    ensure_portfolio(db, args.brands, fresh=False)
    # A fixed folder: its Fernet key must keep decrypting the benchmark users' TOTP secrets.
    instance = Path(tempfile.gettempdir()) / f"dc-bench-dashboard-{args.brands}"
    instance.mkdir(exist_ok=True)
    with db.session() as s:
        org_id = s.scalar(select(func.min(Organization.id)))
        # Fresh benchmark users each run (their TOTP secrets belong to this run's key).
        s.execute(delete(User).where(User.email.like("%@demo.digicadence.test")))
    people = {c.role: c for c in ensure_demo_users(db, org_id, password=PASSWORD,
                                                   box=SecretBox(load_keys((), instance)))}
    config = Config(database_url=url, secret_key="b" * 32, instance_dir=instance, security=SecuritySettings.from_env(),
                    signin_rate_per_ip="1000 per minute", signin_rate_per_account="1000 per minute")
    app = create_app(config, seed_demo=False)
    timer = DbTimer(app.server.extensions["digicadence"].db.engine)
    client = app.server.test_client()
    assert sign_in(client, people["Portfolio Manager"].email, password=PASSWORD).status_code == 302
    headers = csrf_headers(client)
    router_key = next(k for k in app.callback_map if "_pages_content" in k)
    # What the renderer fires on load comes from the same place it reads it: /_dash-dependencies.
    prevented = {spec["output"]: spec.get("prevent_initial_call", False)
                 for spec in client.get("/_dash-dependencies").get_json()}

    rows = []
    for page in dash.page_registry.values():
        router = _body(router_key, app.callback_map[router_key], [page["path"], ""])
        totals, dbs, cpus, status = _timed(client, timer, router, headers, args.repeat)
        if status != 200:
            continue  # not permitted for this person
        rows.append({"page": page["path"], "callback": "page layout", "event": "load", "status": status,
                     "median_ms": statistics.median(totals), "p95_ms": _p95(totals),
                     "db_ms": statistics.median(dbs), "cpu_ms": statistics.median(cpus)})
        layout = client.post("/_dash-update-component", json=router, headers=headers).get_json()
        found = _components(layout["response"]["_pages_content"]["children"], {})
        for key, entry in app.callback_map.items():
            if any(m in key for m in INTERNAL) or "callback" not in entry:
                continue
            deps = [*entry["inputs"], *entry.get("state", [])]
            if not all(isinstance(d["id"], str) and d["id"] in found for d in deps[:1]):
                continue
            values = [found.get(d["id"], {}).get(d["property"]) if isinstance(d["id"], str) else None for d in deps]
            # What the renderer fires on load: every callback not marked prevent_initial_call.
            events = [] if prevented.get(key) else [("load", values)]
            options = found[deps[0]["id"]].get("options") or []
            other = [o.get("value") if isinstance(o, dict) else o for o in options if
                     (o.get("value") if isinstance(o, dict) else o) != values[0]]
            if other:
                events.append(("filter change", [other[0], *values[1:]]))
            for name, vals in events:
                totals, dbs, cpus, status = _timed(client, timer, _body(key, entry, vals), headers, args.repeat)
                rows.append({"page": page["path"], "callback": key.strip(".")[:60], "event": name, "status": status,
                             "median_ms": statistics.median(totals), "p95_ms": _p95(totals),
                             "db_ms": statistics.median(dbs), "cpu_ms": statistics.median(cpus)})

    ok = [r for r in rows if r["status"] in (200, 204)]
    for r in rows:
        r["overhead_ratio"] = r["median_ms"] / r["db_ms"] if r["db_ms"] > 0.05 else None
    print(f"{'page':14} {'callback':60} {'event':14} {'median':>8} {'p95':>8} {'db':>8} {'cpu':>8} {'ratio':>6} status")
    for r in rows:
        ratio = f"{r['overhead_ratio']:6.1f}" if r["overhead_ratio"] else "     -"
        print(f"{r['page']:14} {r['callback']:60} {r['event']:14} {r['median_ms']:8.1f} {r['p95_ms']:8.1f} "
              f"{r['db_ms']:8.1f} {r['cpu_ms']:8.1f} {ratio} {r['status']}")
    ratios = [r["overhead_ratio"] for r in ok if r["overhead_ratio"]]
    result = {
        "benchmark": "dashboard", "brands": args.brands, "callbacks": len(rows), "errors": len(rows) - len(ok),
        "p95_ms_max": round(max(r["p95_ms"] for r in ok), 1) if ok else None,
        "slowest": max(ok, key=lambda r: r["p95_ms"])["callback"] if ok else None,
        "overhead_ratio_max": round(max(ratios), 2) if ratios else None,
        "cpu_ms_max": round(max(r["cpu_ms"] for r in ok), 1) if ok else None,
        "target_p95_ms": 150, "repeat": args.repeat,
    }
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
