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


def copy_in(conn: Connection, table: str, frame: pd.DataFrame, kinds: Sequence[str]) -> None:
    """Append the frame's rows to a PostgreSQL table via binary COPY."""
    with conn.connection.dbapi_connection.cursor() as cur, cur.copy(
        f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT binary)"
    ) as copy:
        copy.write(encode(frame, kinds))
