"""The scenario PDF and workbook carry the run's "Why this plan" summary, its odds and each cell's reason."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from pypdf import PdfReader

from core.reports import render
from core.scenarios import get_scenario
from tests.integration.reports.conftest import principal


def test_the_scenario_report_says_why_this_plan_and_its_odds(world):
    db, bm = world["db"], principal(world, "Brand Manager")
    result = get_scenario(db, bm, world["scenario"])["result"]
    explanation = result["explanation"]
    pdf = render(db, bm, "scenario", {"scenario_id": world["scenario"]}, "pdf")
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages))
    assert "Why this plan" in text
    assert re.sub(r"\s+", " ", explanation["summary"].split(". ")[0]) in text
    assert ("beats the current allocation in" in text) == bool(result["odds"])
    book = load_workbook(io.BytesIO(render(db, bm, "scenario", {"scenario_id": world["scenario"]}, "xlsx").content))
    rows = list(book["Why this plan"].iter_rows(min_row=5, values_only=True))
    reasons = [r for r in rows if any(v is not None for v in r)]
    assert [(r[1], r[2]) for r in reasons[: len(explanation["cells"])]] == [
        (c["channel"], c["reason_label"]) for c in explanation["cells"]]
