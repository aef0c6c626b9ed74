"""Single sign-on settings: an organization's OpenID Connect provider, who it lets in, and with which roles.

Validating, saving (the secret encrypted), permission checks and the audit live in
`core.security.sso_settings`; the page shows the values (never the secret: only whether one is
stored), the redirect address to register at the provider, and a sentence per bad field.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from flask import current_app, url_for

from core.admin import organizations_in_scope
from core.runtime import get_db
from core.security import Forbidden, Principal, can
from core.security.permissions import Permission
from core.security.sso_settings import SSOSettingsInvalid, read, rules_as_text, save
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state

SETTINGS_MANAGE = Permission.SETTINGS_MANAGE.value
register_page(__name__, permission=SETTINGS_MANAGE, path="/admin/sso", name="Single sign-on",
              title="Single sign-on · Digi-Cadence")

TEXT_FIELDS = ("issuer", "client_id", "client_secret", "allowed_domains", "role_mapping", "mfa_acr_values")
SWITCHES = ("enabled", "jit_provisioning", "local_passwords_enabled")
RULE_EXAMPLE = ("groups = marketing -> Analyst @ organization\n"
                "groups = brand-leads -> Brand Manager @ brand 12\n"
                "department = Finance -> Viewer @ project 3")


def _org_allowed(principal: Principal, organization_id) -> bool:
    try:
        return can(principal, SETTINGS_MANAGE, ("organization", int(organization_id)))
    except (TypeError, ValueError):
        return False


def _field(field: str, label: str, help_text: str, **input_args) -> html.Div:
    widget = dbc.Textarea(id=f"sso-{field}", rows=5, **input_args) if field == "role_mapping" \
        else dbc.Input(id=f"sso-{field}", **input_args)
    return html.Div([
        dbc.Label(label, html_for=f"sso-{field}"),
        widget,
        dbc.FormFeedback(id=f"sso-{field}-feedback", type="invalid"),
        html.Div(help_text, className="form-text"),
    ], className="mb-3")


def _card(title: str, body) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(body)], className="mb-3 shadow-sm")


def layout(**_query) -> html.Div:
    organizations = organizations_in_scope(get_db(), current_principal(), SETTINGS_MANAGE)
    if not organizations:
        return empty_state("No organization whose settings you manage.")
    options = [{"label": o["name"], "value": o["id"]} for o in organizations]
    callback = url_for("sso.callback", _external=True)
    provider = [
        dbc.Switch(id="sso-enabled", label="Members may sign in with their company account", className="mb-3"),
        _field("issuer", "Issuer", "The provider's issuer address, e.g. https://login.example.com/realms/acme.",
               type="url", placeholder="https://"),
        _field("client_id", "Client ID", "From the application you registered for Digi-Cadence.", type="text"),
        _field("client_secret", "Client secret", "Stored encrypted and never shown again. Leave blank to keep "
               "the stored one.", type="password", autocomplete="new-password"),
        html.Div([html.Span("Redirect address to register at your provider: ", className="small"),
                  html.Code(callback, id="sso-callback-uri", className="small text-break")], className="mb-1"),
    ]
    access = [
        _field("allowed_domains", "E-mail domains", "Addresses in these domains sign in here; separate with commas.",
               type="text", placeholder="example.com"),
        _field("role_mapping", "Who gets which role", "One rule a line: claim = value -> role @ scope (organization, "
               "project ID or brand ID). Someone no rule matches is refused.", placeholder=RULE_EXAMPLE),
        dbc.Switch(id="sso-jit_provisioning", label="Create accounts for people not yet invited (just-in-time)"),
        html.Div("Off: only people you invited or created can sign in; they are linked by e-mail at their "
                 "first company sign-in.", className="form-text mb-2"),
    ]
    factors = [
        dbc.Switch(id="sso-local_passwords_enabled", label="Members may still sign in with a password"),
        html.Div("Off: only administrators keep their password, as a way in when the provider is down.",
                 className="form-text mb-3"),
        _field("mfa_acr_values", "Multi-factor acr values", "When the provider reports amr mfa, hwk or otp, or one "
               "of these acr values, its second factor counts; otherwise we ask for our own code.", type="text",
               placeholder="e.g. urn:example:mfa"),
    ]
    return html.Div([
        dbc.Row([
            dbc.Col([html.H2("Single sign-on", className="mb-0"),
                     html.Div("Sign-in through your company's identity provider (OpenID Connect). Every change is "
                              "audited.", className="text-muted small")], md=8),
            dbc.Col(dcc.Dropdown(id="sso-org", options=options, value=organizations[0]["id"], clearable=False,
                                 disabled=len(options) == 1), md=4),
        ], className="align-items-center g-2 mb-3"),
        dbc.Row([dbc.Col(_card("Identity provider", provider), xl=6),
                 dbc.Col([_card("Who may sign in", access), _card("Passwords and second factor", factors)], xl=6)],
                className="g-3"),
        dbc.Button("Save single sign-on", id="sso-save", color="primary", className="mb-2"),
        html.Div(id="sso-result", className="mb-4"),
    ])


_SHOWN = ("issuer", "client_id", "allowed_domains", "role_mapping", "mfa_acr_values", *SWITCHES)


@protected_callback(
    *[Output(f"sso-{f}", "value") for f in _SHOWN],
    Output("sso-client_secret", "placeholder"),
    Input("sso-org", "value"),
    permission=SETTINGS_MANAGE,
    objects={"organization_id": ("organization", _org_allowed)},
)
def load_sso(organization_id):
    """The stored settings (the secret only as 'stored' or not)."""
    if organization_id is None:
        return [no_update] * (len(_SHOWN) + 1)
    s = read(get_db(), current_principal(), organization_id)
    return (s.issuer, s.client_id, ", ".join(s.allowed_domains), rules_as_text(s.role_mapping),
            " ".join(s.mfa_acr_values), s.enabled, s.jit_provisioning, s.local_passwords_enabled,
            "A secret is stored" if s.has_secret else "")


@protected_callback(
    Output("sso-result", "children"),
    *[Output(f"sso-{f}", "invalid") for f in TEXT_FIELDS],
    *[Output(f"sso-{f}-feedback", "children") for f in TEXT_FIELDS],
    Output("sso-client_secret", "value"),
    Output("sso-client_secret", "placeholder", allow_duplicate=True),
    Input("sso-save", "n_clicks"),
    State("sso-org", "value"),
    *[State(f"sso-{f}", "value") for f in (*TEXT_FIELDS, *SWITCHES)],
    permission=SETTINGS_MANAGE,
    objects={"organization_id": ("organization", _org_allowed)},
    prevent_initial_call=True,
)
def save_sso(_clicks, organization_id, issuer, client_id, client_secret, allowed_domains, role_mapping,
             mfa_acr_values, enabled, jit_provisioning, local_passwords_enabled):
    """Validate on the server and save everything at once, or nothing; the typed secret is cleared either way."""
    values = {"issuer": issuer, "client_id": client_id, "client_secret": client_secret or "",
              "allowed_domains": allowed_domains or "", "role_mapping": role_mapping or "",
              "mfa_acr_values": mfa_acr_values or "", "enabled": bool(enabled),
              "jit_provisioning": bool(jit_provisioning),
              "local_passwords_enabled": local_passwords_enabled is not False}
    clear = [False] * len(TEXT_FIELDS) + [None] * len(TEXT_FIELDS)
    box = current_app.extensions["digicadence.accounts"].box
    try:
        saved = save(get_db(), current_principal(), organization_id, values, box)
    except Forbidden:
        return (dbc.Alert("You are not allowed to change this organization's single sign-on.", color="danger"),
                *clear, "", no_update)
    except SSOSettingsInvalid as exc:
        invalid = [f in exc.problems for f in TEXT_FIELDS]
        feedback = [exc.problems.get(f) for f in TEXT_FIELDS]
        return (dbc.Alert([html.Strong("Nothing was saved. "), "Fix the highlighted fields."], color="danger",
                          id="sso-invalid"), *invalid, *feedback, "", no_update)
    state = "on" if saved.enabled else "off"
    return (dbc.Alert([html.Strong("Saved. "), f"Company sign-in is {state}; {len(saved.role_mapping)} role "
                       f"rule{'s' if len(saved.role_mapping) != 1 else ''}."], color="success", id="sso-saved"),
            *clear, "", "A secret is stored" if saved.has_secret else "")
