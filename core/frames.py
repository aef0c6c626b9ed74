"""Query rows into DataFrames without paying Python per row.

`pd.DataFrame(rows)` asks each row whether it is a named tuple; a SQLAlchemy Row answers that
by raising and catching an exception, about 5 µs a row — most of the time of a 50,000-row read.
Plain tuples cost nothing, so every read model builds its frames here. Larger reads of
fixed-width columns go through `select_frame`, which on PostgreSQL skips Python rows entirely.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy import Connection, Select

from core import pgcopy


def rows_frame(rows: Iterable[Sequence], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)


def select_frame(conn: Connection, stmt: Select, columns: list[str], kinds: list[str]) -> pd.DataFrame:
    """A SELECT of fixed-width, non-null columns (kinds as in `core.pgcopy`: int4, int8, float8,
    date) as a frame, dates as datetime64. On PostgreSQL the server packs the rows into one value
    (`pgcopy.read_packed`); the statement's parameters are rendered into it by SQLAlchemy's own
    literal rendering (ids, dates and names from the server side, never raw browser text).
    """
    if conn.dialect.name == "postgresql":
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        return pgcopy.read_packed(conn, sql, columns, kinds)
    frame = rows_frame(conn.execute(stmt).all(), columns)
    for name, kind in zip(columns, kinds, strict=True):
        if kind == "date":
            frame[name] = pd.to_datetime(frame[name])
    return frame
