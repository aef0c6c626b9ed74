"""A `Document` as an A4 PDF with reportlab's platypus: header with organization and period and a
"page N of M" footer on every page, KPI tiles, tables with zebra rows, chart images.

DejaVu Sans (shipped inside matplotlib) is embedded because the base-14 PDF fonts lack signs such as
"−" and "→". reportlab's invariant mode fixes the creation date and document id, so the same data
gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import PageBreak as RLPageBreak
from reportlab.platypus import Table as RLTable

from core.formatting import Units
from core.reports.document import Document, Figure, Heading, Kpis, PageBreak, Table, Text, fmt_value

FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
INK = colors.HexColor("#0f172a")
MUTED = colors.HexColor("#64748b")
RULE = colors.HexColor("#cbd5e1")
ZEBRA = colors.HexColor("#f1f5f9")
ACCENT = colors.HexColor("#2563eb")
MARGIN = 1.6 * cm


def _register_fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(ttf / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(ttf / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


STYLES = {
    "title": ParagraphStyle("title", fontName=BOLD, fontSize=18, leading=22, textColor=INK, spaceAfter=2),
    "subtitle": ParagraphStyle("subtitle", fontName=FONT, fontSize=10, leading=13, textColor=MUTED, spaceAfter=10),
    "h1": ParagraphStyle("h1", fontName=BOLD, fontSize=13, leading=16, textColor=INK, spaceBefore=10, spaceAfter=5),
    "h2": ParagraphStyle("h2", fontName=BOLD, fontSize=10.5, leading=13, textColor=INK, spaceBefore=8, spaceAfter=4),
    "body": ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, textColor=INK, alignment=TA_LEFT,
                           spaceAfter=4),
    "muted": ParagraphStyle("muted", fontName=FONT, fontSize=8, leading=10.5, textColor=MUTED, spaceAfter=4),
    "cell": ParagraphStyle("cell", fontName=FONT, fontSize=7.5, leading=9.5, textColor=INK),
    "head": ParagraphStyle("head", fontName=BOLD, fontSize=7.5, leading=9.5, textColor=INK),
    "kpi_label": ParagraphStyle("kpi_label", fontName=FONT, fontSize=7.5, leading=9.5, textColor=MUTED),
    "kpi_value": ParagraphStyle("kpi_value", fontName=BOLD, fontSize=15, leading=18, textColor=INK),
    "kpi_note": ParagraphStyle("kpi_note", fontName=FONT, fontSize=7, leading=9, textColor=MUTED),
}
NUMERIC = {"score", "signed", "money", "outcome", "roas", "ratio", "pct", "int", "number"}


def _numbered_canvas(document: Document):
    """A canvas that holds its pages until the end, then stamps header and 'page N of M' on each."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            width, height = A4
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.6)
            self.line(MARGIN, height - 1.15 * cm, width - MARGIN, height - 1.15 * cm)
            self.line(MARGIN, 1.15 * cm, width - MARGIN, 1.15 * cm)
            self.setFillColor(INK)
            self.setFont(BOLD, 8.5)
            self.drawString(MARGIN, height - 0.95 * cm, document.organization)
            self.setFont(FONT, 8.5)
            self.setFillColor(MUTED)
            self.drawRightString(width - MARGIN, height - 0.95 * cm, f"{document.title} · {document.period}")
            self.drawString(MARGIN, 0.75 * cm, f"Digi-Cadence · data as of {document.created:%d %b %Y}")
            self.drawRightString(width - MARGIN, 0.75 * cm, f"Page {self._pageNumber} of {total}")
            # The highest classification on every page, under the header; a classified export's watermark
            # (who, when: core.reports.classified) under the footer rule.
            self.setFont(BOLD, 8)
            self.setFillColor(INK)
            self.drawRightString(width - MARGIN, height - 1.5 * cm, document.classification.capitalize())
            if document.watermark:
                self.setFont(FONT, 7.5)
                self.drawCentredString(width / 2, 0.35 * cm, document.watermark)
            self.restoreState()

    return NumberedCanvas


def _kpis(block: Kpis, width: float, units: Units) -> RLTable:
    per_row = 3 if len(block.items) in (3, 5, 6, 9) else 4
    cells = []
    for kpi in block.items:
        cells.append([Paragraph(escape(kpi.label), STYLES["kpi_label"]),
                      Paragraph(escape(fmt_value(kpi.value, kpi.fmt, units)), STYLES["kpi_value"]),
                      Paragraph(escape(kpi.note), STYLES["kpi_note"])])
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    rows[-1] += [""] * (per_row - len(rows[-1]))
    col = width / per_row
    table = RLTable(rows, colWidths=[col] * per_row)
    style = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 6),
             ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell != "":
                style += [("BOX", (c, r), (c, r), 0.6, RULE), ("LINEBEFORE", (c, r), (c, r), 2.2, ACCENT)]
    table.setStyle(TableStyle(style))
    return table


def _table(block: Table, width: float, units: Units) -> list:
    frame = block.frame if block.max_rows_pdf is None else block.frame.head(block.max_rows_pdf)
    if block.pdf_columns is not None:
        frame = frame[block.pdf_columns]
    columns = list(frame.columns)
    out: list = [CondPageBreak(3 * cm), Paragraph(escape(block.title), STYLES["h2"])]  # a title with rows under it
    if frame.empty:
        out.append(Paragraph("Nothing to show.", STYLES["muted"]))
        return out
    header = [Paragraph(escape(block.header(c)), STYLES["head"]) for c in columns]
    rows = [header]
    for record in frame.itertuples(index=False):
        rows.append([Paragraph(escape(fmt_value(v, block.formats.get(c, "text"), units)), STYLES["cell"])
                     for c, v in zip(columns, record, strict=True)])
    widths = _widths(block, frame, columns, width, units)
    table = RLTable(rows, colWidths=widths, repeatRows=1)
    style = [("LINEBELOW", (0, 0), (-1, 0), 0.8, INK), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
             ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
             ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    style += [("BACKGROUND", (0, r), (-1, r), ZEBRA) for r in range(2, len(rows), 2)]
    style += _align_numbers(block, columns, rows)
    table.setStyle(TableStyle(style))
    out.append(table)
    shown = len(frame)
    if shown < len(block.frame):
        out.append(Paragraph(f"First {shown} of {len(block.frame)} rows; the XLSX has them all.", STYLES["muted"]))
    if block.note:
        out.append(Paragraph(escape(block.note), STYLES["muted"]))
    out.append(Spacer(1, 6))
    return out


def _align_numbers(block: Table, columns: list, rows: list[list]) -> list[tuple]:
    """Right-align the numeric columns: their header and cell paragraphs, and the table style to return."""
    style: list[tuple] = []
    for i, c in enumerate(columns):
        if block.formats.get(c, "text") not in NUMERIC:
            continue
        style.append(("ALIGN", (i, 0), (i, -1), "RIGHT"))
        rows[0][i].style = ParagraphStyle("numhead", parent=STYLES["head"], alignment=2)
        for row in rows[1:]:
            row[i].style = ParagraphStyle("num", parent=STYLES["cell"], alignment=2)
    return style


def _widths(block: Table, frame, columns: list, width: float, units: Units) -> list[float]:
    """Numbers get the width they need (they must not wrap); text columns share what is left, down to
    their longest word. Widths are measured in the font itself, headers wrap between words."""
    pad = 7.0  # left + right cell padding

    def measure(text: str, font: str) -> float:
        return pdfmetrics.stringWidth(text, font, 7.5)

    natural, least, is_text = [], [], []
    for c in columns:
        fmt = block.formats.get(c, "text")
        values = [fmt_value(v, fmt, units) for v in frame[c].head(80)]
        header_words = block.header(c).split() or [""]
        head = max(measure(w, BOLD) for w in header_words)
        cells = max((measure(v, FONT) for v in values), default=0.0)
        words = max((measure(w, FONT) for v in values for w in v.split()), default=0.0)
        natural.append(max(cells, head) + pad)
        least.append(max(words, head) + pad if fmt == "text" else natural[-1])
        is_text.append(fmt == "text")
    if sum(natural) <= width:  # room to spare: give it to the text columns (or to all when there are none)
        spare = width - sum(natural)
        grow = [n for n, t in zip(natural, is_text, strict=True) if t] or natural
        share = sum(grow)
        return [n + (spare * n / share if (t or not any(is_text)) else 0)
                for n, t in zip(natural, is_text, strict=True)]
    fixed = sum(n for n, t in zip(natural, is_text, strict=True) if not t)
    text_room = width - fixed
    text_natural = sum(n for n, t in zip(natural, is_text, strict=True) if t)
    text_least = sum(m for m, t in zip(least, is_text, strict=True) if t)
    if text_room >= text_least and text_natural:  # text columns wrap, numbers keep their width
        k = (text_room - text_least) / max(text_natural - text_least, 1e-9)
        return [m + k * (n - m) if t else n for n, m, t in zip(natural, least, is_text, strict=True)]
    total = sum(least)  # too many columns: everything at its least, scaled to fit
    return [m * width / total for m in least]


def _figure(block: Figure, width: float) -> list:
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(block.png)) as image:
        w, h = image.size
    draw_w = min(block.width_cm * cm, width)
    flow = [Image(io.BytesIO(block.png), width=draw_w, height=draw_w * h / w)]
    if block.caption:
        flow.append(Paragraph(escape(block.caption), STYLES["muted"]))
    return [*flow, Spacer(1, 6)]


def render_pdf(document: Document) -> bytes:
    """The document as PDF bytes (deterministic for the same document)."""
    _register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=1.6 * cm,
                            bottomMargin=1.6 * cm, title=f"{document.title} — {document.organization}",
                            author="Digi-Cadence", subject=document.period, creator="Digi-Cadence",
                            invariant=True)
    width = A4[0] - 2 * MARGIN
    story: list = [Paragraph(escape(document.title), STYLES["title"]),
                   Paragraph(escape(document.subtitle), STYLES["subtitle"])]
    lead: list = []  # headings and text waiting for what follows them, so a chart never loses its title
    for block in document.blocks:
        if isinstance(block, Heading):
            if block.level == 1 and not lead:
                story.append(CondPageBreak(5 * cm))
            lead.append(Paragraph(escape(block.text), STYLES["h1" if block.level == 1 else "h2"]))
            continue
        if isinstance(block, Text):
            lead.append(Paragraph(escape(block.text), STYLES["muted" if block.muted else "body"]))
            continue
        if isinstance(block, Figure):
            story += [KeepTogether(lead + _figure(block, width))]
            lead = []
            continue
        story += lead
        lead = []
        if isinstance(block, Kpis):
            story += [_kpis(block, width, document.units), Spacer(1, 8)]
        elif isinstance(block, Table) and block.in_pdf:
            story += _table(block, width, document.units)
        elif isinstance(block, PageBreak):
            story.append(RLPageBreak())
    story += lead
    doc.build(story, canvasmaker=_numbered_canvas(document))
    return buffer.getvalue()
