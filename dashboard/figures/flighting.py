"""The flighting planner's result: a week × channel heat map, weekly outcome against a flat plan and last
year's pattern with history's carry-over as its own band, KPI cards, each channel's reason
(core.flighting.reasons) and the binding totals' shadow prices in words.

Everything reads the job's stored result (core.flighting.run.run_flighting); money is in the organization's
currency (core.formatting.Units), in hovers, the colour bar and the cards.
"""

from __future__ import annotations

import math
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from core.formatting import Units
from core.palette import PALETTE
from dashboard.components import chart_layout, kpi_card, term, wrap
from dashboard.figures.common import colorscale, figure

STATUS_WORDS = {
    "optimal": "Optimal: checked, no other plan within these limits earns more",
    "heuristic": "Best found: a good plan, not proven the very best (S-shaped curves or minimum spends)",
    "not_converged": "Unfinished: the optimality check did not pass; treat the plan as a draft",
}
CONFIG = {"displaylogo": False, "responsive": True}


def _rows(result: dict) -> list[str]:
    """Row labels: the channel alone for one brand, brand · channel for several."""
    cells = result["cells"]
    several = len({c["brand_id"] for c in cells}) > 1
    return [f"{c['brand']} · {c['channel']}" if several else c["channel"] for c in cells]


def _weeks(result: dict) -> list[str]:
    return result.get("weeks") or [f"week {w + 1}" for w in range(len(result["cells"][0]["plan"]))]


def heatmap_figure(result: dict) -> dict:
    """Spend per brand · channel (rows) and week (columns); the currency in the hover and on the colour bar."""
    units = Units.of(result.get("units"))
    rows, weeks = _rows(result), _weeks(result)
    z = [c["plan"] for c in result["cells"]]
    trace = {"type": "heatmap", "z": z, "x": weeks, "y": [wrap(r, 18) for r in rows],
             "colorscale": colorscale("Blues"), "zmin": 0, "xgap": 1, "ygap": 1,
             "colorbar": {"title": {"text": units.label("Spend a week"), "side": "right"},
                          "tickprefix": units.sign.strip(), "exponentformat": "B", "thickness": 12},
             "hovertemplate": "%{y}<br>week of %{x}<br>" + units.hover_money("z") + "<extra></extra>"}
    height = max(260, 60 + 34 * len(rows))
    return figure([trace], chart_layout(height=height, hovermode="closest", margin={"l": 10, "r": 10, "t": 10, "b": 50},
                                        xaxis={"type": "category", "tickangle": -45, "automargin": True,
                                               "title": {"text": "Week starting"}},
                                        yaxis={"automargin": True, "autorange": "reversed"}))


def outcome_figure(result: dict) -> dict:
    """Weekly outcome of the plan, the flat plan and last year's pattern; history's carry-over as a band."""
    units = Units.of(result.get("units"))
    compare = result.get("compare") or {}
    weeks = _weeks(result)
    hover = (units.hover_money() if units.revenue else "%{y:,.0f} " + units.outcome) + "<extra>%{fullData.name}</extra>"
    data = []
    if "carryover" in compare:
        data.append({"type": "scatter", "x": weeks, "y": compare["carryover"]["weekly"], "mode": "lines",
                     "name": "Carry-over from past spend", "fill": "tozeroy", "line": {"width": 0, "color": "#999999"},
                     "fillcolor": "rgba(153,153,153,0.35)", "hovertemplate": hover})
    styles = (("plan", "Planned weeks", PALETTE[0], "solid", 3), ("flat", "Flat plan", PALETTE[1], "dash", 2),
              ("last_year", "Last year's pattern", PALETTE[2], "dot", 2))
    for key, name, colour, dash, width in styles:
        if key in compare:
            data.append({"type": "scatter", "x": weeks, "y": compare[key]["weekly"], "mode": "lines", "name": name,
                         "line": {"color": colour, "dash": dash, "width": width}, "hovertemplate": hover})
    return figure(data, chart_layout(height=360, margin={"l": 10, "r": 10, "t": 10, "b": 60},
                                     xaxis={"type": "category", "tickangle": -45, "automargin": True},
                                     yaxis={**units.axis_outcome(f"Predicted {units.outcome_name} a week"),
                                            "automargin": True, "rangemode": "tozero"},
                                     legend={"orientation": "h", "y": -0.35}))


def _step(budget: float) -> float:
    """A round amount to price: about a tenth of the budget, 1 / 2 / 5 × a power of ten."""
    target = max(budget * 0.1, 1.0)
    power = 10 ** math.floor(math.log10(target))
    return max((m * power for m in (1, 2, 5) if m * power <= target), default=power)


def price_sentences(result: dict) -> list[str]:
    """Each binding total's shadow price in words: "+₹1 M on the total budget adds about ₹2.1 M of revenue"."""
    units = Units.of(result.get("units"))
    step = _step(float(result.get("budget") or 1.0))
    out = []
    prices = dict(result.get("prices") or {})
    estimate = (result.get("compare") or {}).get("budget_marginal")
    if "total budget" not in prices and estimate is not None:
        prices["total budget"] = estimate  # a heuristic plan has no exact prices: read off its free weeks
    for name, price in sorted(prices.items()):
        if price is None or not math.isfinite(price):
            continue
        gain = units.outcome_value(price * step)
        if abs(price * step) < 1e-9 * step:
            out.append(f"More money on the {name} would add nothing: its limit does not hold the plan back.")
        else:
            out.append(f"{units.money_change(step)} on the {name} adds about {gain} "
                       f"({units.roas(price)} at the margin).")
    return out


def reasons_table(result: dict) -> html.Div:
    """Per brand · channel: planned against last year's same weeks, weeks on, its return at the margin and why."""
    units = Units.of(result.get("units"))
    cells = result.get("cells") or []
    if not cells or "why" not in cells[0]:
        return html.P("This plan was saved before reasons were recorded; plan the weeks again to see them.",
                      className="small text-muted mb-0")
    wide = "d-none d-md-table-cell"  # a phone keeps the channel, the plan and its return (the reason below)
    head = html.Thead(html.Tr([
        html.Th("Brand · channel" if len({c["brand_id"] for c in cells}) > 1 else "Channel"),
        html.Th(units.label("Planned")), html.Th(units.label("Last year, same weeks"), className=wide),
        html.Th("Change", className=wide), html.Th("Weeks on", className=wide),
        html.Th(term("marginal_roas", "Return at the margin"))]))
    rows = []
    for label, c in zip(_rows(result), cells, strict=True):  # the figures, then the reason on a line of its own
        before = c.get("last_year") or 0.0
        change = f"{(c['total'] - before) / before * 100:+.0f} %".replace("-", "−") if before > 0 else "new"
        rows.append(html.Tr([html.Td(label, className="fw-semibold"), html.Td(units.money(c["total"])),
                             html.Td(units.money(before), className=wide), html.Td(change, className=wide),
                             html.Td(f"{c.get('weeks_on', 0)} of {len(c['plan'])}", className=wide),
                             html.Td(units.roas(c.get("marginal")))], className="dc-reason-figures text-nowrap"))
        rows.append(html.Tr(html.Td(c["why"], colSpan=6, className="small text-muted pt-0"),
                            className="dc-reason-why"))
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0 align-middle",
                     id="flighting-reasons")


def kpis(result: dict) -> list[Any]:
    """Budget, predicted outcome, uplift vs the flat plan (in % and in the outcome unit), the plan's status."""
    units = Units.of(result.get("units"))
    compare = result.get("compare") or {}
    outcome = result.get("outcome")
    flat = (compare.get("flat") or {}).get("outcome")
    uplift = outcome - flat if outcome is not None and flat is not None else None
    pct = uplift / flat * 100 if uplift is not None and flat else None
    weeks = len(_weeks(result))
    after = "incl. carry-over after the horizon" if (result.get("inputs") or {}).get("carryover_out") else \
        "within the horizon"
    status = result.get("status") or "not_converged"
    head, _, detail = STATUS_WORDS.get(status, status).partition(": ")
    return [
        kpi_card(term("flight_budget", f"Budget, {weeks} weeks"), units.money(result.get("budget")),
                 f"spent week by week over {weeks} weeks"),
        kpi_card(term("predicted_outcome", f"Predicted {units.outcome_name}"), units.outcome_value(outcome), after),
        kpi_card(term("uplift_vs_flat"),
                 units.outcome_change(uplift) + (f" ({pct:+.2f} %)".replace("-", "−") if pct is not None else ""),
                 "same channel totals, spread evenly", "success" if (uplift or 0) >= 0 else "danger"),
        kpi_card("Plan status", head, detail, "success" if status == "optimal" else "warning"),
    ]


def default_name(result: dict) -> str:
    """A scenario name to start from: the brands and the horizon."""
    brands = sorted({c["brand"] for c in result.get("cells") or []})
    weeks = _weeks(result)
    return f"{', '.join(brands[:3])}{' …' if len(brands) > 3 else ''} · {len(weeks)} weeks from {weeks[0]}"


def _header(title: str, badge: Any) -> dbc.CardHeader:
    """A card's title with the plan's classification badge beside it (issue 17), when one is given."""
    return dbc.CardHeader(html.Div([html.Span(title, className="me-2"), badge],
                                   className="d-flex flex-wrap align-items-center"))


def results_view(result: dict, *, can_export: bool, can_save: bool = False, badge: Any = None) -> html.Div:
    """KPIs, the heat map, the weekly outcome, the prices in words, the notes, save and the export buttons;
    `badge` (the plan's level, dashboard.classification_view) sits in every card's header."""
    prices = price_sentences(result)
    last_year = (result.get("compare") or {}).get("last_year") or {}
    units = Units.of(result.get("units"))
    controls = html.Div([
        dbc.Button("Download media plan (CSV)", id="flighting-export-csv", color="outline-secondary", size="sm",
                   className="me-2 mb-1"),
        dbc.Button("Download media plan (XLSX)", id="flighting-export-xlsx", color="outline-secondary", size="sm",
                   className="mb-1"),
    ]) if can_export else None
    save = dbc.InputGroup([dbc.Input(id="flighting-save-name", value=default_name(result), maxlength=200),
                           dbc.Button("Save as scenario", id="flighting-save", color="success")],
                          className="mb-2") if can_save else None
    controls = [c for c in (save, controls) if c is not None] or None
    return html.Div([
        dbc.Row([dbc.Col(c, xs=12, sm=6, xl=3) for c in kpis(result)], className="g-3 mb-3", id="flighting-kpis"),
        dbc.Card([_header("Spend by week and channel", badge),
                  dbc.CardBody(dcc.Graph(id="flighting-heatmap", figure=heatmap_figure(result), config=CONFIG),
                               className="p-1")], className="shadow-sm mb-3"),
        dbc.Card([_header("Predicted outcome by week", badge),
                  dbc.CardBody([dcc.Graph(id="flighting-outcome", figure=outcome_figure(result), config=CONFIG),
                                html.P(f"Last year's pattern predicts {units.outcome_value(last_year.get('outcome'))} "
                                       "for the same budget. The grey band is what past spend still brings into "
                                       "these weeks with no new spend.", className="small text-muted mb-0")],
                               className="p-1")], className="shadow-sm mb-3"),
        dbc.Card([_header("Why each channel gets what it gets", badge),
                  dbc.CardBody(reasons_table(result), className="p-2")], className="shadow-sm mb-3"),
        dbc.Card([_header("What another unit of budget is worth", badge),
                  dbc.CardBody(html.Ul([html.Li(p) for p in prices] or
                                       [html.Li("No total limits the plan.")], className="mb-0"),
                               id="flighting-prices")], className="shadow-sm mb-3"),
        dbc.Card(dbc.CardBody([*controls, html.Div(id="flighting-save-message", className="mt-2")]),
                 className="shadow-sm mb-3") if controls else html.Div(id="flighting-save-message"),
        html.Ul([html.Li(n) for n in result.get("notes") or []], className="small text-muted", id="flighting-notes"),
    ], id="flighting-result-view")
