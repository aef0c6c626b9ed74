"""The import page's column form through real callback posts (issue 16, item 10), on SQLite and PostgreSQL.

One journey as the Organization Administrator: a weekly spend and revenue file is uploaded, its
header and first rows come back, the form guesses each column's role and writes the mapping JSON;
marking one more column as a control rewrites the JSON, and editing the JSON moves the form. The
preview, which validates that JSON on the server, lists the blank revenue cell as a row problem
and nothing is written; the fixed file commits. A mapping the form cannot show stays JSON-only.
"""

from __future__ import annotations

import json
from datetime import date

from dash._utils import split_callback_id
from sqlalchemy import select

from core.models import Outcome, Spend
from tests.integration.test_admin_import_settings import (  # noqa: F401  (world is a fixture)
    ADMIN,
    UPLOAD,
    _commit,
    _count,
    _csv,
    _ok,
    _post,
    world,
)
from tests.integration.test_admin_pages import _client, _entry
from tests.support import csrf_headers

HEADER = ["week", "brand", "tv_spend", "search_spend", "revenue", "festive"]


def _rows(brand: str, blank_revenue: bool) -> list[list[str]]:
    weeks = ["2026-09-07", "2026-09-14", "2026-09-21", "2026-09-28"]
    rows = [[w, brand, str(1000 + 10 * i), str(400 + i), str(25000 + 100 * i), "0"] for i, w in enumerate(weeks)]
    if blank_revenue:
        rows[2][4] = ""
    return [HEADER, *rows]


def _sync(setting, client, roles: list[str], names: list[str], text: str, columns: dict, trigger: str):
    """Post the form/JSON sync callback as the renderer does, with one component per column."""
    key, _declared = _entry(setting["app"], "import-columns-form.children@")

    def many(kind: str, values: list) -> list[dict]:
        return [{"id": {"index": i, "type": kind}, "property": "value", "value": v} for i, v in enumerate(values)]

    body = {
        "output": key,
        "outputs": split_callback_id(key),
        "inputs": [
            many("import-col-role", roles),
            many("import-col-name", names),
            many("import-col-granularity", ["week"]),
            {"id": "import-mapping", "property": "value", "value": text},
        ],
        "state": [
            {"id": "import-columns", "property": "data", "value": columns},
            {"id": "import-kind", "property": "value", "value": "marketing"},
        ],
        "changedPropIds": [trigger],
    }
    return client.post(
        "/_dash-update-component", data=json.dumps(body), content_type="application/json", headers=csrf_headers(client)
    )


def _field(tree, kind: str, index: int) -> dict:
    """The props of the form's field {"type": kind, "index": index} in a rendered component tree."""
    if isinstance(tree, list):
        found = [_field(t, kind, index) for t in tree]
        return next((f for f in found if f), {})
    if not isinstance(tree, dict):
        return {}
    props = tree.get("props", {})
    if props.get("id") == {"type": kind, "index": index}:
        return props
    return _field(props.get("children"), kind, index)


def _preview(setting, client, token, mapping: str):
    return _ok(
        _post(
            setting,
            client,
            "import-summary.children...import-errors",
            token=token,
            kind="marketing",
            brand=None,
            organization_id=setting["home"],
            mapping_json=mapping,
        )
    )


def test_the_column_form_guesses_builds_the_json_and_a_blank_revenue_cell_stops_the_import(world):  # noqa: F811
    db, admin, brand = world["db"], _client(world, ADMIN), world["brand"].name
    token = _ok(_post(world, admin, UPLOAD, contents=_csv(_rows(brand, blank_revenue=True)), filename="weekly.csv"))[
        "import-token"
    ]["data"]
    twin = _ok(_post(world, admin, UPLOAD, contents=_csv([["week", "week"], ["2026-09-07", "1"]]), filename="twin.csv"))
    unreadable = _ok(_post(world, admin, "import-columns.data", token=twin["import-token"]["data"]))
    assert unreadable["import-columns"]["data"] == {"error": "Duplicate column header(s): week."}
    columns = _ok(_post(world, admin, "import-columns.data", token=token))["import-columns"]["data"]
    assert columns["headers"] == HEADER and columns["rows"][0] == _rows(brand, True)[1]

    choices = _ok(_post(world, admin, "import-mapping-choice.options", kind="marketing", columns=columns))
    assert choices["import-mapping-choice"]["value"] == "form"
    shown = _ok(_post(world, admin, "import-columns-form.children...", name="form", columns=columns, kind="marketing"))
    guessed = json.loads(shown["import-mapping"]["value"])
    assert guessed == {
        "kind": "marketing",
        "layout": "wide",
        "granularity": "week",
        "date_column": "week",
        "brand_column": "brand",
        "spend": {"tv_spend": "TV", "search_spend": "Search"},
        "revenue": "revenue",
    }
    form = json.dumps(shown["import-columns-form"]["children"])
    assert "2026-09-07" in form and "import-columns-preview" in form  # the first rows, as a table

    # The person marks "festive" as a control: the JSON follows, with the column's name filled in.
    roles = ["date", "brand", "spend", "spend", "revenue", "control"]
    out = _ok(
        _sync(
            world,
            admin,
            roles,
            ["", "", "TV", "Search", "", ""],
            shown["import-mapping"]["value"],
            columns,
            '{"index":5,"type":"import-col-role"}.value',
        )
    )
    mapping = json.loads(out["import-mapping"]["value"])
    assert mapping == {**guessed, "controls": {"festive": "festive"}}
    name = _field(out["import-columns-form"]["children"], "import-col-name", 5)
    assert name["value"] == "festive" and name["disabled"] is False

    # Editing the JSON moves the form (TV renamed); a role given twice is named in words, the JSON untouched.
    edited = json.dumps({**mapping, "spend": {"tv_spend": "Television", "search_spend": "Search"}})
    back = _ok(
        _sync(world, admin, roles, ["", "", "TV", "Search", "", "festive"], edited, columns, "import-mapping.value")
    )
    assert "import-mapping" not in back
    assert _field(back["import-columns-form"]["children"], "import-col-name", 2)["value"] == "Television"
    twice = _ok(
        _sync(
            world,
            admin,
            ["date", "brand", "spend", "spend", "revenue", "revenue"],
            ["", "", "TV", "Search", "", ""],
            edited,
            columns,
            '{"index":5,"type":"import-col-role"}.value',
        )
    )
    assert "Only one column can be the revenue (outcome)" in json.dumps(twice["import-columns-status"])
    robyn = _ok(
        _post(world, admin, "import-columns-form.children...", name="robyn_weekly", columns=columns, kind="marketing")
    )
    assert json.loads(robyn["import-mapping"]["value"])["date_column"] == "DATE"
    assert "cannot show" in json.dumps(robyn["import-columns-status"])

    # The preview validates the JSON on the server: the blank revenue cell is a listed row problem.
    before = (_count(db, Spend), _count(db, Outcome))
    refused = _preview(world, admin, token, edited)
    assert [(e["row"], e["column"], e["code"]) for e in refused["import-errors"]["rowData"]] == [
        (4, "revenue", "missing_value")
    ]
    assert "fill in the week's revenue" in refused["import-errors"]["rowData"][0]["reason"]
    assert "nothing can be committed" in json.dumps(refused["import-summary"]["children"])
    assert "Preview this file first" in json.dumps(_ok(_commit(world, admin, token)))
    assert (_count(db, Spend), _count(db, Outcome)) == before

    fixed = _ok(_post(world, admin, UPLOAD, contents=_csv(_rows(brand, blank_revenue=False)), filename="weekly.csv"))[
        "import-token"
    ]["data"]
    assert _preview(world, admin, fixed, edited)["import-previewed"]["data"]["mapping"] == edited
    assert "Committed as import batch" in json.dumps(_ok(_commit(world, admin, fixed)))
    written = {r[0]: float(r[4]) for r in _rows(brand, False)[1:]}
    with db.session() as s:
        stored = s.execute(
            select(Outcome.period, Outcome.revenue).where(
                Outcome.brand_id == world["brand"].id, Outcome.period.in_([date.fromisoformat(w) for w in written])
            )
        ).all()
    assert {p.isoformat(): r for p, r in stored} == written


def test_someone_elses_upload_shows_no_columns(world):  # noqa: F811
    from core.imports import uploads
    from core.security import load_principal

    admin = _client(world, ADMIN)
    theirs = uploads.stage_upload(
        world["db"],
        load_principal(world["db"], world["ids"]["System Administrator"]),
        "theirs.csv",
        b"week,revenue\n2026-09-07,1\n",
    )
    response = _post(world, admin, "import-columns.data", token=theirs.token)
    assert response.status_code == 403 and b"week" not in response.data
