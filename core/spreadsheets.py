"""Every CSV and XLSX the app hands out is written here, so text from users (brand, scenario,
channel, metric, project names, notes) can never run as a formula when the file is opened.

A spreadsheet program runs a cell that starts with `=`, `+`, `-` or `@` (and, after a tab or a
carriage return, whatever follows) as a formula: `=HYPERLINK("http://evil.test","y")` as a brand
name becomes a live link. Following OWASP's CSV-injection guidance, such text is written with a
leading single quote (`'=HYPERLINK(...)`), so it shows as text; in CSV the field is then quoted by
the usual CSV rules, and in XLSX every text cell is also stored as a string cell, never a formula.
Numbers (and text that is only a number, such as "-12.5") stay numbers.

Writers: `csv_text`/`csv_bytes` and `xlsx_bytes` for tables, `put` for cell-by-cell openpyxl sheets. A test
(tests/integration/test_spreadsheet_injection.py) fails when a file writes CSV or XLSX any other way.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

# What makes a spreadsheet read a cell as a formula (OWASP: = + - @ tab carriage return).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralize(value: Any) -> Any:
    """`value` as safe cell content: text a spreadsheet would run gets a leading `'`; anything
    else (numbers, dates, empty cells, text that is only a number) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every text cell and column name neutralized (numeric columns untouched)."""
    out = frame.copy()
    for column in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_datetime64_any_dtype(out[column])):
            out[column] = out[column].map(neutralize)
    out.columns = [neutralize(c) for c in out.columns]
    return out


def csv_text(frame: pd.DataFrame) -> str:
    """The table as CSV text (no index), text neutralized; CRLF rows (RFC 4180), so a field holding a
    carriage return or a line feed is quoted."""
    return safe_frame(frame).to_csv(index=False, lineterminator="\r\n")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """`csv_text` as UTF-8 bytes."""
    return csv_text(frame).encode("utf-8")


def _as_text_cells(ws: Worksheet) -> None:
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"


def _number_formats(ws: Worksheet, frame: pd.DataFrame, formats: Mapping[str, str]) -> None:
    """Apply each column's number format (core.formatting.Units: "₹"#,##0 …) to its data cells."""
    for j, column in enumerate(frame.columns, start=1):
        fmt = formats.get(str(column))
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, max_row=len(frame) + 1, min_col=j, max_col=j):
                if isinstance(cell.value, int | float):
                    cell.number_format = fmt


def xlsx_bytes(sheets: Mapping[str, pd.DataFrame],
               number_formats: Mapping[str, Mapping[str, str]] | None = None) -> bytes:
    """One sheet per table (name → table, no index), text neutralized and stored as string cells;
    `number_formats`: sheet → column → Excel number format (the money columns' currency)."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            safe_frame(frame).to_excel(writer, sheet_name=name, index=False)
            _number_formats(writer.book[name], frame, (number_formats or {}).get(name, {}))
        for ws in writer.book.worksheets:
            _as_text_cells(ws)
    return buffer.getvalue()


def put(ws: Worksheet, row: int, column: int, value: Any) -> Cell:
    """Write one cell of an openpyxl sheet: text neutralized and stored as a string cell."""
    cell = ws.cell(row, column)
    cell.value = neutralize(value)
    if isinstance(cell.value, str):
        cell.data_type = "s"
    return cell
