"""A `Document` as an XLSX workbook with openpyxl: a Summary sheet (title, organization, period,
KPI figures, and every section's text), one sheet per table holding the read model's raw numbers
with number formats, and native Excel charts drawn from those cells. Every cell is written through
`core.spreadsheets.put`, so names from users are text, never formulas.

openpyxl stamps the save time into docProps and the zip entries; both are fixed here to the
document's date so the same data gives the same bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime, time

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from core.formatting import Units
from core.reports.document import Document, Heading, Kpis, Table, Text
from core.spreadsheets import put

NUMBER_FORMATS = {"score": "0.0", "signed": "+0.0;-0.0;0.0", "money": "#,##0", "ratio": "0.00", "pct": "0%",
                  "int": "0", "number": "#,##0.####"}


def number_format(fmt: str, units: Units) -> str | None:
    """The Excel number format of a document format: money, outcome and ROAS carry the currency."""
    if fmt == "money":
        return units.xlsx_money()
    if fmt == "outcome":
        return units.xlsx_outcome()
    if fmt == "roas":
        return units.xlsx_roas()
    return NUMBER_FORMATS.get(fmt)


HEADER_FILL = PatternFill("solid", fgColor="E2E8F0")
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
MUTED = Font(color="64748B", size=9)


def _sheet_name(wanted: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", wanted).strip()[:31] or "Sheet"
    name, n = base, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def _cell_value(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _write_table(ws: Worksheet, block: Table, doc: Document) -> None:
    put(ws, 1, 1, block.title).font = TITLE
    put(ws, 2, 1, f"{doc.organization} · {doc.period}").font = MUTED
    columns = list(block.frame.columns)
    header_row = 4
    for j, column in enumerate(columns, start=1):
        cell = put(ws, header_row, j, block.header(column))
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for i, record in enumerate(block.frame.itertuples(index=False), start=header_row + 1):
        for j, (column, value) in enumerate(zip(columns, record, strict=True), start=1):
            cell = put(ws, i, j, _cell_value(value))
            fmt = number_format(block.formats.get(column, "text"), doc.units)
            if fmt:
                cell.number_format = fmt
            elif isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm"
    for j, column in enumerate(columns, start=1):
        longest = max([len(block.header(column))]
                      + [len(str(v)) for v in block.frame[column].head(200).tolist()])
        ws.column_dimensions[get_column_letter(j)].width = min(max(10, longest + 2), 48)
    ws.freeze_panes = ws.cell(header_row + 1, 1)
    if block.note:
        put(ws, header_row + len(block.frame) + 2, 1, block.note).font = MUTED
    if block.chart is not None and len(block.frame):
        _chart(ws, block, header_row, len(columns) + 2)


def _chart(ws: Worksheet, block: Table, header_row: int, anchor_col: int) -> None:
    spec = block.chart
    columns = list(block.frame.columns)
    last = header_row + len(block.frame)
    if spec.kind == "line":
        chart = LineChart()
    else:
        chart = BarChart()
        chart.type = "bar" if spec.kind == "barh" else "col"
        chart.grouping = "clustered"
    chart.title, chart.y_axis.title = spec.title, spec.y_title
    chart.height, chart.width = 9, 18
    for name in spec.y:
        j = columns.index(name) + 1
        chart.add_data(Reference(ws, min_col=j, min_row=header_row, max_row=last), titles_from_data=True)
    x = columns.index(spec.x) + 1
    chart.set_categories(Reference(ws, min_col=x, min_row=header_row + 1, max_row=last))
    if spec.kind == "line":
        chart.x_axis.number_format = "mmm yyyy"
        chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
    ws.add_chart(chart, f"{get_column_letter(anchor_col)}{header_row}")


def _summary(ws: Worksheet, doc: Document, sheets: dict[int, str]) -> None:
    put(ws, 1, 1, doc.title).font = TITLE
    put(ws, 2, 1, doc.subtitle)
    for row, (label, value) in enumerate((("Organization", doc.organization), ("Period", doc.period),
                                          ("Data as of", doc.created)), start=3):
        put(ws, row, 1, label).font = BOLD
        put(ws, row, 2, value)
    ws["B5"].number_format = "yyyy-mm-dd"
    put(ws, 6, 1, "Money in").font = BOLD
    put(ws, 6, 2, f"{doc.units.currency or 'no currency chosen'} · outcome: {doc.units.outcome_name}")
    # The highest data classification the workbook holds, and for confidential and restricted data who
    # exported it and when (core.reports.classified).
    put(ws, 7, 1, "Classification").font = BOLD
    put(ws, 7, 2, doc.classification.capitalize())
    row = 8
    if doc.watermark:
        put(ws, 8, 1, "Watermark").font = BOLD
        put(ws, 8, 2, doc.watermark)
        row = 9
    for index, block in enumerate(doc.blocks):
        if isinstance(block, Heading):
            row += 1
            put(ws, row, 1, block.text).font = Font(bold=True, size=12 if block.level == 1 else 11)
            row += 1
        elif isinstance(block, Text):
            put(ws, row, 1, block.text).font = MUTED if block.muted else Font()
            row += 1
        elif isinstance(block, Kpis):
            for kpi in block.items:
                put(ws, row, 1, kpi.label)
                value = put(ws, row, 2, _cell_value(kpi.value))
                value.number_format = number_format(kpi.fmt, doc.units) or "General"
                put(ws, row, 3, kpi.note).font = MUTED
                row += 1
        elif isinstance(block, Table):
            where = f"sheet '{sheets[index]}'" if index in sheets else "PDF only"
            put(ws, row, 1, f"{block.title} ({len(block.frame)} rows): {where}").font = MUTED
            row += 1
    ws.column_dimensions["A"].width = 44
    ws.column_dimensions["B"].width = 20
    ws.column_dimensions["C"].width = 60


def _fixed_dates(data: bytes, when: datetime) -> bytes:
    """Re-pack the workbook with every zip entry dated `when` and docProps' `modified` set to it
    (openpyxl stamps both with the save time)."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + iso + rb"\g<2>",
                                 content)
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, content)
    return out.getvalue()


def render_xlsx(doc: Document) -> bytes:
    """The document as XLSX bytes (deterministic for the same document)."""
    workbook = Workbook()
    summary = workbook.active
    summary.title = "Summary"
    taken = {"summary"}
    sheets: dict[int, str] = {}
    for index, block in enumerate(doc.blocks):
        if isinstance(block, Table) and block.sheet:
            name = _sheet_name(block.sheet, taken)
            sheets[index] = name
            _write_table(workbook.create_sheet(name), block, doc)
    _summary(summary, doc, sheets)
    when = datetime.combine(doc.created, time())
    workbook.properties.creator = "Digi-Cadence"
    workbook.properties.title = f"{doc.title} — {doc.organization}"
    workbook.properties.subject = doc.period
    workbook.properties.created = when
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _fixed_dates(buffer.getvalue(), when)

