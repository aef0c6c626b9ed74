"""Reports as files: the portfolio summary, the brand health card and the scenario report, PDF or XLSX.

`GET /reports/<kind>` builds the file in the request and answers with it; `POST /reports` queues
the same as an "export_report" job (for large ones) whose file is then at `GET /jobs/{id}/file`.
Both go through core.reports, which checks report:export and every object in the data layer: an
object out of scope is the same 404 as an unknown one, no report:export anywhere is a 403.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Response
from pydantic import Field, RootModel, StringConstraints, field_validator, model_validator

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, not_found
from api.v1.resources.jobs import Id, JobOut, StrictModel, file_response, job_url, submit
from api.v1.security import current_principal
from core import reports
from core.jobs.builtin import EXPORT_REPORT
from core.runtime import get_db

router = Router("reports", "The executive portfolio summary, the brand health card and the scenario report, "
                           "as PDF or XLSX; report:export on what they cover.")
MEDIA_TYPES = tuple(media for _writer, media in reports.FORMATS.values())
Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}(-\d{2})?$")]
Format = Literal["pdf", "xlsx"]


class PortfolioReport(StrictModel):
    """Give project_ids (one organization's, up to 12) or organization_id (all its projects you may see)."""

    project_ids: list[Id] | None = Field(default=None, min_length=1, max_length=12)
    organization_id: Id | None = None
    as_of: Month | None = Field(default=None, description="The month (YYYY-MM); the latest scored one if empty.")
    format: Format = "pdf"

    @field_validator("project_ids", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        """A query string gives one value as text: `project_ids=3` or `project_ids=3,4` are accepted too."""
        if isinstance(value, str):
            return [part for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _one_scope(self) -> PortfolioReport:
        if (self.project_ids is None) == (self.organization_id is None):
            raise ValueError("give either project_ids or organization_id")
        return self

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"format", "kind"})


class BrandReport(StrictModel):
    brand_id: Id
    project_id: Id
    as_of: Month | None = Field(default=None, description="The month (YYYY-MM); the latest scored one if empty.")
    format: Format = "pdf"

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"format", "kind"})


class ScenarioReport(StrictModel):
    scenario_id: Id
    format: Format = "pdf"

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"format", "kind"})


class PortfolioReportJob(PortfolioReport):
    kind: Literal["portfolio"]


class BrandReportJob(BrandReport):
    kind: Literal["brand"]


class ScenarioReportJob(ScenarioReport):
    kind: Literal["scenario"]


class ReportJobCreate(RootModel[Annotated[PortfolioReportJob | BrandReportJob | ScenarioReportJob,
                                          Field(discriminator="kind")]]):
    """The report to build as a job: `kind` and that report's parameters, as for GET /reports/{kind}."""


def _download(kind: str, query: PortfolioReport | BrandReport | ScenarioReport) -> Response:
    try:
        report = reports.render(get_db(), current_principal(), kind, query.params(), query.format)
    except reports.ReportNotFound:
        raise not_found() from None
    except ValueError as exc:
        raise ApiProblem(422, str(exc), slug="report-rejected") from None
    return file_response(report.content, report.filename, report.media_type)


@router.get("/reports/portfolio", summary="The executive portfolio summary as a file", query=PortfolioReport,
            produces=MEDIA_TYPES)
def portfolio_report(query: PortfolioReport) -> Response:
    return _download("portfolio", query)


@router.get("/reports/brand", summary="A brand's health card in one project as a file", query=BrandReport,
            produces=MEDIA_TYPES)
def brand_report(query: BrandReport) -> Response:
    return _download("brand", query)


@router.get("/reports/scenario", summary="A saved scenario's report as a file", query=ScenarioReport,
            produces=MEDIA_TYPES)
def scenario_report(query: ScenarioReport) -> Response:
    return _download("scenario", query)


@router.post("/reports", summary="Build a report as a job (202); its file at /jobs/{id}/file", response=JobOut,
             status=202, body=ReportJobCreate, location=lambda body: job_url(body["id"]), problems=(503,))
def create_report_job(body: ReportJobCreate) -> Created:
    """The parameters are checked at once (422, 404 or 403 as for the GET); the file is built by a worker."""
    request = body.root
    return submit(EXPORT_REPORT, {"report": request.kind, "format": request.format, "params": request.params()})
