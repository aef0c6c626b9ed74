"""Binary COPY codec against a real PostgreSQL: round trips, and refusals of what it cannot read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from core import pgcopy


@pytest.fixture
def pg(pg_url):
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE TEMP TABLE t (a int4, d date, lvl text, b int8, x float8)"
        ))
        yield conn
    engine.dispose()


def test_round_trip_through_postgresql(pg):
    frame = pd.DataFrame({
        "a": [1, -2, 3, 2**31 - 1],
        "d": pd.to_datetime(["2026-01-01", "1999-12-31", "2000-01-01", "2026-11-29"]),
        "lvl": ["total", "section", "total", "platform"],
        "b": [0, 2**40, -5, 7],
        "x": [0.1, -1e300, np.pi, 1 / 3],
    })
    pgcopy.copy_in(pg, "t", frame, ["int4", "date", "text", "int8", "float8"])
    assert pg.execute(text("SELECT count(*), min(d)::text, max(x) FROM t")).one() == (4, "1999-12-31", np.pi)
    back = pgcopy.copy_out(pg, "SELECT a, d, b, x FROM t ORDER BY a", ["a", "d", "b", "x"],
                           ["int4", "date", "int8", "float8"])
    expected = frame.drop(columns="lvl").sort_values("a").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)


def test_empty_result(pg):
    back = pgcopy.copy_out(pg, "SELECT a, x FROM t", ["a", "x"], ["int4", "float8"])
    assert back.empty and list(back.columns) == ["a", "x"]


def test_nulls_and_wrong_types_are_refused_not_misread(pg):
    pg.execute(text("INSERT INTO t (a, x) VALUES (1, NULL)"))
    with pytest.raises(pgcopy.CopyFormatError):
        pgcopy.copy_out(pg, "SELECT a, x FROM t", ["a", "x"], ["int4", "float8"])
    with pytest.raises(pgcopy.CopyFormatError):
        pgcopy.copy_out(pg, "SELECT a, a::int8 FROM t", ["a", "b"], ["int4", "int4"])
