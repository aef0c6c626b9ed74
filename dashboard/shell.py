"""The Dash app around the pages: stylesheet, navigation bar, page container.

Bootstrap's CSS is vendored under assets/vendor/bootstrap/ (MIT, see its LICENSE) and served by the
app, never from a CDN, so the app works offline and under a strict Content-Security-Policy.

Long work (the optimizer's runs) is not a Dash background callback: pages submit durable jobs
(core.jobs.queue) and follow their rows with a dcc.Interval.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html
from flask import Flask
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from core.alert_inbox import READ as ALERTS_READ
from core.alert_inbox import unread_count
from core.config import PROJECT_ROOT
from core.reports.access import EXPORT as REPORT_EXPORT
from core.runtime import get_db
from dashboard.access import holds_anywhere, page_allowed
from dashboard.auth.principal import current_principal
from dashboard.context import context_bar, register_callbacks
from dashboard.errors import error_banner, on_callback_error

# Linked explicitly (its folder is kept out of Dash's automatic asset list) so it loads before theme.css.
BOOTSTRAP_CSS = "/assets/vendor/bootstrap/bootstrap.min.css"


ADMIN_PREFIX = "/admin/"
# The administration menu in the order of setting up and then running an organization.
ADMIN_ORDER = ("/admin/portfolio", "/admin/framework", "/admin/channels", "/admin/import", "/admin/users",
               "/admin/access", "/admin/settings", "/admin/sso", "/admin/audit", "/admin/compliance",
               "/admin/organizations")


# Pages shown right after another in the bar (the flighting planner beside the budget optimizer), whatever
# Dash's registry order (alphabetical by module) would give.
NAV_AFTER = {"/flighting": "/optimizer"}


def _nav_order(pages: list[dict]) -> list[dict]:
    """`pages` with each page of NAV_AFTER moved to just after the page it follows (when both are shown)."""
    out = [p for p in pages if p["relative_path"] not in NAV_AFTER]
    for page in (p for p in pages if p["relative_path"] in NAV_AFTER):
        after = [i for i, p in enumerate(out) if p["relative_path"] == NAV_AFTER[page["relative_path"]]]
        out.insert(after[0] + 1 if after else len(out), page)
    return out


def _admin_rank(page: dict) -> tuple[int, str]:
    path = page["relative_path"]
    return (ADMIN_ORDER.index(path) if path in ADMIN_ORDER else len(ADMIN_ORDER), path)


def initials(name: str) -> str:
    """The user menu's label: the first letters of the first and the last word ("OA"; "MS" for
    maria.silva@…), so the bar's width does not grow with a long name."""
    words = name.split("@")[0].replace(".", " ").split() if "@" in name else name.split()
    return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper() if words else "?"


# A bell drawn as SVG (no emoji font on every machine), white on the dark bar; img-src allows data: URIs.
BELL_ICON = ("data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16' fill='white'>"
             "<path d='M8 1.5c-2.5 0-4 2-4 4.5v3l-1.5 2.5h11L12 9V6c0-2.5-1.5-4.5-4-4.5z'/>"
             "<path d='M6.3 12.8a1.7 1.7 0 0 0 3.4 0z'/></svg>")


def bell(principal) -> list:
    """The alerts link ("the bell") with the person's unread count (core.alert_inbox), for whoever may read
    alerts. Counted at each page load; the Alerts page updates it when alerts are marked read or snoozed."""
    if not current_user.is_authenticated or not holds_anywhere(principal, ALERTS_READ):
        return []
    count = unread_count(get_db(), principal)
    label = f"Alerts, {count} unread" if count else "Alerts, none unread"
    return [dbc.NavItem(dbc.NavLink(
        html.Span([html.Img(src=BELL_ICON, alt="", width=18, height=18, className="dc-bell"),
                   html.Span(label, className="visually-hidden"),
                   dbc.Badge(count or None, id="nav-alerts-count", color="danger", pill=True,
                             className="dc-bell-count")],
                  title=label, id="nav-alerts-bell", className="dc-bell-wrap"),
        href="/alerts", id="nav-alerts", className="text-nowrap"))]


def navbar() -> dbc.Navbar:
    """Links to the pages the signed-in person may open, and their menu; nothing else. The everyday
    pages are links; the administration pages (under /admin/) sit in one "Administration" menu, so
    the bar stays one row for an administrator on a laptop."""
    principal = current_principal()
    shown = [page for page in dash.page_registry.values() if page.get("nav", True) and page_allowed(principal, page)]
    links = [dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
             for page in _nav_order(shown) if not page["relative_path"].startswith(ADMIN_PREFIX)]
    admin = [dbc.DropdownMenuItem(page["name"], href=page["relative_path"], className="nav-admin-item")
             for page in sorted(shown, key=_admin_rank) if page["relative_path"].startswith(ADMIN_PREFIX)]
    if admin:
        links.append(dbc.DropdownMenu(admin, label="Administration", nav=True, in_navbar=True, id="nav-admin"))
    menu = []
    if current_user.is_authenticated:
        sign_out = html.Form(
            [dcc.Input(type="hidden", name="csrf_token", value=generate_csrf(), id="sign-out-csrf"),
             html.Button("Sign out", type="submit", className="dropdown-item", id="sign-out")],
            method="post", action="/logout",
        )
        name = current_user.name or current_user.email
        # Initials, not the whole name: "Organization Administrator" pushed the bar onto two rows at 1440 px.
        label = [html.Span(initials(name), className="dc-avatar", title=name, **{"aria-hidden": "true"}),
                 html.Span(name, className="visually-hidden")]
        heads = [dbc.DropdownMenuItem(text, header=True) for text in dict.fromkeys((name, current_user.email))]
        menu = [dbc.DropdownMenu([*heads,
                                  dbc.DropdownMenuItem("Profile", href="/profile", id="user-profile"),
                                  *([dbc.DropdownMenuItem("Report subscriptions", href="/subscriptions",
                                                          id="user-subscriptions")]
                                    if holds_anywhere(principal, REPORT_EXPORT) else []),
                                  dbc.DropdownMenuItem(divider=True), sign_out],
                                 label=label, nav=True, align_end=True, id="user-menu")]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand([html.Span("Digi", className="fw-bold"), "-Cadence"], href="/", className="me-3"),
                dbc.NavbarToggler(id="nav-toggler"),
                dbc.Collapse([dbc.Nav(links, navbar=True, className="me-auto flex-wrap", id="nav-links"),
                              dbc.Nav([*bell(principal), *menu], navbar=True),
                              html.Button(id="theme-toggle",
                                          className="btn btn-sm btn-outline-light ms-lg-2 text-nowrap",
                                          title="Switch between the light and the dark theme")],
                             id="nav-collapse", navbar=True),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3",
    )


def shell_layout() -> html.Div:
    """Built per page load, so the navigation matches the person asking."""
    return html.Div(
        [dcc.Location(id="url", refresh="callback-nav"), navbar(),
         dbc.Container([error_banner(), context_bar(), dash.page_container], fluid=True)]
    )


def build_dash(server: Flask) -> dash.Dash:
    """Create the Dash app on `server` with every page under dashboard/pages registered."""
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(PROJECT_ROOT / "dashboard" / "pages"),
        assets_folder=str(PROJECT_ROOT / "assets"),
        assets_path_ignore=["vendor"],
        external_stylesheets=[BOOTSTRAP_CSS],
        title="Digi-Cadence",
        update_title=None,
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
        on_error=on_callback_error,
    )
    app.layout = shell_layout
    register_callbacks()
    # Runs in the browser only (assets/theme.js): the theme is a display choice, no server state.
    app.clientside_callback(ClientsideFunction("theme", "toggle"), Output("theme-toggle", "children"),
                            Input("theme-toggle", "n_clicks"))
    # The menu button of narrow screens (assets/navigation.js) opens the collapsed navigation.
    app.clientside_callback(ClientsideFunction("navigation", "toggle"), Output("nav-collapse", "is_open"),
                            Input("nav-toggler", "n_clicks"), State("nav-collapse", "is_open"))
    return app
