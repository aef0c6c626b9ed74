"""Plotly figures as plain dicts: the JSON a dcc.Graph receives anyway, without graph_objects.

`plotly.graph_objects` validates every property and deep-copies the whole layout template each
time a figure is made (the default template on `go.Figure()`, then the one asked for): 20–40 ms
a figure, more than the queries behind a chart, on every filter change. Here the template is
expanded once per process and traces are dicts with an explicit "type"; arrays may stay numpy
or pandas, Dash's Plotly JSON encoder serializes them (NaN as null, dates as ISO strings).
Pages that draw on every interaction build their charts with these helpers.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import plotly.colors
import plotly.io as pio

from dashboard.components import MUTED, chart_layout


@cache
def _template(name: str) -> dict:
    return pio.templates[name].to_plotly_json()


@cache
def colorscale(name: str) -> tuple:
    """A named colorscale as explicit [position, colour] stops, as graph_objects would send it
    (plotly.js knows only some names, and not always with the same colours)."""
    return tuple(tuple(stop) for stop in plotly.colors.get_colorscale(name))


def figure(data: list[dict], layout: dict[str, Any]) -> dict:
    """A figure dict; a template given by name (as `chart_layout` does) is expanded to its JSON."""
    layout = dict(layout)
    if isinstance(layout.get("template"), str):
        layout["template"] = _template(layout["template"])
    return {"data": data, "layout": layout}


def blank(message: str | None = None, height: int = 360, **layout: Any) -> dict:
    """An empty chart, optionally with a message in the middle (axes hidden)."""
    look = chart_layout(height=height, xaxis={"visible": False}, yaxis={"visible": False}, **layout)
    if message:
        look["annotations"] = [{"text": message, "showarrow": False, "font": {"color": MUTED, "size": 14},
                                "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper"}]
    return figure([], look)


def vline(x: float, line: dict) -> dict:
    """A vertical line across the plot at data coordinate x (what `Figure.add_vline` draws)."""
    return {"type": "line", "x0": x, "x1": x, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain", "line": line}
