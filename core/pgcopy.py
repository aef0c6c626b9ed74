"""Vectorized PostgreSQL binary COPY for fixed-width, NOT NULL columns.

Moving a million rows through Python objects (row fetching, or COPY's text format parsed per
row) costs more than the computation they feed. In binary COPY every row of fixed-width
columns has the same layout, so numpy can read and write the whole stream at once as a
structured array. Supported column kinds: int4, int8, float8, date, and short text from a
known set of values (written group by group, since each group then has a fixed width).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # flags 0, no header extension
TRAILER = b"\xff\xff"
PG_EPOCH = np.datetime64("2000-01-01", "D")
_WIDTH = {"int4": ("i4", 4), "int8": ("i8", 8), "float8": ("f8", 8), "date": ("i4", 4)}


class CopyFormatError(ValueError):
    """The stream is not the fixed-width binary COPY the caller described."""


def _row_dtype(kinds: Sequence[str], text_widths: dict[int, int] | None = None) -> np.dtype:
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, kind in enumerate(kinds):
        if kind == "text":
            width = (text_widths or {})[i]
            fields += [(f"len{i}", ">i4"), (f"f{i}", f"S{width}")]
        else:
            code, _ = _WIDTH[kind]
            fields += [(f"len{i}", ">i4"), (f"f{i}", f">{code}")]
    return np.dtype(fields)


def decode(data: bytes, names: Sequence[str], kinds: Sequence[str]) -> pd.DataFrame:
    """Parse a binary COPY stream of fixed-width, non-null columns into a frame."""
    if not data.startswith(SIGNATURE):
        raise CopyFormatError("not a binary COPY stream")
    ext = int.from_bytes(data[15:19], "big")
    body = memoryview(data)[19 + ext : len(data) - 2]
    if bytes(data[-2:]) != TRAILER:
        raise CopyFormatError("missing COPY trailer")
    dtype = _row_dtype(kinds)
    if len(body) % dtype.itemsize:
        raise CopyFormatError("rows are not fixed width (a NULL or an unexpected column type)")
    rows = np.frombuffer(body, dtype=dtype)
    if len(rows) and (rows["count"] != len(kinds)).any():
        raise CopyFormatError("unexpected number of columns")
    out = {}
    for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        if len(rows) and (rows[f"len{i}"] != _WIDTH[kind][1]).any():
            raise CopyFormatError(f"column {name} is not {kind} or holds NULLs")
        values = rows[f"f{i}"].astype(rows[f"f{i}"].dtype.newbyteorder("="))
        if kind == "date":
            values = (PG_EPOCH + values.astype("timedelta64[D]")).astype("datetime64[ns]")
        out[name] = values
    return pd.DataFrame(out, columns=list(names))


def encode(frame: pd.DataFrame, kinds: Sequence[str]) -> bytes:
    """A binary COPY stream for the frame's columns (in order) with the given kinds."""
    text_columns = [i for i, k in enumerate(kinds) if k == "text"]
    if len(text_columns) > 1:
        raise ValueError("at most one text column is supported")
    parts = [HEADER]
    groups = [(None, frame)] if not text_columns else frame.groupby(frame.columns[text_columns[0]], sort=False)
    for value, group in groups:
        widths = {text_columns[0]: len(str(value).encode())} if text_columns else None
        dtype = _row_dtype(kinds, widths)
        rows = np.empty(len(group), dtype=dtype)
        rows["count"] = len(kinds)
        for i, kind in enumerate(kinds):
            column = group.iloc[:, i]
            if kind == "text":
                rows[f"len{i}"] = widths[i]
                rows[f"f{i}"] = str(value).encode()
                continue
            rows[f"len{i}"] = _WIDTH[kind][1]
            if kind == "date":
                days = pd.to_datetime(column).to_numpy().astype("datetime64[D]") - PG_EPOCH
                rows[f"f{i}"] = days.astype(np.int64)
            else:
                rows[f"f{i}"] = column.to_numpy()
        parts.append(rows.tobytes())
    parts.append(TRAILER)
    return b"".join(parts)


def copy_out(conn: Connection, query: str, names: Sequence[str], kinds: Sequence[str]) -> pd.DataFrame:
    """Run `query` on PostgreSQL and return its rows as a frame via binary COPY."""
    chunks = []
    with conn.connection.dbapi_connection.cursor() as cur, cur.copy(
        f"COPY ({query}) TO STDOUT WITH (FORMAT binary)"
    ) as copy:
        for chunk in copy:
            chunks.append(bytes(chunk))
    return decode(b"".join(chunks), names, kinds)


# How each kind is sent inside a packed read: the column's binary send form (big-endian, fixed width).
_SEND = {"int4": "int4send({})", "int8": "int8send({})", "float8": "float8send({})",
         "date": "int4send({} - DATE '2000-01-01')"}


def read_packed(conn: Connection, query: str, names: Sequence[str], kinds: Sequence[str]) -> pd.DataFrame:
    """Run `query` on PostgreSQL and return its rows as a frame, packed into one value by the server.

    COPY streams one protocol message per row, and the client pays a Python round of its I/O loop
    for each (~10 µs): for the few thousand to hundred thousand rows of a dashboard read that is
    most of the request. Here the server concatenates every row's binary send form into a single
    bytea, which numpy reads in one go. Fixed-width, non-null columns only (int4, int8, float8,
    date); a NULL would drop its row from the concatenation, so the row count is checked. `query`
    is sent without parameters (render them into it first).
    """
    columns = [_SEND[kind].format(f"q.{name}") for name, kind in zip(names, kinds, strict=True)]
    packed = (f"SELECT count(*), string_agg({' || '.join(columns)}, ''::bytea) "
              f"FROM ({query}) AS q({', '.join(names)})")
    # Through SQLAlchemy (not the raw cursor), so its cursor events see the query like any other.
    count, data = conn.exec_driver_sql(packed.replace("%", "%%")).one()  # the driver reads % as a placeholder
    fields = [(name, ">" + _WIDTH[kind][0]) for name, kind in zip(names, kinds, strict=True)]
    dtype = np.dtype(fields)
    data = bytes(data or b"")
    if len(data) != count * dtype.itemsize:
        raise CopyFormatError("a column holds NULLs or is not of the kind given")
    rows = np.frombuffer(data, dtype=dtype)
    out = {}
    for name, kind in zip(names, kinds, strict=True):
        values = rows[name].astype(rows[name].dtype.newbyteorder("="))
        if kind == "date":
            values = (PG_EPOCH + values.astype("timedelta64[D]")).astype("datetime64[ns]")
        out[name] = values
    return pd.DataFrame(out, columns=list(names))


def copy_in(conn: Connection, table: str, frame: pd.DataFrame, kinds: Sequence[str]) -> None:
    """Append the frame's rows to a PostgreSQL table via binary COPY."""
    with conn.connection.dbapi_connection.cursor() as cur, cur.copy(
        f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT binary)"
    ) as copy:
        copy.write(encode(frame, kinds))
