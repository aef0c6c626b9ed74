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


def test_packed_read_matches_copy_and_refuses_nulls(pg):
    frame = pd.DataFrame({"a": [3, 1, 2], "d": pd.to_datetime(["2026-01-01", "1999-12-31", "2000-01-01"]),
                          "lvl": ["total"] * 3, "b": [2**40, 0, -5], "x": [np.pi, -1e300, 0.5]})
    pgcopy.copy_in(pg, "t", frame, ["int4", "date", "text", "int8", "float8"])
    query, names, kinds = "SELECT a, d, b, x FROM t", ["a", "d", "b", "x"], ["int4", "date", "int8", "float8"]
    packed = pgcopy.read_packed(pg, query, names, kinds).sort_values("a", ignore_index=True)
    pd.testing.assert_frame_equal(packed, pgcopy.copy_out(pg, query + " ORDER BY a", names, kinds))
    empty = pgcopy.read_packed(pg, "SELECT a, x FROM t WHERE false", ["a", "x"], ["int4", "float8"])
    assert empty.empty and list(empty.columns) == ["a", "x"]
    percent = pgcopy.read_packed(pg, "SELECT a, x FROM t WHERE 'a%b' LIKE 'a%'", ["a", "x"], ["int4", "float8"])
    assert len(percent) == 3  # a literal % is not taken for a driver placeholder
    pg.execute(text("INSERT INTO t (a, x) VALUES (4, NULL)"))
    with pytest.raises(pgcopy.CopyFormatError):  # a NULL would silently drop its row from the packed value
        pgcopy.read_packed(pg, "SELECT a, x FROM t", ["a", "x"], ["int4", "float8"])
