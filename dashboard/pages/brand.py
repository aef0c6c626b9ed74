"""Brand explorer: one own brand in one project, taken apart for the marketer who runs it.

Brand and project live in the URL (`/brand?brand=ID&project=ID`), so the portfolio grid can link
here and a view can be shared. Changing either rewrites the URL and the page is built again for
that pair, so every chart callback receives a consistent pair from the layout (they read brand
and project as State); the read models re-check the pair anyway, because a browser can post
anything. Each chart's data downloads as CSV or XLSX from the same read model that drew it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from core import brand_explorer as bx
from core.runtime import get_db
from core.security import Forbidden, Principal
from core.security.authorizer import deny
from core.spreadsheets import csv_text, xlsx_bytes
from dashboard.access import page_layout, protected_callback
from dashboard.auth.principal import current_principal
from dashboard.components import MUTED, PALETTE, chart_layout, empty_state, kpi_card, signed
from dashboard.figures import blank, colorscale, figure, vline
from dashboard.report_download import report_control, send_report
from dashboard.view_cache import cached_view

READ = bx.READ
dash.register_page(__name__, path="/brand", name="Brand explorer", title="Brand explorer · Digi-Cadence",
                   permission=READ)

log = logging.getLogger(__name__)
TOP_MOVERS = 10
TOP_GAPS = 12
TOP_ASSOCIATIONS = 15
GRAPH_CONFIG = {"displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}
CHARTS = ("breakdown", "waterfall", "series", "gaps", "correlation", "revenue")
CHART_TITLES = {
    "breakdown": "Score breakdown: section → platform → metric",
    "waterfall": "What moved the score",
    "series": "Metric over time",
    "gaps": "Gap to competitors",
    "correlation": "Metric correlations over time",
    "revenue": "Metrics most associated with revenue",
}


# ---------------------------------------------------------------- object checks for protected_callback

def _project_ok(principal: Principal, project_id) -> bool:
    """The project holds a brand × project pair the principal may explore."""
    with get_db().engine.connect() as conn:
        pairs = bx.explorable(conn, principal)
    try:
        return int(project_id) in set(pairs["project_id"])
    except (TypeError, ValueError):
        return False


OBJECTS = {"brand_id": "brand", "project_id": ("project", _project_ok)}


# ---------------------------------------------------------------- layout

def _parse_period(value) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return None


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _download_buttons(chart: str) -> html.Div:
    return html.Div(
        [
            dbc.ButtonGroup(
                [dbc.Button("CSV", id=f"brand-{chart}-csv", size="sm", outline=True, color="secondary",
                            title="Download the data behind this chart as CSV"),
                 dbc.Button("XLSX", id=f"brand-{chart}-xlsx", size="sm", outline=True, color="secondary",
                            title="Download the data behind this chart as an Excel workbook")],
                size="sm",
            ),
            dcc.Download(id=f"brand-{chart}-download"),
        ],
        className="ms-auto",
    )


def _card(chart: str, body: list, controls: list | None = None) -> dbc.Card:
    header = dbc.CardHeader(
        html.Div([html.Span(CHART_TITLES[chart], className="fw-semibold me-2"), _download_buttons(chart)],
                 className="d-flex align-items-center flex-wrap gap-2"),
    )
    inner = [*(controls or []), html.Div(id=f"brand-{chart}-note", className="small text-muted mb-1"),
             dcc.Loading(dcc.Graph(id=f"brand-{chart}-graph", config=GRAPH_CONFIG, figure=_blank()), delay_show=300),
             *body]
    return dbc.Card([header, dbc.CardBody(inner)], className="h-100 shadow-sm")


def _label(period: date) -> str:
    return period.strftime("%b %Y")


@page_layout(READ)
def layout(brand: str | None = None, project: str | None = None, **_query) -> html.Div:
    """Page layout for the pair in the URL (or the first pair the principal may explore)."""
    principal = current_principal()
    return cached_view("brand.layout", principal, (brand, project), lambda: _layout(principal, brand, project))


def _layout(principal: Principal, brand: str | None, project: str | None) -> html.Div:
    with get_db().engine.connect() as conn:
        pairs = bx.explorable(conn, principal)
        if pairs.empty:
            return empty_state("No brand you can explore yet.",
                               "Brand explorer shows your own brands; ask an administrator for access.")
        brand_id, project_id = _pick_pair(pairs, _as_int(brand), _as_int(project))
        periods = bx.periods(conn, principal, brand_id, project_id)
        comp = bx.competitors(conn, principal, brand_id, project_id)
        meta = bx.catalogue(conn)
    several_orgs = pairs["organization"].nunique() > 1
    brands = pairs.drop_duplicates("brand_id")
    brand_options = [{"label": f"{r.brand} · {r.organization}" if several_orgs else r.brand, "value": int(r.brand_id)}
                     for r in brands.itertuples()]
    project_options = [{"label": r.project, "value": int(r.project_id)}
                       for r in pairs[pairs["brand_id"] == brand_id].itertuples()]
    period_options = [{"label": _label(p), "value": p.isoformat()} for p in reversed(periods)]
    to_value = periods[-1].isoformat() if periods else None
    from_value = periods[-2].isoformat() if len(periods) > 1 else to_value
    metric_options = [{"label": f"{r.metric} ({r.platform})", "value": int(i)} for i, r in meta.iterrows()]
    competitor_options = [{"label": r.brand, "value": int(r.brand_id)} for r in comp.visible.itertuples()]
    section_options = [{"label": s, "value": s} for s in meta.drop_duplicates("section")["section"]]
    access_note = "" if comp.hidden == 0 else (
        f"You may see {len(comp.visible)} of this project's {comp.total} competitors; "
        "comparisons use only those, and the others are never shown."
    )

    def select(label: str, component) -> dbc.Col:
        return dbc.Col([dbc.Label(label, className="small text-muted mb-0"), component], xs=12, sm=6, lg=3)

    controls = dbc.Row(
        [
            select("Brand", dcc.Dropdown(id="brand-brand", options=brand_options, value=brand_id, clearable=False)),
            select("Project", dcc.Dropdown(id="brand-project", options=project_options, value=project_id,
                                           clearable=False)),
            select("Compare from", dcc.Dropdown(id="brand-from", options=period_options, value=from_value,
                                                clearable=False)),
            select("to", dcc.Dropdown(id="brand-to", options=period_options, value=to_value, clearable=False)),
        ],
        className="g-2 mb-3",
    )
    series_controls = [dbc.Row(
        [
            dbc.Col(dcc.Dropdown(id="brand-metric", options=metric_options, value=int(meta.index[0]),
                                 clearable=False), xs=12, md=6),
            dbc.Col(dcc.Dropdown(id="brand-competitors", options=competitor_options,
                                 value=[o["value"] for o in competitor_options[:2]], multi=True,
                                 placeholder="No competitor you may see" if not competitor_options
                                 else "Overlay competitors…", disabled=not competitor_options), xs=12, md=6),
        ],
        className="g-2 mb-2",
    )]
    correlation_controls = [dcc.Dropdown(id="brand-section", options=section_options,
                                         value=section_options[0]["value"], clearable=False, className="mb-2")]
    chart = {name: _card(name, []) for name in CHARTS}
    chart["series"] = _card("series", [], series_controls)
    chart["correlation"] = _card("correlation", [], correlation_controls)

    def pair(left: str, right: str) -> dbc.Row:
        return dbc.Row([dbc.Col(chart[left], xs=12, xl=6), dbc.Col(chart[right], xs=12, xl=6)], className="g-3 mb-3")

    return html.Div(
        [
            html.Div([html.H2("Brand explorer", className="mb-1"), report_control("report-brand")],
                     className="d-flex flex-wrap justify-content-between align-items-center gap-2"),
            html.P("What your brand's DC score is made of, what moved it, where competitors are ahead, and "
                   "which metrics move with revenue.", className="text-muted"),
            controls,
            dbc.Alert(access_note, color="info", className="small py-2", id="brand-access-note",
                      is_open=bool(access_note)),
            dcc.Loading(dbc.Row(id="brand-kpis", className="g-3 mb-3"), delay_show=300),
            pair("breakdown", "waterfall"),
            pair("series", "gaps"),
            pair("correlation", "revenue"),
        ],
        className="brand-explorer pb-4",
    )


def _pick_pair(pairs: pd.DataFrame, brand_id: int | None, project_id: int | None) -> tuple[int, int]:
    """The pair asked for when the principal may explore it; else the brand's first project; else the first pair."""
    exact = pairs[(pairs["brand_id"] == brand_id) & (pairs["project_id"] == project_id)]
    of_brand = pairs[pairs["brand_id"] == brand_id]
    row = (exact if len(exact) else of_brand if len(of_brand) else pairs).iloc[0]
    return int(row["brand_id"]), int(row["project_id"])


# ---------------------------------------------------------------- navigation

@protected_callback(
    Output("url", "search", allow_duplicate=True),
    Input("brand-brand", "value"),
    Input("brand-project", "value"),
    State("url", "search"),
    permission=READ,
    objects=OBJECTS,
    prevent_initial_call=True,
)
def choose_pair(brand_id, project_id, search):
    """A new brand or project rewrites the URL; the page is then built for that pair."""
    if brand_id is None:
        raise PreventUpdate
    with get_db().engine.connect() as conn:
        pairs = bx.explorable(conn, current_principal())
    brand_id, project_id = _pick_pair(pairs, _as_int(brand_id), _as_int(project_id))
    wanted = f"?brand={brand_id}&project={project_id}"
    return no_update if wanted == search else wanted


# ---------------------------------------------------------------- figures

def _blank(message: str | None = None, height: int = 360) -> dict:
    return blank(message, height)


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _metric_axis(frame: pd.DataFrame) -> tuple[list[str], dict]:
    """Unique category per metric (names repeat across platforms) and short two-line tick labels, so
    horizontal bar charts keep most of a phone's width for the bars.
    """
    keys = (frame["metric"] + " · " + frame["platform"]).tolist()
    ticks = (frame["metric"].map(lambda m: _short(m, 22)) + "<br><span style='font-size:9px;color:#64748b'>"
             + frame["platform"] + "</span>").tolist()
    return keys, {"tickmode": "array", "tickvals": keys, "ticktext": ticks, "automargin": True,
                  "tickfont": {"size": 11}}


def breakdown_figure(breakdown: pd.DataFrame) -> dict:
    """Sunburst sized by effective weight and coloured by score (0 red … 100 green)."""
    tree = bx.breakdown_tree(breakdown)
    leaves = tree["level"] == "metric"
    sunburst = {
        "type": "sunburst", "ids": tree["id"].tolist(), "parents": tree["parent"].tolist(),
        "labels": tree["label"].map(_short).tolist(), "values": np.where(leaves, tree["weight"], 0.0),
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
    labels = [f"DC {_label(period_from)}", *top["metric"].map(lambda m: _short(m, 22)),
              f"Other {max(len(frame) - TOP_MOVERS, 0)} metrics", f"DC {_label(period_to)}"]
    values = [result.score_from, *top["contribution"], rest, result.score_to]
    measures = ["absolute", *["relative"] * (len(top) + 1), "total"]
    water = {
        "type": "waterfall", "orientation": "h", "y": labels, "x": values, "measure": measures,
        "text": [f"{result.score_from:.1f}", *(signed(v, 2) for v in top["contribution"]), signed(rest, 2),
                 f"{result.score_to:.1f}"],
        "textposition": "outside", "cliponaxis": False,
        "increasing": {"marker": {"color": PALETTE[1]}}, "decreasing": {"marker": {"color": PALETTE[7]}},
        "totals": {"marker": {"color": PALETTE[0]}}, "connector": {"line": {"color": MUTED, "width": 1}},
        "hovertemplate": "%{y}: %{x:.2f}<extra></extra>",
    }
    low = min(result.score_from, result.score_to)
    lo = max(0.0, low - max(abs(frame["contribution"]).sum(), 1.0))
    return figure([water], chart_layout(
        height=80 + 30 * len(labels), hovermode="closest", showlegend=False,
        margin={"l": 10, "r": 40, "t": 30, "b": 30},
        yaxis={"autorange": "reversed", "automargin": True, "tickfont": {"size": 11}},
        xaxis={"title": {"text": "DC score"}, "range": [lo, min(100.0, max(result.score_from, result.score_to) + 3)],
               "nticks": 5, "tickangle": 0},
    ))


def series_figure(series: pd.DataFrame, brand_id: int, metric: pd.Series) -> dict:
    data = []
    for (bid, name), rows in series.groupby(["brand_id", "brand"], sort=False):
        if bid == brand_id:
            line, width = {"color": PALETTE[0], "width": 3}, 3
        elif bid == 0:
            line, width = {"color": MUTED, "dash": "dot", "width": 2}, 2
        else:
            line, width = {"width": 1.5}, 1.5
        data.append({"type": "scatter", "x": rows["period"], "y": rows["value"].to_numpy(), "name": name,
                     "mode": "lines+markers", "line": line, "marker": {"size": 4 if width < 3 else 6}})
    unit = f" ({metric['unit']})" if metric["unit"] else ""
    return figure(data, chart_layout(height=380, yaxis={"title": {"text": f"{_short(metric['metric'], 30)}{unit}"}},
                                     legend={"orientation": "h", "y": -0.15}))


def gaps_figure(result: bx.Gaps) -> dict:
    """Normalized points (comparable across metrics); positive means ahead."""
    frame = result.frame.sort_values("gap_to_best_points").head(TOP_GAPS).iloc[::-1]
    labels, yaxis = _metric_axis(frame)
    best_name = "to best visible competitor" if result.basis == "competitors" else "to the project's best"
    data = [{"type": "bar", "y": labels, "x": frame["gap_to_best_points"].to_numpy(), "orientation": "h",
             "name": best_name, "marker": {"color": PALETTE[7]},
             "hovertemplate": "%{y}: %{x:.1f} points<extra></extra>"}]
    if result.basis == "competitors":
        data.append({"type": "bar", "y": labels, "x": frame["gap_to_avg_points"].to_numpy(), "orientation": "h",
                     "name": "to visible competitor average", "marker": {"color": PALETTE[0]},
                     "hovertemplate": "%{y}: %{x:.1f} points<extra></extra>"})
    return figure(data, chart_layout(height=140 + 38 * len(frame), barmode="group", hovermode="closest",
                                     margin={"l": 10, "r": 10, "t": 30, "b": 40}, yaxis=yaxis,
                                     xaxis={"title": {"text": "points (+ = ahead)"}, "zeroline": True, "nticks": 5,
                                            "tickangle": 0},
                                     legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"}))


def correlation_figure(result: bx.Correlations) -> dict:
    matrix = result.matrix
    # Positions, not names, on the axes: shortened names can collide and a category axis would merge them.
    positions = list(range(len(matrix)))
    ticks = {"tickmode": "array", "tickvals": positions, "ticktext": [_short(n, 18) for n in matrix.columns],
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
    return figure([heat], chart_layout(height=520, hovermode="closest", margin={"l": 10, "r": 10, "t": 10, "b": 10},
                                       xaxis={**ticks, "tickangle": -45}, yaxis={**ticks, "autorange": "reversed"}))


def revenue_figure(assoc: pd.DataFrame) -> dict:
    frame = assoc.head(TOP_ASSOCIATIONS).iloc[::-1]
    colors = np.where(frame["r"] >= 0, PALETTE[1], PALETTE[7])
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


# ---------------------------------------------------------------- data per chart (figures and downloads)

def chart_data(chart: str, principal: Principal, brand_id: int, project_id: int, period_from: date | None,
               period_to: date | None, metric_id: int | None, competitor_ids: list | None, section: str | None):
    """The read-model result behind one chart (raises Forbidden when the pair is out of scope)."""
    with get_db().engine.connect() as conn:
        if not bx.can_explore(conn, principal, brand_id, project_id):
            deny(principal, READ, ("brand", brand_id), "pair not explorable")
        if chart == "breakdown":
            return bx.score_breakdown(conn, principal, brand_id, project_id, period_to)
        if chart == "waterfall":
            return bx.score_waterfall(conn, principal, brand_id, project_id, period_from, period_to)
        if chart == "series":
            return bx.metric_series(conn, principal, brand_id, project_id, metric_id, competitor_ids or [])
        if chart == "gaps":
            return bx.gaps(conn, principal, brand_id, project_id, period_to)
        if chart == "correlation":
            meta = bx.catalogue(conn)
            ids = meta.index[meta["section"] == section].tolist() if section else None
            return bx.metric_correlations(conn, principal, brand_id, ids)
        if chart == "revenue":
            return bx.revenue_associations(conn, principal, brand_id)
    raise ValueError(f"unknown chart {chart!r}")


def as_frame(chart: str, result) -> pd.DataFrame:
    """The table a person downloads for a chart."""
    if chart == "waterfall":
        return result.frame.assign(score_from=result.score_from, score_to=result.score_to)
    if chart == "gaps":
        return result.frame.assign(basis=result.basis, competitors_visible=result.competitors_visible)
    if chart == "correlation":
        return result.matrix.rename_axis("metric").reset_index()
    return result


def _error(chart: str, exc: Exception, extra: tuple = ()):
    """The card's error state: blank figure and a message, then `extra` for the callback's other outputs."""
    log.exception("brand explorer: %s chart failed", chart)
    return _blank("Could not draw this chart."), dbc.Alert(
        "Something went wrong while computing this chart. Try another period, or reload the page.",
        color="danger", className="small py-1 mb-0"), *extra


def _guarded(chart: str, draw: Callable, key: tuple, extra: tuple = ()):
    """Run `draw` (its output cached per data token, scopes and `key`, the callback's inputs); a
    Forbidden still becomes a 403, any other failure an error message in the card.

    `extra`: what the callback's outputs after the figure and the note show on error (one per output),
    so the error answer has the callback's declared outputs.
    """
    try:
        return cached_view(f"brand.{chart}", current_principal(), key, draw)
    except (Forbidden, PreventUpdate):
        raise
    except Exception as exc:  # shown to the user as an error state, logged with its traceback
        return _error(chart, exc, extra)


# ---------------------------------------------------------------- chart callbacks

@protected_callback(
    Output("brand-breakdown-graph", "figure"),
    Output("brand-breakdown-note", "children"),
    Input("brand-to", "value"),
    State("brand-brand", "value"),
    State("brand-project", "value"),
    permission=READ,
    objects=OBJECTS,
)
def show_breakdown(period_to, brand_id, project_id):
    """Sunburst of the DC score for the `to` period."""
    period = _parse_period(period_to)

    def draw():
        frame = chart_data("breakdown", current_principal(), brand_id, project_id, None, period, None, None, None)
        if frame.empty:
            return _blank("No metric values in this period."), ""
        note = (f"{_label(period)}: DC score {frame['contribution'].sum():.1f}. Size = weight in the score, "
                "colour = normalized score (0 worst … 100 best in the project). Click a section to zoom.")
        return breakdown_figure(frame), note

    return _guarded("breakdown", draw, (period_to, brand_id, project_id))


@protected_callback(
    Output("brand-waterfall-graph", "figure"),
    Output("brand-waterfall-note", "children"),
    Output("brand-kpis", "children"),
    Input("brand-from", "value"),
    Input("brand-to", "value"),
    State("brand-brand", "value"),
    State("brand-project", "value"),
    permission=READ,
    objects=OBJECTS,
)
def show_waterfall(period_from, period_to, brand_id, project_id):
    """What moved the score between the two periods, and the headline numbers."""
    p0, p1 = _parse_period(period_from), _parse_period(period_to)
    if p0 is None or p1 is None:  # a brand with no months yet, or periods that are no dates
        return _blank("No metric values for these periods."), "Pick two months to see what moved the score.", []

    def draw():
        principal = current_principal()
        result = chart_data("waterfall", principal, brand_id, project_id, p0, p1, None, None, None)
        if result.frame.empty:
            return _blank("No metric values for these periods."), "", []
        change = result.score_to - result.score_from
        top = result.frame.iloc[0]
        with get_db().engine.connect() as conn:
            comp = bx.competitors(conn, principal, brand_id, project_id)
        cards = [
            kpi_card("DC score", f"{result.score_to:.1f}", _label(p1)),
            kpi_card("Change", signed(change), f"since {_label(p0)}", "success" if change >= 0 else "danger"),
            kpi_card("Biggest mover", _short(top["metric"], 20), f"{signed(top['contribution'], 2)} points",
                     "success" if top["contribution"] >= 0 else "danger"),
            kpi_card("Competitors you see", f"{len(comp.visible)} of {comp.total}",
                     "comparisons use these only" if comp.hidden else "all of the project's competitors"),
        ]
        note = (f"The {min(TOP_MOVERS, len(result.frame))} largest metric contributions; they and the pooled rest "
                f"add up exactly to the change of {signed(change, 2)} points.")
        if p0 == p1:
            note = "Pick two different periods to see what moved the score."
        return waterfall_figure(result, p0, p1), note, [dbc.Col(c, xs=6, lg=3) for c in cards]

    return _guarded("waterfall", draw, (period_from, period_to, brand_id, project_id), extra=([],))


@protected_callback(
    Output("brand-series-graph", "figure"),
    Output("brand-series-note", "children"),
    Input("brand-metric", "value"),
    Input("brand-competitors", "value"),
    State("brand-brand", "value"),
    State("brand-project", "value"),
    permission=READ,
    objects={**OBJECTS, "competitor_ids": "brand"},
)
def show_series(metric_id, competitor_ids, brand_id, project_id):
    """One metric over time for the brand, chosen competitors and the visible competitor average."""
    metric_id = _as_int(metric_id)

    def draw():
        series = chart_data("series", current_principal(), brand_id, project_id, None, None, metric_id,
                            competitor_ids, None)
        if series.empty or metric_id is None:
            return _blank("No values of this metric for the brand."), ""
        with get_db().engine.connect() as conn:
            metric = bx.catalogue(conn).loc[metric_id]
        better = "lower is better" if metric["direction"] == "lower" else "higher is better"
        note = f"{metric['section']} · {metric['platform']}: {metric['metric']}, raw monthly values ({better})."
        if not (series["role"] == "average").any():
            note += " No competitor's values are visible to you, so none is overlaid."
        return series_figure(series, int(brand_id), metric), note

    return _guarded("series", draw, (metric_id, competitor_ids, brand_id, project_id))


@protected_callback(
    Output("brand-gaps-graph", "figure"),
    Output("brand-gaps-note", "children"),
    Input("brand-to", "value"),
    State("brand-brand", "value"),
    State("brand-project", "value"),
    permission=READ,
    objects=OBJECTS,
)
def show_gaps(period_to, brand_id, project_id):
    """Gap per metric to the best and the average competitor the principal may see."""
    period = _parse_period(period_to)

    def draw():
        result = chart_data("gaps", current_principal(), brand_id, project_id, None, period, None, None, None)
        if result.frame.empty:
            return _blank("No competitor values in this period."), ""
        shown = min(TOP_GAPS, len(result.frame))
        if result.basis == "competitors":
            note = (f"{_label(period)}: the {shown} metrics furthest behind the best of {result.competitors_visible} "
                    "visible competitors, in normalized points (+ = ahead). Raw-unit gaps are in the download.")
        else:
            note = (f"You may not see this project's {result.competitors_total} competitors, so no competitor value "
                    f"is shown. Bars give how far each of the {shown} weakest metrics is from the best brand in the "
                    "project (100), computed from your brand's own normalized values.")
        return gaps_figure(result), note

    return _guarded("gaps", draw, (period_to, brand_id, project_id))


@protected_callback(
    Output("brand-correlation-graph", "figure"),
    Output("brand-correlation-note", "children"),
    Input("brand-section", "value"),
    State("brand-brand", "value"),
    State("brand-project", "value"),
    permission=READ,
    objects=OBJECTS,
)
def show_correlation(section, brand_id, project_id):
    """Correlation matrix of the brand's metrics in one section, across months."""

    def draw():
        result = chart_data("correlation", current_principal(), brand_id, project_id, None, None, None, None,
                            section)
        if result.matrix.empty:
            return _blank("Not enough months with varying values."), ""
        note = f"Pearson r across {result.n} months of the brand's raw values."
        if result.n < bx.SMALL_SAMPLE:
            note += f" With only {result.n} months, treat single coefficients as hints."
        if result.dropped:
            note += f" Left out (constant or too few values): {', '.join(result.dropped)}."
        return correlation_figure(result), note

    return _guarded("correlation", draw, (section, brand_id, project_id))


@protected_callback(
    Output("brand-revenue-graph", "figure"),
    Output("brand-revenue-note", "children"),
    Input("brand-section", "id"),  # only to run once per page build; revenue depends on the brand alone
    State("brand-brand", "value"),
    State("brand-project", "value"),
    permission=READ,
    objects=OBJECTS,
)
def show_revenue(_trigger, brand_id, project_id):
    """The metrics whose monthly values move most closely with the brand's monthly revenue."""

    def draw():
        assoc = chart_data("revenue", current_principal(), brand_id, project_id, None, None, None, None, None)
        if assoc.empty:
            return _blank("No revenue recorded for this brand."), ""
        n, crit = int(assoc["n"].max()), float(assoc["r_critical"].iloc[0])
        note = (f"Pearson r of each metric with monthly revenue over {n} months (weekly revenue split over days; "
                f"partial months left out). Dashed lines: |r| = {crit:.2f}, the 5 % significance threshold at this n.")
        if n < bx.SMALL_SAMPLE:
            note += f" Only {n} months: a small sample, so read these as leads to test, not effects."
        return revenue_figure(assoc), note + " Association is not causation."

    return _guarded("revenue", draw, (brand_id, project_id))


# ---------------------------------------------------------------- downloads

def to_download(frame: pd.DataFrame, filename: str, fmt: str) -> dict:
    """dcc.Download payload: CSV or XLSX, written by core.spreadsheets (user text never runs as a formula)."""
    if fmt == "csv":
        return dcc.send_string(csv_text(frame), f"{filename}.csv", type="text/csv")
    return dcc.send_bytes(xlsx_bytes({filename[:31]: frame}), f"{filename}.xlsx")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "brand"


def _register_download(chart: str) -> None:
    @protected_callback(
        Output(f"brand-{chart}-download", "data"),
        Input(f"brand-{chart}-csv", "n_clicks"),
        Input(f"brand-{chart}-xlsx", "n_clicks"),
        State("brand-brand", "value"),
        State("brand-project", "value"),
        State("brand-from", "value"),
        State("brand-to", "value"),
        State("brand-metric", "value"),
        State("brand-competitors", "value"),
        State("brand-section", "value"),
        permission=READ,
        objects={**OBJECTS, "competitor_ids": "brand"},
        prevent_initial_call=True,
    )
    def download(csv_clicks, xlsx_clicks, brand_id, project_id, period_from, period_to, metric_id, competitor_ids,
                 section):
        """The data behind the chart, recomputed on the server for the principal asking."""
        triggered = dash.ctx.triggered_id or ""
        fmt = "xlsx" if str(triggered).endswith("xlsx") else "csv"
        if not (csv_clicks or xlsx_clicks):
            raise PreventUpdate
        result = chart_data(chart, current_principal(), brand_id, project_id, _parse_period(period_from),
                            _parse_period(period_to), _as_int(metric_id), competitor_ids, section)
        with get_db().engine.connect() as conn:
            name = bx.explorable(conn, current_principal()).set_index("brand_id")["brand"].get(int(brand_id), "brand")
        stamp = _parse_period(period_to).isoformat() if period_to else "all"
        return to_download(as_frame(chart, result), f"{_slug(name)}-{chart}-{stamp}", fmt)



for _chart in CHARTS:
    _register_download(_chart)


@protected_callback(
    Output("report-brand-download", "data"),
    Output("report-brand-message", "children"),
    Input("report-brand-pdf", "n_clicks"),
    Input("report-brand-xlsx", "n_clicks"),
    State("brand-brand", "value"),
    State("brand-project", "value"),
    State("brand-to", "value"),
    permission="report:export",
    objects=OBJECTS,
    prevent_initial_call=True,
)
def download_report(_pdf, _xlsx, brand_id, project_id, period):
    """The brand health card for the pair on screen, as of the 'to' month (core.reports re-checks)."""
    return send_report("brand", {"brand_id": brand_id, "project_id": project_id, "as_of": period})
