"""Turn a CSV or XLSX source (path, bytes or file-like) into a table of strings.

Everything is read as text so validation sees what the person typed ("12,5", "n/a", a blank)
and can name the cell, instead of pandas guessing types and silently turning bad cells into NaN.
The frame's index is the row number as seen in the file (header = row 1).

This module is the one place that enforces `ImportLimits` (core.config): an .xlsx is a zip
archive, so its declared sizes are checked before anything is unpacked (a 1 MB file can expand to
gigabytes), and rows of either format stream in and stop at the caps instead of being read whole.
Every entry point (API, page, CLI) turns the `FileRefused` raised here into its own answer.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from core.config import ImportLimits

Source = str | Path | bytes | bytearray | BinaryIO
EXTENSIONS = (".csv", ".txt", ".xlsx", ".xlsm")
SPLIT = "Split it into smaller files."
# A part this small cannot do harm however tightly packed (styles, themes): its ratio is not checked.
RATIO_FLOOR_BYTES = 1024 * 1024
# Files packed inside a workbook: a nested archive is refused rather than inspected in turn.
_ARCHIVE_SUFFIXES = (".zip", ".xlsx", ".xlsm", ".xlsb", ".xltx", ".docx", ".docm", ".pptx", ".pptm", ".odt", ".ods",
                     ".jar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".zst", ".cab")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!",
                  b"\x28\xb5\x2f\xfd", b"MSCF")


class FileError(ValueError):
    """The file as a whole cannot be used (unreadable, empty, unsupported)."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


class FileRefused(FileError):
    """Refused before or while reading, nothing past the limit read: `too_large` (over a size, row,
    cell or field limit; the reason names the limit) or `unsafe_archive` (an .xlsx that is not a
    plain workbook: nested archives, too many parts, packed far tighter than a spreadsheet).

    Unlike other `FileError`s it is not turned into a row of the validation report: previews and
    commits raise it, so each entry point answers "too large" in its own way (413/422, a page
    message, an exit code).
    """

    @property
    def too_large(self) -> bool:
        return self.code == "too_large"


def _mb(size: int) -> str:
    return f"{size / 1048576:,.0f} MB" if size >= 10 * 1048576 else f"{size / 1048576:,.1f} MB"


def _too_large(reason: str) -> FileRefused:
    return FileRefused("too_large", reason)


@dataclass(frozen=True)
class RawFile:
    filename: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def load_source(source: Source, filename: str | None = None, limits: ImportLimits | None = None) -> RawFile:
    """Bytes plus a name (the name picks the reader); a path supplies its own name.

    A file larger than `limits.max_expanded_bytes` is refused before it is read into memory.
    """
    limits = limits or ImportLimits()
    cap = limits.max_expanded_bytes
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > cap:
                raise _too_large(f"“{path.name}” is {_mb(size)}; the limit is {_mb(cap)}. {SPLIT}")
            return RawFile(filename or path.name, path.read_bytes())
        except OSError as exc:
            raise FileError("unreadable_file", f"cannot read {path}: {exc.strerror or exc}") from exc
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read(cap + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
    else:
        raise TypeError(f"unsupported source type {type(source).__name__}")
    name = filename or getattr(source, "name", None)
    if not name:
        raise FileError("unsupported_extension", "a filename is needed to tell CSV from XLSX")
    raw = RawFile(Path(str(name)).name, data)
    if len(data) > cap:
        raise _too_large(f"“{raw.filename}” is {'more than ' if len(data) == cap + 1 else ''}{_mb(len(data))}; "
                         f"the limit is {_mb(cap)}. {SPLIT}")
    return raw


def _is_workbook(filename: str) -> bool:
    return Path(filename).suffix.lower() in (".xlsx", ".xlsm")


def check_size(raw: RawFile, limits: ImportLimits | None = None) -> None:
    """Refuse, from sizes alone and before any unpacking, a file that is too large or an .xlsx bomb.

    Cheap (reads only the archive's directory and a few bytes of binary parts), so an upload can be
    checked when it arrives. Python's zipfile never unpacks more than a part's declared size (it
    stops and fails the checksum), so the declared sizes bound what reading can cost.
    """
    limits = limits or ImportLimits()
    cap = limits.max_expanded_bytes
    if len(raw.data) > cap:
        raise _too_large(f"“{raw.filename}” is {_mb(len(raw.data))}; the limit is {_mb(cap)}. {SPLIT}")
    if not _is_workbook(raw.filename) or not raw.data.strip():
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw.data))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise FileError("unreadable_file", f"not a readable XLSX file: {exc.__class__.__name__}") from exc
    with archive:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise FileRefused("unsafe_archive", f"This workbook is made of {len(members):,} parts; the limit is "
                                                f"{limits.max_members:,}. Copy the sheet to import into a new "
                                                "workbook, or save it as CSV.")
        for member in members:
            if member.filename.lower().endswith(_ARCHIVE_SUFFIXES) or _starts_like_archive(archive, member):
                raise FileRefused("unsafe_archive", f"This workbook has another file packed inside it "
                                                    f"(“{Path(member.filename).name}”). Remove embedded files, "
                                                    "or save the sheet as CSV.")
        total = sum(m.file_size for m in members)
        if total > cap:
            raise _too_large(f"This workbook expands to {_mb(total)}; the limit is {_mb(cap)}. {SPLIT}")
        for member in members:
            if member.file_size > RATIO_FLOOR_BYTES and member.file_size > limits.max_ratio * max(
                    member.compress_size, 1):
                ratio = member.file_size / max(member.compress_size, 1)
                raise FileRefused("unsafe_archive", f"This workbook is packed {ratio:,.0f} to 1, far tighter than a "
                                                    f"spreadsheet ever is; the limit is {limits.max_ratio} to 1. "
                                                    "Open it in Excel and save it again, or save it as CSV.")


def _starts_like_archive(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bool:
    """Whether a binary part (not XML) begins like an archive; at most a few bytes are unpacked."""
    if member.is_dir() or member.filename.lower().endswith((".xml", ".rels", ".vml")) or member.file_size < 4:
        return False
    try:
        with archive.open(member) as handle:
            head = handle.read(8)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, EOFError, OSError):
        return False  # unreadable parts fail later, when (and if) the workbook reader needs them
    return head.startswith(_ARCHIVE_MAGIC)


def read_table(raw: RawFile, limits: ImportLimits | None = None) -> pd.DataFrame:
    """Parse to a string frame: stripped headers, blank cells as "", fully blank rows dropped.

    Raises `FileRefused` (before reading, or as soon as a cap is passed) for a file over `limits`.
    """
    limits = limits or ImportLimits()
    ext = Path(raw.filename).suffix.lower()
    if ext not in EXTENSIONS:
        raise FileError("unsupported_extension",
                        f"unsupported file type '{ext or raw.filename}': use .csv or .xlsx")
    if not raw.data.strip():
        raise FileError("empty_file", "the file is empty")
    check_size(raw, limits)
    frame = _read_xlsx(raw.data, limits) if _is_workbook(raw.filename) else _read_csv(raw.data, limits)
    if frame.empty:
        raise FileError("empty_file", "the file has a header but no data rows")
    return frame


def _table(header: Sequence[str], rows: Iterable[Sequence], limits: ImportLimits,
           text: Callable[[object], str]) -> pd.DataFrame:
    """The string frame from a header and streamed rows, stopping at the row, cell and field caps.

    Rows are counted as the file has them (blank ones too: they cost reading) and blank rows are
    dropped as they come, the index keeping each row's number in the file.
    """
    columns = [str(c).strip() for c in header]
    if not any(columns):
        raise FileError("empty_file", "the file has no header row")
    width = len(columns)
    if width > limits.max_columns:
        raise _too_many_columns(width, limits)
    seen = sorted(c for c, n in Counter(columns).items() if n > 1 and c)
    if seen:
        raise FileError("duplicate_column", "duplicate column header(s): " + ", ".join(seen))
    most = min(limits.max_rows, limits.max_cells // width)
    numbers: list[int] = []
    body: list[list[str]] = []
    for count, row in enumerate(rows, start=1):
        if count > most:
            if count > limits.max_rows:
                raise _too_large(f"This file has more than {limits.max_rows:,} rows; the limit is "
                                 f"{limits.max_rows:,}. {SPLIT}")
            raise _too_large(f"This file has more than {limits.max_cells:,} cells ({width:,} columns × more than "
                             f"{most:,} rows); the limit is {limits.max_cells:,}. {SPLIT}")
        values = [text(v) for v in row[:width]]
        if not any(values):
            continue
        if max(map(len, values)) > limits.max_field_chars:
            column = next(c for c, v in zip(columns, values, strict=False) if len(v) > limits.max_field_chars)
            raise _field_too_large(count + 1, column, limits)
        if len(values) < width:
            values += [""] * (width - len(values))
        numbers.append(count + 1)
        body.append(values)
    return pd.DataFrame(body, columns=columns, index=pd.Index(numbers, dtype="int64"), dtype=object)


def _too_many_columns(width: int | None, limits: ImportLimits, line: int | None = None) -> FileRefused:
    what = f"Line {line:,} has more than {limits.max_columns:,} values" if line else \
        f"This file has {width:,} columns"
    return _too_large(f"{what}; the limit is {limits.max_columns:,} columns. Remove unused columns or split the "
                      "file.")


def _field_too_large(row: int | None, column: str | None, limits: ImportLimits) -> FileRefused:
    where = f"Row {row:,}, column “{column}”," if row and column else f"Line {row:,}" if row else "A cell"
    return _too_large(f"{where} holds more than {limits.max_field_chars:,} characters; the limit is "
                      f"{limits.max_field_chars:,} per cell. Check the file: a missing quote can run many rows "
                      "into one cell.")


def _read_csv(data: bytes, limits: ImportLimits) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    try:
        delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    # csv's own field limit (131,072 characters unless raised process-wide) bounds what one field can
    # allocate before the per-cell check below sees it.
    reader = csv.reader(_csv_lines(text, delimiter, limits), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise FileError("empty_file", "the file is empty")
        return _table(header, _csv_rows(reader, len(header)), limits, str.strip)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise _field_too_large(reader.line_num or None, None, limits) from exc
        raise FileError("unreadable_file", f"not a readable CSV file: {exc} (line {reader.line_num})") from exc


def _csv_lines(text: str, delimiter: str, limits: ImportLimits):
    """Lines as csv reads them, refusing one with more values than a file may have columns before
    csv splits it into a list (a 20 MB line of commas is 20 million values)."""
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if line.count(delimiter) >= limits.max_columns:
            raise _too_many_columns(None, limits, number)
        yield line


def _csv_rows(reader, width: int):
    for row in reader:
        if len(row) > width and any(v.strip() for v in row[width:]):
            raise FileError("unreadable_file", f"not a readable CSV file: line {reader.line_num} has {len(row):,} "
                                               f"values but the header has {width:,} columns")
        yield row


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


def _read_xlsx(data: bytes, limits: ImportLimits) -> pd.DataFrame:
    """The first worksheet, streamed: one row in memory at a time, reading stops at a cap.

    openpyxl reads the workbook's catalogue, shared strings and styles (bounded by `check_size`) and
    parses each row (`WorkSheetParser.parse_row`, as its read-only mode does); the sheet itself is
    walked here. openpyxl's read-only worksheet would first scan a whole sheet that lacks a
    <dimension> to size it, and keep every parsed row element until the end.
    """
    from openpyxl.reader.excel import ExcelReader  # imported here: CSV-only callers don't pay for it
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.worksheet._reader import WorkSheetParser

    try:
        reader = ExcelReader(io.BytesIO(data), read_only=True, keep_vba=False, data_only=True, keep_links=False)
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)
        path = next((rel.target for _sheet, rel in reader.parser.find_sheets()
                     if rel.target in reader.valid_files and "chartsheet" not in rel.Type), None)
    except Exception as exc:  # openpyxl raises many types for a corrupt or non-xlsx file
        raise FileError("unreadable_file", f"not a readable XLSX file: {exc.__class__.__name__}") from exc
    if path is None:
        raise FileError("empty_file", "the workbook has no worksheet")
    workbook = reader.wb
    parser = WorkSheetParser(None, reader.shared_strings, data_only=True, epoch=workbook.epoch,
                             date_formats=workbook._date_formats, timedelta_formats=workbook._timedelta_formats)
    try:
        with reader.archive.open(path) as source:
            declared = _declared_rows(source.read(_HEAD_BYTES))
        if declared and declared - 1 > limits.max_rows:  # the sheet says so itself: refuse at once
            raise _too_large(f"This workbook has {declared - 1:,} rows; the limit is {limits.max_rows:,}. {SPLIT}")
        with reader.archive.open(path) as source:
            rows = _sheet_rows(source, parser, limits)
            try:
                first = next(rows, None)
                if first is None:
                    raise FileError("empty_file", "the first sheet is empty")
                header = [_cell_text(v) for v in _positional(first, max((c["column"] for c in first), default=0))]
                while header and not header[-1]:
                    header.pop()
                width = max(len(header), 1)
                return _table(header, (_positional(cells, width) for cells in rows), limits, _cell_text)
            finally:
                rows.close()
    except FileError:
        raise
    except Exception as exc:  # bad XML, a bad cell reference, a truncated part: openpyxl raises many types
        raise FileError("unreadable_file", f"not a readable XLSX file: {exc.__class__.__name__}") from exc
    finally:
        reader.archive.close()


_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _SHEET_DATA = _NS + "row", _NS + "sheetData"
_HEAD_BYTES = 64 * 1024  # <dimension> comes before the rows, near the top
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s[^>]*?ref="([^"]+)"')


def _declared_rows(head: bytes) -> int | None:
    """The last row of the sheet's <dimension ref="A1:D500">, when it has one (Excel always writes it)."""
    from openpyxl.utils.cell import range_boundaries

    match = _DIMENSION.search(head)
    try:
        return range_boundaries(match.group(1).decode("ascii"))[3] if match else None
    except (ValueError, TypeError, UnicodeDecodeError):
        return None


def _sheet_rows(source, parser, limits: ImportLimits) -> Iterator[list[dict]]:
    """Each row's cells in row order (missing rows as no cells), ending with <sheetData>.

    Finished elements are dropped from the tree as soon as they are used (elements outside rows at
    once), and an open row with more parts than any sheet could need is refused before it ends.
    """
    from openpyxl.xml.functions import iterparse

    parents: list = []
    row = None  # the open <row>
    parts = 0  # elements inside it so far
    row_number = 0
    expected = 1
    for event, element in iterparse(source, events=("start", "end")):
        if event == "start":
            if row is not None:
                parts += 1
                if parts > 4 * limits.max_columns:  # a cell is 2-4 elements (<c><is><t>)
                    raise _too_large(f"Row {row_number:,} has more than {limits.max_columns:,} cells; the limit is "
                                     f"{limits.max_columns:,} columns. Remove unused columns or split the file.")
            elif element.tag == _ROW:
                row, parts = element, 0
                number = element.get("r") or ""
                row_number = int(number) if number.isdigit() else expected
            parents.append(element)
            continue
        parents.pop()
        if row is not None and element is not row:
            continue  # part of a cell: parse_row reads it when the row ends
        if element is row:
            row = None
            index, cells = parser.parse_row(element)
            if index >= expected:  # (a row out of order is skipped, as openpyxl does)
                for _gap in range(expected, index):
                    yield []
                expected = index + 1
                yield cells
        elif element.tag == _SHEET_DATA:
            return
        element.clear()
        if parents:
            parents[-1].clear()


def _positional(cells: list[dict], width: int) -> list:
    """A row's values by column, cut to `width` (cells beyond the header are not read)."""
    values: list = [None] * width
    for cell in cells:
        column = cell["column"]
        if column <= width:
            values[column - 1] = cell["value"]
    return values
