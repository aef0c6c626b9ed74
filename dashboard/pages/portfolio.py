"""Portfolio overview for executives: headline numbers, trend, ranking, sections, movers and alerts.

One callback draws the page for a project from a handful of grouped queries (no per-brand loop);
the alerts panel has its own callback so changing the drop threshold redraws only that panel; its
thresholds default to the organization's settings (`core.settings`), and the page's drop threshold overrides.
Brand names link to the brand explorer (`/brand?brand=ID&project=ID`). The "what changed and why"
paragraph on top is `dashboard/portfolio_summary.py`.
"""

from __future__ import annotations

from datetime import date

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from core.formatting import Units
from core.portfolio import (
    READ,
    brand_ranking,
    financial_totals,
    financials,
    mover_reason,
    movers,
    project_periods,
    score_drivers,
    score_trend,
    section_columns,
    section_comparison,
)
from core.portfolio_alerts import metric_anomalies, score_drop_alerts
from core.runtime import get_db
from core.security import Principal
from core.settings import project_alert_defaults, project_units
from core.setup.framework import scores_label
from dashboard import portfolio_summary
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.classification_view import view_badge_and_note
from dashboard.components import chart_layout, empty_state, kpi_card, signed, term
from dashboard.context import period_value, pick_period, resolve
from dashboard.context import project_readable as _project_readable
from dashboard.figures import portfolio as figs
from dashboard.figures.common import figure
from dashboard.figures.portfolio import brand_href
from dashboard.getting_started import checklist, organization_steps, portfolio_organization, unscored_view
from dashboard.portfolio_summary import alert_thresholds, summary_card
from dashboard.report_download import report_control, send_report
from dashboard.view_cache import cached_view

register_page(__name__, permission=READ, path="/", name="Portfolio", title="Portfolio · Digi-Cadence", context=True)

portfolio_summary.register_callbacks()  # the "what changed and why" paragraph, once per app that loads this page

TOP_N = 5
MOVERS = 6
MAX_ALERTS = 12
# Width follows the card, height comes from the figure (the heatmap's grows with the brands).
GRAPH_CONFIG = {"displaylogo": False}


def _card(title, body, card_id: str | None = None, **kwargs) -> dbc.Card:
    header = dbc.CardHeader(title, id=card_id) if card_id else dbc.CardHeader(title)
    return dbc.Card([header, dbc.CardBody(body, **kwargs)], className="h-100 shadow-sm")


def layout(org: str | None = None, project: str | None = None, period: str | None = None, **_query) -> html.Div:
    """Page layout for the project and period in the URL (chosen in the shell's selectors)."""
    principal = current_principal()
    with get_db().engine.connect() as conn:
        chosen = resolve(conn, principal, org, project, period)
    steps = organization_steps(principal, portfolio_organization(
        principal, chosen.project["organization_id"] if chosen else None, org))
    if chosen is None or chosen.as_of is None:
        return unscored_view(principal, steps, chosen is None)
    with get_db().engine.connect() as conn:
        drop_default, _z = project_alert_defaults(conn, chosen.project_id)
        badge, left_note = view_badge_and_note(conn, principal, chosen.project["organization_id"],
                                               "fs-6 align-middle")  # a title's badge, not a title
    graph = {"config": GRAPH_CONFIG}
    as_of = f"{chosen.project['organization']} · {chosen.project['name']}" + (
        f" · {chosen.as_of:%B %Y}" if chosen.as_of else "")
    framework = scores_label(get_db(), chosen.project["organization_id"])  # docs/SCORING.md: history
    as_of += f" · {framework}" if framework else ""
    return html.Div(
        [
            dcc.Store(id="portfolio-project", data=chosen.project_id),
            dcc.Store(id="portfolio-period", data=period_value(chosen.as_of) if chosen.as_of else None),
            dbc.Row(
                [
                    dbc.Col([html.H2(["Portfolio ", badge], className="mb-0"),  # the page's highest level
                             html.Div(as_of, className="text-muted"), left_note], xs=12, md=8),
                    dbc.Col(report_control("report-portfolio"), xs=12, md=4, className="text-md-end"),
                ],
                className="align-items-center g-2 mb-3",
            ),
            summary_card(),
            checklist(steps, expanded=False),
            dcc.Loading(
                html.Div(
                    [
                        dbc.Row(id="portfolio-kpis", className="g-3 mb-3"),
                        dbc.Row(
                            [
                                dbc.Col(_card(html.Span(id="portfolio-trend-title"),
                                              dcc.Graph(id="portfolio-trend", **graph)), xs=12, xl=8),
                                dbc.Col(_card("Biggest movers this month", html.Div(id="portfolio-movers"),
                                              className="p-0"), xs=12, xl=4),
                            ],
                            className="g-3 mb-3",
                        ),
                        dbc.Row(
                            [
                                dbc.Col(_card("Section scores by brand",
                                              [dcc.Graph(id="portfolio-heatmap",
                                                         config={**GRAPH_CONFIG, "displayModeBar": False}),
                                               html.Div("Own brands in bold; click an own brand to open it.",
                                                        className="small text-muted")]), xs=12, xl=7),
                                dbc.Col(_card("Own brands vs competitor average, per section",
                                              [dcc.Graph(id="portfolio-sections", **graph),
                                               html.Div("Figures above the bars: own average minus competitor "
                                                        "average.", className="small text-muted")]), xs=12, xl=5),
                            ],
                            className="g-3 mb-3",
                        ),
                    ]
                ),
                delay_show=300,
            ),
            dbc.Card(
                [
                    dbc.CardHeader(
                        dbc.Row(
                            [
                                dbc.Col("Alerts", className="fw-semibold", xs=12, md=6),
                                dbc.Col(
                                    dbc.InputGroup(
                                        [
                                            dbc.InputGroupText("Score drop ≥"),
                                            # A width of its own: squeezed by the labels, it shrank to a
                                            # sliver on a phone.
                                            dbc.Input(id="portfolio-drop-threshold", type="number", min=0.5,
                                                      max=50, step=0.5, value=drop_default, debounce=True,
                                                      style={"minWidth": "5.5rem", "maxWidth": "7rem"}),
                                            dbc.InputGroupText("points a month"),
                                        ],
                                        size="sm",
                                        className="justify-content-md-end flex-nowrap",
                                    ),
                                    xs=12, md=6,
                                ),
                            ],
                            className="align-items-center g-2",
                        )
                    ),
                    dcc.Loading(dbc.CardBody(id="portfolio-alerts", className="p-0"), delay_show=300),
                ],
                className="mb-3 shadow-sm",
            ),
            dbc.Card(
                [
                    dbc.CardHeader("Brands ranked by DC score"),
                    dbc.CardBody(
                        dag.AgGrid(
                            id="portfolio-ranking",
                            columnSize="responsiveSizeToFit",
                            dashGridOptions={"domLayout": "autoHeight", "animateRows": False},
                            defaultColDef={"sortable": True, "filter": True, "resizable": True,
                                           "minWidth": 100, "wrapHeaderText": True, "autoHeaderHeight": True},
                            rowClassRules={"fw-semibold": "params.data.role == 'own'"},
                            className="ag-theme-quartz",
                        )
                    ),
                ],
                className="mb-4 shadow-sm",
            ),
        ]
    )


def _pct_change(now: float | None, before: float | None) -> float | None:
    return (now / before - 1) * 100 if now is not None and before else None


def _ratio_card(money: dict[str, float | None], window: str, units: Units) -> dbc.Card:
    """MER (all revenue ÷ all spend; not ROAS, see core.glossary), or the count per spend for a count outcome."""
    roi, roi_prev = money["roi"], money["roi_prev"]
    title = term("mer", "MER (revenue ÷ spend)") if units.revenue else f"{units.outcome.capitalize()} per spend"
    return kpi_card(title, units.roas(roi),
                    f"{signed(roi - roi_prev, 2)} vs the 12 months before" if roi is not None and roi_prev else window,
                    "success" if roi is not None and roi_prev and roi >= roi_prev else "danger")


def _kpis(ranking: pd.DataFrame, money: dict[str, float | None], window: str, units: Units) -> list[dbc.Col]:
    own = ranking[ranking.role == "own"]
    comp = ranking[ranking.role == "competitor"]
    avg, comp_avg = own["score"].mean(), comp["score"].mean()
    change, change_year = own["change_1m"].mean(), own["change_12m"].mean()
    improving = int((own["change_1m"] > 0.5).sum())
    declining = int((own["change_1m"] < -0.5).sum())
    spend_change = _pct_change(money["spend"], money["spend_prev"])
    revenue_change = _pct_change(money["revenue"], money["revenue_prev"])
    cards = [
        kpi_card(term("dc_score", "Portfolio DC score"), f"{avg:.1f}" if len(own) else "n/a",
                 f"{signed(change)} vs previous month · {signed(change_year)} vs a year earlier",
                 "success" if change >= 0 else "danger"),
        kpi_card("Competitor average", f"{comp_avg:.1f}" if len(comp) else "n/a",
                 f"own brands {signed(avg - comp_avg)}" if len(comp) and len(own) else None),
        kpi_card(term("spend", "Spend, 12 months"), units.money(money["spend"]),
                 f"{signed(spend_change)}% vs the 12 before" if spend_change is not None else window),
        kpi_card(term("outcome", f"{units.outcome.capitalize()}, 12 months"), units.outcome_value(money["revenue"]),
                 f"{signed(revenue_change)}% vs the 12 before" if revenue_change is not None else window,
                 "success" if (revenue_change or 0) >= 0 else "danger"),
        _ratio_card(money, window, units),
        kpi_card("Improving / declining", f"{improving} / {declining}", "own brands, ±0.5 points month on month"),
    ]
    return [dbc.Col(card, xs=12, sm=6, lg=4, xxl=2) for card in cards]


def _brand_name(row, project_id: int):
    if row["role"] == "own":
        return dcc.Link(row["brand"], href=brand_href(row["brand_id"], project_id), className="fw-semibold")
    return html.Span(row["brand"])


def _movers_list(moved: pd.DataFrame, drivers: pd.DataFrame, project_id: int) -> html.Div:
    if moved.empty:
        return empty_state("No month-on-month change yet.", "Movers need two months of scores.")
    moved = moved.merge(drivers, on="brand_id", how="left")
    items = []
    for row in moved.to_dict("records"):
        up = row["change_1m"] >= 0
        driver = mover_reason(row)
        items.append(dbc.ListGroupItem(
            [
                html.Div(
                    [
                        html.Div([_brand_name(row, project_id),
                                  dbc.Badge(row["role"], color="light", text_color="secondary", className="ms-2")]),
                        html.Span(f"{'▲' if up else '▼'} {signed(row['change_1m'])}",
                                  className=f"fw-semibold text-{'success' if up else 'danger'} text-nowrap"),
                    ],
                    className="d-flex justify-content-between align-items-center gap-2",
                ),
                html.Div(f"DC {row['score']:.1f}" + (f" · {driver}" if driver else ""), className="small text-muted"),
            ],
            className="mover",
        ))
    return dbc.ListGroup(items, flush=True)


def _periods_until(periods: list[date], period: str | None) -> list[date]:
    """The project's periods up to the chosen one (the latest when none or an unknown one is asked)."""
    as_of = pick_period(periods, period)
    return [p for p in periods if as_of is not None and p <= as_of]


def _fmt(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _alerts_list(drops: pd.DataFrame, anomalies: pd.DataFrame, threshold: float, project_id: int,
                 period: date) -> html.Div:
    items = []
    for row in drops.to_dict("records"):
        items.append(dbc.ListGroupItem(
            [dbc.Badge("score drop", color="danger", className="me-2"), _brand_name({**row, "role": "own"}, project_id),
             html.Span(f": DC score {signed(row['change_1m'])} points month on month, now {row['score']:.1f}")],
            className="alert-item",
        ))
    for row in anomalies.head(max(MAX_ALERTS - len(items), 0)).to_dict("records"):
        z = row["z"]
        worse = (z < 0) == (row["direction"] == "higher")
        unit = f" {row['unit']}" if row["unit"] else ""
        items.append(dbc.ListGroupItem(
            [dbc.Badge("anomaly", color="warning", text_color="dark", className="me-2"),
             _brand_name({**row, "role": "own"}, project_id),
             html.Span(f": {row['metric']} {_fmt(row['value'])}{unit} in {period:%b %Y} "
                       f"(from {_fmt(row['previous'])}; the usual monthly change would give {_fmt(row['typical'])}), "
                       f"robust z {signed(z)} "),
             dbc.Badge("worse" if worse else "better", color="danger" if worse else "success", className="ms-1")],
            className="alert-item",
        ))
    hidden = len(drops) + len(anomalies) - len(items)
    if not items:
        return html.Div(f"No alerts for {period:%B %Y}: no own brand fell {threshold:g} points or more, and no "
                        "metric broke with its history.", className="p-3 text-muted")
    footer = [html.Div(f"and {hidden} more", className="small text-muted px-3 py-2")] if hidden > 0 else []
    return html.Div([dbc.ListGroup(items, flush=True), *footer])


@protected_callback(
    Output("portfolio-kpis", "children"),
    Output("portfolio-trend", "figure"),
    Output("portfolio-trend-title", "children"),
    Output("portfolio-ranking", "columnDefs"),
    Output("portfolio-ranking", "rowData"),
    Output("portfolio-heatmap", "figure"),
    Output("portfolio-sections", "figure"),
    Input("portfolio-project", "data"),
    Input("portfolio-period", "data"),
    permission=READ,
    objects={"project_id": ("project", _project_readable)},
)
def show_project(project_id: int, period: str | None):
    """Everything but the movers and the alerts for one project as of a month, from the scores the user
    may see (those two have callbacks of their own, which Dash runs beside this one)."""
    principal = current_principal()
    return cached_view("portfolio.project", principal, (project_id, period),
                       lambda: _project_view(principal, project_id, period))


def _project_view(principal: Principal, project_id: int, period: str | None) -> tuple:
    with get_db().engine.connect() as conn:
        periods = _periods_until(project_periods(conn, principal, project_id), period)
        ranking = brand_ranking(conn, principal, project_id, periods[-1]) if periods else pd.DataFrame()
        if ranking.empty:
            empty = empty_state("No scores for this project yet.", "Import metric values to compute DC scores.")
            blank = figure([], chart_layout())
            return [dbc.Col(empty)], blank, "DC score trend", [], [], blank, blank
        top = ranking[ranking.role == "own"].head(TOP_N)["brand_id"].tolist()
        trend = score_trend(conn, principal, project_id, top, own_average=True)
        trend = trend[pd.to_datetime(trend["period"]) <= pd.Timestamp(periods[-1])]
        money = financials(conn, principal, project_id, periods[-1])
        units = project_units(conn, project_id)
    window = f"{money.attrs['start']:%b %Y} – {periods[-1]:%b %Y}" if "start" in money.attrs else ""
    sections = section_columns(ranking)
    columns, data = figs.ranking_grid(
        ranking.merge(money[["brand_id", "spend", "revenue", "roi"]], on="brand_id", how="left"), sections, project_id,
        units)
    if len(top) == 1:
        subject = f"the portfolio and {ranking.loc[ranking.brand_id == top[0], 'brand'].iloc[0]}"
    else:
        subject = "the portfolio" + (f" and its top {len(top)} own brands" if top else "")
    title = f"DC score trend: {subject}" + (" vs the competitor average" if (trend.brand_id == 0).any() else "")
    return (_kpis(ranking, financial_totals(money), window, units), figs.trend_figure(trend), title, columns, data,
            figs.heatmap_figure(ranking), figs.sections_figure(section_comparison(ranking)))


@protected_callback(
    Output("portfolio-movers", "children"),
    Input("portfolio-project", "data"),
    Input("portfolio-period", "data"),
    permission=READ,
    objects={"project_id": ("project", _project_readable)},
)
def show_movers(project_id: int, period: str | None):
    """The biggest movers of the month and the metric that moved each most."""
    principal = current_principal()
    return cached_view("portfolio.movers", principal, (project_id, period),
                       lambda: _movers_view(principal, project_id, period))


def _movers_view(principal: Principal, project_id: int, period: str | None):
    with get_db().engine.connect() as conn:
        periods = _periods_until(project_periods(conn, principal, project_id), period)
        if not periods:
            return empty_state("No scores for this project yet.")
        moved = movers(brand_ranking(conn, principal, project_id, periods[-1]), MOVERS)
        drivers = (score_drivers(conn, project_id, moved["brand_id"].tolist(), periods[-2], periods[-1],
                                  clearance=principal.clearance.value)
                   if len(periods) > 1 else pd.DataFrame(columns=["brand_id", "metric", "contribution"]))
    return _movers_list(moved, drivers, project_id)


@protected_callback(
    Output("portfolio-alerts", "children"),
    Input("portfolio-project", "data"),
    Input("portfolio-period", "data"),
    Input("portfolio-drop-threshold", "value"),
    permission=READ,
    objects={"project_id": ("project", _project_readable)},
)
def show_alerts(project_id: int, period: str | None, threshold):
    """Score drops past the threshold and metric anomalies of the chosen month, own brands in scope."""
    principal = current_principal()
    threshold, z_threshold = alert_thresholds(project_id, threshold)  # settings outside the cached data: in the key
    return cached_view("portfolio.alerts", principal, (project_id, period, threshold, z_threshold),
                       lambda: _alerts_view(principal, project_id, period, threshold, z_threshold))


def _alerts_view(principal: Principal, project_id: int, period: str | None, threshold: float, z_threshold: float):
    with get_db().engine.connect() as conn:
        periods = _periods_until(project_periods(conn, principal, project_id), period)
        if not periods:
            return empty_state("No scores for this project yet.")
        ranking = brand_ranking(conn, principal, project_id, periods[-1])
        anomalies = metric_anomalies(conn, principal, project_id, periods[-1], z_threshold=z_threshold)
    return _alerts_list(score_drop_alerts(ranking, threshold), anomalies, threshold, project_id,
                        pd.Timestamp(periods[-1]).date())


@protected_callback(
    Output("url", "href", allow_duplicate=True),
    Input("portfolio-heatmap", "clickData"),
    State("portfolio-project", "data"),
    permission=READ,
    objects={"project_id": ("project", _project_readable)},
    prevent_initial_call=True,
)
def open_brand(click, project_id):
    """A click on an own brand's row of the heatmap opens the brand explorer for it."""
    try:
        brand_id, role = click["points"][0]["customdata"]
    except (TypeError, KeyError, IndexError, ValueError):
        raise PreventUpdate from None
    if role != "own" or project_id is None:
        return no_update
    return brand_href(brand_id, project_id)


@protected_callback(
    Output("report-portfolio-download", "data"),
    Output("report-portfolio-message", "children"),
    Input("report-portfolio-pdf", "n_clicks"),
    Input("report-portfolio-xlsx", "n_clicks"),
    State("portfolio-project", "data"),
    State("portfolio-period", "data"),
    permission="report:export",
    objects={"project_id": ("project", _project_readable)},
    prevent_initial_call=True,
)
def download_report(_pdf, _xlsx, project_id, period):
    """The executive portfolio summary of the project and month on screen (core.reports re-checks export
    and scope)."""
    params = {"project_ids": [project_id]}
    if period:
        params["as_of"] = str(period)[:7]
    return send_report("portfolio", params)
