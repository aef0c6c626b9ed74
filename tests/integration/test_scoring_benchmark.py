"""A tiny run of the scoring benchmark (benchmarks.scoring) on PostgreSQL: every figure is there and sane."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text

from benchmarks.scoring import main
from tests.conftest import PG_ADMIN_URL, require_service


def test_a_tiny_run_reports_the_io_floor_and_the_incremental_import():
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        require_service(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
    name = f"dc_bench_test_{uuid.uuid4().hex[:10]}"
    try:
        result = main(["--brands", "12", "--repeat", "1", "--database-url", PG_ADMIN_URL, "--database-name", name])
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    for key in ("ours_s", "io_floor_s", "io_floor_ratio", "incremental_s", "baseline_incremental_s"):
        assert isinstance(result[key], float) and result[key] > 0, (key, result[key])
    assert result["same_results"] and result["incremental_same_as_full"]
    assert result["incremental_rows"] == 12 * 60  # every brand's every metric, one month
