"""Issue 16, item 9 (layout), as far as a figure or a column definition shows it: a colour-blind-safe
palette with own and competitor told apart by line style, the allocation chart's labels level and clear
of its legend, whole metric names on the waterfall and the KPI card, the DC score beside the pinned
brand, and amount columns wide enough for their amounts. The browser half is tests/browser/test_layout.py.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from core import brand_explorer as bx
from core.palette import MUTED, PALETTE
from dashboard.components import kpi_card, wrap
from dashboard.figures import brand as brand_figs
from dashboard.figures import optimizer as opt_figs
from dashboard.figures.portfolio import ranking_grid, sections_figure, trend_figure
from dashboard.optimizer_form import BRAND_COLUMNS, CELL_COLUMNS, CELL_PADDING_PX, CHAR_PX, fit_numbers

# Okabe & Ito (2008), "Color Universal Design": the eight colours told apart under every common deficiency.
OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
LONG = "Average organic search rank"


def _plain(label: str) -> list[str]:
    """A Plotly label as a reader sees it: line breaks as spaces, markup gone."""
    return re.sub(r"<[^>]+>", " ", label.replace("<br>", " ")).split()


def test_the_palette_is_okabe_ito_without_black():
    assert set(PALETTE) <= OKABE_ITO and len(set(PALETTE)) == len(PALETTE) >= 6
    assert "#000000" not in PALETTE  # invisible on the dark theme


def _trend() -> pd.DataFrame:
    periods = ["2025-01-01", "2025-02-01"]
    rows = [(p, bid, name, 50.0 + bid) for bid, name in
            [(1, "Alpha"), (2, "Beta"), (3, "Gamma"), (4, "Delta"), (5, "Epsilon"), (-1, "Own brands' average"),
             (0, "Competitor average")] for p in periods]
    return pd.DataFrame(rows, columns=["period", "brand_id", "brand", "score"])


def test_trend_own_solid_in_palette_colours_competitor_dashed_and_muted():
    traces = trend_figure(_trend())["data"]
    by_name = {t["name"]: t["line"] for t in traces}
    assert all(line["color"] in {*PALETTE, MUTED} for line in by_name.values())
    competitor = by_name.pop("Competitor average")
    assert competitor["dash"] == "dash" and competitor["color"] == MUTED
    assert all(line.get("dash", "solid") == "solid" for line in by_name.values())
    own_colours = [line["color"] for line in by_name.values()]
    assert len(set(own_colours)) == len(own_colours) and MUTED not in own_colours  # six own lines, six colours


def test_brand_series_draws_the_brand_solid_and_every_competitor_dashed():
    series = pd.DataFrame({"period": ["2025-01-01"] * 4, "brand_id": [7, 0, 8, 9],
                           "brand": ["Mine", "Competitor average", "Rival A", "Rival B"],
                           "value": [1.0, 2.0, 3.0, 4.0], "role": ["own", "average", "competitor", "competitor"]})
    metric = pd.Series({"metric": "Reach", "unit": ""})
    lines = {t["name"]: t["line"] for t in brand_figs.series_figure(series, 7, metric)["data"]}
    assert lines.pop("Mine")["dash"] == "solid"
    assert all(line["dash"] == "dash" and line["color"] in {*PALETTE, MUTED} for line in lines.values())
    assert lines["Rival A"]["color"] != lines["Rival B"]["color"]


def _result(brands: int = 3) -> dict:
    cells = [{"brand": f"Brand number {b}", "channel": ch, "current": 1e6 * (b + 1), "optimal": 1.2e6 * (b + 1),
              "change": 2e5, "change_pct": 20.0, "marginal_roi": 1.5, "current_marginal_roi": 2.0}
             for b in range(brands) for ch in ("Paid search", "Connected TV", "Influencer marketing")]
    return {"cells": cells, "units": None}


@pytest.mark.parametrize("build", [lambda r: opt_figs.allocation_tab(r).children[0].figure, opt_figs.mroi_figure],
                         ids=["allocation", "marginal-roas"])
def test_cell_charts_keep_labels_level_and_the_legend_above_the_plot(build):
    fig = build(_result())
    layout = fig["layout"]
    assert all(t["orientation"] == "h" and t.get("x") and t.get("y") for t in fig["data"])  # labels on the side
    assert not layout["xaxis"].get("tickangle") and not layout["yaxis"].get("tickangle")
    legend = layout["legend"]
    assert legend["y"] >= 1 and legend["yanchor"] == "bottom"  # outside the plot area, clear of every label
    for label in fig["data"][0]["y"]:
        assert all(len(line) <= 18 for line in label.split("<br>")) and "…" not in label
    assert _plain(fig["data"][0]["y"][0]) == ["Brand", "number", "0", "Paid", "search"]
    assert len(set(fig["data"][0]["y"])) == len(fig["data"][0]["y"])


def test_wrap_keeps_every_word_and_breaks_only_between_words():
    assert wrap(LONG, 22) == "Average organic search<br>rank" and wrap(LONG, 18) == "Average organic<br>search rank"
    assert wrap("Short", 22) == "Short"
    assert wrap("Supercalifragilistic expialidocious", 10).split("<br>") == ["Supercalifragilistic", "expialidocious"]


def _waterfall() -> bx.Waterfall:
    frame = pd.DataFrame({"metric": [LONG, LONG, "Reach"], "platform": ["Amazon", "Flipkart", "Meta"],
                          "contribution": [0.9, -0.4, 0.2]})
    return bx.Waterfall(frame, score_from=40.0, score_to=40.7)


def test_waterfall_names_each_metric_whole_with_its_platform():
    labels = brand_figs.waterfall_figure(_waterfall(), date(2025, 3, 1), date(2025, 4, 1))["data"][0]["y"]
    assert not any("…" in label for label in labels)
    assert _plain(labels[1]) == [*LONG.split(), "Amazon"] and _plain(labels[2]) == [*LONG.split(), "Flipkart"]
    assert len(set(labels)) == len(labels)  # one name on two platforms: two rows, not one


def test_biggest_mover_card_shows_the_whole_metric_name_and_wraps():
    comp = bx.Competitors(pd.DataFrame({"brand_id": [1], "brand": ["Rival"]}), total=1)
    cards = brand_figs.headline_cards(_waterfall(), comp, date(2025, 3, 1), date(2025, 4, 1))
    mover = str(cards[2])
    assert LONG in mover and "…" not in mover and "Amazon" in mover
    card = kpi_card("Biggest mover", LONG)
    value = card.children.children[1]
    assert "dc-kpi-value" in value.className and "text-truncate" not in value.className
    assert "fs-5" in value.className  # words a size smaller than figures: two lines on a card, not four
    assert "fs-3" in kpi_card("DC score", "61.2").children.children[1].className


def test_ranking_grid_puts_the_dc_score_next_to_the_pinned_brand():
    ranking = pd.DataFrame({"rank": [1], "brand_id": [7], "brand": ["Own"], "role": ["own"], "score": [60.0]})
    columns, _rows = ranking_grid(ranking, ["Reach"], project_id=3)
    fields = [c["field"] for c in columns]
    assert fields[:3] == ["rank", "brand_link", "score"]
    pinned = [c for c in columns if c.get("pinned") == "left"]
    assert [c["field"] for c in pinned] == ["rank", "brand_link"]
    # A phone's grid is about 334 px wide (390 less the page's and the card's padding): the score fits beside.
    assert sum(c.get("minWidth", c.get("width", 0)) for c in pinned) + columns[2]["minWidth"] <= 334


def test_amount_columns_are_wide_enough_for_their_widest_amount():
    rows = [{"brand": "A", "channel": "TV", "current": 277_475_220.0, "lower": None, "upper": 1_234_567_890.0,
             "locked": False, "min_spend": None}]
    columns = {c["field"]: c for c in fit_numbers(CELL_COLUMNS, rows)}
    need = CHAR_PX * len("1,234,567,890") + CELL_PADDING_PX
    assert all(columns[f]["minWidth"] >= need for f in ("current", "lower", "upper", "min_spend"))
    assert columns["brand"]["minWidth"] == 110 and columns["locked"]["minWidth"] == 70  # text columns untouched
    assert all(c["minWidth"] >= 110 for c in fit_numbers(BRAND_COLUMNS, []) if c["field"] != "brand")
    money = [c for c in opt_figs.allocation_tab(_result()).children[1].columnDefs
             if c["field"] in ("current", "optimal", "change")]
    assert all(c["minWidth"] >= 110 for c in money)


def test_section_bars_label_level_on_short_lines():
    comparison = pd.DataFrame({"section": ["Marketplace", "Organic Performance"], "own": [48.0, 37.0],
                               "competitor": [56.0, 44.0], "gap": [-8.0, -7.0]})
    fig = sections_figure(comparison)
    assert fig["layout"]["xaxis"]["tickangle"] == 0
    assert fig["data"][0]["x"] == ["Marketplace", "Organic<br>Performance"]


def test_the_user_menu_label_is_two_initials_whatever_the_name():
    from dashboard.shell import initials

    assert initials("Organization Administrator") == "OA" and initials("Ann") == "A"
    assert initials("maria.silva@example.com") == "MS" and initials("") == "?"
