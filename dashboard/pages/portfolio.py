"""Portfolio overview: the DC score of every brand in a project, ranked, and its trend."""

from __future__ import annotations

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from core.portfolio import READ, brand_ranking, can_view_project, list_projects, score_trend
from core.runtime import get_db
from core.security import Principal
from dashboard.access import page_layout, protected_callback
from dashboard.auth.principal import current_principal
from dashboard.components import MUTED, chart_layout, empty_state, kpi_card, signed

dash.register_page(__name__, path="/", name="Portfolio", title="Portfolio · Digi-Cadence", permission=READ)

TOP_N = 5


def _project_readable(principal: Principal, project_id) -> bool:
    with get_db().engine.connect() as conn:
        return can_view_project(conn, principal, project_id)


@page_layout(READ)
def layout(project: str | None = None, **_query) -> html.Div:
    """Page layout; `?project=ID` preselects a project so a view can be shared."""
    with get_db().engine.connect() as conn:
        projects = list_projects(conn, current_principal())
    if not projects:
        return empty_state("No portfolio data you can see yet.",
                           "Ask an administrator for access, or import metric values.")
    options = [{"label": f"{p['organization']} · {p['name']}", "value": p["id"]} for p in projects]
    ids = {p["id"] for p in projects}
    selected = int(project) if project and project.isdigit() and int(project) in ids else projects[0]["id"]
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(html.H2("Portfolio", className="mb-0"), xs=12, md=6),
                    dbc.Col(
                        dcc.Dropdown(id="portfolio-project", options=options, value=selected, clearable=False),
                        xs=12, md=6,
                    ),
                ],
                className="align-items-center g-2 mb-3",
            ),
            dcc.Loading(
                html.Div(
                    [
                        dbc.Row(id="portfolio-kpis", className="g-3 mb-3"),
                        dbc.Card(
                            [dbc.CardHeader(id="portfolio-trend-title"), dbc.CardBody(dcc.Graph(id="portfolio-trend"))],
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
                                                       "minWidth": 100, "wrapHeaderText": True,
                                                       "autoHeaderHeight": True},
                                        rowClassRules={"fw-semibold": "params.data.role == 'own'"},
                                        className="ag-theme-quartz",
                                    )
                                ),
                            ],
                            className="mb-4 shadow-sm",
                        ),
                    ]
                ),
                delay_show=300,
            ),
        ]
    )


def _kpis(ranking: pd.DataFrame) -> list[dbc.Col]:
    own = ranking[ranking.role == "own"]
    comp = ranking[ranking.role == "competitor"]
    avg, comp_avg = own["score"].mean(), comp["score"].mean()
    change = own["change_1m"].mean()
    improving = int((own["change_1m"] > 0.5).sum())
    declining = int((own["change_1m"] < -0.5).sum())
    best = own.iloc[0] if len(own) else None
    cards = [
        kpi_card("Own brands' DC score", f"{avg:.1f}" if len(own) else "n/a", f"{signed(change)} vs previous month",
                 "success" if change >= 0 else "danger"),
        kpi_card("Competitor average", f"{comp_avg:.1f}" if len(comp) else "n/a",
                 f"gap {signed(avg - comp_avg)}" if len(comp) else None),
        kpi_card("Leading own brand", best["brand"] if best is not None else "n/a",
                 f"DC {best['score']:.1f}, rank {best['rank']} of {len(ranking)}" if best is not None else None),
        kpi_card("Improving / declining", f"{improving} / {declining}", "own brands, ±0.5 points month on month"),
    ]
    return [dbc.Col(card, xs=12, sm=6, lg=3) for card in cards]


def _trend_figure(trend: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for brand_id, rows in trend.groupby("brand_id", sort=False):
        is_avg = brand_id == 0
        fig.add_trace(
            go.Scatter(
                x=rows["period"], y=rows["score"].round(1), name=rows["brand"].iloc[0], mode="lines",
                line={"dash": "dot", "color": MUTED, "width": 2} if is_avg else {"width": 2.5},
            )
        )
    fig.update_layout(chart_layout(height=360, yaxis={"title": "DC score", "range": [0, 100]}))
    return fig


def _grid(ranking: pd.DataFrame, sections: list[str]) -> tuple[list[dict], list[dict]]:
    number = {"type": "rightAligned", "valueFormatter": {"function": "d3.format('.1f')(params.value)"}}
    signed_format = "params.value == null ? 'n/a' : d3.format('+.1f')(params.value)"
    change = {**number, "valueFormatter": {"function": signed_format},
              "cellClassRules": {"text-success": "params.value > 0.5", "text-danger": "params.value < -0.5"}}
    columns = [
        {"field": "rank", "headerName": "#", "width": 70, "maxWidth": 80, "pinned": "left", "filter": False},
        {"field": "brand", "headerName": "Brand", "minWidth": 150, "pinned": "left"},
        {"field": "role", "headerName": "Role", "minWidth": 120,
         "valueFormatter": {"function": "params.value ? params.value[0].toUpperCase() + params.value.slice(1) : ''"}},
        {"field": "score", "headerName": "DC score", **number},
        {"field": "change_1m", "headerName": "Δ month", **change},
        {"field": "change_12m", "headerName": "Δ year", **change},
        {"field": "coverage", "headerName": "Coverage", "type": "rightAligned", "minWidth": 110,
         "valueFormatter": {"function": "d3.format('.0%')(params.value)"}},
        *({"field": s, "headerName": s, "minWidth": 140, **number} for s in sections),
    ]
    data = ranking.astype(object).where(ranking.notna(), None).to_dict("records")
    return columns, data


@protected_callback(
    Output("portfolio-kpis", "children"),
    Output("portfolio-trend", "figure"),
    Output("portfolio-trend-title", "children"),
    Output("portfolio-ranking", "columnDefs"),
    Output("portfolio-ranking", "rowData"),
    Output("url", "search"),
    Input("portfolio-project", "value"),
    permission=READ,
    objects={"project_id": ("project", _project_readable)},
)
def show_project(project_id: int):
    """Everything on the page for one project, from the materialized scores the user may see."""
    principal = current_principal()
    with get_db().engine.connect() as conn:
        ranking = brand_ranking(conn, principal, project_id)
        if ranking.empty:
            empty = empty_state("No scores for this project yet.", "Import metric values to compute DC scores.")
            blank = go.Figure(layout=chart_layout())
            return [dbc.Col(empty)], blank, "DC score trend", [], [], f"?project={project_id}"
        top = ranking[ranking.role == "own"].head(TOP_N)["brand_id"].tolist()
        trend = score_trend(conn, principal, project_id, top)
    sections = [c for c in ranking.columns if c not in
                {"brand_id", "brand", "role", "rank", "score", "coverage", "change_1m", "change_12m"}]
    columns, data = _grid(ranking, sections)
    names = trend.drop_duplicates("brand_id").set_index("brand_id")["brand"]
    subject = names.get(top[0], "") if len(top) == 1 else f"top {len(top)} own brands"
    title = f"DC score trend: {subject}" + (" and the competitor average" if 0 in names.index else "")
    return _kpis(ranking), _trend_figure(trend), title, columns, data, f"?project={project_id}"
