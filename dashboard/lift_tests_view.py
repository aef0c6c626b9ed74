"""The Lift tests page's pieces (`dashboard/pages/lift_tests.py`): the grid's columns, the form, the
CSV card and the preview of a file. Values carry their unit: outcomes in the brand's outcome unit
(revenue, in the currency its data was imported in), periods in dates and days.
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from core.lift_tests.csv_import import COLUMNS as CSV_COLUMNS
from core.lift_tests.csv_import import LiftTestReport
from core.lift_tests.schema import NOTE_MAX

MONEY = {"function": "params.value == null ? '' : d3.format(',.0f')(params.value) + ' revenue'"}
UNIT_NOTE = ("Outcomes are revenue in the brand's outcome unit: the currency its revenue was imported in "
             "(the data carries no currency symbol).")
GRID_COLUMNS = [
    {"field": "brand", "headerName": "Brand", "minWidth": 150, "checkboxSelection": True},
    {"field": "channel", "headerName": "Channel", "minWidth": 110},
    {"field": "period_start", "headerName": "Start (date)", "minWidth": 120},
    {"field": "period_end", "headerName": "End (date, included)", "minWidth": 120},
    {"field": "days", "headerName": "Length", "type": "rightAligned", "minWidth": 100,
     "valueFormatter": {"function": "params.value + ' days'"}},
    {"field": "incremental_outcome", "headerName": "Incremental outcome (revenue)", "type": "rightAligned",
     "minWidth": 170, "valueFormatter": MONEY},
    {"field": "standard_error", "headerName": "Standard error (revenue)", "type": "rightAligned", "minWidth": 150,
     "valueFormatter": MONEY},
    {"field": "z", "headerName": "Lift ÷ standard error", "type": "rightAligned", "maxWidth": 150,
     "headerTooltip": "How many standard errors the measured lift is from zero; below 2 the test barely "
                      "tells a lift from none.",
     "valueFormatter": {"function": "params.value == null ? '' : d3.format('.1f')(params.value) + ' SE'"}},
    {"field": "note", "headerName": "Note", "minWidth": 160, "flex": 2},
    {"field": "source", "headerName": "Recorded by", "maxWidth": 140},
]


def grid_rows(found: list[dict]) -> list[dict]:
    """The service's rows as the grid shows them (dates as text, the signal-to-noise ratio worked out)."""
    return [{**{k: r[k] for k in ("id", "brand", "channel", "days", "incremental_outcome", "standard_error",
                                  "note", "can_delete")},
             "period_start": r["period_start"].isoformat(), "period_end": r["period_end"].isoformat(),
             "z": r["incremental_outcome"] / r["standard_error"],
             "source": {"manual": "the form", "import": "a CSV", "api": "the API"}.get(r["source"], r["source"])}
            for r in found]


def tests_grid() -> dag.AgGrid:
    return dag.AgGrid(id="lift-grid", columnDefs=GRID_COLUMNS, rowData=[], getRowId="params.data.id",
                      columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                      defaultColDef={"sortable": True, "resizable": True, "filter": True},
                      dashGridOptions={"rowSelection": "single", "domLayout": "autoHeight", "animateRows": False,
                                       "pagination": True, "paginationPageSize": 20,
                                       "paginationPageSizeSelector": False,
                                       "localeText": {"noRowsToShow": "No lift tests recorded yet."}})


def _field(label: str, component: Any, hint: str | None = None, **col: Any) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=component.id, className="small fw-semibold mb-1"), component,
                    html.Div(hint, className="form-text") if hint else None], className="mb-2", **col)


def form_card(brand_options: list[dict]) -> dbc.Card:
    """Record one test: brand, channel, dates, the measured lift and its standard error, a note."""
    picker = {"display_format": "YYYY-MM-DD", "placeholder": "YYYY-MM-DD", "clearable": True,
              "first_day_of_week": 1, "className": "d-block"}
    return dbc.Card([
        dbc.CardHeader("Record a lift test", className="fw-semibold"),
        dbc.CardBody([
            dbc.Row([
                _field("Brand", dcc.Dropdown(id="lift-brand", options=brand_options,
                                             value=brand_options[0]["value"] if brand_options else None,
                                             clearable=False), xs=12, md=6),
                _field("Channel", dcc.Dropdown(id="lift-channel", placeholder="Choose the channel tested"),
                       xs=12, md=6),
                _field("First day", dcc.DatePickerSingle(id="lift-start", **picker), xs=6),
                _field("Last day (included)", dcc.DatePickerSingle(id="lift-end", **picker), xs=6),
                _field("Incremental outcome (revenue)", dbc.Input(id="lift-outcome", inputMode="decimal",
                                                                  placeholder="e.g. 125,000"),
                       "What the channel added over the period; 0 or below if the test found no lift.", xs=12, sm=6),
                _field("Standard error (revenue)", dbc.Input(id="lift-se", inputMode="decimal",
                                                             placeholder="e.g. 15,000"),
                       "From the test's report; above zero.", xs=12, sm=6),
                _field("Note (optional)", dbc.Textarea(id="lift-note", maxLength=NOTE_MAX, rows=1,
                                                       placeholder="e.g. geo holdout, 12 test and 12 control regions"),
                       xs=12),
            ], className="g-2"),
            dbc.Button("Record test", id="lift-record", color="primary", size="sm"),
            html.Div(id="lift-form-message", className="mt-2"),
        ]),
    ], className="mb-3 shadow-sm")


def csv_card(organizations: list[dict]) -> dbc.Card:
    """Many tests from one CSV: a preview of every row (or every problem), then one button to record them all."""
    return dbc.Card([
        dbc.CardHeader("Add many from a CSV", className="fw-semibold"),
        dbc.CardBody([
            html.Div(dcc.Dropdown(id="lift-csv-org", options=[{"label": o["name"], "value": o["id"]}
                                                              for o in organizations],
                                  value=organizations[0]["id"] if organizations else None, clearable=False),
                     className="mb-2", style=None if len(organizations) > 1 else {"display": "none"}),
            dcc.Upload(id="lift-csv", accept=".csv,.txt", className="border border-2 rounded-3 p-3 text-center small",
                       style={"borderStyle": "dashed", "cursor": "pointer"},
                       children=html.Div(["Drop a CSV with columns ", html.Code(", ".join(CSV_COLUMNS)),
                                          " (note optional; dates YYYY-MM-DD, brands and channels by name) or click "
                                          "to choose one. A sample: ", html.Code("data/samples/lift_tests_demo.csv"),
                                          "."])),
            html.Div(id="lift-csv-result", className="mt-2"),
            dbc.Button("Record these tests", id="lift-csv-commit", color="primary", size="sm", disabled=True,
                       className="mt-1"),
            dcc.Store(id="lift-csv-data"),
        ]),
    ], className="mb-3 shadow-sm")


def message(text: Any, color: str = "success", **kwargs: Any) -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-2 mb-0", dismissable=True, **kwargs)


def report_view(report: LiftTestReport) -> dbc.Alert:
    """The preview (or the result) of a CSV: the tests it holds with their units, or every problem."""
    if not report.ok:
        rows = [html.Li(f"row {e['row'] or '—'}{' · ' + e['column'] if e['column'] else ''}: {e['reason']}")
                for e in report.errors[:50]]
        more = [html.Div(f"… and {len(report.errors) - 50} more.")] if len(report.errors) > 50 else []
        return message([html.Strong(f"{len(report.errors)} problem(s); nothing was recorded."), html.Ul(rows), *more],
                       "danger", id="lift-csv-errors")
    head = html.Strong(f"Recorded {len(report.tests)} lift test(s)." if report.committed
                       else f"Ready to record {len(report.tests)} lift test(s):")
    lines = [html.Li(f"{t['brand']} · {t['channel']} · {t['period_start']:%Y-%m-%d} … {t['period_end']:%Y-%m-%d} "
                     f"({(t['period_end'] - t['period_start']).days + 1} days): {t['incremental_outcome']:,.0f} "
                     f"± {t['standard_error']:,.0f} revenue") for t in report.tests[:50]]
    body = [head] if report.committed else [head, html.Ul(lines, className="mb-0 small")]
    return message(body, "success" if report.committed else "info", id="lift-csv-ok")
