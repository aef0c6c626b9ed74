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
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from core import brand_explorer as bx
from core.classified import brand_organization
from core.runtime import get_db
from core.security import Forbidden, Principal
from dashboard import brand_charts as charts
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.brand_charts import CHARTS, ChartSpec, Selection, read_chart, to_download
from dashboard.classification_view import view_badge_and_note
from dashboard.context import project_explorable
from dashboard.figures import brand as figs
from dashboard.figures.brand import month_label
from dashboard.figures.common import blank
from dashboard.getting_started import empty_page
from dashboard.report_download import report_control, send_report
from dashboard.view_cache import cached_view

READ = bx.READ
register_page(__name__, permission=READ, path="/brand", name="Brand explorer", title="Brand explorer · Digi-Cadence")

log = logging.getLogger(__name__)
GRAPH_CONFIG = {"displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}


# ---------------------------------------------------------------- object checks for protected_callback

OBJECTS = {"brand_id": "brand", "project_id": ("project", project_explorable)}


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


def _card(chart: str, body: list, controls: list | None = None, badge=None) -> dbc.Card:
    header = dbc.CardHeader(  # the badge: the highest classification the chart may hold (issue 17)
        html.Div([html.Span(CHARTS[chart].title, className="fw-semibold me-2"), badge, _download_buttons(chart)],
                 className="d-flex align-items-center flex-wrap gap-2"),
    )
    inner = [*(controls or []), html.Div(id=f"brand-{chart}-note", className="small text-muted mb-1"),
             dcc.Loading(dcc.Graph(id=f"brand-{chart}-graph", config=GRAPH_CONFIG, figure=blank()), delay_show=300),
             *body]
    return dbc.Card([header, dbc.CardBody(inner)], className="h-100 shadow-sm")


def layout(brand: str | None = None, project: str | None = None, **_query) -> html.Div:
    """Page layout for the pair in the URL (or the first pair the principal may explore)."""
    principal = current_principal()
    view = cached_view("brand.layout", principal, (brand, project), lambda: _layout(principal, brand, project))
    if view is None:  # drawn outside the cache: not every setup step is data-versioned
        return empty_page(principal, "No brand you can explore yet.",
                          "Brand explorer shows your own brands; ask an administrator for access.")
    return view


def _layout(principal: Principal, brand: str | None, project: str | None) -> html.Div | None:
    with get_db().engine.connect() as conn:
        pairs = bx.explorable(conn, principal)
        if pairs.empty:
            return None
        brand_id, project_id = _pick_pair(pairs, _as_int(brand), _as_int(project))
        periods = bx.periods(conn, principal, brand_id, project_id)
        comp = bx.competitors(conn, principal, brand_id, project_id)
        meta = bx.catalogue(conn, brand_id, principal)
        badge, left_note = view_badge_and_note(conn, principal, brand_organization(conn, brand_id))
    several_orgs = pairs["organization"].nunique() > 1
    brands = pairs.drop_duplicates("brand_id")
    brand_options = [{"label": f"{r.brand} · {r.organization}" if several_orgs else r.brand, "value": int(r.brand_id)}
                     for r in brands.itertuples()]
    project_options = [{"label": r.project, "value": int(r.project_id)}
                       for r in pairs[pairs["brand_id"] == brand_id].itertuples()]
    period_options = [{"label": month_label(p), "value": p.isoformat()} for p in reversed(periods)]
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
    chart = {name: _card(name, [], badge=badge) for name in CHARTS}
    chart["series"] = _card("series", [], series_controls, badge)
    chart["correlation"] = _card("correlation", [], correlation_controls, badge)

    def pair(left: str, right: str) -> dbc.Row:
        return dbc.Row([dbc.Col(chart[left], xs=12, xl=6), dbc.Col(chart[right], xs=12, xl=6)], className="g-3 mb-3")

    return html.Div(
        [
            html.Div([html.H2("Brand explorer", className="mb-1"), report_control("report-brand")],
                     className="d-flex flex-wrap justify-content-between align-items-center gap-2"),
            html.P("What your brand's DC score is made of, what moved it, where competitors are ahead, and "
                   "which metrics move with revenue.", className="text-muted"),
            controls, left_note,
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


# ---------------------------------------------------------------- chart callbacks

def _error(chart: str, exc: Exception, extra: tuple = ()):
    """The card's error state: blank figure and a message, then `extra` for the callback's other outputs."""
    log.exception("brand explorer: %s chart failed", chart)
    return blank("Could not draw this chart."), dbc.Alert(
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
        frame = read_chart(charts.BREAKDOWN, current_principal(), Selection(brand_id, project_id, period_to=period))
        if frame.empty:
            return blank("No metric values in this period."), ""
        return figs.breakdown_figure(frame), figs.breakdown_note(frame, period)

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
        return blank("No metric values for these periods."), "Pick two months to see what moved the score.", []

    def draw():
        principal = current_principal()
        result = read_chart(charts.WATERFALL, principal, Selection(brand_id, project_id, p0, p1))
        if result.frame.empty:
            return blank("No metric values for these periods."), "", []
        with get_db().engine.connect() as conn:
            comp = bx.competitors(conn, principal, brand_id, project_id)
        return (figs.waterfall_figure(result, p0, p1), figs.waterfall_note(result, p0, p1),
                figs.headline_cards(result, comp, p0, p1))

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
        series = read_chart(charts.SERIES, current_principal(), Selection(
            brand_id, project_id, metric_id=metric_id, competitor_ids=tuple(competitor_ids or ())))
        if series.empty or metric_id is None:
            return blank("No values of this metric for the brand."), ""
        with get_db().engine.connect() as conn:
            metric = bx.catalogue(conn, brand_id, current_principal()).loc[metric_id]
        return figs.series_figure(series, int(brand_id), metric), figs.series_note(series, metric)

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
        result = read_chart(charts.GAPS, current_principal(), Selection(brand_id, project_id, period_to=period))
        if result.frame.empty:
            return blank("No competitor values in this period."), ""
        return figs.gaps_figure(result), figs.gaps_note(result, period)

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
        result = read_chart(charts.CORRELATION, current_principal(), Selection(brand_id, project_id, section=section))
        if result.matrix.empty:
            return blank("Not enough months with varying values."), ""
        return figs.correlation_figure(result), figs.correlation_note(result)

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
        assoc = read_chart(charts.REVENUE, current_principal(), Selection(brand_id, project_id))
        if assoc.empty:
            return blank("No revenue recorded for this brand."), ""
        return figs.revenue_figure(assoc), figs.revenue_note(assoc)

    return _guarded("revenue", draw, (brand_id, project_id))


# ---------------------------------------------------------------- downloads

def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "brand"


DATED = ("breakdown", "waterfall", "gaps")  # the charts read at the chosen "to" month


def _register_download(spec: ChartSpec) -> None:
    chart = spec.name

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
        if not (csv_clicks or xlsx_clicks) or (_parse_period(period_to) is None and chart in DATED):
            raise PreventUpdate  # no month chosen (a brand without data yet): nothing to download
        selection = Selection(brand_id, project_id, _parse_period(period_from), _parse_period(period_to),
                              _as_int(metric_id), tuple(competitor_ids or ()), section)
        result = read_chart(spec, current_principal(), selection)
        with get_db().engine.connect() as conn:
            name = bx.explorable(conn, current_principal()).set_index("brand_id")["brand"].get(int(brand_id), "brand")
        stamp = _parse_period(period_to).isoformat() if period_to else "all"
        return to_download(spec.table(result), f"{_slug(name)}-{chart}-{stamp}", fmt, current_principal(), brand_id)


for _spec in CHARTS.values():
    _register_download(_spec)


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
