"""One organization's channel names and metric framework never reach another's people (issue 12, item 11;
issue 14: frameworks per organization).

Organization 1 imports spend on channels with distinctive names (one an HTML payload). Signed in as
people of organization 2, the test walks every page (its URL and its layout), every callback of
the callback map with organization 2's own values (taken from the pages' layouts, or its own ids),
every GET operation of the OpenAPI document, and every export and report (PDF text, XLSX cells,
CSV bytes): none of organization 1's names appears (channels, and its framework's section, platform,
metric names, codes and descriptions). Organization 2 then makes channels and framework items of the
same names, its own, without colliding with organization 1's, and cannot write organization 1's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import inspect
import io
import json
import re
from typing import Any

import dash
import pytest
from dash._utils import split_callback_id
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from core.budget import run_budget
from core.demo import seed_demo
from core.imports import commit, preview
from core.models import Brand, Channel, Metric, MetricValue, Organization, Project, ProjectBrand, Section, Spend, User
from core.scenarios import save_from_job
from core.security import ensure_demo_users, load_principal
from core.security.crypto import SecretBox, load_keys
from core.security.permissions import BUILTIN_ROLES
from core.setup import framework as fw
from core.setup.framework_files import operator as framework_operator
from tests.support import DEMO_PASSWORD, DEMO_TOTP, FAST, csrf_headers, finished_job, make_app, sign_in

MARK = "zq7tenant"  # in every name organization 1 creates; searched for case-insensitively
NAMES = ["Zq7Tenant Radio", "<img src=x onerror=alert('zq7tenant')>"]
FRAMEWORK_NAMES = {"section": "Zq7Tenant Section", "platform": "Zq7Tenant Platform", "code": "zq7tenant_code",
                   "description": "Zq7Tenant secret recipe", "metric": "Zq7Tenant Visits"}
# Buttons not pressed in the walk: they change or remove things the walk still needs (people,
# sessions, grants, scenarios) or start background work; their callbacks still run, unpressed.
UNPRESSED = ("erase", "delete", "revoke", "disable", "enable", "unlock", "reset", "approve", "grant", "create",
             "save", "mfa", "commit", "run", "others", "sessions",
             # Portfolio setup (issue 14): taking brands out of projects, archiving, merging.
             "remove", "archive", "merge")


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def tenants(tmp_path_factory, _sqlite_db):
    """The demo's two organizations; the six demo people in the second; the first's import of NAMES."""
    from tests.conftest import _empty

    db = _sqlite_db
    _empty(db)
    tmp = tmp_path_factory.mktemp("tenants")
    seed_demo(db, seed=7, months=3)
    with db.session() as s:
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        spending = select(Spend.brand_id).distinct()
        theirs = s.scalars(select(Brand.id).where(Brand.organization_id == first, Brand.id.in_(spending))).first()
        their_brand = s.get(Brand, theirs).name
    creds = ensure_demo_users(db, second, password=DEMO_PASSWORD, totp_secret=DEMO_TOTP,
                              settings=FAST, box=SecretBox(load_keys((), tmp)))
    people = {c.role: c for c in creds}
    rows = [["brand", "channel", "period", "amount"]] + [
        [their_brand, name, f"2025-0{month}-01", str(100 * month)] for name in NAMES for month in (1, 2, 3)]
    report = commit(db, first, _csv(rows), {"kind": "marketing", "granularity": "month", "channels": NAMES},
                    filename="theirs.csv")
    assert report.committed and report.channels_created == NAMES, report.format_text()
    # Organization 1's metric framework gets names of the same kind (migration 0014: one per organization).
    operator = framework_operator(db)
    section = fw.create_section(db, operator, first, FRAMEWORK_NAMES["section"])
    platform = fw.create_platform(db, operator, first, section, FRAMEWORK_NAMES["platform"])
    fw.create_metric(db, operator, first, platform, {"code": FRAMEWORK_NAMES["code"], "name": NAMES[1],
                                                     "description": FRAMEWORK_NAMES["description"]})
    with db.session() as s:  # and a metric with values is renamed
        valued = s.scalars(select(MetricValue.metric_id).join(Metric, Metric.id == MetricValue.metric_id)
                           .where(Metric.organization_id == first).limit(1)).first()
    fw.update_metric(db, operator, first, valued, {"name": FRAMEWORK_NAMES["metric"]})

    with db.session() as s:
        ids = {role: s.scalar(select(User.id).where(User.email == c.email)) for role, c in people.items()}
        brand = people["Brand Manager"].scope_id
        assert s.get(Brand, brand).organization_id == second
        project = s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == brand)
                            .order_by(ProjectBrand.project_id)).first()
        channels = sorted(s.scalars(select(Channel.name).join(Spend, Spend.channel_id == Channel.id)
                                    .where(Spend.brand_id == brand).distinct()))
    assert channels, "the second organization's brand has no spend to optimize"
    bm = load_principal(db, ids["Brand Manager"])
    job = finished_job(db, bm, run_budget(db, bm.user_id, {"brand_ids": [brand], "channels": channels,
                                                            "curve_source": "truth", "generations": 20,
                                                            "frontier_points": 5}))
    scenario = save_from_job(db, bm, job, "Ours")
    app = make_app(db, tmp, api_rate="10000 per minute")
    warm = app.server.test_client()  # the first request registers Dash's page-routing callbacks
    sign_in(warm, people["Brand Manager"].email)
    warm.get("/_dash-layout")
    own = {"organization": second, "project": project, "brand": brand, "scenario": scenario, "job": job,
           "user": ids["Brand Manager"], "role": None, "import_upload": None}
    return {"db": db, "app": app, "people": people, "ids": ids, "own": own, "first": first, "second": second,
            "their_brand": their_brand}


# ------------------------------------------------------------------------------------------ checks


def _files(value: Any) -> list[tuple[str, bytes]]:
    """Every file a callback answer carries (dcc.Download data: base64 or text content)."""
    found: list[tuple[str, bytes]] = []
    if isinstance(value, dict):
        if "filename" in value and "content" in value and isinstance(value["content"], str):
            raw = value["content"].encode()
            if value.get("base64"):
                with contextlib.suppress(binascii.Error):
                    raw = base64.b64decode(value["content"])
            found.append((str(value["filename"]), raw))
        for item in value.values():
            found += _files(item)
    elif isinstance(value, list):
        for item in value:
            found += _files(item)
    return found


def _file_text(name: str, raw: bytes) -> str:
    """What a person reads in a file: PDF text, every XLSX cell, or the bytes as text."""
    if raw.startswith(b"%PDF"):
        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(raw)).pages)
    if raw.startswith(b"PK"):
        book = load_workbook(io.BytesIO(raw))
        return "\n".join(str(cell.value) for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
                         if cell.value is not None)
    return raw.decode("utf-8", errors="replace")


def _assert_clean(what: str, raw: bytes, content_type: str = "") -> int:
    """No trace of organization 1's names in an answer or any file in it; returns the files seen."""
    text = raw.decode("utf-8", errors="replace")
    assert MARK not in text.lower(), f"{what}: shows another organization's channel"
    files: list[tuple[str, bytes]] = []
    if "json" in content_type:
        files = _files(json.loads(raw))
    elif raw.startswith((b"%PDF", b"PK")) or "csv" in content_type:
        files = [(what, raw)]
    for name, body in files:
        assert MARK not in _file_text(name, body).lower(), f"{what}: file {name} shows another organization's channel"
    return len(files)


# ------------------------------------------------------------------------------------------ clients


def _client(tenants, role: str):
    clients = tenants.setdefault("clients", {})
    if role not in clients:
        client = tenants["app"].server.test_client()
        assert sign_in(client, tenants["people"][role].email).status_code == 302, f"{role} could not sign in"
        clients[role] = (client, csrf_headers(client))
    return clients[role]


def _components(node: Any, into: dict[str, dict]) -> None:
    """Props of every component with a plain id, from a layout's JSON."""
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            into.setdefault(props["id"], {}).update({k: v for k, v in props.items() if k != "children"})
        for value in node.values():
            _components(value, into)
    elif isinstance(node, list):
        for value in node:
            _components(value, into)


def _routing_key(app) -> str:
    return next(key for key in app.callback_map if "_pages_content.children" in key)


def _post(client, headers, key: str, entry: dict, values: list[Any], trigger: int) -> Any:
    deps = [*entry["inputs"], *entry.get("state", [])]
    filled = [{**dep, "value": value} for dep, value in zip(deps, values, strict=True)]
    body = {"output": key, "outputs": split_callback_id(key), "inputs": filled[: len(entry["inputs"])],
            "state": filled[len(entry["inputs"]):],
            "changedPropIds": [f"{deps[trigger]['id']}.{deps[trigger]['property']}"]}
    return client.post("/_dash-update-component", json=body, headers=headers)


def _walk_pages(tenants, role: str) -> dict[str, dict]:
    """GET every page the role may open and render its layout; returns the components' props."""
    client, headers = _client(tenants, role)
    app = tenants["app"]
    key = _routing_key(app)
    entry = app.callback_map[key]
    props: dict[str, dict] = {}
    for page in dash.page_registry.values():
        response = client.get(page["path"])
        _assert_clean(f"{role} GET {page['path']}", response.data, response.content_type)
        if page["permission"] not in BUILTIN_ROLES[role]:
            continue
        values = [page["path"] if d["property"] == "pathname" else "" for d in entry["inputs"]]
        values += [None] * len(entry.get("state", []))
        layout = _post(client, headers, key, entry, values, 0)
        assert layout.status_code == 200, f"{role}: layout of {page['path']} answered {layout.status_code}"
        _assert_clean(f"{role} layout of {page['path']}", layout.data, layout.content_type)
        _components(layout.get_json(), props)
    return props


def _own_value(tenants, name: str, kind: str) -> Any:
    own = tenants["own"].get(kind)
    if name in ("rows", "selected"):
        return [{"id": own}] if own is not None else []
    return [own] if name.endswith("_ids") and own is not None else own


def _values(tenants, entry: dict, props: dict[str, dict], trigger: int) -> list[Any]:
    """Organization 2's own value for every input and state: the page's, else its own id, else nothing."""
    protection = getattr(entry.get("callback"), "dc_protection", None)
    kinds = {name: check if isinstance(check, str) else check[0]
             for name, check in (protection.objects.items() if protection else [])}
    names = list(inspect.signature(entry["callback"]).parameters)
    deps = [*entry["inputs"], *entry.get("state", [])]
    values = []
    for i, dep in enumerate(deps):
        name = names[i] if i < len(names) else ""
        known = props.get(dep["id"], {}) if isinstance(dep["id"], str) else {}
        if dep["property"].endswith("n_clicks"):
            values.append(1 if i == trigger else None)
        elif dep["property"] == "selectedRows" and known.get("rowData"):
            values.append(known["rowData"][:1])
        elif dep["property"] in known:
            values.append(known[dep["property"]])
        elif name in kinds:
            values.append(_own_value(tenants, name, kinds[name]))
        else:
            values.append(None)
    return values


def _triggers(entry: dict) -> list[int]:
    """Each button of the callback pressed once (except those in UNPRESSED), else its first input that
    is not a button; none for a callback only UNPRESSED buttons start (it acts on which one fired)."""
    buttons = [i for i, dep in enumerate(entry["inputs"]) if dep["property"].endswith("n_clicks")]
    pressed = [i for i in buttons if not any(word in str(entry["inputs"][i]["id"]) for word in UNPRESSED)]
    others = [i for i in range(len(entry["inputs"])) if i not in buttons]
    return pressed or others[:1]


@pytest.mark.parametrize("role", ["Organization Administrator", "Brand Manager"])
def test_no_page_callback_or_export_shows_another_organizations_channels(tenants, role):
    client, headers = _client(tenants, role)
    props = _walk_pages(tenants, role)
    assert "optimizer-channels" not in props or props["optimizer-channels"].get("options"), "no channels offered"
    app = tenants["app"]
    held = BUILTIN_ROLES[role]
    answered = files = 0
    for key, entry in app.callback_map.items():
        protection = getattr(entry.get("callback"), "dc_protection", None)
        if protection is None or protection.permission not in held:
            continue
        for trigger in _triggers(entry):
            response = _post(client, headers, key, entry, _values(tenants, entry, props, trigger), trigger)
            files += _assert_clean(f"{role} {key[:60]}", response.data, response.content_type)
            answered += response.status_code == 200
    assert answered > 10
    if "report:export" in held:
        assert files >= 6, f"{role}: only {files} exports came back"


@pytest.mark.parametrize("role", ["Organization Administrator", "Analyst"])
def test_no_api_answer_or_report_shows_another_organizations_channels(tenants, role):
    app = tenants["app"]
    client = app.server.test_client()
    token = app.server.extensions["digicadence.api_credentials"].issue(tenants["ids"][role]).access_token
    auth = {"Authorization": f"Bearer {token}"}
    own = tenants["own"]
    by_name = {"organization_id": own["organization"], "project_id": own["project"], "project_ids": own["project"],
               "brand_id": own["brand"], "scenario_id": own["scenario"], "job_id": own["job"],
               "user_id": tenants["ids"][role], "kind": "truth"}
    document = client.get("/api/v1/openapi.json").get_json()
    answered = 0
    for path, operations in document["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        params = operation.get("parameters", [])
        url = re.sub(r"\{(\w+)\}", lambda m: str(by_name.get(m.group(1), 0)), path)
        query = {p["name"]: by_name[p["name"]] for p in params if p["in"] == "query" and p["name"] in by_name}
        formats = ["pdf", "xlsx"] if any(p["name"] == "format" for p in params) else [None]
        for fmt in formats:
            response = client.get(url, query_string={**query, **({"format": fmt} if fmt else {})}, headers=auth)
            _assert_clean(f"{role} GET {url} {fmt or ''}", response.data, response.content_type)
            answered += response.status_code == 200
    assert answered >= 15


def test_organization_two_makes_the_same_names_its_own(tenants):
    """Naming organization 1's channels from organization 2 finds nothing; listing them makes org 2's own."""
    db, second = tenants["db"], tenants["second"]
    brand = tenants["own"]["brand"]
    with db.session() as s:
        name = s.get(Brand, brand).name
    rows = [["brand", "channel", "period", "amount"]] + [[name, n, "2025-01-01", "5"] for n in NAMES]
    probe = preview(db, second, _csv(rows), {"kind": "marketing", "granularity": "month"}, filename="ours.csv")
    assert {e.code for e in probe.errors} == {"unknown_channel"} and len(probe.errors) == len(NAMES)
    done = commit(db, second, _csv(rows), {"kind": "marketing", "granularity": "month", "channels": NAMES},
                  filename="ours.csv")
    assert done.committed and done.channels_created == NAMES, done.format_text()
    with db.session() as s:
        rows_by_org = s.execute(select(Channel.organization_id, Channel.id).where(Channel.name.in_(NAMES))).all()
        assert sorted(org for org, _ in rows_by_org) == sorted([tenants["first"]] * 2 + [second] * 2)
        spend_orgs = s.scalars(select(Channel.organization_id).join(Spend, Spend.channel_id == Channel.id)
                               .where(Spend.brand_id == brand, Channel.name.in_(NAMES)).distinct()).all()
        assert spend_orgs == [second]
        projects = s.scalars(select(Project.id).where(Project.organization_id == second)).all()
    assert projects


def test_organization_two_never_writes_organization_ones_framework_or_channels(tenants):
    """Organization 2's administrator, through the API, the page's callback and the service functions:
    organization 1's framework ids and channels are not found or forbidden, and nothing of theirs moves."""
    db, first, second, app = tenants["db"], tenants["first"], tenants["second"], tenants["app"]
    with db.session() as s:
        their_metric = s.scalar(select(Metric.id).where(Metric.code == FRAMEWORK_NAMES["code"]))
        their_section = s.scalar(select(Section.id).where(Section.name == FRAMEWORK_NAMES["section"]))
        their_channel = s.scalar(select(Channel.id).where(Channel.organization_id == first,
                                                          Channel.name == NAMES[0]))
        before = fw.framework(db, framework_operator(db), first)
    token = app.server.extensions["digicadence.api_credentials"].issue(
        tenants["ids"]["Organization Administrator"]).access_token
    auth = {"Authorization": f"Bearer {token}"}
    client = app.server.test_client()
    ours, theirs = f"/api/v1/organizations/{second}", f"/api/v1/organizations/{first}"
    answers = [
        client.patch(f"{ours}/framework/metrics/{their_metric}", json={"weight": 9}, headers=auth).status_code,
        client.delete(f"{ours}/framework/sections/{their_section}?discard_values=true", headers=auth).status_code,
        client.patch(f"{ours}/framework/weights", json={"sections": {str(their_section): 9}},
                     headers=auth).status_code,
        client.patch(f"{ours}/channels/{their_channel}", json={"name": "Ours"}, headers=auth).status_code,
    ]
    assert answers == [404, 404, 404, 404]
    for response in (client.get(f"{theirs}/framework", headers=auth),
                     client.patch(f"{theirs}/framework/weights", json={"sections": {str(their_section): 9}},
                                  headers=auth),
                     client.post(f"{theirs}/channels", json={"name": "Planted"}, headers=auth),
                     client.post(f"{theirs}/framework/preview", json={}, headers=auth)):
        assert response.status_code == 403, response.get_data(as_text=True)
    # The page's callback with organization 1's id.
    web, headers = _client(tenants, "Organization Administrator")
    key = next(k for k in app.callback_map if "framework-sections.rowData" in k)
    entry = app.callback_map[key]
    values = [first, None, 1, None, 0, [{"id": their_section, "weight": 9}], [], []]
    assert _post(web, headers, key, entry, values, 2).status_code == 403
    # Organization 2 makes the same names its own.
    admin = tenants["people"]["Organization Administrator"]
    from core.security import load_principal

    mine = fw.create_section(db, load_principal(db, tenants["ids"]["Organization Administrator"]), second,
                             FRAMEWORK_NAMES["section"])
    assert mine != their_section and admin.scope_id == second
    assert fw.framework(db, framework_operator(db), first) == before
