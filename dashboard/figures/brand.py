"""The brand explorer's charts: pure builders from the read models of `core.brand_explorer` to figure dicts.

Labels are shortened so horizontal bars keep most of a phone's width; colours follow the app's
palette (the own brand first, competitors muted). Nothing here reads the database or the request.
"""

from __future__ import annotations

from datetime import date

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd

from core import brand_explorer as bx
from core.palette import COMPETITOR_LINE, GAIN, LOSS, OWN_LINE
from dashboard.components import MUTED, PALETTE, chart_layout, kpi_card, signed, wrap
from dashboard.figures.common import colorscale, figure, vline

TOP_MOVERS = 10
TOP_GAPS = 12
TOP_ASSOCIATIONS = 15
MUTED_TEXT = "#64748b"  # a tick label's second line: grey, readable on the light and the dark card


def month_label(period: date) -> str:
    """A period as the page writes it: "Mar 2025"."""
    return period.strftime("%b %Y")


def short(text: str, limit: int = 28) -> str:
    """`text` cut to `limit` characters with an ellipsis, so long metric names fit a tick label."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def metric_label(metric: str, platform: str | None = None) -> str:
    """A metric's whole name wrapped onto short lines, its platform under it in small grey type: narrow
    enough that horizontal bars keep most of a phone's width, and never cut ("Average organic sea…")."""
    tail = f"<br><span style='font-size:9px;color:{MUTED_TEXT}'>{platform}</span>" if platform else ""
    return wrap(metric, 22) + tail


def _metric_axis(frame: pd.DataFrame) -> tuple[list[str], dict]:
    """Unique category per metric (names repeat across platforms) and wrapped tick labels."""
    keys = (frame["metric"] + " · " + frame["platform"]).tolist()
    ticks = [metric_label(m, p) for m, p in zip(frame["metric"], frame["platform"], strict=True)]
    return keys, {"tickmode": "array", "tickvals": keys, "ticktext": ticks, "automargin": True,
                  "tickfont": {"size": 11}}


def breakdown_figure(breakdown: pd.DataFrame) -> dict:
    """Sunburst sized by effective weight and coloured by score (0 red … 100 green)."""
    tree = bx.breakdown_tree(breakdown)
    leaves = tree["level"] == "metric"
    sunburst = {
        "type": "sunburst", "ids": tree["id"].tolist(), "parents": tree["parent"].tolist(),
        "labels": tree["label"].map(short).tolist(), "values": np.where(leaves, tree["weight"], 0.0),
        "branchvalues": "remainder", "maxdepth": 3,
        "marker": {"colors": tree["score"].to_numpy(), "colorscale": colorscale("RdYlGn"), "cmin": 0, "cmax": 100,
                   "colorbar": {"title": {"text": "score"}, "thickness": 10, "len": 0.7}},
        "customdata": np.column_stack([tree["label"], tree["score"], tree["weight"] * 100, tree["contribution"]]),
        "hovertemplate": "<b>%{customdata[0]}</b><br>score %{customdata[1]:.1f}<br>"
                         "weight %{customdata[2]:.1f}% of the DC score<br>contributes %{customdata[3]:.2f} points"
                         "<extra></extra>",
        "insidetextorientation": "radial",
    }
    return figure([sunburst], chart_layout(height=420, margin={"l": 0, "r": 0, "t": 10, "b": 10}))


def waterfall_figure(result: bx.Waterfall, period_from: date, period_to: date) -> dict:
    """DC score at `from`, the biggest metric contributions, the rest pooled, DC score at `to`."""
    frame = result.frame
    top = frame.head(TOP_MOVERS)
    rest = frame.iloc[TOP_MOVERS:]["contribution"].sum()
    # Whole names, wrapped, with the platform: names repeat across platforms and would share one row.
    platforms = top["platform"] if "platform" in top else [None] * len(top)
    labels = [f"DC {month_label(period_from)}", *map(metric_label, top["metric"], platforms),
              f"Other {max(len(frame) - TOP_MOVERS, 0)} metrics", f"DC {month_label(period_to)}"]
    values = [result.score_from, *top["contribution"], rest, result.score_to]
    measures = ["absolute", *["relative"] * (len(top) + 1), "total"]
    water = {
        "type": "waterfall", "orientation": "h", "y": labels, "x": values, "measure": measures,
        "text": [f"{result.score_from:.1f}", *(signed(v, 2) for v in top["contribution"]), signed(rest, 2),
                 f"{result.score_to:.1f}"],
        "textposition": "outside", "cliponaxis": False,
        "increasing": {"marker": {"color": GAIN}}, "decreasing": {"marker": {"color": LOSS}},
        "totals": {"marker": {"color": PALETTE[0]}}, "connector": {"line": {"color": MUTED, "width": 1}},
        "hovertemplate": "%{y}: %{x:.2f}<extra></extra>",
    }
    low = min(result.score_from, result.score_to)
    lo = max(0.0, low - max(abs(frame["contribution"]).sum(), 1.0))
    return figure([water], chart_layout(
        # Every row is as tall as the tallest label: a category axis shares the height out evenly.
        height=90 + len(labels) * (16 + 13 * max(1 + label.count("<br>") for label in labels)), hovermode="closest",
        showlegend=False,
        margin={"l": 10, "r": 40, "t": 30, "b": 30},
        yaxis={"autorange": "reversed", "automargin": True, "tickfont": {"size": 11}},
        xaxis={"title": {"text": "DC score"}, "range": [lo, min(100.0, max(result.score_from, result.score_to) + 3)],
               "nticks": 5, "tickangle": 0},
    ))


def series_figure(series: pd.DataFrame, brand_id: int, metric: pd.Series) -> dict:
    """The brand's line bold and solid; the visible competitor average muted and dashed, chosen competitors
    thin and dashed in the palette's other colours: own and competitor differ in line style, not only colour."""
    data = []
    colors = iter(PALETTE[1:])
    for (bid, name), rows in series.groupby(["brand_id", "brand"], sort=False):
        if bid == brand_id:
            line, width = {"color": PALETTE[0], "dash": OWN_LINE, "width": 3}, 3
        elif bid == 0:
            line, width = {"color": MUTED, "dash": COMPETITOR_LINE, "width": 2}, 2
        else:
            line, width = {"color": next(colors, MUTED), "dash": COMPETITOR_LINE, "width": 1.5}, 1.5
        data.append({"type": "scatter", "x": rows["period"], "y": rows["value"].to_numpy(), "name": name,
                     "mode": "lines+markers", "line": line, "marker": {"size": 4 if width < 3 else 6}})
    unit = f" ({metric['unit']})" if metric["unit"] else ""
    return figure(data, chart_layout(height=380, yaxis={"title": {"text": f"{short(metric['metric'], 30)}{unit}"}},
                                     legend={"orientation": "h", "y": -0.15}))


def gaps_figure(result: bx.Gaps) -> dict:
    """Normalized points (comparable across metrics); positive means ahead."""
    frame = result.frame.sort_values("gap_to_best_points").head(TOP_GAPS).iloc[::-1]
    labels, yaxis = _metric_axis(frame)
    best_name = "to best visible competitor" if result.basis == "competitors" else "to the project's best"
    data = [{"type": "bar", "y": labels, "x": frame["gap_to_best_points"].to_numpy(), "orientation": "h",
             "name": best_name, "marker": {"color": LOSS},
             "hovertemplate": "%{y}: %{x:.1f} points<extra></extra>"}]
    if result.basis == "competitors":
        data.append({"type": "bar", "y": labels, "x": frame["gap_to_avg_points"].to_numpy(), "orientation": "h",
                     "name": "to visible competitor average", "marker": {"color": PALETTE[0]},
                     "hovertemplate": "%{y}: %{x:.1f} points<extra></extra>"})
    # The top margin keeps the legend below Plotly's toolbar (shown on hover).
    return figure(data, chart_layout(height=160 + 38 * len(frame), barmode="group", hovermode="closest",
                                     margin={"l": 10, "r": 10, "t": 52, "b": 40}, yaxis=yaxis,
                                     xaxis={"title": {"text": "points (+ = ahead)"}, "zeroline": True, "nticks": 5,
                                            "tickangle": 0},
                                     legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"}))


def correlation_figure(result: bx.Correlations) -> dict:
    """Heatmap of r from -1 (blue) to 1 (red); coefficients printed only while they stay readable."""
    matrix = result.matrix
    # Positions, not names, on the axes: shortened names can collide and a category axis would merge them.
    positions = list(range(len(matrix)))
    ticks = {"tickmode": "array", "tickvals": positions, "ticktext": [short(n, 18) for n in matrix.columns],
             "automargin": True, "tickfont": {"size": 10}}
    heat = {
        "type": "heatmap", "z": matrix.to_numpy(), "x": positions, "y": positions, "zmin": -1, "zmax": 1,
        "colorscale": colorscale("RdBu"), "text": matrix.round(2).to_numpy(),
        "customdata": np.array(np.meshgrid(matrix.columns, matrix.index)).transpose(1, 2, 0),
        "hovertemplate": "%{customdata[1]} × %{customdata[0]}: r = %{z:.2f}<extra></extra>",
        "colorbar": {"thickness": 10, "title": {"text": "r"}},
    }
    if len(matrix) <= 16:
        heat["texttemplate"] = "%{text:.1f}"
    # The top margin holds Plotly's toolbar (shown on hover), which covered the top row's cells at 10 px.
    return figure([heat], chart_layout(height=540, hovermode="closest", margin={"l": 10, "r": 10, "t": 34, "b": 10},
                                       xaxis={**ticks, "tickangle": -45}, yaxis={**ticks, "autorange": "reversed"}))


def revenue_figure(assoc: pd.DataFrame) -> dict:
    """The strongest associations with revenue as bars, dashed lines at the 5 % significance threshold."""
    frame = assoc.head(TOP_ASSOCIATIONS).iloc[::-1]
    colors = np.where(frame["r"] >= 0, GAIN, LOSS)
    labels, yaxis = _metric_axis(frame)
    bars = {
        "type": "bar", "y": labels, "x": frame["r"].to_numpy(), "orientation": "h", "marker": {"color": colors},
        "customdata": np.column_stack([frame["n"], frame["p_value"]]),
        "hovertemplate": "%{y}<br>r = %{x:.2f}, n = %{customdata[0]}, p = %{customdata[1]:.3f}<extra></extra>",
    }
    shapes = []
    if len(frame):
        crit = float(frame["r_critical"].iloc[0])
        shapes = [vline(x, {"dash": "dash", "color": MUTED, "width": 1}) for x in (-crit, crit)]
    return figure([bars], chart_layout(height=140 + 36 * len(frame), hovermode="closest", showlegend=False,
                                       margin={"l": 10, "r": 10, "t": 30, "b": 40}, shapes=shapes,
                                       xaxis={"title": {"text": "r with monthly revenue"}, "range": [-1, 1],
                                              "dtick": 0.5, "tickangle": 0},
                                       yaxis=yaxis))


def headline_cards(result: bx.Waterfall, comp: bx.Competitors, period_from: date, period_to: date) -> list[dbc.Col]:
    """The page's headline numbers: score, change, biggest mover, and how many competitors the reader sees."""
    change = result.score_to - result.score_from
    top = result.frame.iloc[0]
    platform = top.get("platform")
    on = f" · {platform}" if isinstance(platform, str) and platform else ""  # names repeat across platforms
    cards = [
        kpi_card("DC score", f"{result.score_to:.1f}", month_label(period_to)),
        kpi_card("Change", signed(change), f"since {month_label(period_from)}", "success" if change >= 0 else "danger"),
        kpi_card("Biggest mover", top["metric"],
                 f"{signed(top['contribution'], 2)} points{on}",
                 "success" if top["contribution"] >= 0 else "danger"),
        kpi_card("Competitors you see", f"{len(comp.visible)} of {comp.total}",
                 "comparisons use these only" if comp.hidden else "all of the project's competitors"),
    ]
    return [dbc.Col(c, xs=6, lg=3) for c in cards]


# ---------------------------------------------------------------- captions: what each chart shows, in words

def breakdown_note(frame: pd.DataFrame, period: date) -> str:
    """How to read the sunburst, with the score it adds up to."""
    return (f"{month_label(period)}: the metrics shown add up to a DC score of {frame['contribution'].sum():.1f}. "
            "Size = weight in the score, "
            "colour = normalized score (0 worst … 100 best in the project). Click a section to zoom.")


def waterfall_note(result: bx.Waterfall, period_from: date, period_to: date) -> str:
    """Says that the bars add up exactly to the change, or asks for two different periods."""
    if period_from == period_to:
        return "Pick two different periods to see what moved the score."
    change = result.score_to - result.score_from
    return (f"The {min(TOP_MOVERS, len(result.frame))} largest metric contributions; they and the pooled rest "
            f"add up exactly to the change of {signed(change, 2)} points.")


def series_note(series: pd.DataFrame, metric: pd.Series) -> str:
    """The metric's place in the catalogue and which way is better; says when no competitor is overlaid."""
    better = "lower is better" if metric["direction"] == "lower" else "higher is better"
    note = f"{metric['section']} · {metric['platform']}: {metric['metric']}, raw monthly values ({better})."
    if not (series["role"] == "average").any():
        note += " No competitor's values are visible to you, so none is overlaid."
    return note


def gaps_note(result: bx.Gaps, period: date) -> str:
    """What the gap is measured against: visible competitors, or the project's best when none is visible."""
    shown = min(TOP_GAPS, len(result.frame))
    if result.basis == "competitors":
        return (f"{month_label(period)}: the {shown} metrics furthest behind the best of "
                f"{result.competitors_visible} visible competitors, in normalized points (+ = ahead). "
                "Raw-unit gaps are in the download.")
    return (f"You may not see this project's {result.competitors_total} competitors, so no competitor value "
            f"is shown. Bars give how far each of the {shown} weakest metrics is from the best brand in the "
            "project (100), computed from your brand's own normalized values.")


def correlation_note(result: bx.Correlations) -> str:
    """The sample behind the coefficients, a warning when it is small, and the metrics left out."""
    note = f"Pearson r across {result.n} months of the brand's raw values."
    if result.n < bx.SMALL_SAMPLE:
        note += f" With only {result.n} months, treat single coefficients as hints."
    if result.dropped:
        note += f" Left out (constant or too few values): {', '.join(result.dropped)}."
    return note


def revenue_note(assoc: pd.DataFrame) -> str:
    """The sample, the significance threshold drawn, and that association is not causation."""
    n, crit = int(assoc["n"].max()), float(assoc["r_critical"].iloc[0])
    note = (f"Pearson r of each metric with monthly revenue over {n} months (weekly revenue split over days; "
            f"partial months left out). Dashed lines: |r| = {crit:.2f}, the 5 % significance threshold at this n.")
    if n < bx.SMALL_SAMPLE:
        note += f" Only {n} months: a small sample, so read these as leads to test, not effects."
    return note + " Association is not causation."
