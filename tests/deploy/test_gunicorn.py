"""The web process as deployed: gunicorn with deploy/gunicorn.conf.py and two workers, after
`python -m core.migrate`. /metrics adds up both workers, and stderr carries JSON lines with the ids."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from core.config import PROJECT_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    port = _free_port()
    metrics_dir = tmp_path / "metrics"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGICADENCE_", "PROMETHEUS_", "REDIS_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}", SECRET_KEY="s" * 40, DIGICADENCE_DEMO="0",
               DIGICADENCE_INSTANCE_DIR=str(tmp_path / "instance"), DIGICADENCE_BCRYPT_ROUNDS="4",
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), WEB_CONCURRENCY="2",
               GUNICORN_BIND=f"127.0.0.1:{port}")
    migrate_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    subprocess.run([sys.executable, "-m", "core.migrate"], cwd=PROJECT_ROOT, env=migrate_env, check=True,
                   capture_output=True)
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"")  # left over from an earlier run: removed at start
    log = (tmp_path / "gunicorn.log").open("w")
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = subprocess.Popen([gunicorn, "-c", "deploy/gunicorn.conf.py", "app:server"], cwd=PROJECT_ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a start-up wait on a busy machine, not a timing assertion
        while True:  # until both workers have booted (each builds the app)
            if process.poll() is not None:
                pytest.fail("gunicorn exited: " + (tmp_path / "gunicorn.log").read_text()[-3000:])
            if len(list(metrics_dir.glob("gauge_livesum_*.db"))) >= 2:
                try:
                    if requests.get(base + "/healthz", timeout=10).ok:
                        break
                except requests.RequestException:
                    pass
            if time.monotonic() > deadline:
                pytest.fail("gunicorn did not come up: " + (tmp_path / "gunicorn.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base, metrics_dir, tmp_path / "gunicorn.log"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_two_workers_add_up_in_metrics_and_log_json(served):
    base, metrics_dir, log_path = served
    assert not (metrics_dir / "counter_999999.db").exists()
    for i in range(20):
        with requests.Session() as fresh:  # a new connection each time, so both workers serve some
            response = fresh.get(base + "/readyz", headers={"X-Request-ID": f"deploy-test-{i}"}, timeout=30)
        assert response.status_code == 200 and response.headers["X-Request-ID"] == f"deploy-test-{i}"
    text = requests.get(base + "/metrics", timeout=30).text
    count = re.search(r'^digicadence_http_request_duration_seconds_count\{method="GET",route="/readyz",'
                      r'status="200"\} (\S+)$', text, re.M)
    assert count and float(count.group(1)) == 20.0
    pids = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("gauge_livesum_*.db")}
    assert len(pids) >= 2  # both workers write their own files; /metrics read them together
    assert re.search(r"^digicadence_db_pool_size \S+$", text, re.M)
    assert requests.get(base + "/metrics", headers={"X-Forwarded-For": "198.51.100.7"}, timeout=10).status_code == 403

    records = []
    for line in log_path.read_text().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    seen = {r["request_id"] for r in records if r.get("event") == "request" and r.get("route") == "/readyz"}
    assert {f"deploy-test-{i}" for i in range(20)} <= seen
    assert any(r.get("logger", "").startswith("gunicorn") for r in records)  # gunicorn's own lines are JSON too
