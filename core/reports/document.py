"""What a report says, independent of its file format: a title, the organization and period
printed on every page, and an ordered list of blocks (headings, text, KPI figures, tables, charts).

Each report module builds one `Document` from the scoped read models; `pdf.py` and `xlsx.py` turn
the same document into bytes, so the PDF and the workbook can never disagree. Tables keep the raw
numbers of the read models (formats are applied only when drawn), so a workbook's cells equal them.
Money, outcomes and ROAS are drawn in the document's `units` (the organization's currency, core.formatting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from core import glossary
from core.formatting import Units

# How a column is shown: score 1 decimal, signed change, money compact with its currency in the PDF
# (full, with the currency's number format, in XLSX), outcome (money or a count with its noun), ROAS
# ("₹2.63 per ₹1"), ratio 2 decimals, percent of 1, plain integer, text.
FORMATS = ("text", "score", "signed", "money", "outcome", "roas", "ratio", "pct", "int", "number")


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
    units: Units = field(default_factory=Units)  # the currency and outcome its money reads in
    # The highest data classification it contains (core.classified.view_level; a scenario's own level),
    # printed on every page and on the summary sheet; `watermark` (who, when) is set by
    # core.reports.classified for confidential and restricted documents.
    classification: str = "internal"
    watermark: str = ""

    def add(self, *blocks: Block) -> Document:
        self.blocks.extend(blocks)
        return self


def terms(*keys: str) -> list[Block]:
    """A closing "Terms used" section: each defined term and its definition (core.glossary), as the
    pages give them in tooltips, so a printed figure is explained where no tooltip can be."""
    return [Heading("Terms used", 2), *[Text(f"{glossary.label(k)}: {glossary.definition(k)}", muted=True)
                                        for k in keys]]


def fmt_value(value, fmt: str, units: Units | None = None) -> str:
    """A value as printed in the PDF (money in `units`, plain figures without)."""
    units = units or Units()
    if value is None or (isinstance(value, float) and value != value):
        return "n/a" if fmt != "text" else ""
    if fmt == "text":
        return str(value)
    if fmt == "score":
        return f"{value:.1f}"
    if fmt == "signed":
        return f"{value:+.1f}".replace("-", "−")
    if fmt == "money":
        return units.money(float(value))
    if fmt == "outcome":
        return units.outcome_value(float(value))
    if fmt == "roas":
        return units.roas(float(value))
    if fmt == "ratio":
        return f"{value:.2f}".replace("-", "−")
    if fmt == "pct":
        return f"{value * 100:.0f} %"
    if fmt == "int":
        return f"{int(value):,}"
    text = f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return text.replace("-", "−")
