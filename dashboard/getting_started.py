"""The getting-started checklist on the portfolio page, and the pointer to it from the other pages.

The steps and whether each is done come from `core.setup.checklist.getting_started` (the database
decides, scoped to the organization); this module only draws them. An organization without scores
sees the checklist open in place of the portfolio; once it has scores the checklist stays above the
portfolio, folded to one line ("Setup 5 of 7 done"), until every step is done, then it is gone.
People see links only for the steps they may act on; someone who may act on none (a Viewer) reads
that their administrator is setting the organization up.

A native <details> element folds the list, so no callback (and no server round trip) is involved.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from core.runtime import get_db
from core.security import Principal
from core.security.authorizer import MAX_ID
from core.setup.checklist import Step, getting_started, setup_complete
from dashboard.components import empty_state

CHECKLIST_ID = "getting-started"
PORTFOLIO_PATH = "/"
ORGANIZATIONS_PATH = "/admin/organizations"
ADMINISTRATOR_IS_SETTING_UP = "Your administrator is setting up this organization."


def organization_steps(principal: Principal | None, organization_id: int | None = None) -> list[Step]:
    """The principal's checklist for the organization (default: their own); empty without a principal."""
    if principal is None:
        return []
    with get_db().engine.connect() as conn:
        return getting_started(conn, principal, organization_id)


def portfolio_organization(principal: Principal | None, in_view: int | None, wanted: object) -> int | None:
    """Whose checklist the portfolio shows: the organization of the project in view; without one, the
    organization in the URL (`?org=ID`) for a System Administrator, who may belong to none; else None,
    which is the principal's own organization."""
    if in_view is not None or principal is None or not principal.is_system_admin:
        return in_view
    try:
        ident = int(wanted)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return ident if 0 < ident <= MAX_ID else None  # a number no row can have would fail in the database


def unscored_view(principal: Principal | None, steps: list[Step], no_project: bool) -> html.Div:
    """The portfolio page with no DC scores to show: the open checklist while the organization is being set up."""
    card = checklist(steps, expanded=True)
    if card is not None:
        return html.Div([html.H2("Portfolio", className="mb-3"), card])
    if no_project and principal is not None and principal.is_system_admin and not steps:
        return dbc.Alert([html.Strong("No organization with a portfolio yet."), html.Div([
            dcc.Link("Create an organization", href=ORGANIZATIONS_PATH, id=f"{CHECKLIST_ID}-organizations"),
            " and invite its first administrator; its getting-started checklist opens here with ",
            html.Code("?org=ID"), "."], className="small")], color="light")
    if no_project:
        return empty_state("No portfolio data you can see yet.",
                           "Ask an administrator for access, or import metric values.")
    return empty_state("No DC scores in this project yet.",
                       "Scores are computed when metric values of its brands are imported.")


def _progress(steps: list[Step]) -> str:
    return f"Setup {sum(s.done for s in steps)} of {len(steps)} done"


def _hint(step: Step) -> html.Div | None:
    if not step.hint:
        return None
    before, command, rest = step.hint.partition("python -m ")
    if command:  # a command to type: set in code type
        return html.Div([before, html.Code(command + rest, className="text-break")], className="small text-muted")
    return html.Div(step.hint, className="small text-muted")


def _row(step: Step, is_next: bool) -> html.Li:
    mark = html.Span("✓" if step.done else "○", className="me-2 fw-bold " + ("text-success" if step.done else
                                                                            "text-muted"), **{"aria-hidden": "true"})
    title = html.Span(step.title, className="fw-semibold" + (" text-muted" if step.done else ""))
    status = html.Span(" — done" if step.done else " — to do", className="visually-hidden")
    detail = html.Div(step.detail, className="small text-muted") if step.detail else None
    action = None
    if not step.done:
        action = dcc.Link(step.action, href=step.href, id=f"{CHECKLIST_ID}-link-{step.key}",
                          className="btn btn-sm " + ("btn-primary" if is_next else "btn-outline-primary"))
    return html.Li(
        html.Div([
            html.Div([html.Div([mark, title, status]), detail, None if step.done else _hint(step)],
                     className="flex-grow-1 me-2"),
            html.Div(action, className="mt-1 mt-sm-0"),
        ], className="d-flex flex-wrap flex-sm-nowrap justify-content-between align-items-start"),
        id=f"{CHECKLIST_ID}-step-{step.key}",
        className="list-group-item" + (" bg-body-tertiary" if step.done else ""),
    )


def _body(steps: list[Step]) -> list:
    mine = [s for s in steps if s.can_act]
    if not mine:
        return [html.P(ADMINISTRATOR_IS_SETTING_UP, className="mb-1 fw-semibold"),
                html.P("The portfolio appears here once the brands and their data are in.",
                       className="small text-muted mb-0")]
    next_key = next((s.key for s in mine if not s.done), None)
    others = [s for s in steps if not s.can_act and not s.done]
    note = html.P(f"Your administrator takes care of the other steps ({len(others)} still open: "
                  + ", ".join(s.title.lower() for s in others) + ").",
                  className="small text-muted mt-2 mb-0") if others else None
    return [html.Ul([_row(s, s.key == next_key) for s in mine], className="list-group mb-0"), note]


def checklist(steps: list[Step], *, expanded: bool) -> html.Details | None:
    """The checklist card; `expanded` for an organization without scores. None once setup is complete."""
    if setup_complete(steps):
        return None
    summary = html.Summary(
        [html.Span("Getting started", className="fw-semibold me-2"),
         html.Span(_progress(steps), id=f"{CHECKLIST_ID}-progress", className="text-muted")],
        className="card-header", style={"cursor": "pointer"})
    return html.Details([summary, html.Div(_body(steps), className="card-body")],
                        open=expanded, id=CHECKLIST_ID, className="card shadow-sm mb-3")


def setup_pointer(steps: list[Step]) -> html.Div | None:
    """A line sending people to the checklist while setup is incomplete; None once it is complete."""
    if setup_complete(steps):
        return None
    return html.Div(["This organization is still being set up (", _progress(steps).lower(), "): see the ",
                     dcc.Link("getting-started checklist", href=PORTFOLIO_PATH, id=f"{CHECKLIST_ID}-pointer"),
                     " on the Portfolio page."], className="small mt-1")


def empty_page(principal: Principal | None, message: str, hint: str) -> dbc.Alert:
    """A page's empty state; while the organization is being set up it also points to the checklist."""
    pointer = setup_pointer(organization_steps(principal))
    if pointer is None:
        return empty_state(message, hint)
    return dbc.Alert([html.Strong(message), html.Div(hint, className="small"), pointer], color="light")
