"""Spreadsheet formula injection (issue 12 item 4): user text that a spreadsheet would run as a
formula (starting with = + - @, tab or CR) is written as text by every CSV and XLSX writer.

One world (SQLite, seeded once for the module) whose organization, projects, brands, channels,
metrics, sections, platforms and control names are all hostile; then every writer in WRITERS is
walked and every cell checked. `test_every_writer_is_walked` fails when code writes CSV/XLSX
without core.spreadsheets, or when a file that calls it is not covered by WRITERS.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from core import brand_explorer as bx
from core.budget import export_bytes
from core.demo import seed_demo
from core.models import (
    Brand,
    Channel,
    ControlValue,
    Metric,
    Organization,
    Platform,
    Project,
    ProjectBrand,
    Scenario,
    Section,
)
from core.scenarios import get_scenario
from core.security import load_principal
from core.setup.framework_files import export_framework, operator
from core.spreadsheets import FORMULA_TRIGGERS, csv_bytes, neutralize, xlsx_bytes
from dashboard import brand_charts
from tests.integration.api.conftest import bearer, token_for
from tests.integration.api.test_jobs import poll
from tests.support import demo_people, make_app

ROOT = Path(__file__).resolve().parents[2]
EVIL = '=HYPERLINK("http://evil.test","y")'
# One per trigger; a suffix keeps names unique without changing how each starts.
HOSTILE = [EVIL, '+cmd|"/c calc"!A1', '-2+3+cmd|"/c calc"!A1', '@SUM(1+1)*cmd|"/c calc"!A1', "\t=1+1", "\r=1+1"]


def hostile(i: int) -> str:
    return f"{HOSTILE[i % len(HOSTILE)]} #{i}"


@pytest.fixture(scope="module")
def world(_sqlite_db, tmp_path_factory):
    from tests.conftest import _empty

    db = _sqlite_db
    _empty(db)
    tmp = tmp_path_factory.mktemp("injection")
    seed_demo(db, seed=7, months=6)
    people = demo_people(db, tmp)
    with db.session() as s:
        for model in (Organization, Project, Brand, Channel, Metric, Section, Platform):
            for i, row in enumerate(s.scalars(select(model).order_by(model.id))):
                row.name = hostile(i)
        for i, name in enumerate(sorted(set(s.scalars(select(ControlValue.name))))):
            s.execute(update(ControlValue).where(ControlValue.name == name).values(name=hostile(i)))
        channels = list(s.scalars(select(Channel.name).order_by(Channel.id)))[:3]
        brand = people["Brand Manager"].scope_id
        project = s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == brand,
                                                                  ProjectBrand.role == "own")
                            .order_by(ProjectBrand.project_id)).first()
    app = make_app(db, tmp, api_rate="10000 per minute", signin_rate_per_ip="1000 per minute",
                   signin_rate_per_account="1000 per minute")
    client = app.server.test_client()
    headers = bearer(token_for(client, people["Brand Manager"])["access_token"])
    submitted = client.post("/api/v1/jobs", headers=headers, json={"kind": "optimization", "payload": {
        "inputs": {"brand_ids": [brand], "channels": channels, "curve_source": "truth", "generations": 20,
                   "frontier_points": 5}, "save_as": EVIL}})
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    job = poll(client, headers, submitted.get_json()["id"])
    assert job["status"] == "succeeded", job
    with db.session() as s:
        scenario, owner = s.execute(select(Scenario.id, Scenario.owner_id).where(Scenario.name == EVIL)).one()
    return {"db": db, "app": app, "client": client, "headers": headers, "brand": brand, "project": project,
            "scenario": scenario, "owner": owner}


# ------------------------------------------------------------------------------------ checks on files

def assert_safe_xlsx(content: bytes, where: str) -> int:
    """No formula anywhere in the workbook and no text cell that starts like one; returns text cells seen."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name), f"{where}: {name}"
    texts = 0
    workbook = load_workbook(io.BytesIO(content))
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{where}: {ws.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str):
                    texts += 1
                    assert not cell.value.startswith(FORMULA_TRIGGERS) or neutralize(cell.value) == cell.value, (
                        f"{where}: {ws.title}!{cell.coordinate} = {cell.value!r}")
    return texts


def assert_safe_csv(content: bytes, where: str) -> int:
    """Every field parses back to text that does not start like a formula; returns the fields seen."""
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    assert rows, where
    for row in rows:
        for field in row:
            assert neutralize(field) == field, f"{where}: field {field!r}"
    return sum(len(r) for r in rows)


def assert_hostile_text_present(content: bytes, fmt: str, where: str) -> None:
    """The walk means something only if a hostile name reached the file (escaped)."""
    if fmt == "csv":
        text = "\n".join(f for row in csv.reader(io.StringIO(content.decode("utf-8"), newline="")) for f in row)
    else:
        workbook = load_workbook(io.BytesIO(content))
        text = "\n".join(str(c.value) for ws in workbook.worksheets for row in ws.iter_rows() for c in row)
    assert any(f"'{h}" in text for h in HOSTILE), f"{where}: no hostile name reached the file"


# ------------------------------------------------------------------------------------ the writers

def _report(world, kind: str) -> bytes:
    query = {"portfolio": f"project_ids={world['project']}",
             "brand": f"brand_id={world['brand']}&project_id={world['project']}",
             "scenario": f"scenario_id={world['scenario']}"}[kind]
    response = world["client"].get(f"/api/v1/reports/{kind}?{query}&format=xlsx", headers=world["headers"])
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.data


def _optimizer(world, fmt: str) -> bytes:
    principal = load_principal(world["db"], world["owner"])
    return export_bytes(get_scenario(world["db"], principal, world["scenario"])["result"], fmt)


def _brand_chart(world, chart: str, fmt: str) -> bytes:
    """What the Brand explorer's download callback sends, for the first to the last month."""
    principal = load_principal(world["db"], world["owner"])
    spec = brand_charts.CHARTS[chart]
    with world["app"].server.app_context(), world["db"].engine.connect() as conn:
        months = bx.periods(conn, principal, world["brand"], world["project"])
        metric = int(bx.catalogue(conn, world["brand"], principal).index[0])
        selection = brand_charts.Selection(world["brand"], world["project"], months[0], months[-1], metric)
        result = brand_charts.read_chart(spec, principal, selection)
        payload = brand_charts.to_download(spec.table(result), f"brand-{chart}", fmt)
    return base64.b64decode(payload["content"]) if payload.get("base64") else payload["content"].encode("utf-8")


def _framework(world) -> bytes:
    """The framework export (CSV) of the brand's organization, as the CLI and the framework page give it."""
    with world["db"].session() as s:
        org = s.get(Brand, world["brand"]).organization_id
    return export_framework(world["db"], operator(world["db"]), org, "csv").encode("utf-8")


def _media_plan(world, fmt: str) -> bytes:
    """The flighting planner's media plan download (dashboard/flighting_run.py) of a plan of the brand's weeks."""
    from core.flighting.run import run_flighting
    from dashboard.flighting_run import export_bytes as media_plan_bytes

    result = run_flighting(world["db"], world["owner"], {"brand_ids": [world["brand"]], "weeks": 4,
                                                          "budget": 1_000_000, "curve_source": "truth"})
    return media_plan_bytes(result, fmt)


# name → (how to get the file's bytes, format). Keep complete: test_every_writer_is_walked checks it.
WRITERS = {
    **{f"report {kind} xlsx (core/reports/xlsx.py via /api/v1/reports)": (lambda w, k=kind: _report(w, k), "xlsx")
       for kind in ("portfolio", "brand", "scenario")},
    **{f"optimizer export {fmt} (core/budget.py export_bytes)": (lambda w, f=fmt: _optimizer(w, f), fmt)
       for fmt in ("csv", "xlsx")},
    **{f"brand explorer {chart} download {fmt} (dashboard/brand_charts.py to_download)":
       (lambda w, c=chart, f=fmt: _brand_chart(w, c, f), fmt)
       for chart in brand_charts.CHARTS for fmt in ("csv", "xlsx")},
    "framework export csv (core/setup/framework_files.py)": (_framework, "csv"),
    **{f"flighting media plan {fmt} (dashboard/flighting_run.py export_bytes)":
       (lambda w, f=fmt: _media_plan(w, f), fmt) for fmt in ("csv", "xlsx")},
}
# The files WRITERS reaches that call core.spreadsheets (a new caller must add its writer above).
COVERED_CALLERS = {"core/reports/xlsx.py", "core/budget.py", "dashboard/brand_charts.py",
                   "core/setup/framework_files.py", "dashboard/flighting_run.py"}
# Files that may touch CSV/XLSX libraries without core.spreadsheets, and why.
EXEMPT = {
    "core/spreadsheets.py": "the one writer",
    "core/reports/xlsx.py": "builds sheets cell by cell, every value through spreadsheets.put (checked below)",
    "core/imports/readers.py": "reads uploads (openpyxl.load_workbook), writes nothing",
    "core/imports/service.py": "to_csv feeds PostgreSQL COPY, not a file anyone opens",
    "core/lift_tests/truth.py": "writes the repository's generated lift-test sample from the demo's invented "
                                "brands and truth curves, no user text",
    "core/demo/samples.py": "writes the repository's generated sample files: invented brand names and numbers, "
                            "no user text",
}
RAW_WRITERS = re.compile(r"\.to_csv\(|\.to_excel\(|csv\.writer|DictWriter|ExcelWriter|openpyxl|xlsxwriter|"
                         r"send_data_frame|exportDataAs|csvExportParams|excelExportParams")


def test_the_issue_reproduction_scenario_name_is_text_in_the_xlsx_report(world):
    """POST /api/v1/jobs with save_as '=HYPERLINK(...)'; the scenario report's Summary!A2 is text."""
    content = _report(world, "scenario")
    cell = load_workbook(io.BytesIO(content))["Summary"]["A2"]
    assert cell.data_type == "s" and cell.value.startswith("'" + EVIL), cell.value


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_writer_writes_hostile_names_as_text(world, name):
    make, fmt = WRITERS[name]
    content = make(world)
    seen = assert_safe_csv(content, name) if fmt == "csv" else assert_safe_xlsx(content, name)
    assert seen
    assert_hostile_text_present(content, fmt, name)


def test_every_writer_is_walked():
    sources = [p for top in ("core", "dashboard", "api") for p in (ROOT / top).rglob("*.py")]
    sources += [ROOT / "app.py", ROOT / "worker.py", *(ROOT / "assets").rglob("*.js")]
    raw, callers = [], set()
    for path in sources:
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        if RAW_WRITERS.search(text) and rel not in EXEMPT:
            raw.append(rel)
        if rel != "core/spreadsheets.py" and re.search(r"\b(csv_text|csv_bytes|xlsx_bytes|spreadsheets\.put)\b|"
                                                       r"from core\.spreadsheets import", text):
            callers.add(rel)
    assert not raw, f"CSV/XLSX written without core.spreadsheets in {raw}: use csv_text/csv_bytes/xlsx_bytes/put"
    assert callers <= COVERED_CALLERS, f"add the writers of {callers - COVERED_CALLERS} to WRITERS"
    assert callers >= COVERED_CALLERS, f"{COVERED_CALLERS - callers} no longer write spreadsheets: update WRITERS"
    # The cell-by-cell writer: no value reaches a cell except through put.
    xlsx = (ROOT / "core/reports/xlsx.py").read_text(encoding="utf-8")
    assert not re.search(r"ws\[[^\]]+\]\s*(,[^=]*)?=(?!=)|\.cell\([^)]*,[^)]*,", xlsx), "write cells with put()"


def test_numbers_stay_numbers_and_text_is_escaped_the_owasp_way():
    frame = pd.DataFrame({"name": [EVIL, "-1+2", "\t=1", "\r=1", "@x", "+x", "plain", "-12.5"],
                          "value": [-3.5, -1, 0, 2, 3, 4, 5, 6], EVIL: ["a"] * 8})
    rows = list(csv.reader(io.StringIO(csv_bytes(frame).decode("utf-8"), newline="")))
    assert rows[0] == ["name", "value", "'" + EVIL]
    assert [r[0] for r in rows[1:]] == ["'" + EVIL, "'-1+2", "'\t=1", "'\r=1", "'@x", "'+x", "plain", "-12.5"]
    assert [float(r[1]) for r in rows[1:]] == [-3.5, -1, 0, 2, 3, 4, 5, 6]  # unprefixed: still numbers
    assert b'"\'\r=1"' in csv_bytes(frame) and b'"\'=HYPERLINK(""http://evil.test"",""y"")"' in csv_bytes(frame)
    ws = load_workbook(io.BytesIO(xlsx_bytes({"T": frame})))["T"]
    assert ws["B2"].value == -3.5 and ws["B2"].data_type == "n" and ws["B3"].value == -1
    assert ws["A2"].value == "'" + EVIL and ws["A2"].data_type == "s" and ws["C1"].value == "'" + EVIL
    assert ws["A9"].value == "-12.5" and ws["A9"].data_type == "s"
