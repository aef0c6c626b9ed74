"""Reports through the API: each kind downloaded directly (a real PDF, an XLSX that opens), a report
job whose file only its owner downloads, a Viewer without report:export refused, other
organizations' objects as the same 404 as unknown ones, bad parameters as 422 problems."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from core.budget import run_budget
from core.models import Job, ProjectBrand, User
from core.scenarios import save_from_job
from core.security import load_principal
from tests.integration.api.conftest import bearer, token_for
from tests.integration.api.test_jobs import CHANNELS, poll
from tests.support import finished_job

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def saved(db, world) -> dict:
    """A scenario the Brand Manager saved from a real run, and their brand's own project."""
    person = world["people"]["Brand Manager"]
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.email == person.email))
        project = s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == person.scope_id,
                                                                  ProjectBrand.role == "own")
                            .order_by(ProjectBrand.project_id)).first()
    bm = load_principal(db, user_id)
    job = finished_job(db, bm, run_budget(db, bm.user_id, {"brand_ids": [person.scope_id], "channels": CHANNELS,
                                                            "curve_source": "truth", "generations": 20,
                                                            "frontier_points": 5}))
    return {"scenario": save_from_job(db, bm, job, "Plan A"), "brand": person.scope_id, "project": project}


@pytest.fixture
def brand_manager(client, world):
    return bearer(token_for(client, world["people"]["Brand Manager"])["access_token"])


def _is_file(response, fmt: str, stem: str) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"{stem}" in disposition and f".{fmt}" in disposition
    assert response.headers["Cache-Control"] == "no-store"
    if fmt == "pdf":
        assert response.content_type == "application/pdf" and response.data.startswith(b"%PDF")
    else:
        assert response.content_type == XLSX
        assert load_workbook(io.BytesIO(response.data)).sheetnames


@pytest.mark.parametrize("kind", ["portfolio", "brand", "scenario"])
def test_each_report_downloads_as_pdf_and_xlsx(client, brand_manager, saved, kind):
    query = {"portfolio": f"project_ids={saved['project']}",
             "brand": f"brand_id={saved['brand']}&project_id={saved['project']}",
             "scenario": f"scenario_id={saved['scenario']}"}[kind]
    for fmt in ("pdf", "xlsx"):
        response = client.get(f"/api/v1/reports/{kind}?{query}&format={fmt}", headers=brand_manager)
        _is_file(response, fmt, kind)


def test_a_report_job_makes_a_file_only_its_owner_downloads(client, brand_manager, saved, world, db):
    submitted = client.post("/api/v1/reports", headers=brand_manager,
                            json={"kind": "scenario", "scenario_id": saved["scenario"], "format": "xlsx"})
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    job_id = submitted.get_json()["id"]
    assert submitted.headers["Location"] == f"/api/v1/jobs/{job_id}"
    job = poll(client, brand_manager, job_id)
    assert job["status"] == "succeeded", job
    assert job["kind"] == "export_report" and "content_base64" not in job["result"]
    assert job["file"]["url"] == f"/api/v1/jobs/{job_id}/file" and job["file"]["media_type"] == XLSX
    download = client.get(job["file"]["url"], headers=brand_manager)
    _is_file(download, "xlsx", f"scenario-{saved['scenario']}")
    assert len(download.data) == job["file"]["size"]
    other = bearer(token_for(client, world["people"]["Portfolio Manager"])["access_token"])
    refused = client.get(job["file"]["url"], headers=other)
    assert refused.status_code == 404 and refused.content_type == "application/problem+json"
    with db.session() as s:  # retention treats it as an export (kind starts with "export")
        assert s.get(Job, job_id).kind.startswith("export")


def test_a_viewer_without_report_export_is_refused(client, world, saved, db):
    viewer = bearer(token_for(client, world["people"]["Viewer"])["access_token"])
    before = _jobs(db)
    response = client.get(f"/api/v1/reports/scenario?scenario_id={saved['scenario']}", headers=viewer)
    assert response.status_code == 403 and response.content_type == "application/problem+json"
    job = client.post("/api/v1/reports", headers=viewer, json={"kind": "scenario", "scenario_id": saved["scenario"]})
    assert job.status_code == 403 and _jobs(db) == before


def test_other_organizations_objects_are_the_404_of_unknown_ones(client, brand_manager, world, saved, db):
    unknown = client.get("/api/v1/brands/2147483000", headers=brand_manager).get_json()
    f = world["foreign"]
    before = _jobs(db)
    for kind, query in [("portfolio", {"project_ids": [f["project"]]}),
                        ("portfolio", {"organization_id": f["organization"]}),
                        ("brand", {"brand_id": f["brand"], "project_id": f["project"]}),
                        ("scenario", {"scenario_id": f["scenario"]}), ("scenario", {"scenario_id": 2147483000})]:
        response = client.get(f"/api/v1/reports/{kind}", query_string=query, headers=brand_manager)
        assert response.status_code == 404 and response.get_json() == unknown, (kind, query)
        job = client.post("/api/v1/reports", headers=brand_manager, json={"kind": kind, **query})
        assert job.status_code == 404 and job.get_json() == unknown, (kind, query)
    assert _jobs(db) == before


@pytest.mark.parametrize("path, reason", [
    ("/api/v1/reports/portfolio?project_ids=1&organization_id=1", "either project_ids or organization_id"),
    ("/api/v1/reports/portfolio?organization_id=1&format=docx", "format"),
    ("/api/v1/reports/scenario?scenario_id=1&as_of=2024-01", "as_of"),
    ("/api/v1/reports/brand?brand_id=1", "project_id"),
])
def test_bad_parameters_are_422_problems(client, brand_manager, path, reason):
    response = client.get(path, headers=brand_manager)
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert reason in str(response.get_json()), response.get_json()


def test_a_month_without_scores_is_a_422_with_the_reason(client, brand_manager, saved, db):
    before = _jobs(db)
    query = f"brand_id={saved['brand']}&project_id={saved['project']}&as_of=1999-01"
    response = client.get(f"/api/v1/reports/brand?{query}", headers=brand_manager)
    assert response.status_code == 422 and "no DC score for January 1999" in response.get_json()["detail"]
    assert _jobs(db) == before


def _jobs(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Job))
