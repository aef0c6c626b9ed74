"""Durable jobs: submit an optimization, a recommendation, a report export or a model fit, poll it, cancel it.

Everything goes through core.jobs.queue, which validates and authorizes the payload again (the
pydantic models here only give the request its shape and the OpenAPI document its schema), commits
the job row and only then queues it. Jobs are their owner's: any other id is the same 404.

Idempotency: the framework's `Idempotency-Key` (api/v1/idempotency.py) replays the first 202, so a
retried POST never submits twice. The key is deliberately not passed on to core.jobs.queue's own
key as well: a 503 (queue unavailable) is not stored by the framework so that it may be retried,
whereas the queue's key would hand the retry the failed job of the first attempt.
"""

from __future__ import annotations

import base64
import io
from typing import Annotated, Any, Literal

from flask import Response, send_file
from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, not_found
from api.v1.security import current_principal
from api.v1.types import UtcDatetime, ranged
from core import input_ranges as ranges
from core.budget_inputs import BudgetInputs
from core.jobs import queue as job_queue
from core.jobs import records
from core.jobs.kinds import JobInputError
from core.jobs.records import get_job
from core.runtime import get_db
from core.security import Forbidden

router = Router("jobs", "Long work as durable jobs: 202 with a job id, then poll it; DELETE cancels.")
RETRY_AFTER_S = 30

Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class OptimizationPayload(StrictModel):
    inputs: BudgetInputs  # the one schema of a budget run: the What-if page and the job read it too
    save_as: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = Field(
        default=None, description="Save the result as a scenario of this name (once, when the job succeeds).")


class RecommendationPayload(StrictModel):
    brand_id: Id
    project_id: Id
    effort_budget: ranged(ranges.EFFORT_BUDGET)
    k: ranged(ranges.RECOMMEND_K) = 3
    percentile_cap: ranged(ranges.PERCENTILE_CAP) | None = None


class ReportParams(StrictModel):
    """Which report: project_ids or organization_id (portfolio), brand_id + project_id (brand), scenario_id."""

    project_ids: list[Id] | None = Field(default=None, min_length=1, max_length=12)
    organization_id: Id | None = None
    brand_id: Id | None = None
    project_id: Id | None = None
    scenario_id: Id | None = None
    as_of: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}(-\d{2})?$")] | None = None


class ExportPayload(StrictModel):
    report: Literal["portfolio", "brand", "scenario"]
    format: Literal["pdf", "xlsx"] = "pdf"
    params: ReportParams


class FitPayload(StrictModel):
    brand_id: Id
    n_bootstrap: Annotated[int, Field(ge=5, le=300)] | None = Field(
        default=None, description="Bootstrap refits for the intervals (default 100).")
    n_starts: Annotated[int, Field(ge=1, le=12)] | None = Field(default=None, description="Least-squares starts (6).")
    trigger: Literal["api"] = Field(default="api", description="Recorded on the fit version.")


class FitJob(StrictModel):
    kind: Literal["fit"]
    payload: FitPayload


class OptimizationJob(StrictModel):
    kind: Literal["optimization"]
    payload: OptimizationPayload


class RecommendationJob(StrictModel):
    kind: Literal["recommendation"]
    payload: RecommendationPayload


class ExportJob(StrictModel):
    kind: Literal["export_report"]
    payload: ExportPayload


class JobCreate(RootModel[Annotated[OptimizationJob | RecommendationJob | ExportJob | FitJob,
                                    Field(discriminator="kind")]]):
    """A job to run: `kind` picks the payload's shape."""


class JobFile(BaseModel):
    """The file a finished report job made; download it from `url`."""

    filename: str
    media_type: str
    size: int
    sha256: str
    url: str


class JobOut(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    message: str
    attempts: int
    error: str | None = Field(description="Why it failed, when it did.")
    payload: dict[str, Any] | None
    result: dict[str, Any] | None = Field(description="When it succeeded (a report job's file: see `file`).")
    file: JobFile | None = None
    created_at: UtcDatetime | None
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class JobList(BaseModel):
    items: list[JobOut]


class JobListQuery(StrictModel):
    kind: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


def job_url(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}"


def _out(job: dict[str, Any]) -> JobOut:
    """The job as the API shows it: a report's bytes are not inlined, `file` points at them instead."""
    result, file = job["result"], None
    if job["kind"].startswith("export") and isinstance(result, dict) and "content_base64" in result:
        result = {k: v for k, v in result.items() if k != "content_base64"}
        file = JobFile(filename=result["filename"], media_type=result["media_type"], size=result["size"],
                       sha256=result["sha256"], url=job_url(job["id"]) + "/file")
    return JobOut.model_validate({**job, "result": result, "file": file, "message": job["message"] or "",
                                  "attempts": job["attempts"] or 0, "progress": job["progress"] or 0.0})


def submit(kind: str, payload: dict[str, Any]) -> Created:
    """Submit through core.jobs.queue; its refusals become problems (an out-of-scope object is a 404)."""
    principal, db = current_principal(), get_db()
    try:
        job_id = job_queue.submit(db, principal, kind, payload)
    except JobInputError as exc:
        raise ApiProblem(422, exc.reason, slug="job-rejected") from None
    except Forbidden as exc:
        if exc.target == ("system", None):  # the permission is not held anywhere: 403, as elsewhere
            raise
        raise not_found() from None
    except job_queue.IdempotencyConflict as exc:  # not reached while no key is passed on (module docstring)
        raise ApiProblem(422, str(exc), slug="idempotency-key-reused") from None
    except job_queue.QueueUnavailable as exc:
        raise ApiProblem(503, f"{exc}; nothing will run, retry later.",
                         headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    return Created(_out(get_job(db, principal, job_id)), status=202)


def owned_job(job_id: str) -> dict[str, Any]:
    """The caller's job, or the same 404 as an unknown id."""
    try:
        return get_job(get_db(), current_principal(), job_id)
    except records.JobNotFound:
        raise not_found() from None


def _location(body: dict[str, Any]) -> str:
    return job_url(body["id"])


@router.post("/jobs", summary="Submit a job (202 with its id; poll the Location)", response=JobOut, status=202,
             body=JobCreate, location=_location, problems=(503,))
def create_job(body: JobCreate) -> Created:
    """`kind` "optimization" (scenario:run on every brand; `save_as` saves the result as a scenario
    once; `inputs.scenario` "max_outcome" places `budget`, "min_budget" reaches `target`, and
    "marginal_roas" / "overall_roas" find the budget from `target_roas`: spend until the marginal ROAS
    falls to it, or the largest budget whose overall ROAS stays at or above it), "recommendation"
    (what-if moves for one brand in one project), "export_report" (as POST /api/v1/reports) or "fit"
    (scenario:run on the brand: fit its response curves and keep the fit as its next version; the
    result holds the version number and the headline figures).
    A payload the queue refuses is a 422 with the reason; a brand or scenario
    outside your scope is a 404; a full or unreachable queue is a 503 with Retry-After."""
    job = body.root
    # What the client sent, as sent: an explicit null stays (max_change_pct null = no change cap, unlike leaving it
    # out, which is the default ±30 %); what it left out is filled in again by the job kind's own model.
    return submit(job.kind, job.payload.model_dump(mode="json", exclude_unset=True))


@router.get("/jobs", summary="Your jobs, newest first", response=JobList, query=JobListQuery)
def list_jobs(query: JobListQuery) -> JobList:
    rows = records.list_jobs(get_db(), current_principal(), kind=query.kind, limit=query.limit)
    return JobList(items=[_out(r) for r in rows])


@router.get("/jobs/<uid:job_id>", summary="A job: status, progress, attempts, error, result", response=JobOut)
def get_one(job_id: str) -> JobOut:
    return _out(owned_job(job_id))


@router.delete("/jobs/<uid:job_id>", summary="Cancel a job (a finished one is returned unchanged)", response=JobOut)
def cancel_job(job_id: str) -> JobOut:
    owned_job(job_id)
    try:
        return _out(records.cancel(get_db(), current_principal(), job_id))
    except records.JobNotFound:
        raise not_found() from None


@router.get("/jobs/<uid:job_id>/file", summary="The file of a finished report job",
            produces=("application/pdf", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
def job_file(job_id: str) -> Response:
    """Only the job's owner; 409 while the job has not succeeded, 404 for a job that makes no file."""
    principal = current_principal()
    job = owned_job(job_id)
    if job["owner_id"] != principal.user_id or not job["kind"].startswith("export"):
        raise not_found()
    if job["status"] != "succeeded":
        raise ApiProblem(409, f"The job is {job['status']}; its file exists once it has succeeded.")
    result = job["result"] or {}
    return file_response(base64.b64decode(result["content_base64"]), result["filename"], result["media_type"])


def file_response(content: bytes, filename: str, media_type: str) -> Response:
    """A download: the media type, `Content-Disposition: attachment` with the file's name, never cached."""
    response = send_file(io.BytesIO(content), mimetype=media_type, as_attachment=True, download_name=filename,
                         conditional=False, etag=False)
    response.headers["Cache-Control"] = "no-store"
    return response

