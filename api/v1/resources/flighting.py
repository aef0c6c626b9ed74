"""Flighting: a week-by-week plan over a horizon with carry-over in and out, as a job (202, then poll it).

`POST /flighting` takes core.flighting.run.FlightingInputs and submits a "flighting" job through
core.jobs.queue, which authorizes scenario:run on every brand and checks the inputs are feasible
before queuing: a brand outside your scope is the same 404 as an unknown one, an impossible plan a 422
with its reason. The plan is then the job's result at `GET /jobs/{id}`.
"""

from __future__ import annotations

from api.v1.framework import Created, Router
from api.v1.resources.jobs import JobOut, job_url, submit
from core.flighting.run import FlightingInputs

router = Router("flighting", "Plans of spend week by week (carry-over in and out, blackouts, minimums when on); "
                             "scenario:run on every brand.")


@router.post("/flighting", summary="Plan the weeks as a job (202 with its id; poll the Location)", response=JobOut,
             status=202, body=FlightingInputs, location=lambda body: job_url(body["id"]), problems=(503,))
def create_flighting_job(body: FlightingInputs) -> Created:
    """The inputs are checked at once (422 with the reason, 404 for a brand out of scope); a worker solves them.

    The result holds `status` ("optimal" when the KKT conditions hold to 1e-6, "heuristic" for S-shaped
    curves or minimums when on), the outcome inside and after the horizon, the binding totals' prices, and
    per brand × channel its weekly plan with the reason for it (`reason`, `why`, `marginal`, `last_year`)."""
    return submit("flighting", body.model_dump(mode="json", exclude_none=True))
