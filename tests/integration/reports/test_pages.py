"""The "Download report" control of each page, posted as a browser posts it: the file arrives for a
person with report:export, and the callback refuses a Viewer and another organization's ids."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from dash._utils import split_callback_id

from tests.support import csrf_headers, make_app, sign_in


@pytest.fixture
def app(world):
    return make_app(world["db"], world["tmp"])


def _client(app, world, role: str):
    client = app.server.test_client()
    assert sign_in(client, world["people"][role].email).status_code == 302
    return client


def _download(app, client, prefix: str, fmt: str, state: list):
    """Post the page's report callback as if the `fmt` button was clicked, with `state` values."""
    key = next(k for k in app.callback_map if f"{prefix}-download.data" in k)
    entry = app.callback_map[key]
    clicked = f"{prefix}-{fmt}"
    inputs = [{**dep, "value": 1 if dep["id"] == clicked else None} for dep in entry["inputs"]]
    states = [{**dep, "value": value} for dep, value in zip(entry["state"], state, strict=True)]
    body = {"output": key, "outputs": split_callback_id(key), "inputs": inputs, "state": states,
            "changedPropIds": [f"{clicked}.n_clicks"]}
    return client.post("/_dash-update-component", json=body, headers=csrf_headers(client))


def _file(response, prefix: str) -> tuple[str, bytes]:
    assert response.status_code == 200, response.data[:300]
    data = response.get_json()["response"][f"{prefix}-download"]["data"]
    return data["filename"], base64.b64decode(data["content"])


def test_portfolio_page_downloads_the_summary(app, world):
    client = _client(app, world, "Portfolio Manager")
    response = _download(app, client, "report-portfolio", "pdf", [world["project"], None])
    name, content = _file(response, "report-portfolio")
    assert name.startswith(f"portfolio-{world['project']}-") and name.endswith(".pdf") and content[:5] == b"%PDF-"
    foreign = _download(app, client, "report-portfolio", "pdf", [world["foreign"]["project"], None])
    assert foreign.status_code == 403 and b"content" not in foreign.data
    viewer = _download(app, _client(app, world, "Viewer"), "report-portfolio", "xlsx", [world["project"], None])
    assert viewer.status_code == 403


def test_brand_page_downloads_the_health_card(app, world):
    client = _client(app, world, "Portfolio Manager")
    state = [world["brand"], world["project"], None]
    name, content = _file(_download(app, client, "report-brand", "xlsx", state), "report-brand")
    assert name.startswith(f"brand-{world['brand']}-project-{world['project']}-") and name.endswith(".xlsx")
    assert "xl/workbook.xml" in zipfile.ZipFile(io.BytesIO(content)).namelist()
    bad_month = _download(app, client, "report-brand", "pdf", [*state[:2], "1999-01-01"])
    assert bad_month.status_code == 200
    assert "no DC score for January 1999" in bad_month.get_json()["response"]["report-brand-message"]["children"]
    foreign = _download(app, client, "report-brand", "pdf", [world["foreign"]["brand"], world["project"], None])
    assert foreign.status_code == 403


def test_scenarios_page_downloads_the_selected_scenario(app, world):
    client = _client(app, world, "Brand Manager")
    mine = [{"id": world["scenario"], "name": "Plan A"}]
    name, content = _file(_download(app, client, "report-scenario", "pdf", [mine]), "report-scenario")
    assert name == f"scenario-{world['scenario']}.pdf" and content[:5] == b"%PDF-"
    two = _download(app, client, "report-scenario", "pdf", [[*mine, {"id": world["scenario"] + 100}]])
    assert two.status_code == 403  # an id the person may not export is refused before anything runs
    none = _download(app, client, "report-scenario", "pdf", [[]])
    assert none.get_json()["response"]["report-scenario-message"]["children"] == \
        "Select one scenario to download its report."
    theirs = _download(app, client, "report-scenario", "xlsx", [[{"id": world["foreign"]["scenario"]}]])
    assert theirs.status_code == 403 and b"content" not in theirs.data
    viewer = _download(app, _client(app, world, "Viewer"), "report-scenario", "pdf", [mine])
    assert viewer.status_code == 403
