"""The optimizer page's side of a budget run: submit it to the durable queue, follow its job row, export it.

The run itself is an `optimization` job (core.jobs): the page only submits the form, reads the row
back (progress, result, error) and renders what it reads. That rendering lives here, next to the
outputs it fills, so the Run, follow and Cancel callbacks answer the same way and the page module
keeps its layout and callbacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, no_update

from core.budget import export_bytes
from core.classification import Classification
from core.classified_export import mark_export, plan_level
from core.jobs.builtin import OPTIMIZATION
from core.jobs.kinds import JobInputError
from core.jobs.queue import QueueUnavailable, submit
from core.jobs.records import ACTIVE, JobNotFound, cancel, get_job, job_status
from core.runtime import get_db
from core.scenarios import get_scenario
from core.security import Action, Principal, can, record
from core.security.authorizer import Forbidden
from dashboard.access import protected_callback
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state
from dashboard.errors import JOBS_UNAVAILABLE, queue_unavailable

KIND = OPTIMIZATION.name
FOLLOW_EVERY_MS = 700  # how often the page reads the job row while a run is active

# What the run, follow and cancel callbacks set, in this order (outputs of `following`).
FOLLOW_OUTPUTS = [Output("optimizer-watch", "data", allow_duplicate=True),
                  Output("optimizer-watch-tick", "disabled", allow_duplicate=True),
                  Output("optimizer-progress", "value", allow_duplicate=True),
                  Output("optimizer-progress", "label", allow_duplicate=True),
                  Output("optimizer-progress-text", "children", allow_duplicate=True),
                  Output("optimizer-progress-wrap", "style", allow_duplicate=True),
                  Output("optimizer-run", "disabled", allow_duplicate=True),
                  Output("optimizer-cancel", "disabled", allow_duplicate=True),
                  Output("optimizer-job", "data", allow_duplicate=True),
                  Output("optimizer-scenario", "data", allow_duplicate=True),
                  Output("optimizer-message", "children", allow_duplicate=True)]


def alert(text: str, color: str = "danger") -> dbc.Alert:
    """A one-line message under the page's buttons."""
    return dbc.Alert(text, color=color, className="py-2 mb-0")


def job_followable(principal: Principal, job_id: Any) -> bool:
    """Only the job's owner (or a system administrator) may follow, cancel or read it."""
    try:
        job_status(get_db(), principal, job_id)
    except JobNotFound:
        return False
    return True


def scenario_readable(principal: Principal, scenario_id: Any) -> bool:
    """The object check of a reopened scenario (optimizer and flighting pages): readable by the principal."""
    try:
        return can(principal, "scenario:read", ("scenario", int(scenario_id)))
    except (TypeError, ValueError):
        return False


def cancel_answer(principal: Principal, job_id: Any) -> str:
    """Ask the followed job to stop (it stops at its next progress report) and say what happened."""
    if not job_id:
        return "Nothing is running."
    job = cancel(get_db(), principal, job_id)
    return "Cancelling…" if job["status"] == "cancelled" else "The run had already ended."


def follow_and_cancel(prefix: str, outputs: list[Output], follow: Callable[[dict | None], tuple]) -> None:
    """Register a job page's follow and Cancel callbacks (the optimizer's and the flighting planner's).

    Ids: `{prefix}-watch-tick` (the interval), `{prefix}-watch` (the followed job id), `{prefix}-cancel` and
    `{prefix}-cancel-message`. Each tick reads the job row into `outputs` through `follow`; Cancel asks the job
    to stop at its next progress report. Both re-check scenario:run and that the job is the person's own."""

    @protected_callback(*outputs, Input(f"{prefix}-watch-tick", "n_intervals"), State(f"{prefix}-watch", "data"),
                        prevent_initial_call=True, permission="scenario:run",
                        objects={"job_id": ("job", job_followable)})
    def follow_job(_tick, job_id):
        """Follow the job row: progress, then the result or the reason it stopped."""
        if not job_id:
            return follow(None)
        return follow(job_status(get_db(), current_principal(), job_id))

    @protected_callback(Output(f"{prefix}-cancel-message", "children"), Input(f"{prefix}-cancel", "n_clicks"),
                        State(f"{prefix}-watch", "data"), prevent_initial_call=True, permission="scenario:run",
                        objects={"job_id": ("job", job_followable)})
    def cancel_run(n_clicks, job_id):
        """Ask the followed job to stop; the follow then shows that it did."""
        if not n_clicks:
            return no_update
        return cancel_answer(current_principal(), job_id)


def following(job: dict | None, message: Any = "", *, started: bool = False, refused: bool = False) -> tuple:
    """The run controls for `job` (a `job_status` or `get_job` dict): following it while active, its outcome once ended.

    What is shown is always one run's result: the shown job (`optimizer-job`) or a reopened scenario
    (`optimizer-scenario`), never both, and Save and Export act on exactly that. A succeeded job
    becomes the shown result; a failed or cancelled run, or a run `refused` at submit, clears it
    (no stale result to save under a new name); None stops following and leaves the shown result
    as it is. A run just `started` clears the shown result (which then says the run is on its way);
    later follow ticks leave the result area alone, so it is not rendered again on every tick.
    """
    if job is None:
        shown = None if refused else no_update
        return None, True, 0, "", "", {"display": "none"}, False, True, shown, shown, message
    pct = round((job["progress"] or 0) * 100)
    if job["status"] in ACTIVE:
        shown = None if started else no_update
        return (job["id"], False, pct, f"{pct}%", job["message"] or "", {}, True, False, shown, shown, message)
    if job["status"] == "succeeded":
        return (None, True, 100, "100%", "", {"display": "none"}, False, True, job["id"], None,
                alert("Done.", "success"))
    if job["status"] == "cancelled":
        text, tone = "Run cancelled.", "secondary"
    else:
        reason = job["error"] or "unknown error"
        text, tone = f"The run stopped. {reason[:1].upper()}{reason[1:]}", "warning"
    return None, True, 0, "", "", {"display": "none"}, False, True, None, None, alert(text, tone)


def submit_run(principal: Principal, raw: dict[str, Any]) -> tuple:
    """Submit `raw` (the form's inputs) as an optimization job, as the API does, and start following it.

    The queue validates and authorizes it again; a refusal (bad input, the queue unavailable or
    full, a brand out of scope) becomes the page's message, nothing is followed, and the result shown
    before goes (it no longer matches the form the person ran).
    """
    db = get_db()
    try:
        job_id = submit(db, principal, KIND, {"inputs": raw})
    except JobInputError as exc:
        return following(None, alert(exc.reason.removeprefix("inputs: "), "warning"), refused=True)
    except QueueUnavailable as exc:  # the broker down (dashboard.errors' words), or too many jobs waiting
        return following(None, alert(JOBS_UNAVAILABLE if queue_unavailable(exc) else str(exc), "warning"),
                         refused=True)
    except Forbidden:
        return following(None, alert("You may not run this scenario."), refused=True)
    return following(get_job(db, principal, job_id), started=True)


def result_placeholder(watched: Any) -> Any:
    """What the result area says with no result to show: a run is on its way, or none was asked for."""
    if watched:
        return empty_state("Running — the result appears here when the run finishes.",
                           "Follow its progress above; Cancel stops it.")
    return empty_state("No result yet.", "Set up the scenario and press Run optimization.")


def load_result(principal: Principal, job_id: Any, scenario_id: Any) -> dict | None:
    """The result on screen: the person's own finished job, or a scenario they may read."""
    db = get_db()
    if job_id:
        try:
            job = get_job(db, principal, job_id)
        except JobNotFound:
            return None
        return job["result"] if job["status"] == "succeeded" else None
    if scenario_id:
        return get_scenario(db, principal, scenario_id).get("result")
    return None


def export_download(principal: Principal, result: dict, fmt: str, job_id: Any, scenario_id: Any) -> dict:
    """The shown result as a CSV or XLSX download, audited against the job or scenario it came from."""
    record(get_db(), Action.EXPORT, actor=principal, organization_id=principal.organization_id,
           target=("scenario", scenario_id) if scenario_id and not job_id else ("job", job_id),
           data={"format": fmt, "what": "budget optimization"})
    filename = f"budget-optimization-{time.strftime('%Y%m%d-%H%M')}.{fmt}"
    line = mark_export(get_db(), principal, shown_plan_level(principal, scenario_id), kind="budget optimization",
                       fmt=fmt, filename=filename,
                       target=("scenario", scenario_id) if scenario_id and not job_id else ("job", job_id))
    return dcc.send_bytes(export_bytes(result, fmt, line), filename)


def shown_plan_level(principal: Principal, scenario_id: Any) -> Classification:
    """The level of the plan on a page opened from `scenario_id` (or none): its badge and its exports' level.

    The page keeps the scenario it was opened from while the person runs again from its inputs, so
    a run started there keeps the scenario's level (`core.classified_export.plan_level`).
    """
    if not scenario_id:
        return plan_level(None)
    try:
        return plan_level(get_scenario(get_db(), principal, scenario_id))
    except Forbidden:
        return plan_level(None)
