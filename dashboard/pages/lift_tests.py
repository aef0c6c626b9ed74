"""Lift tests: experiments people ran (geo holdouts, conversion-lift studies) and what they measured.

Everyone who reads plans sees the tests of their brands (`scenario:read`); whoever may run models
(`scenario:run`) records one with the form, many from a CSV (a preview of every row or every
problem, then all or none), and deletes them. The fit of a brand's response curves uses each test as
a likelihood term (core.lift_tests.for_fit). Rules, scope and audit are core.lift_tests'; this page
shows their answers.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from core import lift_tests
from core.runtime import get_db
from core.security import Forbidden, Principal
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.lift_tests_view import UNIT_NOTE, csv_card, form_card, grid_rows, message, report_view, tests_grid

register_page(__name__, permission=lift_tests.READ, path="/lift-tests", name="Lift tests",
              title="Lift tests · Digi-Cadence")

READ, WRITE = lift_tests.READ, lift_tests.WRITE
REFUSED = "You are not allowed to record or delete lift tests for this brand."


def layout(**_query) -> html.Div:
    """The grid of the tests you may read; the form and the CSV card when you may record tests."""
    options = lift_tests.form_options(get_db(), current_principal())
    several = options["organizations"] > 1
    brand_options = [{"label": b["name"] + (f" · {b['organization']}" if several else ""), "value": b["id"]}
                     for b in options["brands"]]
    organizations = list({b["organization_id"]: {"id": b["organization_id"], "name": b["organization"]}
                          for b in options["brands"]}.values())
    writer = bool(brand_options)
    side = [form_card(brand_options), csv_card(organizations)] if writer else [dbc.Alert(
        "You may read these tests. Recording one needs the permission to run models (Analyst and above).",
        color="light", className="small")]
    return html.Div([
        html.H2("Lift tests", className="mb-0"),
        html.Div("Experiments that measured what one channel added to a brand's outcome (geo holdouts, "
                 "conversion-lift studies). Each fit of the brand's response curves uses them: the channel's modelled "
                 "contribution over the test's weeks is pulled towards the measured lift, as firmly as its standard "
                 "error allows.", className="text-muted small mb-1"),
        html.Div(UNIT_NOTE, className="text-muted small mb-3"),
        dbc.Card([
            dbc.CardHeader(html.Div([html.Span("Recorded tests", className="fw-semibold me-auto"),
                                     dbc.Button("Delete selected…", id="lift-delete", color="danger", outline=True,
                                                size="sm", disabled=not writer)],
                                    className="d-flex align-items-center gap-2")),
            dbc.CardBody([tests_grid(), html.Div(id="lift-grid-message", className="mt-2")]),
        ], className="mb-3 shadow-sm"),
        dbc.Row([dbc.Col(part, lg=6) for part in side], className="g-3"),
        dcc.ConfirmDialog(id="lift-delete-confirm",
                          message="Delete the selected lift test? Later fits will no longer use it; the audit trail "
                                  "keeps what it held."),
        dcc.Store(id="lift-version", data=0),
    ])


def _sees_test(principal: Principal, value: Any) -> bool:
    ident = value.get("id") if isinstance(value, dict) else value
    try:
        return lift_tests.readable(get_db(), principal, int(ident))
    except (TypeError, ValueError):
        return False


def _sees_organization(principal: Principal, value: Any) -> bool:
    try:
        return lift_tests.sees_organization(get_db(), principal, int(value))
    except (TypeError, ValueError):
        return False


@protected_callback(Output("lift-grid", "rowData"), Input("lift-version", "data"), permission=READ)
def show_tests(_version):
    """The tests the person may read (the service applies the scope)."""
    return grid_rows(lift_tests.list_lift_tests(get_db(), current_principal()))


@protected_callback(
    Output("lift-channel", "options"),
    Output("lift-channel", "value"),
    Input("lift-brand", "value"),
    State("lift-channel", "value"),
    permission=WRITE,
    objects={"brand_id": "brand"},
)
def channel_options(brand_id, chosen):
    """The channels of the chosen brand's organization (a channel keeps its choice when it is still offered)."""
    options = lift_tests.form_options(get_db(), current_principal())
    brand = next((b for b in options["brands"] if b["id"] == brand_id), None)
    names = options["channels"].get(brand["organization_id"], []) if brand else []
    return [{"label": n, "value": n} for n in names], chosen if chosen in names else None


@protected_callback(
    Output("lift-form-message", "children"),
    Output("lift-version", "data"),
    Input("lift-record", "n_clicks"),
    State("lift-brand", "value"),
    State("lift-channel", "value"),
    State("lift-start", "date"),
    State("lift-end", "date"),
    State("lift-outcome", "value"),
    State("lift-se", "value"),
    State("lift-note", "value"),
    State("lift-version", "data"),
    permission=WRITE,
    objects={"brand_id": "brand"},
    prevent_initial_call=True,
)
def record_test(_clicks, brand_id, channel, start, end, outcome, se, note, version):
    """Record the test as typed; a refusal says why and changes nothing."""
    raw = {"brand_id": brand_id, "channel": channel, "period_start": start, "period_end": end,
           "incremental_outcome": outcome, "standard_error": se, "note": note or ""}
    try:
        ident = lift_tests.add_lift_test(get_db(), current_principal(), raw)
    except Forbidden:
        return message(REFUSED, "danger"), no_update
    except lift_tests.LiftTestError as exc:
        return message([html.Strong("Nothing was recorded: "), str(exc)], "danger", id="lift-form-refused"), no_update
    return message(f"Lift test #{ident} recorded.", id="lift-form-done"), (version or 0) + 1


@protected_callback(Output("lift-delete-confirm", "displayed"), Output("lift-grid-message", "children"),
                    Input("lift-delete", "n_clicks"), State("lift-grid", "selectedRows"),
                    permission=WRITE, prevent_initial_call=True)
def ask_delete(_clicks, selected):
    if not selected:
        return False, message("Tick the test to delete in the grid first.", "warning")
    return True, None


@protected_callback(
    Output("lift-grid-message", "children", allow_duplicate=True),
    Output("lift-version", "data", allow_duplicate=True),
    Input("lift-delete-confirm", "submit_n_clicks"),
    State("lift-grid", "selectedRows"),
    State("lift-version", "data"),
    permission=WRITE,
    objects={"selected": ("lift_test", _sees_test)},
    prevent_initial_call=True,
)
def delete_test(_confirmed, selected, version):
    """Delete the ticked test (checked again on the server: its brand must be the person's to write)."""
    if not isinstance(selected, list) or not selected or not isinstance(selected[0], dict):
        return message("Tick the test to delete in the grid first.", "warning"), no_update
    try:
        gone = lift_tests.delete_lift_test(get_db(), current_principal(), selected[0].get("id"))
    except Forbidden:
        return message(REFUSED, "danger"), no_update
    return message(f"Deleted the test of {gone['brand']} on {gone['channel']} ({gone['period_start']} … "
                   f"{gone['period_end']}).", id="lift-delete-done"), (version or 0) + 1


def _decode(contents) -> bytes | None:
    if not isinstance(contents, str) or "," not in contents:
        return None
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return None


def _import(contents, organization_id, commit: bool):
    data = _decode(contents)
    if data is None:
        return None, message("Upload a CSV file.", "warning")
    try:
        report = lift_tests.import_lift_tests(get_db(), current_principal(), organization_id, data, commit=commit)
    except Forbidden:
        return None, message("You are not allowed to record lift tests in this organization.", "danger")
    return report, report_view(report)


@protected_callback(
    Output("lift-csv-result", "children"),
    Output("lift-csv-data", "data"),
    Output("lift-csv-commit", "disabled"),
    Input("lift-csv", "contents"),
    State("lift-csv-org", "value"),
    permission=WRITE,
    objects={"organization_id": ("organization", _sees_organization)},
    prevent_initial_call=True,
)
def preview_lift_csv(contents, organization_id):
    """Check every row; nothing is recorded until “Record these tests”."""
    report, shown = _import(contents, organization_id, commit=False)
    ok = report is not None and report.ok
    return shown, contents if ok else None, not ok


@protected_callback(
    Output("lift-csv-result", "children", allow_duplicate=True),
    Output("lift-version", "data", allow_duplicate=True),
    Output("lift-csv-commit", "disabled", allow_duplicate=True),
    Input("lift-csv-commit", "n_clicks"),
    State("lift-csv-data", "data"),
    State("lift-csv-org", "value"),
    State("lift-version", "data"),
    permission=WRITE,
    objects={"organization_id": ("organization", _sees_organization)},
    prevent_initial_call=True,
)
def commit_lift_csv(_clicks, contents, organization_id, version):
    """Record every test of the previewed CSV, or none (rows are checked again on the server)."""
    report, shown = _import(contents, organization_id, commit=True)
    return shown, (version or 0) + 1 if report is not None and report.committed else no_update, True
