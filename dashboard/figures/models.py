"""The model review page's charts: pure builders from a kept fit version (core.fit_versions) to figure dicts.

A version holds `inputs` (periods, revenue, spend, controls) and `result` (core.fit_record.fit_result:
fitted series, 90 % band, decomposition, response curves with bands, ROAS and contribution with
intervals). Money is shown compactly in the organization's currency (₹1.2 M, core.formatting.Units,
which the version carries). Nothing here reads the database or the request.
"""

from __future__ import annotations

from typing import Any

from core.formatting import Units
from dashboard.components import MUTED, PALETTE, chart_layout
from dashboard.figures.common import figure

BAND_FILL = "rgba(37, 99, 235, 0.15)"
HOLDOUT_FILL = "rgba(148, 163, 184, 0.18)"
# Fixed colours for the baseline parts, so a channel never borrows the baseline's colour.
PART_COLOURS = {"baseline": "#e2e8f0", "trend": "#94a3b8", "seasonality": "#64748b"}
CONTROL_COLOURS = ["#fbbf24", "#a3a3a3", "#f9a8d4", "#86efac"]
LEGEND_BELOW = {"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 11}}


def part_label(key: str) -> str:
    """"channel:TV" → "TV", "control:event:festive" → "event:festive (control)", "trend" → "Trend"."""
    if key.startswith("channel:"):
        return key.removeprefix("channel:")
    if key.startswith("control:"):
        return key.removeprefix("control:") + " (control)"
    return key.capitalize()


def _band(x: list, lower: list, upper: list, name: str, fill: str = BAND_FILL) -> list[dict]:
    """Two traces drawing a shaded band between `lower` and `upper` (one legend entry)."""
    return [
        {"type": "scatter", "x": x, "y": upper, "mode": "lines", "line": {"width": 0}, "hoverinfo": "skip",
         "showlegend": False, "legendgroup": name},
        {"type": "scatter", "x": x, "y": lower, "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
         "fillcolor": fill, "name": name, "legendgroup": name, "hoverinfo": "skip"},
    ]


def fit_figure(inputs: dict[str, Any], result: dict[str, Any]) -> dict:
    """Actual and predicted revenue over time, the fit's 90 % band, and the holdout periods shaded."""
    periods = inputs["periods"]
    data: list[dict] = []
    band = result.get("fitted_interval")
    if band:
        data += _band(periods, [b[0] for b in band], [b[1] for b in band], "90 % band")
    data += [
        {"type": "scatter", "x": periods, "y": inputs["revenue"], "mode": "lines", "name": "Actual",
         "line": {"color": "#0f172a", "width": 1.5}},
        {"type": "scatter", "x": periods, "y": result["fitted"], "mode": "lines", "name": "Predicted",
         "line": {"color": PALETTE[0], "width": 2, "dash": "dot"}},
    ]
    shapes, notes = [], []
    start = result.get("holdout_start")
    if start is not None and 0 < start < len(periods):
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": periods[start], "x1": periods[-1],
                       "y0": 0, "y1": 1, "fillcolor": HOLDOUT_FILL, "line": {"width": 0}, "layer": "below"})
        notes.append({"text": "holdout", "x": periods[start], "xanchor": "left", "y": 0.02, "yref": "paper",
                      "yanchor": "bottom", "showarrow": False, "font": {"size": 11, "color": MUTED}})
    return figure(data, chart_layout(height=340, shapes=shapes, annotations=notes, legend=LEGEND_BELOW,
                                     yaxis={"title": {"text": "revenue"}, "tickformat": "~s"},
                                     margin={"l": 55, "r": 10, "t": 24, "b": 40}))


def channel_colours(channels: list[str]) -> dict[str, str]:
    """One colour per channel (in name order), the same in every chart of the page."""
    return {ch: PALETTE[i % len(PALETTE)] for i, ch in enumerate(sorted(channels))}


def _part_order(decomposition: dict[str, list]) -> list[str]:
    base = [k for k in ("baseline", "trend", "seasonality") if k in decomposition]
    return base + sorted(k for k in decomposition if k.startswith("control:")) + sorted(
        k for k in decomposition if k.startswith("channel:"))


def decomposition_figure(inputs: dict[str, Any], result: dict[str, Any]) -> dict:
    """The predicted revenue split into its parts period by period, stacked (negative parts below zero)."""
    periods, parts = inputs["periods"], result.get("decomposition") or {}
    colours = {f"channel:{ch}": c for ch, c in channel_colours(
        [k.removeprefix("channel:") for k in parts if k.startswith("channel:")]).items()}
    controls = sorted(k for k in parts if k.startswith("control:"))
    colours.update({k: CONTROL_COLOURS[i % len(CONTROL_COLOURS)] for i, k in enumerate(controls)})
    colours.update(PART_COLOURS)
    data = []
    for key in _part_order(parts):
        colour = colours[key]
        data.append({"type": "bar", "x": periods, "y": parts[key], "name": part_label(key),
                     "marker": {"color": colour, "line": {"width": 0}}})
    data.append({"type": "scatter", "x": periods, "y": result["fitted"], "mode": "lines", "name": "Predicted",
                 "line": {"color": "#0f172a", "width": 1.5}})
    return figure(data, chart_layout(height=380, barmode="relative", bargap=0, legend=LEGEND_BELOW,
                                     yaxis={"title": {"text": "revenue"}, "tickformat": "~s"},
                                     margin={"l": 55, "r": 10, "t": 24, "b": 40}))


def curve_figure(channel: str, curve: dict[str, Any], granularity: str, colour: str = PALETTE[0],
                 units: Units | None = None) -> dict:
    """One channel's response curve (revenue per period at a steady spend per period), its 90 % band,
    today's spend marked, and the largest spend the fit saw as the end of the data-backed range."""
    units = units or Units()
    data: list[dict] = []
    if curve.get("lower") and curve.get("upper"):
        data += _band(curve["spend"], curve["lower"], curve["upper"], "90 % band")
    data.append({"type": "scatter", "x": curve["spend"], "y": curve["response"], "mode": "lines", "name": "Response",
                 "line": {"color": colour, "width": 2},
                 "hovertemplate": "spend %{x:,.3s}<br>revenue %{y:,.3s}<extra></extra>"})
    data.append({"type": "scatter", "x": [curve["current_spend"]], "y": [curve["current_response"]],
                 "mode": "markers", "name": "Today's spend", "marker": {"color": "#dc2626", "size": 10,
                                                                        "symbol": "diamond"},
                 "hovertemplate": "today: spend %{x:,.3s} → revenue %{y:,.3s}<extra></extra>"})
    edge = {"type": "line", "x0": curve["max_spend"], "x1": curve["max_spend"], "xref": "x", "y0": 0, "y1": 1,
            "yref": "y domain", "line": {"color": MUTED, "width": 1, "dash": "dash"}}
    return figure(data, chart_layout(
        height=260, showlegend=False, shapes=[edge], hovermode="closest",
        title={"text": f"<b>{channel}</b> <span style='font-size:11px;color:{MUTED}'>· today "
                       f"{units.money(curve['current_spend'])} a {granularity}</span>", "x": 0.02,
               "font": {"size": 13}},
        xaxis={"title": {"text": units.label(f"spend per {granularity}"), "font": {"size": 11}}, "tickformat": "~s",
               "tickprefix": units.sign.strip()},
        yaxis={"title": {"text": units.label("revenue"), "font": {"size": 11}}, "tickformat": "~s",
               "tickprefix": units.sign.strip()},
        margin={"l": 50, "r": 10, "t": 36, "b": 40}))


def _interval_bars(values: dict[str, float], intervals: dict[str, list], name: str, fmt: str,
                   units: Units) -> dict:
    """Horizontal bars per channel (largest on top, in the channel's colour) with 90 % interval whiskers."""
    channels = sorted(values, key=lambda c: values[c] if values[c] is not None else 0.0)
    colours = channel_colours(list(values))
    x = [values[c] for c in channels]
    ivs = [intervals.get(c) for c in channels]
    plus = [max(iv[1] - v, 0.0) if iv and v is not None else 0.0 for iv, v in zip(ivs, x, strict=True)]
    minus = [max(v - iv[0], 0.0) if iv and v is not None else 0.0 for iv, v in zip(ivs, x, strict=True)]
    text = [units.money(v) if fmt == "money" else units.roas(v) for v in x]
    bar = {"type": "bar", "orientation": "h", "x": x, "y": channels, "name": name,
           "marker": {"color": [colours[c] for c in channels]},
           "text": text, "textposition": "inside", "insidetextanchor": "start", "textfont": {"color": "white"},
           "error_x": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus, "color": "#0f172a",
                       "thickness": 1.5, "width": 4},
           "hovertemplate": "%{y}: %{x:,.3s}<extra></extra>" if fmt == "money" else "%{y}: %{x:.2f}<extra></extra>"}
    return figure([bar], chart_layout(
        height=50 + 34 * len(channels), showlegend=False, hovermode="closest",
        xaxis={"tickformat": "~s" if fmt == "money" else ".2f", "rangemode": "tozero"},
        yaxis={"automargin": True}, margin={"l": 10, "r": 14, "t": 10, "b": 30}))


def roas_figure(result: dict[str, Any], units: Units | None = None) -> dict:
    """ROAS per channel (revenue per unit of spend over the history) with its 90 % interval."""
    return _interval_bars(result.get("roas") or {}, result.get("roas_interval") or {}, "ROAS", "ratio",
                          units or Units())


def contribution_figure(result: dict[str, Any], units: Units | None = None) -> dict:
    """Revenue each channel contributed over the history, with its 90 % interval."""
    return _interval_bars(result.get("contribution") or {}, result.get("contribution_interval") or {},
                          "Contribution to revenue", "money", units or Units())
