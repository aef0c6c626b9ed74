"""Hostile bodies and values: refused with a reason, never a 500, a traceback or a write.

* Malformed bodies (issue 12, item 6): callback posts that are not a callback envelope, too large or
  nested too deep, and an API body nested too deep, answer 400/413 with a JSON reason.
* Error paths (item 7): the Brand explorer's "What moved the score" with bad periods; and over the
  whole callback map, every callback's error path answers with its declared outputs (Dash refuses a
  return of the wrong shape with a 500, so "no 500" for error-forcing values is the check).
* The fuzz test replays every callback in the app's callback map with generated bad values (wrong
  types, huge and non-finite numbers, nested lists, long strings, another organization's ids) as two
  signed-in roles of different scope: a Brand Manager of organization 1 and an Organization
  Administrator of organization 2. No 500, no traceback text, and nothing written: the analytic and
  security tables are checksummed before and after. Audit rows (denied access is audited on purpose),
  sessions (each request refreshes its session) and API idempotency records are left out.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from dash._utils import split_callback_id
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from core.demo import seed_demo
from core.models import (
    Base,
    Brand,
    ImportUpload,
    Job,
    Organization,
    Project,
    ProjectBrand,
    Role,
    RoleGrant,
    Scenario,
    User,
)
from tests.support import DEMO_PASSWORD, csrf_headers, demo_people, make_app, sign_in

CALLBACK = "/_dash-update-component"
OTHER_ADMIN = "Organization Administrator of organization 2"
# Changed by every request or written on purpose for refusals; everything else must stay as it was.
NOT_CHECKED = {"audit_events", "audit_archive", "user_sessions", "api_idempotency"}
TRACEBACK = re.compile(r"Traceback|File \"|[A-Z][A-Za-z]+(Error|Exception)\b")
EXAMPLES = 3  # generated bodies per callback and role (plus the explicit ones)


@pytest.fixture(scope="module")
def world(tmp_path_factory, _sqlite_db):
    """Two organizations of the demo; the six demo users in the first, an administrator in the second,
    and in each organization a scenario, a job, a custom role and a staged upload to be foreign ids."""
    from tests.conftest import _empty

    db = _sqlite_db
    _empty(db)
    tmp = tmp_path_factory.mktemp("hostile")
    seed_demo(db, seed=7, months=2)
    people = demo_people(db, tmp)
    ids: dict[int, dict[str, object]] = {}
    with db.session() as s:
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        template = s.scalar(select(User).where(User.email == people["Organization Administrator"].email))
        other_admin = User(email="admin@second.test", name="Second Admin", organization_id=second,
                           password_hash=template.password_hash, mfa_secret_encrypted=template.mfa_secret_encrypted,
                           mfa_enabled=True)
        s.add(other_admin)
        s.flush()
        builtin = s.scalar(select(Role).where(Role.name == "Organization Administrator", Role.is_builtin.is_(True)))
        s.add(RoleGrant(user_id=other_admin.id, role_id=builtin.id, scope_type="organization", scope_id=second))
        for org, owner in ((first, template.id), (second, other_admin.id)):
            project = s.scalars(select(Project.id).where(Project.organization_id == org).order_by(Project.id)).first()
            scenario = Scenario(organization_id=org, project_id=project, name=f"Plan {org}", kind="budget")
            role = Role(name=f"Custom {org}", organization_id=org, permissions=["portfolio:read"])
            job = Job(id=f"{org:08d}-0000-4000-8000-000000000000", organization_id=org, owner_id=owner,
                      kind="budget", status="succeeded", progress=1.0)
            token = f"staged-upload-token-of-organization-{org}"
            upload = ImportUpload(id=hashlib.sha256(token.encode()).hexdigest(), user_id=owner, filename="x.csv",
                                  sha256="0" * 64, size=1, data=b"x", expires_at=datetime.now(UTC) + timedelta(hours=1))
            s.add_all([scenario, role, job, upload])
            s.flush()
            ids[org] = {"organization": org, "project": project, "scenario": scenario.id, "role": role.id,
                        "job": job.id, "user": owner, "import_upload": token,
                        "brand": s.scalars(select(Brand.id).where(Brand.organization_id == org)
                                           .order_by(Brand.id)).first()}
        empty_brand = Brand(name="Newcomer", organization_id=first)  # own brand of a project, no metric values
        s.add(empty_brand)
        s.flush()
        s.add(ProjectBrand(project_id=ids[first]["project"], brand_id=empty_brand.id, role="own"))
    app = make_app(db, tmp)
    warm = app.server.test_client()  # the first request registers Dash's page-routing callbacks
    sign_in(warm, people["Portfolio Manager"].email)
    warm.get("/_dash-layout")
    return {"app": app, "db": db, "people": people, "ids": ids, "first": first, "second": second,
            "other_admin": other_admin.email, "empty_brand": empty_brand.id}


def _client(world, role: str):
    """One signed-in client per role for the module (an administrator's TOTP code works once)."""
    clients = world.setdefault("clients", {})
    if role not in clients:
        client = world["app"].server.test_client()
        email = world["other_admin"] if role == OTHER_ADMIN else world["people"][role].email
        response = sign_in(client, email, DEMO_PASSWORD)
        assert response.status_code == 302, f"{role} could not sign in"
        clients[role] = (client, csrf_headers(client))
    return clients[role]


def _post(world, role: str, body: bytes | dict, **headers):
    client, csrf = _client(world, role)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(CALLBACK, data=data, headers={**csrf, "Content-Type": "application/json", **headers})


def _envelope(key: str, entry: dict, values: list) -> dict:
    deps = [*entry["inputs"], *entry.get("state", [])]
    filled = [{**dep, "value": value} for dep, value in zip(deps, values, strict=True)]
    return {"output": key, "outputs": split_callback_id(key), "inputs": filled[: len(entry["inputs"])],
            "state": filled[len(entry["inputs"]):],
            "changedPropIds": [f"{d['id']}.{d['property']}" for d in entry["inputs"][:1]]}


def _refused_with_reason(response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert isinstance(body, dict) and body.get("reason"), response.get_data(as_text=True)[:300]
    assert not TRACEBACK.search(response.get_data(as_text=True))


# ------------------------------------------------------------------ item 6: malformed bodies

def _waterfall(world) -> tuple[str, dict]:
    return next((k, e) for k, e in world["app"].callback_map.items() if "brand-waterfall-graph" in k)


def _malformed(world) -> dict[str, bytes]:
    key, entry = _waterfall(world)
    good = _envelope(key, entry, [None] * 4)
    return {
        "empty object": b"{}",
        "not an object": b"[1, 2]",
        "not JSON": b"{output: nope",
        "unknown output id": json.dumps({**good, "output": "nope.children",
                                         "outputs": {"id": "nope", "property": "children"}}).encode(),
        "output id not a string": json.dumps({**good, "output": ["x"]}).encode(),
        "fewer outputs than declared": json.dumps({**good, "outputs": good["outputs"][:2]}).encode(),
        "outputs of another callback": json.dumps({**good, "outputs": {"id": "x", "property": "y"}}).encode(),
        "missing inputs": json.dumps({k: v for k, v in good.items() if k != "inputs"}).encode(),
        "inputs of another component": json.dumps({**good, "inputs": [{"id": "x", "property": "value"}] * 2}).encode(),
        "state not a list": json.dumps({**good, "state": {"a": 1}}).encode(),
        "changedPropIds not texts": json.dumps({**good, "changedPropIds": [{"a": 1}]}).encode(),
        "100k-deep nesting": b"[" * 100_000 + b"]" * 100_000,
        "deep nesting inside a value": json.dumps(good).replace('"value": null', '"value": ' + "[" * 5000 + "]" * 5000,
                                                                   1).encode(),
    }


@pytest.mark.parametrize("case", ["empty object", "not an object", "not JSON", "unknown output id",
                                  "output id not a string", "fewer outputs than declared",
                                  "outputs of another callback", "missing inputs", "inputs of another component",
                                  "state not a list", "changedPropIds not texts", "100k-deep nesting",
                                  "deep nesting inside a value"])
def test_a_malformed_callback_post_is_a_400_with_a_reason(world, case):
    _refused_with_reason(_post(world, "Brand Manager", _malformed(world)[case]), 400)


def test_a_12_mb_callback_post_is_a_413_with_a_reason(world):
    key, entry = _waterfall(world)
    body = _envelope(key, entry, ["x" * 12_000_000, None, None, None])
    _refused_with_reason(_post(world, "Brand Manager", body), 413)


def test_a_body_above_the_request_limit_is_a_413_before_it_is_read(world):
    limit = world["app"].server.config["MAX_CONTENT_LENGTH"]
    response = _post(world, "Brand Manager", b"{" + b" " * limit + b"}")
    _refused_with_reason(response, 413)


def test_the_import_page_still_takes_a_file_at_its_size_limit(world):
    """Uploads arrive base64-encoded in a callback, above the JSON limit: they stay admitted."""
    from core.imports.uploads import MAX_UPLOAD_BYTES

    key, entry = next((k, e) for k, e in world["app"].callback_map.items() if "import-upload-status" in k)
    line = b"brand,metric,period,value\n"
    data = line * (MAX_UPLOAD_BYTES // len(line))
    contents = "data:text/csv;base64," + base64.b64encode(data).decode()
    names = list(inspect.signature(entry["callback"]).parameters)
    values = [{"contents": contents, "filename": "big.csv"}.get(n) for n in names]
    response = _post(world, "Organization Administrator", _envelope(key, entry, values))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert "big.csv" in response.get_data(as_text=True)


def test_an_api_body_nested_too_deep_is_a_400_problem(world):
    client = world["app"].server.test_client()
    token = client.post("/api/v1/auth/token", json={"email": world["people"]["Brand Manager"].email,
                                                    "password": DEMO_PASSWORD}).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    deep = b'{"kind": "budget", "inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post("/api/v1/jobs", data=deep, headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json" and "levels deep" in response.get_json()["detail"]
    big = json.dumps({"kind": "budget", "inputs": {"x": "y" * 3_000_000}}).encode()
    response = client.post("/api/v1/jobs", data=big, headers=headers)
    assert response.status_code == 413 and "limit" in response.get_json()["detail"]


# ------------------------------------------------------------------ item 7: error paths keep their outputs

@pytest.mark.parametrize("period", [None, "2025-13-45", {}, [1, 2], 12])
def test_what_moved_the_score_answers_all_its_outputs_for_a_bad_period(world, period):
    key, entry = _waterfall(world)
    ids = world["ids"][world["first"]]
    brand = world["people"]["Brand Manager"].scope_id
    response = _post(world, "Portfolio Manager", _envelope(key, entry, [period, "2025-01-01", brand, ids["project"]]))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    outputs = response.get_json()["response"]
    assert set(outputs) == {"brand-waterfall-graph", "brand-waterfall-note", "brand-kpis"}


def test_what_moved_the_score_for_a_brand_without_periods(world):
    key, entry = _waterfall(world)
    project = world["ids"][world["first"]]["project"]
    response = _post(world, "Portfolio Manager", _envelope(key, entry, [None, None, world["empty_brand"], project]))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    outputs = response.get_json()["response"]
    assert set(outputs) == {"brand-waterfall-graph", "brand-waterfall-note", "brand-kpis"}
    assert outputs["brand-kpis"]["children"] == []


def _callbacks(world) -> list[tuple[str, dict]]:
    """Every server-side callback of the app (clientside ones have no function)."""
    return [(k, e) for k, e in world["app"].callback_map.items() if "callback" in e]


def _parameters(entry: dict) -> list[str]:
    names = list(inspect.signature(entry["callback"]).parameters)
    deps = [*entry["inputs"], *entry.get("state", [])]
    return [names[i] if i < len(names) else f"arg{i}" for i in range(len(deps))]


def _protection(entry: dict):
    return getattr(entry["callback"], "dc_protection", None)


def _check(response, key: str, failures: list[str]) -> None:
    text_body = response.get_data(as_text=True)
    if response.status_code >= 500:
        failures.append(f"{key}: {response.status_code} {text_body[:200]}")
    elif TRACEBACK.search(text_body):
        failures.append(f"{key}: traceback text in the answer: {TRACEBACK.search(text_body).group(0)!r}")
    elif response.status_code not in (200, 204, 400, 403, 413):
        failures.append(f"{key}: unexpected {response.status_code}")


ERROR_FORCING = [None, "2025-13-45", {}, [[1]], 1e308]


def test_every_callbacks_error_path_answers_its_declared_outputs(world):
    """Each callback with its own in-scope ids (read-only callbacks) and error-forcing values elsewhere.

    A callback whose error path returns the wrong number of outputs makes Dash answer 500, so a
    200/204/4xx for every value here means every error path keeps the callback's schema.
    """
    own = world["ids"][world["second"]]
    failures: list[str] = []
    for key, entry in _callbacks(world):
        protection = _protection(entry)
        read_only = protection is not None and protection.permission.endswith(":read")
        kinds = {name: check if isinstance(check, str) else check[0]
                 for name, check in (protection.objects.items() if protection else [])}
        for bad in ERROR_FORCING:
            values = [own.get(kinds[n]) if read_only and n in kinds else bad for n in _parameters(entry)]
            _check(_post(world, OTHER_ADMIN, _envelope(key, entry, values)), key, failures)
    assert failures == [], "\n".join(failures)


# ------------------------------------------------------------------ fuzz: every callback, two roles

def _checksum(db) -> dict[str, str]:
    """A digest of every checked table's rows, in primary-key order.

    One write is the person's own by design: a click on the profile page's "set up two-factor" keeps a
    pending secret (not enabled) on their own row, and a bad value can be a click; that column of a
    row whose two-factor is not enabled is left out.
    """
    digests = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in NOT_CHECKED:
                continue
            order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns) or "1"
            rows = [dict(r) for r in conn.execute(text(f'SELECT * FROM "{table.name}" ORDER BY {order}')).mappings()]
            if table.name == "users":
                rows = [{**r, "mfa_secret_encrypted": None} if not r["mfa_enabled"] else r for r in rows]
            digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


def _bad_values(foreign: dict[str, object]) -> st.SearchStrategy:
    ids = [v for v in foreign.values() if v is not None]
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 2 ** 63, -(2 ** 63) - 1]),
        st.text(max_size=40), st.sampled_from(["x" * 20_000, "2025-13-45", "<img src=x onerror=alert(1)>",
                                               "' OR 1=1 --", "../../etc/passwd", "\u202e\x00", "NaN", "=1+2"]),
        st.sampled_from(ids), st.sampled_from([str(i) for i in ids]),
    )
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                        max_leaves=12)


@pytest.mark.parametrize("role", ["Brand Manager", OTHER_ADMIN])
def test_every_callback_survives_bad_values_and_writes_nothing(world, role):
    foreign = world["ids"][world["second"] if role == "Brand Manager" else world["first"]]
    callbacks = _callbacks(world)
    values = _bad_values(foreign)
    failures: list[str] = []
    _client(world, role)  # signing in writes (sessions, last sign-in): before the first checksum
    before = _checksum(world["db"])

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def replay(data):
        for key, entry in callbacks:
            drawn = [data.draw(values) for _ in _parameters(entry)]
            body = json.dumps(_envelope(key, entry, drawn)).encode()  # NaN and Infinity as Python writes them
            _check(_post(world, role, body), key, failures)

    for key, entry in callbacks:  # an explicit round first: ids past any database's integer range
        _check(_post(world, role, _envelope(key, entry, [1e308] * len(_parameters(entry)))), key, failures)
    replay()
    assert failures == [], "\n".join(sorted(set(failures)))
    after = _checksum(world["db"])
    assert {t for t in before if before[t] != after[t]} == set()
