"""Organization settings: password policy, two-factor policy, lockout, the default alert thresholds, and
the currency and outcome unit every figure of the organization reads in.

Reading, validating, saving and auditing live in `core.settings` (settings:manage on the
organization, checked there); the page shows the values, the bounds, and a sentence per bad field.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from flask import current_app

from core.admin import organizations_in_scope
from core.classification import LEVELS
from core.currencies import CURRENCIES
from core.runtime import get_db
from core.security import Forbidden, Principal, SecuritySettings, can
from core.settings import (
    ANOMALY_Z_BOUNDS,
    CLASSIFICATION_FIELDS,
    DROP_THRESHOLD_BOUNDS,
    LOCKOUT_MINUTES_BOUNDS,
    LOCKOUT_THRESHOLD_BOUNDS,
    ROAS_FLOOR_BOUNDS,
    SETTINGS_MANAGE,
    SettingsInvalid,
    password_min_length_bounds,
    read_settings,
    save_settings,
)
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state

register_page(__name__, permission=SETTINGS_MANAGE, path="/admin/settings", name="Settings",
              title="Settings · Digi-Cadence")

NUMBER_FIELDS = ("password_min_length", "lockout_threshold", "lockout_minutes", "alert_drop_threshold",
                 "alert_anomaly_z", "alert_roas_floor")
LABELS = {
    "password_min_length": "Minimum password length", "password_composition": "Composition rule",
    "mfa_policy": "Two-factor sign-in", "lockout_threshold": "Failed attempts before a lockout",
    "lockout_minutes": "Lockout length (minutes)", "alert_drop_threshold": "Score-drop alert (points)",
    "alert_anomaly_z": "Anomaly alert (robust z)", "alert_roas_floor": "Marginal-ROAS alert floor T",
    "currency": "Currency", "outcome_unit": "Outcome",
    "security_key_for_admins": "Security key for administrators",
    "default_metric_classification": "New metrics and sections", "default_scenario_classification": "New scenarios",
    "default_import_classification": "New imported data sets",
}
LEVEL_OPTIONS = [{"label": level.capitalize(), "value": level} for level in LEVELS]
TEXT_FIELDS = ("currency", "outcome_unit")  # refused with a sentence under the field, like the numbers
CURRENCY_OPTIONS = [{"label": f"{code} · {name}", "value": code} for code, name in CURRENCIES.items()]


def _security() -> SecuritySettings:
    return current_app.extensions["digicadence.accounts"].settings


def _org_allowed(principal: Principal, organization_id) -> bool:
    try:
        return can(principal, SETTINGS_MANAGE, ("organization", int(organization_id)))
    except (TypeError, ValueError):
        return False


def _number(field: str, bounds: tuple, step: float, help_text: str) -> dbc.Col:
    lo, hi = bounds
    return dbc.Col([
        dbc.Label(LABELS[field], html_for=f"settings-{field}"),
        dbc.Input(id=f"settings-{field}", type="number", min=lo, max=hi, step=step),
        dbc.FormFeedback(id=f"settings-{field}-feedback", type="invalid"),
        html.Div(f"{help_text} Allowed: {lo:g}–{hi:g}.", className="form-text"),
    ], md=6)


def layout(**_query) -> html.Div:
    organizations = organizations_in_scope(get_db(), current_principal(), SETTINGS_MANAGE)
    if not organizations:
        return empty_state("No organization whose settings you manage.")
    options = [{"label": o["name"], "value": o["id"]} for o in organizations]
    floor, ceiling = password_min_length_bounds(_security())
    passwords = dbc.Row([
        _number("password_min_length", (floor, ceiling), 1,
                f"Never below the system's {floor}; long passphrases beat complex short passwords."),
        dbc.Col([
            dbc.Label(LABELS["password_composition"]),
            dbc.Switch(id="settings-password_composition", label="Require lower- and upper-case letters, a digit "
                       "and a symbol"),
            html.Div("Common passwords, personal data and the last five passwords are always refused.",
                     className="form-text"),
        ], md=6),
    ], className="g-3")
    mfa = dbc.Row([dbc.Col([
        dbc.RadioItems(id="settings-mfa_policy", options=[
            {"label": "Administrators only (always required of them)", "value": "administrators"},
            {"label": "Everyone in the organization", "value": "everyone"},
        ]),
        html.Div("Who has not set it up yet is taken through enrolment at their next sign-in.", className="form-text"),
        dbc.Switch(id="settings-security_key_for_admins", className="mt-3",
                   label="Administrators must sign in with a security key (hardware key or passkey)"),
        html.Div("An administrator without one is asked to add one right after signing in; the app's code alone no "
                 "longer signs an administrator in once they have a key.", className="form-text"),
    ])])
    lockout = dbc.Row([
        _number("lockout_threshold", LOCKOUT_THRESHOLD_BOUNDS, 1, "Wrong passwords or codes in a row."),
        _number("lockout_minutes", LOCKOUT_MINUTES_BOUNDS, 1, "An administrator can unlock sooner."),
    ], className="g-3")
    alerts = dbc.Row([
        _number("alert_drop_threshold", DROP_THRESHOLD_BOUNDS, 0.5,
                "Own brands whose DC score fell this much month on month; the Portfolio page can override it."),
        _number("alert_anomaly_z", ANOMALY_Z_BOUNDS, 0.1,
                "How far a metric's latest change must sit from its usual change (3.5 is the textbook cut-off)."),
        _number("alert_roas_floor", ROAS_FLOOR_BOUNDS, 0.05,
                "Alert when a channel's next unit of spend returns less than this (1: less than it costs)."),
    ], className="g-3")

    money = dbc.Row([
        dbc.Col([
            dbc.Label(LABELS["currency"], html_for="settings-currency"),
            dcc.Dropdown(id="settings-currency", options=CURRENCY_OPTIONS, placeholder="Not chosen: plain figures",
                         searchable=True),
            html.Div(id="settings-currency-feedback", className="small text-danger"),
            html.Div("The currency spend, budgets and revenue were imported in (ISO 4217); every page, PDF and "
                     "workbook writes amounts with it. It labels the figures, it does not convert them.",
                     className="form-text"),
        ], md=6),
        dbc.Col([
            dbc.Label(LABELS["outcome_unit"], html_for="settings-outcome_unit"),
            dbc.Input(id="settings-outcome_unit", type="text", maxlength=30, placeholder="revenue"),
            html.Div(id="settings-outcome_unit-feedback", className="small text-danger"),
            html.Div("What the outcome column counts: revenue (in the currency), or a count named in words such as "
                     "conversions. ROAS then reads “2.63 per 1” in revenue or “conversions per 1 K” for a count.",
                     className="form-text"),
        ], md=6),
    ], className="g-3")
    classification = dbc.Row([
        dbc.Col([dbc.Label(LABELS[field], html_for=f"settings-{field}"),
                 dcc.Dropdown(id=f"settings-{field}", options=LEVEL_OPTIONS, clearable=False),
                 html.Div(id=f"settings-{field}-feedback", className="small text-danger")], md=4)
        for field in CLASSIFICATION_FIELDS
    ] + [dbc.Col(html.Div("The level each new item gets (issue 17); administrators change a metric's level on the "
                          "Framework page, owners their scenario's. Confidential and restricted values are shown "
                          "only to roles holding that level.", className="form-text"), xs=12)], className="g-3")

    def card(title: str, body) -> dbc.Card:
        return dbc.Card([dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(body)],
                        className="mb-3 shadow-sm")

    return html.Div([
        dbc.Row([
            dbc.Col([html.H2("Settings", className="mb-0"),
                     html.Div("Sign-in policy, alert defaults and the currency of an organization. Every change "
                              "is audited.",
                              className="text-muted small")], md=8),
            dbc.Col(dcc.Dropdown(id="settings-org", options=options, value=organizations[0]["id"], clearable=False,
                                 disabled=len(options) == 1), md=4),
        ], className="align-items-center g-2 mb-3"),
        dcc.Loading(html.Div([
            dbc.Row([
                dbc.Col([card("Passwords", passwords), card("Two-factor sign-in", mfa)], xl=6),
                dbc.Col([card("Lockout", lockout), card("Alert defaults", alerts),
                         card("Money and outcomes", money), card("Data classification", classification)], xl=6),
            ], className="g-3"),
        ]), delay_show=300),
        dbc.Button("Save settings", id="settings-save", color="primary", className="mb-2"),
        html.Div(id="settings-result", className="mb-4"),
    ])


_ORDER = (*NUMBER_FIELDS, "mfa_policy", "password_composition", *TEXT_FIELDS, "security_key_for_admins",
          *CLASSIFICATION_FIELDS)
_VALUE_OUTPUTS = [Output(f"settings-{f}", "value") for f in _ORDER]


@protected_callback(
    *_VALUE_OUTPUTS,
    Input("settings-org", "value"),
    permission=SETTINGS_MANAGE,
    objects={"organization_id": ("organization", _org_allowed)},
)
def load_settings(organization_id):
    """The organization's effective values (its own, or the system defaults it never changed)."""
    if organization_id is None:
        return [no_update] * len(_ORDER)
    values = read_settings(get_db(), current_principal(), organization_id, _security()).values()
    return [values[f] for f in _ORDER]


def _show(value) -> str:
    if value is None:
        return "not chosen"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


@protected_callback(
    Output("settings-result", "children"),
    *[Output(f"settings-{f}", "invalid") for f in NUMBER_FIELDS],
    *[Output(f"settings-{f}-feedback", "children") for f in (*NUMBER_FIELDS, *TEXT_FIELDS, *CLASSIFICATION_FIELDS)],
    Input("settings-save", "n_clicks"),
    State("settings-org", "value"),
    *[State(f"settings-{f}", "value") for f in _ORDER],
    permission=SETTINGS_MANAGE,
    objects={"organization_id": ("organization", _org_allowed)},
    prevent_initial_call=True,
)
def save(_clicks, organization_id, password_min_length, lockout_threshold, lockout_minutes, alert_drop_threshold,
         alert_anomaly_z, alert_roas_floor, mfa_policy, password_composition, currency, outcome_unit,
         security_key_for_admins, default_metric, default_scenario, default_import):
    """Validate on the server and save every value at once, or none; say what changed."""
    values = {"password_min_length": password_min_length, "lockout_threshold": lockout_threshold,
              "lockout_minutes": lockout_minutes, "alert_drop_threshold": alert_drop_threshold,
              "alert_anomaly_z": alert_anomaly_z, "alert_roas_floor": alert_roas_floor, "mfa_policy": mfa_policy,
              "password_composition": bool(password_composition) if password_composition is not None else False,
              "currency": currency, "outcome_unit": outcome_unit,
              "security_key_for_admins": bool(security_key_for_admins),
              **dict(zip(CLASSIFICATION_FIELDS, (default_metric, default_scenario, default_import), strict=True))}
    checked = (*NUMBER_FIELDS, *TEXT_FIELDS, *CLASSIFICATION_FIELDS)
    clear = [False] * len(NUMBER_FIELDS) + [None] * len(checked)
    try:
        _settings, changes = save_settings(get_db(), current_principal(), organization_id, values, _security())
    except Forbidden:
        return (dbc.Alert("You are not allowed to change this organization's settings.", color="danger"), *clear)
    except SettingsInvalid as exc:
        invalid = [f in exc.problems for f in NUMBER_FIELDS]
        feedback = [exc.problems.get(f) for f in checked]
        others = [m for f, m in exc.problems.items() if f not in checked]
        message = [html.Strong("Nothing was saved. "), "Fix the highlighted values: "
                   + " ".join(exc.problems[f] for f in checked if f in exc.problems), *others]
        return (dbc.Alert(message, color="danger", id="settings-invalid"), *invalid, *feedback)
    if not changes:
        return (dbc.Alert("Nothing changed.", color="secondary"), *clear)
    items = [html.Li(f"{LABELS[f]}: {_show(old)} → {_show(new)}") for f, (old, new) in changes.items()]
    notes = []
    if changes.get("mfa_policy", [None, None])[1] == "everyone":
        notes.append(html.Div("Members without two-factor sign-in will set it up at their next sign-in.",
                              className="small"))
    return (dbc.Alert([html.Strong("Saved."), html.Ul(items, className="mb-1"), *notes], color="success",
                      id="settings-saved"), *clear)
