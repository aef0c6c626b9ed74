"""Model review: how well each brand's response-curve model fits, what it is made of, and how it moved.

Per brand (only brands the person may read) and per kept fit version (core.fit_versions): actual vs
predicted with the holdout shaded, the decomposition over time, response curves with their bands and
today's spend, ROAS and contribution with intervals, fit diagnostics, plain-language warnings and
what changed since the previous version. Everyone with brand:read sees it; "Fit now" needs
scenario:run on the brand and submits a "fit" job (core.jobs.fit_kind), followed like the
optimizer's runs (a dcc.Interval reading core.jobs.records.job_status). Every callback re-checks
the brand or the job it is given. The cards are built in dashboard/model_review.py, the charts in
dashboard/figures/models.py.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from core.fit_versions import get_version, list_versions, model_brands
from core.jobs.fit_kind import FIT
from core.jobs.kinds import JobInputError
from core.jobs.queue import QueueUnavailable, submit
from core.jobs.records import ACTIVE, job_status, latest_job
from core.runtime import get_db
from core.security import Principal, can
from core.security.authorizer import Forbidden
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state
from dashboard.errors import JOBS_UNAVAILABLE, queue_unavailable
from dashboard.getting_started import empty_page
from dashboard.model_review import review_view, version_label
from dashboard.optimizer_run import FOLLOW_EVERY_MS, job_followable

register_page(__name__, permission="brand:read", path="/models", name="Model review",
              title="Model review · Digi-Cadence")

READ, RUN = "brand:read", "scenario:run"

FOLLOW = [Output("models-watch", "data", allow_duplicate=True),
          Output("models-watch-tick", "disabled", allow_duplicate=True),
          Output("models-progress", "value", allow_duplicate=True),
          Output("models-progress", "label", allow_duplicate=True),
          Output("models-progress-text", "children", allow_duplicate=True),
          Output("models-progress-wrap", "style", allow_duplicate=True),
          Output("models-message", "children", allow_duplicate=True),
          Output("models-refresh", "data", allow_duplicate=True)]


def _brand_option(b: dict[str, Any]) -> dict[str, Any]:
    state = f"version {b['latest']}" if b["latest"] else "not fitted yet"
    return {"label": f"{b['name']} · {b['organization']} ({state})", "value": b["id"]}


def layout(brand: str | None = None, **_query: Any) -> html.Div:
    """The brand and version pickers, the Fit button's place, progress, and the review of the chosen version."""
    principal = current_principal()
    db = get_db()
    brands = model_brands(db, principal)
    if not brands:
        return empty_page(principal, "No brand with spend history you may review.",
                          "Import spend and revenue for a brand, then fit its model here.")
    ids = [b["id"] for b in brands]
    chosen = int(brand) if brand and brand.isdigit() and int(brand) in ids else next(
        (b["id"] for b in brands if b["latest"]), ids[0])
    running = latest_job(db, principal, FIT)
    watch = running["id"] if running and running["status"] in ACTIVE else None
    return html.Div([
        dcc.Store(id="models-watch", data=watch),
        dcc.Store(id="models-refresh", data=0),
        dcc.Interval(id="models-watch-tick", interval=FOLLOW_EVERY_MS, disabled=watch is None),
        html.H2("Model review", className="mb-0"),
        html.P("How well each brand's response curves fit its history, what they are made of, and how they moved "
               "since the previous fit.", className="text-muted"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id="models-brand", options=[_brand_option(b) for b in brands], value=chosen,
                                 clearable=False), xs=12, md=6),
            dbc.Col(dcc.Dropdown(id="models-version", clearable=False, placeholder="version"), xs=7, md=3),
            dbc.Col(html.Div(id="models-fit-area"), xs=5, md=3),
        ], className="g-2 mb-2 align-items-center"),
        html.Div([
            dbc.Progress(id="models-progress", value=(running or {}).get("progress", 0) * 100 if watch else 0,
                         striped=True, animated=True, label="", style={"height": "1.25rem"}),
            html.Div((running or {}).get("message") if watch else "", id="models-progress-text",
                     className="small text-muted mt-1"),
        ], id="models-progress-wrap", style={} if watch else {"display": "none"}, className="mb-2"),
        html.Div(id="models-message", className="mb-2"),
        dcc.Loading(html.Div(id="models-content"), type="dot", delay_show=300),
    ])


def _run_allowed(principal: Principal, brand_id: Any) -> bool:
    try:
        return can(principal, RUN, ("brand", int(brand_id)))
    except (TypeError, ValueError):
        return False


def _fit_area(principal: Principal, brand_id: int, fitted: bool) -> Any:
    """The Fit button for people who may fit this brand; nothing for the others (executives read)."""
    if not _run_allowed(principal, brand_id):
        return None
    return dbc.Button("Refit" if fitted else "Fit now", id="models-fit", color="primary" if not fitted else
                      "outline-primary", className="w-100")


@protected_callback(
    Output("models-version", "options"),
    Output("models-version", "value"),
    Output("models-fit-area", "children"),
    Output("models-brand", "options"),
    Input("models-brand", "value"),
    Input("models-refresh", "data"),
    permission=READ,
    objects={"brand_id": "brand"},
)
def choose_brand(brand_id, _refresh):
    """A brand (or a finished fit) → its versions, newest first and chosen, and the Fit button if allowed."""
    principal = current_principal()
    if not brand_id:
        return [], None, None, no_update
    versions = list_versions(get_db(), principal, brand_id)
    options = [{"label": version_label(v), "value": v["version"]} for v in versions]
    brands = [_brand_option(b) for b in model_brands(get_db(), principal)]
    return (options, versions[0]["version"] if versions else None,
            _fit_area(principal, int(brand_id), bool(versions)), brands)


@protected_callback(
    Output("models-content", "children"),
    Input("models-version", "value"),
    State("models-brand", "value"),
    permission=READ,
    objects={"brand_id": "brand"},
)
def show_version(version, brand_id):
    """The chosen version's charts, diagnostics, warnings and changes; "not fitted yet" without one."""
    principal = current_principal()
    if not brand_id:
        return empty_state("Choose a brand.")
    shown = get_version(get_db(), principal, brand_id, version) if version else None
    if shown is None:
        hint = ("Press Fit now to fit its response curves; it takes a minute and you can follow it here."
                if _run_allowed(principal, brand_id) else "An analyst can fit it; its review appears here then.")
        return html.Div(empty_state("This brand's model is not fitted yet.", hint), id="models-not-fitted")
    return review_view(shown)


def following(job: dict | None, message: Any = "", refresh: Any = no_update) -> tuple:
    """The progress controls for `job` (a job_status dict): following while active, its outcome once ended."""
    if job is None:
        return None, True, 0, "", "", {"display": "none"}, message, refresh
    pct = round((job["progress"] or 0) * 100)
    if job["status"] in ACTIVE:
        return job["id"], False, pct, f"{pct}%", job["message"] or "", {}, message, refresh
    if job["status"] == "succeeded":
        done = dbc.Alert("Fitted: the new version is shown below.", color="success", className="py-2 mb-0",
                         id="models-fitted")
        return None, True, 100, "100%", "", {"display": "none"}, done, job["id"]
    text = "Fit cancelled." if job["status"] == "cancelled" else f"The fit failed: {job['error'] or 'unknown error'}"
    return None, True, 0, "", "", {"display": "none"}, dbc.Alert(text, color="secondary", className="py-2 mb-0"), \
        refresh


def _alert(text: str, color: str = "warning") -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-2 mb-0")


@protected_callback(
    *FOLLOW,
    Input("models-fit", "n_clicks"),
    State("models-brand", "value"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"brand_id": ("brand", _run_allowed)},
)
def fit_now(n_clicks, brand_id):
    """Submit a fit job for the brand (validated and authorized again by the queue) and follow it."""
    if not n_clicks or not brand_id:
        return (no_update,) * len(FOLLOW)
    principal, db = current_principal(), get_db()
    try:
        job_id = submit(db, principal, FIT, {"brand_id": int(brand_id), "trigger": "manual"})
    except JobInputError as exc:
        return following(None, _alert(exc.reason))
    except QueueUnavailable as exc:
        return following(None, _alert(JOBS_UNAVAILABLE if queue_unavailable(exc) else str(exc)))
    except Forbidden:
        return following(None, _alert("You may not fit this brand's model.", "danger"))
    return following(job_status(db, principal, job_id))


@protected_callback(
    *FOLLOW,
    Input("models-watch-tick", "n_intervals"),
    State("models-watch", "data"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"job_id": ("job", job_followable)},
)
def follow_fit(_tick, job_id):
    """Follow the fit job's row: progress, then the new version (or the reason it failed)."""
    if not job_id:
        return following(None)
    return following(job_status(get_db(), current_principal(), job_id))
