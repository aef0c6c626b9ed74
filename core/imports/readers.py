"""Turn a CSV or XLSX source (path, bytes or file-like) into a table of strings.

Everything is read as text so validation sees what the person typed ("12,5", "n/a", a blank)
and can name the cell, instead of pandas guessing types and silently turning bad cells into NaN.
The frame's index is the row number as seen in the file (header = row 1).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import pandas as pd

Source = str | Path | bytes | bytearray | BinaryIO
EXTENSIONS = (".csv", ".txt", ".xlsx", ".xlsm")


class FileError(ValueError):
    """The file as a whole cannot be used (unreadable, empty, unsupported)."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class RawFile:
    filename: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def load_source(source: Source, filename: str | None = None) -> RawFile:
    """Bytes plus a name (the name picks the reader); a path supplies its own name."""
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            return RawFile(filename or path.name, path.read_bytes())
        except OSError as exc:
            raise FileError("unreadable_file", f"cannot read {path}: {exc.strerror or exc}") from exc
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
    else:
        raise TypeError(f"unsupported source type {type(source).__name__}")
    name = filename or getattr(source, "name", None)
    if not name:
        raise FileError("unsupported_extension", "a filename is needed to tell CSV from XLSX")
    return RawFile(Path(str(name)).name, data)


def read_table(raw: RawFile) -> pd.DataFrame:
    """Parse to a string frame: stripped headers, blank cells as "", fully blank rows dropped."""
    ext = Path(raw.filename).suffix.lower()
    if ext not in EXTENSIONS:
        raise FileError("unsupported_extension",
                        f"unsupported file type '{ext or raw.filename}': use .csv or .xlsx")
    if not raw.data.strip():
        raise FileError("empty_file", "the file is empty")
    frame = _read_xlsx(raw.data) if ext in (".xlsx", ".xlsm") else _read_csv(raw.data)
    frame.columns = [str(c).strip() for c in frame.columns]
    if not any(frame.columns) or len(frame.columns) == 0:
        raise FileError("empty_file", "the file has no header row")
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    blank = (frame == "").all(axis=1)
    frame = frame[~blank]
    if frame.empty:
        raise FileError("empty_file", "the file has a header but no data rows")
    return frame


def _read_csv(data: bytes) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    try:
        delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            skip_blank_lines=False, skipinitialspace=False)
    except pd.errors.EmptyDataError as exc:
        raise FileError("empty_file", "the file is empty") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise FileError("unreadable_file", f"not a readable CSV file: {exc}") from exc
    dupes = [c for c in frame.columns if "." in str(c) and str(c).rsplit(".", 1)[0] in frame.columns]
    if dupes:
        raise FileError("duplicate_column", "duplicate column header(s): " + ", ".join(
            sorted({str(c).rsplit(".", 1)[0] for c in dupes})))
    return frame.fillna("").apply(lambda s: s.str.strip())


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def _read_xlsx(data: bytes) -> pd.DataFrame:
    from openpyxl import load_workbook  # imported here: CSV-only callers don't pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a corrupt or non-xlsx file
        raise FileError("unreadable_file", f"not a readable XLSX file: {exc.__class__.__name__}") from exc
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise FileError("empty_file", "the first sheet is empty")
        header_text = [_cell_text(v) for v in header]
        while header_text and not header_text[-1]:
            header_text.pop()
        width = len(header_text)
        body = [[_cell_text(v) for v in row[:width]] + [""] * (width - len(row)) for row in rows]
    finally:
        workbook.close()
    seen = {c for c in header_text if header_text.count(c) > 1 and c}
    if seen:
        raise FileError("duplicate_column", "duplicate column header(s): " + ", ".join(sorted(seen)))
    return pd.DataFrame(body, columns=header_text, dtype=object).astype(str) if body else pd.DataFrame(
        columns=header_text)
