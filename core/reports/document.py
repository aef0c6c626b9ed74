"""What a report says, independent of its file format: a title, the organization and period
printed on every page, and an ordered list of blocks (headings, text, KPI figures, tables, charts).

Each report module builds one `Document` from the scoped read models; `pdf.py` and `xlsx.py` turn
the same document into bytes, so the PDF and the workbook can never disagree. Tables keep the raw
numbers of the read models (formats are applied only when drawn), so a workbook's cells equal them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from core.formatting import compact

# How a column is shown: score 1 decimal, signed change, money/count compact in PDF (full in XLSX),
# ratio 2 decimals, percent of 1, plain integer, text.
FORMATS = ("text", "score", "signed", "money", "ratio", "pct", "int", "number")


@dataclass(frozen=True)
class Kpi:
    label: str
    value: float | None
    fmt: str = "score"
    note: str = ""


@dataclass(frozen=True)
class ChartSpec:
    """A native chart for the workbook, drawn from the table's own columns."""

    kind: str  # "line" | "bar" | "barh"
    x: str
    y: list[str]
    title: str
    y_title: str = ""


@dataclass(frozen=True)
class Table:
    title: str
    frame: pd.DataFrame
    formats: dict[str, str] = field(default_factory=dict)
    sheet: str | None = None  # its own worksheet in the XLSX (None: listed on the summary sheet only)
    chart: ChartSpec | None = None
    max_rows_pdf: int | None = None  # the PDF shows the first rows; the workbook has them all
    in_pdf: bool = True  # False: workbook only (the PDF shows the same numbers as a chart)
    note: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # column → printed header
    pdf_columns: list[str] | None = None  # the PDF's subset of columns when the page is too narrow for all

    def header(self, column) -> str:
        return self.headers.get(column) or str(column).replace("_", " ").capitalize()


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1


@dataclass(frozen=True)
class Text:
    text: str
    muted: bool = False


@dataclass(frozen=True)
class Kpis:
    items: list[Kpi]


@dataclass(frozen=True)
class Figure:
    """A chart image for the PDF (PNG bytes from charts.py); width in cm."""

    png: bytes
    caption: str = ""
    width_cm: float = 17.0


@dataclass(frozen=True)
class PageBreak:
    pass


Block = Heading | Text | Kpis | Figure | Table | PageBreak


@dataclass
class Document:
    title: str
    organization: str
    period: str
    subtitle: str
    filename_stem: str
    created: date  # printed and used as file metadata where the library allows it
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Document:
        self.blocks.extend(blocks)
        return self


def fmt_value(value, fmt: str) -> str:
    """A value as printed in the PDF."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a" if fmt != "text" else ""
    if fmt == "text":
        return str(value)
    if fmt == "score":
        return f"{value:.1f}"
    if fmt == "signed":
        return f"{value:+.1f}".replace("-", "−")
    if fmt == "money":
        return compact(float(value))
    if fmt == "ratio":
        return f"{value:.2f}".replace("-", "−")
    if fmt == "pct":
        return f"{value * 100:.0f} %"
    if fmt == "int":
        return f"{int(value):,}"
    text = f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return text.replace("-", "−")
