"""Organization settings: password policy, two-factor policy, lockout, the default alert thresholds, the
security alerts' thresholds and contacts, and the currency and outcome unit every figure of the organization
reads in.

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
    DENIAL_SPIKE_COUNT_BOUNDS,
    DENIAL_SPIKE_MINUTES_BOUNDS,
    DROP_THRESHOLD_BOUNDS,
    LOCKOUT_BURST_ACCOUNTS_BOUNDS,
    LOCKOUT_BURST_MINUTES_BOUNDS,
    LOCKOUT_MINUTES_BOUNDS,
    LOCKOUT_THRESHOLD_BOUNDS,
    ROAS_FLOOR_BOUNDS,
    SECURITY_CONTACTS_MAX,
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
                 "alert_anomaly_z", "alert_roas_floor", "lockout_burst_accounts", "lockout_burst_minutes",
                 "denial_spike_count", "denial_spike_minutes")
LABELS = {
    "password_min_length": "Minimum password length", "password_composition": "Composition rule",
    "mfa_policy": "Two-factor sign-in", "lockout_threshold": "Failed attempts before a lockout",
    "lockout_minutes": "Lockout length (minutes)", "alert_drop_threshold": "Score-drop alert (points)",
    "alert_anomaly_z": "Anomaly alert (robust z)", "alert_roas_floor": "Marginal-ROAS alert floor T",
    "currency": "Currency", "outcome_unit": "Outcome",
    "security_key_for_admins": "Security key for administrators",
    "default_metric_classification": "New metrics and sections", "default_scenario_classification": "New scenarios",
    "default_import_classification": "New imported data sets",
    "lockout_burst_accounts": "Lockout burst: accounts", "lockout_burst_minutes": "Lockout burst: within (minutes)",
    "denial_spike_count": "Denial spike: refusals of one person",
    "denial_spike_minutes": "Denial spike: within (minutes)",
    "security_contacts": "Security contacts", "security_webhook_url": "Security webhook",
}
LEVEL_OPTIONS = [{"label": level.capitalize(), "value": level} for level in LEVELS]
# Refused with a sentence under the field, like the numbers.
TEXT_FIELDS = ("currency", "outcome_unit", "security_contacts", "security_webhook_url")
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

    security_alerts = dbc.Row([
        _number("lockout_burst_accounts", LOCKOUT_BURST_ACCOUNTS_BOUNDS, 1,
                "Accounts locked out within the window below: someone guessing passwords across accounts."),
        _number("lockout_burst_minutes", LOCKOUT_BURST_MINUTES_BOUNDS, 1, "The burst's window."),
        _number("denial_spike_count", DENIAL_SPIKE_COUNT_BOUNDS, 1,
                "Refusals (403) of one person within the window below: probing what an account can reach."),
        _number("denial_spike_minutes", DENIAL_SPIKE_MINUTES_BOUNDS, 1, "The spike's window."),
        dbc.Col([
            dbc.Label(LABELS["security_contacts"], html_for="settings-security_contacts"),
            dbc.Textarea(id="settings-security_contacts", rows=3, placeholder="security@your-company.example"),
            html.Div(id="settings-security_contacts-feedback", className="small text-danger"),
            html.Div(f"E-mail addresses, one per line (at most {SECURITY_CONTACTS_MAX}). They hear about lockout "
                     "bursts, denial spikes, new administrators, two-factor or key resets and sign-ins from new "
                     "networks in this organization.", className="form-text"),
        ], md=6),
        dbc.Col([
            dbc.Label(LABELS["security_webhook_url"], html_for="settings-security_webhook_url"),
            dbc.Input(id="settings-security_webhook_url", type="url", maxlength=500,
                      placeholder="https://hooks.slack.com/services/…"),
            html.Div(id="settings-security_webhook_url-feedback", className="small text-danger"),
            html.Div("Optional: a Slack-compatible incoming webhook that gets each alert too. Sent alerts are listed "
                     "on the Audit page.", className="form-text"),
        ], md=6),
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
                     html.Div("Sign-in policy, security alerts, alert defaults and the currency of an "
                              "organization. Every change is audited.",
                              className="text-muted small")], md=8),
            dbc.Col(dcc.Dropdown(id="settings-org", options=options, value=organizations[0]["id"], clearable=False,
                                 disabled=len(options) == 1), md=4),
        ], className="align-items-center g-2 mb-3"),
        dcc.Loading(html.Div([
            dbc.Row([
                dbc.Col([card("Passwords", passwords), card("Two-factor sign-in", mfa),
                         card("Security alerts", security_alerts)], xl=6),
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
    values["security_contacts"] = "\n".join(values["security_contacts"])
    return [values[f] for f in _ORDER]


def _show(value) -> str:
    if value is None:
        return "not chosen"
    if isinstance(value, tuple):
        return ", ".join(value) or "nobody"
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
         alert_anomaly_z, alert_roas_floor, lockout_burst_accounts, lockout_burst_minutes, denial_spike_count,
         denial_spike_minutes, mfa_policy, password_composition, currency, outcome_unit, security_contacts,
         security_webhook_url, security_key_for_admins, default_metric, default_scenario, default_import):
    """Validate on the server and save every value at once, or none; say what changed."""
    values = dict(zip(_ORDER, (
        password_min_length, lockout_threshold, lockout_minutes, alert_drop_threshold, alert_anomaly_z,
        alert_roas_floor, lockout_burst_accounts, lockout_burst_minutes, denial_spike_count, denial_spike_minutes,
        mfa_policy, bool(password_composition), currency, outcome_unit, security_contacts, security_webhook_url,
        bool(security_key_for_admins), default_metric, default_scenario, default_import), strict=True))
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
