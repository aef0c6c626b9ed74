"""The organization, project and period a data page shows, chosen in the shell.

The choice lives in the URL (`?project=ID&period=YYYY-MM`), so a view can be shared and reloaded,
and a page reads it from its layout arguments like any other query value. The shell's selectors only
translate between the URL and three dropdowns; changing one rewrites the URL and the page redraws
once for the new query. Options come from the principal's scope (core.portfolio.list_projects and
project_periods), and a project or period in a URL that the principal may not see is replaced by
the first one they may, never shown.

Pages opt in with `context=True` in `register_page` (dashboard.access).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, urlencode

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, ctx, dcc, html, no_update
from sqlalchemy import Connection

from core.brand_explorer import explorable
from core.portfolio import READ, can_view_project, list_projects, project_periods
from core.read_cache import cached_under
from core.runtime import get_db
from core.security import Principal
from dashboard.access import protected_callback
from dashboard.auth.principal import current_principal

HIDDEN = {"display": "none"}


def period_value(period: date) -> str:
    return f"{period:%Y-%m}"


def parse_period(value: object) -> date | None:
    """`2026-09` (or a full ISO date) as the first of that month; None for anything else."""
    try:
        year, month = str(value)[:7].split("-")
        return date(int(year), int(month), 1)
    except (TypeError, ValueError):
        return None


def pick_period(periods: list[date], wanted: object) -> date | None:
    """The wanted period if the project has it, else the latest; None without periods."""
    chosen = parse_period(wanted)
    if chosen is not None and chosen in periods:
        return chosen
    return periods[-1] if periods else None


def project_readable(principal: Principal, project_id) -> bool:
    """Whether any part of the project is visible to the principal: the `objects` check of the callbacks
    of project pages (ids straight from the browser are fine). Kept under the principal's data token,
    so a hit opens no connection."""

    def ask() -> bool:
        with get_db().engine.connect() as conn:
            return can_view_project.uncached(conn, principal, project_id)

    return cached_under(get_db().engine, principal.data_token, "portfolio.project_readable",
                        (principal.scope_key, project_id), ask)


def project_explorable(principal: Principal, project_id) -> bool:
    """Whether the project holds a brand × project pair the principal may explore: the Brand explorer's
    `objects` check, kept per scopes and data token since every callback of that page asks."""

    def ask() -> frozenset[int]:
        with get_db().engine.connect() as conn:
            return frozenset(int(p) for p in explorable(conn, principal)["project_id"])

    projects = cached_under(get_db().engine, principal.data_token, "brand.explorable_projects",
                            (principal.scope_key,), ask)
    try:
        return int(project_id) in projects
    except (TypeError, ValueError, OverflowError):
        return False


def context_bar() -> html.Div:
    """The three selectors; hidden until the page in view asks for them."""

    def field(label: str, component) -> dbc.Col:
        return dbc.Col([dbc.Label(label, className="small text-muted mb-0"), component], xs=12, md=4, lg=3)

    return html.Div(
        dbc.Row(
            [
                field("Organization", dcc.Dropdown(id="ctx-org", clearable=False, searchable=False)),
                field("Project", dcc.Dropdown(id="ctx-project", clearable=False)),
                field("Period", dcc.Dropdown(id="ctx-period", clearable=False, searchable=False)),
            ],
            className="g-2 mb-3",
        ),
        id="ctx-bar",
        style=HIDDEN,
    )


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Context:
    """What a data page shows: resolved from the URL against the principal's own lists."""

    organizations: dict[int, str]
    projects: list[dict]
    project: dict
    periods: list[date]
    as_of: date | None

    @property
    def project_id(self) -> int:
        return int(self.project["id"])


def resolve(conn: Connection, principal: Principal, org: object = None, project: object = None,
            period: object = None) -> Context | None:
    """The context for these wishes; None when the principal sees no project at all.

    The page layout and the shell's selectors both call this, so they agree without the URL being
    rewritten (a rewrite would draw the page twice).
    """
    projects = list_projects(conn, principal)
    if not projects:
        return None
    orgs: dict[int, str] = {}
    for p in projects:
        orgs.setdefault(p["organization_id"], p["organization"])
    chosen = next((p for p in projects if p["id"] == _as_int(project)), None)
    org_id = _as_int(org)
    if chosen is None or (org_id in orgs and chosen["organization_id"] != org_id):
        org_id = org_id if org_id in orgs else next(iter(orgs))
        chosen = next(p for p in projects if p["organization_id"] == org_id)
    periods = project_periods(conn, principal, chosen["id"])
    return Context(orgs, projects, chosen, periods, pick_period(periods, period))


def _page_for(pathname: str | None) -> dict | None:
    path = (pathname or "/").rstrip("/") or "/"
    return next((p for p in dash.page_registry.values() if p["path"] == path), None)


def _wanted(search: str | None, org, project, period) -> tuple[object, object, object]:
    """(organization, project, period) the person asked for, by what triggered the callback."""
    trigger = ctx.triggered_id
    if trigger == "ctx-org":
        return org, None, None
    if trigger == "ctx-project":
        return None, project, period
    if trigger == "ctx-period":
        return None, project, period
    query = dict(parse_qsl((search or "").lstrip("?")))
    return query.get("org"), query.get("project"), query.get("period")


def register_callbacks() -> None:
    """Declare the selectors' callback for the app being built (Dash collects callbacks per app)."""

    @protected_callback(
        Output("ctx-bar", "style"),
        Output("ctx-org", "options"),
        Output("ctx-org", "value"),
        Output("ctx-org", "disabled"),
        Output("ctx-project", "options"),
        Output("ctx-project", "value"),
        Output("ctx-period", "options"),
        Output("ctx-period", "value"),
        Output("url", "search", allow_duplicate=True),
        Input("url", "pathname"),
        Input("url", "search"),
        Input("ctx-org", "value"),
        Input("ctx-project", "value"),
        Input("ctx-period", "value"),
        permission=READ,
        prevent_initial_call="initial_duplicate",
    )
    def sync_context(pathname, search, org, project, period):
        """URL → selectors on navigation; selectors → URL when the person picks something.

        Every id that arrives here is matched against the principal's own lists (`resolve`), so a crafted
        value selects nothing the menus would not have offered.
        """
        page = _page_for(pathname)
        if not page or not page.get("context"):
            return (HIDDEN, *([no_update] * 8))
        with get_db().engine.connect() as conn:
            chosen = resolve(conn, current_principal(), *_wanted(search, org, project, period))
        if chosen is None:
            return (HIDDEN, *([no_update] * 8))
        new_search = no_update
        if ctx.triggered_id in ("ctx-org", "ctx-project", "ctx-period"):
            query = dict(parse_qsl((search or "").lstrip("?")))
            query.pop("org", None)  # follows from the project
            query["project"] = str(chosen.project_id)
            if chosen.as_of is not None:
                query["period"] = period_value(chosen.as_of)
            candidate = "?" + urlencode(query)
            new_search = candidate if candidate != (search or "") else no_update
        org_id = chosen.project["organization_id"]
        return (
            {},
            [{"label": name, "value": oid} for oid, name in chosen.organizations.items()],
            org_id,
            len(chosen.organizations) == 1,
            [{"label": p["name"], "value": p["id"]} for p in chosen.projects if p["organization_id"] == org_id],
            chosen.project_id,
            [{"label": f"{p:%B %Y}", "value": period_value(p)} for p in reversed(chosen.periods)],
            period_value(chosen.as_of) if chosen.as_of else None,
            new_search,
        )
