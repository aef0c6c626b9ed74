"""The model review page's body for one kept fit version: diagnostics, warnings, charts, what changed.

Built from what core.fit_versions.get_version returns (the version's inputs and result, and the
comparison with the previous version); the charts come from dashboard/figures/models.py. Diagnostics
are read with plain-language thresholds so an executive can tell a sound model from a doubtful one.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from core.formatting import Units
from dashboard.components import kpi_card, signed, term
from dashboard.figures.models import (
    channel_colours,
    contribution_figure,
    curve_figure,
    decomposition_figure,
    fit_figure,
    roas_figure,
)

GRAPH_CONFIG = {"displaylogo": False, "responsive": True}
# The small charts go without the toolbar: it would cover their titles.
SMALL_CONFIG = {**GRAPH_CONFIG, "displayModeBar": False}
# (limit, good when below?) → the tone of a diagnostic: within the limit is "fine", else "check".
LIMITS = {"r2": (0.7, False), "holdout_mape": (0.15, True), "nrmse": (0.1, True)}


def version_label(v: dict[str, Any]) -> str:
    """"v3 · 2026-12-07 14:02 · import": how the version picker names a version."""
    when = v["created_at"].strftime("%Y-%m-%d %H:%M") if v.get("created_at") else ""
    return f"v{v['version']} · {when} · {v['trigger']}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None, fmt: str = ".2f") -> str:
    if value is None:
        return "n/a"
    text = format(value, fmt)
    return text.lstrip("-") if float(text) == 0 else text  # never "-0.00"


def _tone(key: str, value: float | None) -> tuple[str, str]:
    if value is None:
        return "secondary", "not available"
    limit, below = LIMITS[key]
    ok = value <= limit if below else value >= limit
    return ("success", "fine") if ok else ("warning", f"check: {'above' if below else 'below'} {limit:g}")


def _residual_words(lag1: float | None, dw: float | None) -> tuple[str, str]:
    if lag1 is None or dw is None:
        return "secondary", "not available"
    if 1.5 <= dw <= 2.5:
        return "success", "fine: residuals look independent"
    side = "positively" if dw < 1.5 else "negatively"
    return "warning", f"residuals are {side} autocorrelated: the model misses a pattern"


def diagnostics_row(d: dict[str, Any]) -> dbc.Row:
    """R², holdout MAPE, NRMSE and the residuals' lag-1 autocorrelation / Durbin–Watson, each with a verdict."""
    cards = []
    for key, title, text in (("r2", "R²", _num(d.get("r2"), ".3f")), ("holdout_mape", "Holdout MAPE",
                                                                     _pct(d.get("holdout_mape"))),
                             ("nrmse", "NRMSE", _num(d.get("nrmse"), ".3f"))):
        tone, words = _tone(key, d.get(key))
        cards.append(kpi_card(title, text, words, tone))
    tone, words = _residual_words(d.get("residual_lag1"), d.get("durbin_watson"))
    cards.append(kpi_card("Residual lag-1 · DW", f"{_num(d.get('residual_lag1'))} · {_num(d.get('durbin_watson'))}",
                          words, tone))
    return dbc.Row([dbc.Col(c, xs=6, lg=3) for c in cards], className="g-2 mb-3", id="models-diagnostics")


def warnings_card(result: dict[str, Any], changes: list[dict[str, Any]], previous: int | None) -> dbc.Card:
    """The fitter's warnings, the ROAS moves outside the previous interval, and the data notes, in words."""
    items = [html.Li(w.get("text") or str(w)) for w in result.get("warnings") or []]
    for row in changes:
        if row["outside"]:
            lo, hi = row["previous_interval"]
            items.append(html.Li(f"{row['channel']}: ROAS moved from {_num(row['previous_roas'])} to "
                                 f"{_num(row['roas'])}, outside version {previous}'s 90 % interval "
                                 f"({_num(lo)} to {_num(hi)}).", className="text-warning-emphasis"))
    notes = [*(result.get("data_notes") or []), *(result.get("notes") or [])]
    body = [html.Ul(items, className="mb-2") if items else html.P("No warnings for this fit.", className="mb-2")]
    if notes:
        body.append(html.Div([html.Span("Notes: ", className="fw-semibold"), "; ".join(dict.fromkeys(notes)) + "."],
                             className="small text-muted"))
    return dbc.Card([dbc.CardHeader("Warnings"), dbc.CardBody(body)], className="shadow-sm mb-3",
                    id="models-warnings")


def changes_card(changes: list[dict[str, Any]], previous: int | None, version: int) -> dbc.Card:
    """ROAS per channel now and in the previous version, flagged when it left the previous 90 % interval."""
    if previous is None:
        body: Any = html.P("This is the brand's first fit: nothing to compare with yet.", className="mb-0 small")
    else:
        head = html.Thead(html.Tr([html.Th("Channel"), html.Th(f"ROAS v{version}"), html.Th(f"ROAS v{previous}"),
                                   html.Th("Change"), html.Th(f"v{previous} 90 % interval"), html.Th("")]))
        rows = []
        for r in changes:
            iv = r["previous_interval"]
            flag = dbc.Badge("outside", color="warning", text_color="dark") if r["outside"] else ""
            rows.append(html.Tr([html.Td(r["channel"]), html.Td(_num(r["roas"])), html.Td(_num(r["previous_roas"])),
                                 html.Td(signed(r["change"], 2)),
                                 html.Td(f"{_num(iv[0])} – {_num(iv[1])}" if iv else "n/a"), html.Td(flag)]))
        body = dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0")
    title = f"What changed since version {previous}" if previous else "What changed"
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody(body)], className="shadow-sm mb-3", id="models-changes")


def _graph(fig: dict, gid: str, small: bool = False) -> dcc.Graph:
    return dcc.Graph(id=gid, figure=fig, config=SMALL_CONFIG if small else GRAPH_CONFIG)


def _card(title: str, child: Any, hint: str | None = None) -> dbc.Card:
    body = [html.Div(hint, className="small text-muted mb-1")] if hint else []
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody([*body, child], className="p-2")], className="shadow-sm mb-3")


def review_view(shown: dict[str, Any]) -> html.Div:
    """Everything the page shows for one version (core.fit_versions.get_version)."""
    inputs, result = shown["inputs"], shown["result"]
    granularity = inputs.get("granularity", "week")
    when = shown["created_at"].strftime("%Y-%m-%d %H:%M UTC") if shown.get("created_at") else ""
    header = html.P([html.Strong(f"{shown['brand']} · version {shown['version']}"),
                     f" · fitted {when} ({shown['trigger']}) on {len(inputs['periods'])} {granularity}s, "
                     f"{inputs['periods'][0]} to {inputs['periods'][-1]} · data {shown['data_digest'][:10]}"],
                    className="small text-muted mb-2", id="models-version-header")
    curves, units = result.get("curves") or {}, Units.of(shown.get("units"))
    colours = channel_colours(list(curves))
    curve_cols = [dbc.Col(_graph(curve_figure(ch, curves[ch], granularity, colours[ch], units), f"models-curve-{i}",
                                 True),
                          xs=12, md=6, xl=4)
                  for i, ch in enumerate(sorted(curves))]
    return html.Div([
        header,
        diagnostics_row(result.get("diagnostics") or {}),
        warnings_card(result, shown["changes"], shown["previous_version"]),
        _card("Actual vs predicted", _graph(fit_figure(inputs, result), "models-fit-chart"),
              "Predicted revenue with its 90 % band; the shaded periods at the end were held out of the fit that "
              "measured the holdout error."),
        _card("What the prediction is made of", _graph(decomposition_figure(inputs, result), "models-decomposition"),
              "Baseline, trend, seasonality, controls and each channel, period by period."),
        _card("Response curves", dbc.Row(curve_cols, className="g-2"),
              f"Revenue per {granularity} at a steady spend per {granularity}, with the 90 % band; the diamond is "
              f"today's spend (average of the last quarter), the dashed line the most the history spent."),
        dbc.Row([
            dbc.Col(_card(term("roas"), _graph(roas_figure(result, units), "models-roas", True),
                          "Revenue per unit of spend over the history; the whiskers are the 90 % interval."),
                    xs=12, lg=6),
            dbc.Col(_card("Contribution", _graph(contribution_figure(result, units), "models-contribution", True),
                          "Revenue each channel brought over the history, with its 90 % interval."), xs=12, lg=6),
        ], className="g-3"),
        changes_card(shown["changes"], shown["previous_version"], shown["version"]),
    ], id="models-review")
