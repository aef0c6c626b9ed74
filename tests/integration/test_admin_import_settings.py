"""The data import and settings pages through real callback posts, and what their settings change,
on SQLite and PostgreSQL.

The Organization Administrator of the first demo organization imports and changes settings; ids of
the second organization (and another person's staged upload) are posted by hand and get 403 with
no data. A changed MFA policy sends a member through enrolment at the next sign-in, a longer
minimum password length and a lower lockout threshold apply at once, and the alert defaults change
what the Portfolio page's alerts show.
"""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from sqlalchemy import func, select

from core.demo import seed_demo
from core.imports import uploads
from core.models import (
    AuditEvent,
    Brand,
    DCScore,
    ImportBatch,
    ImportUpload,
    Metric,
    MetricValue,
    Organization,
    Project,
    ProjectBrand,
    User,
)
from core.models.security import OrganizationSecurity
from core.security import Action, PasswordRejected, load_principal, verify_chain
from tests.integration.test_admin_pages import _client, _forbidden, _ok, _post
from tests.support import DEMO_PASSWORD, demo_people, make_app, sign_in

ADMIN = "Organization Administrator"
GOOD_SETTINGS = {"password_min_length": 12, "password_composition": False, "mfa_policy": "administrators",
                 "lockout_threshold": 5, "lockout_minutes": 30, "alert_drop_threshold": 5.0, "alert_anomaly_z": 3.5,
                 "currency": "INR", "outcome_unit": "revenue", "default_metric": "internal",
                 "default_scenario": "internal", "default_import": "internal", "alert_roas_floor": 1.0,
                 "lockout_burst_accounts": 5, "lockout_burst_minutes": 15, "denial_spike_count": 20,
                 "denial_spike_minutes": 10, "security_contacts": "",
                 "security_webhook_url": ""}  # the save callback's parameters


@pytest.fixture
def world(db, tmp_path):
    """Demo data (two organizations), the six demo users in the first, a file staged by a stranger of the second."""
    summary = seed_demo(db, seed=7, months=9)
    people = demo_people(db, tmp_path)
    with db.session() as s:
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        stranger = User(email="stranger@other.test", name="Stranger", organization_id=second)
        s.add(stranger)
        s.flush()
        ids = {c.role: s.scalar(select(User.id).where(User.email == c.email)) for c in people.values()}
        own = s.execute(select(Brand.id, Brand.name, ProjectBrand.project_id)
                        .join(ProjectBrand, ProjectBrand.brand_id == Brand.id)
                        .where(Brand.organization_id == first, ProjectBrand.role == "own").order_by(Brand.id)).first()
        metrics = s.execute(select(Metric.id, Metric.code, Metric.min_value, Metric.max_value)
                            .order_by(Metric.id).limit(3)).all()
        period = s.scalar(select(func.max(MetricValue.period)).where(MetricValue.brand_id == own.id))
        foreign_project = s.scalar(select(Project.id).where(Project.organization_id == second))
    app = make_app(db, tmp_path)
    return {"db": db, "app": app, "people": people, "ids": ids, "home": first, "second": second,
            "stranger": stranger.id, "brand": own, "metrics": metrics, "period": period,
            "foreign_project": foreign_project, "summary": summary}


def _csv(rows: list[list]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return "data:text/csv;base64," + base64.b64encode(buf.getvalue().encode()).decode()


def _good_values(world) -> list[float]:
    """A value inside each metric's range that the demo's random draws will not have hit exactly."""
    return [round(m.min_value + (m.max_value - m.min_value) * 0.3712, 4) for m in world["metrics"]]


def _good_rows(world) -> list[list]:
    brand, period = world["brand"], world["period"]
    return [["brand", "metric", "period", "value"],
            *[[brand.name, m.code, period.isoformat(), str(v)] for m, v in zip(world["metrics"], _good_values(world),
                                                                              strict=True)]]


def _bad_rows(world) -> list[list]:
    brand, period, code = world["brand"], world["period"].isoformat(), world["metrics"][0].code
    return [["brand", "metric", "period", "value"],
            [brand.name, code, period, "4.5"],
            ["No Such Brand", code, period, "1"],
            [brand.name, "no_such_metric", period, "1"],
            [brand.name, code, period[:7] + "-32", "1"],
            [brand.name, world["metrics"][1].code, period, "lots"]]


UPLOAD = "..import-token.data...import-upload-status.children.."  # the upload callback's own key
METRICS_LONG = json.dumps({"kind": "metrics", "layout": "long", "granularity": "month"})


def _upload(world, client, rows: list[list], filename: str = "values.csv") -> str:
    out = _ok(_post(world, client, UPLOAD, contents=_csv(rows), filename=filename))
    assert out["import-token"]["data"], json.dumps(out)
    return out["import-token"]["data"]


def _preview(world, client, token, organization_id=None, mapping=METRICS_LONG, kind="metrics", brand=None):
    return _post(world, client, "import-summary.children...import-errors", token=token, kind=kind, brand=brand,
                 organization_id=organization_id or world["home"], mapping_json=mapping)


def _commit(world, client, token, organization_id=None):
    return _post(world, client, "import-commit-result.children@", token=token,
                 organization_id=organization_id or world["home"])


def _stored(db, world) -> dict[int, float]:
    with db.session() as s:
        rows = s.execute(select(MetricValue.metric_id, MetricValue.raw_value).where(
            MetricValue.brand_id == world["brand"].id, MetricValue.period == world["period"])).all()
    return dict(rows)


def _count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_bad_file_lists_every_bad_row_and_writes_nothing(world):
    db, admin = world["db"], _client(world, ADMIN)
    before, batches = _stored(db, world), _count(db, ImportBatch)
    token = _upload(world, admin, _bad_rows(world))
    out = _ok(_preview(world, admin, token))
    errors = out["import-errors"]["rowData"]
    assert {(e["row"], e["column"]) for e in errors} >= {(4, "metric"), (5, "period"), (6, "value")}
    assert all(e["reason"] for e in errors) and 2 not in {e["row"] for e in errors}, errors
    assert out["import-errors-card"]["hidden"] is False and out["import-previewed"]["data"] is None
    assert "nothing can be committed" in json.dumps(out["import-summary"]["children"])
    # An administrator (portfolio:manage) may create the unknown brand of row 3 once the rest is fixed (issue 14).
    assert 3 not in {e["row"] for e in errors} and "No Such Brand" in json.dumps(out["import-summary"]["children"])
    # Commit posted by hand anyway: refused, nothing written.
    refused = _ok(_commit(world, admin, token))
    assert "Preview this file first" in json.dumps(refused)
    assert _stored(db, world) == before and _count(db, ImportBatch) == batches


def test_a_good_file_commits_once_with_a_batch_an_audit_event_and_new_scores(world):
    db, admin = world["db"], _client(world, ADMIN)
    with db.session() as s:
        scores_before = s.scalar(select(DCScore.score).where(
            DCScore.brand_id == world["brand"].id, DCScore.project_id == world["brand"].project_id,
            DCScore.period == world["period"], DCScore.level == "total"))
    token = _upload(world, admin, _good_rows(world))
    out = _ok(_preview(world, admin, token))
    summary = json.dumps(out["import-summary"]["children"])
    assert "No errors" in summary and out["import-errors"]["rowData"] == []
    assert out["import-previewed"]["data"]["token"] == token
    ready = _ok(_post(world, admin, "import-commit.disabled", previewed=out["import-previewed"]["data"],
                      token=token, organization_id=world["home"], kind="metrics", mapping_json=METRICS_LONG))
    assert ready["import-commit"]["disabled"] is False

    done = _ok(_commit(world, admin, token))
    text = json.dumps(done["import-commit-result"]["children"])
    assert "Committed as import batch" in text and "DC scores recomputed for" in text
    assert done["import-token"]["data"] is None
    stored = _stored(db, world)
    assert [stored[m.id] for m in world["metrics"]] == pytest.approx(_good_values(world), rel=1e-12)
    with db.session() as s:
        batch = s.scalars(select(ImportBatch)).one()
        assert (batch.organization_id, batch.user_id, batch.rows) == (world["home"], world["ids"][ADMIN], 3)
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.IMPORT_COMMITTED)).one()
        assert event.target_id == str(batch.id) and event.data["rows"] == 3 and event.data["sha256"] == batch.sha256
        assert s.scalar(select(func.count()).select_from(ImportUpload)) == 0  # the staged bytes are gone
        scores_after = s.scalar(select(DCScore.score).where(
            DCScore.brand_id == world["brand"].id, DCScore.project_id == world["brand"].project_id,
            DCScore.period == world["period"], DCScore.level == "total"))
    assert scores_after != scores_before
    assert verify_chain(db).ok
    _forbidden(_commit(world, admin, token))  # the token is spent: it names no upload any more


def test_the_commit_writes_only_the_previewed_file(world):
    db, admin = world["db"], _client(world, ADMIN)
    previewed = _upload(world, admin, _good_rows(world))
    _ok(_preview(world, admin, previewed))
    other = _upload(world, admin, _good_rows(world)[:2], filename="other.csv")  # a second file, never previewed
    refused = _ok(_commit(world, admin, other))
    assert "Preview this file first" in json.dumps(refused) and _count(db, ImportBatch) == 0
    # The browser says the previewed choices changed: Commit is disabled until a new preview.
    stale = _ok(_post(world, admin, "import-commit.disabled", previewed={"token": previewed}, token=other,
                      organization_id=world["home"], kind="metrics", mapping_json=METRICS_LONG))
    assert stale["import-commit"]["disabled"] is True
    # A clean preview that later fails is forgotten: previewing the bad file under the same token is impossible,
    # and a stored file whose bytes were altered is refused.
    with db.session() as s:
        row = s.get(ImportUpload, uploads._key(previewed))
        row.data = row.data.replace(world["brand"].name.encode(), b"Another brand")
    refused = _ok(_commit(world, admin, previewed))
    assert "does not match" in json.dumps(refused) and _count(db, ImportBatch) == 0


def test_other_organizations_and_other_peoples_uploads_are_refused(world):
    db, admin = world["db"], _client(world, ADMIN)
    token = _upload(world, admin, _good_rows(world))
    _forbidden(_preview(world, admin, token, organization_id=world["second"]))
    _forbidden(_commit(world, admin, token, organization_id=world["second"]))
    _forbidden(_post(world, admin, "import-brand.options", organization_id=world["second"]))
    theirs = uploads.stage_upload(db, load_principal(db, world["ids"]["System Administrator"]), "theirs.csv",
                                  b"brand,metric,period,value\n")
    _forbidden(_preview(world, admin, theirs.token))
    _forbidden(_commit(world, admin, theirs.token))
    brands = _ok(_post(world, admin, "import-brand.options", organization_id=world["home"]))
    assert world["brand"].name in brands["import-brand"]["options"]
    with db.session() as s:
        assert "Stranger" not in json.dumps(brands)
        assert s.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_upload_limits_have_clear_messages(world, monkeypatch):
    admin = _client(world, ADMIN)
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 50)
    big = _ok(_post(world, admin, UPLOAD, contents=_csv(_good_rows(world)),
                    filename="big.csv"))
    assert big["import-token"]["data"] is None and "the limit is" in json.dumps(big)
    wrong = _ok(_post(world, admin, UPLOAD, contents=_csv([["a"]]), filename="notes.pdf"))
    assert "not a CSV or XLSX file" in json.dumps(wrong)


def test_mappings_follow_the_kind_and_a_bad_mapping_is_explained(world):
    admin = _client(world, ADMIN)
    marketing = _ok(_post(world, admin, "import-mapping-choice.options", kind="marketing"))["import-mapping-choice"]
    assert {"marketing-long", "robyn_weekly", "meridian_national"} <= {o["value"] for o in marketing["options"]}
    text = _ok(_post(world, admin, "import-columns-form.children...", name="robyn_weekly", kind="marketing"))
    assert json.loads(text["import-mapping"]["value"])["date_column"] == "DATE"
    token = _upload(world, admin, _good_rows(world))
    broken = _ok(_preview(world, admin, token, mapping="{not json"))
    assert "not valid JSON" in json.dumps(broken)
    wrong = _ok(_preview(world, admin, token, mapping=json.dumps({"kind": "metrics", "layout": "diagonal"})))
    assert "layout" in json.dumps(wrong["import-errors"]["rowData"])


@pytest.mark.parametrize("role", ["Portfolio Manager", "Brand Manager", "Analyst", "Viewer"])
def test_roles_without_the_permissions_get_403(world, role):
    client = _client(world, role)
    for path in ("/admin/import", "/admin/settings"):
        assert client.get(path).status_code == 403
    keys = [k for k, e in world["app"].callback_map.items()
            if getattr(e.get("callback"), "dc_protection", None) is not None
            and e["callback"].dc_protection.permission in ("metrics:import", "settings:manage")]
    assert len(keys) >= 9
    for key in keys:
        response = _post(world, client, key, organization_id=world["home"])
        assert response.status_code == 403, f"{role} ran {key}"


def _save(world, client, organization_id=None, **values):
    return _post(world, client, "settings-result.children", organization_id=organization_id or world["home"],
                 **{**GOOD_SETTINGS, **values})


def test_settings_read_validate_save_and_audit(world):
    db, admin = world["db"], _client(world, ADMIN)
    loaded = _ok(_post(world, admin, "settings-password_min_length.value", organization_id=world["home"]))
    assert loaded["settings-password_min_length"]["value"] == 12 and loaded["settings-mfa_policy"]["value"] == \
        "administrators"
    bad = _ok(_save(world, admin, password_min_length=8, lockout_minutes=0, alert_anomaly_z="abc", alert_roas_floor=50))
    assert bad["settings-password_min_length"]["invalid"] is True and bad["settings-lockout_minutes"]["invalid"]
    assert bad["settings-alert_roas_floor-feedback"]["children"] == ("Marginal-ROAS alert floor must be a number "
                                                                     "between 0.1 and 10.")
    assert "between 12 and 64" in bad["settings-password_min_length-feedback"]["children"]
    assert "Nothing was saved" in json.dumps(bad["settings-result"])
    with db.session() as s:
        assert s.get(OrganizationSecurity, world["home"]) is None
    saved = _ok(_save(world, admin, password_min_length=16, alert_drop_threshold=2.5))
    text = json.dumps(saved["settings-result"])
    assert "Minimum password length: 12 \\u2192 16" in text and "Score-drop alert (points): 5 \\u2192 2.5" in text
    with db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.SETTINGS_CHANGED,
                                                   AuditEvent.organization_id == world["home"])).one()
    assert event.data["changes"] == {"password_min_length": {"before": 12, "after": 16},
                                     "alert_drop_threshold": {"before": 5.0, "after": 2.5}}
    assert "Nothing changed" in json.dumps(_ok(_save(world, admin, password_min_length=16, alert_drop_threshold=2.5)))
    _forbidden(_save(world, admin, organization_id=world["second"]))
    _forbidden(_post(world, admin, "settings-password_min_length.value", organization_id=world["second"]))
    with db.session() as s:
        assert s.get(OrganizationSecurity, world["second"]) is None


def test_security_alert_thresholds_and_contacts_on_the_settings_page(world):
    db, admin = world["db"], _client(world, ADMIN)
    loaded = _ok(_post(world, admin, "settings-password_min_length.value", organization_id=world["home"]))
    assert loaded["settings-lockout_burst_accounts"]["value"] == 5
    assert loaded["settings-security_contacts"]["value"] == ""
    bad = _ok(_save(world, admin, denial_spike_count=2, security_contacts="soc@acme.example\nsoc at acme",
                    security_webhook_url="https://user:pw@hooks.example/x"))
    assert bad["settings-denial_spike_count"]["invalid"] is True
    assert bad["settings-denial_spike_count-feedback"]["children"] == \
        "Refusals of one person in a spike must be a whole number between 3 and 10000."
    assert "“soc at acme” is not an e-mail address" in bad["settings-security_contacts-feedback"]["children"]
    assert "must not carry a user name or password" in bad["settings-security_webhook_url-feedback"]["children"]
    saved = json.dumps(_ok(_save(world, admin, denial_spike_count=8, security_contacts="soc@acme.example\n")))
    assert "Denial spike: refusals of one person: 20 \\u2192 8" in saved
    assert "Security contacts: nobody \\u2192 soc@acme.example" in saved
    loaded = _ok(_post(world, admin, "settings-password_min_length.value", organization_id=world["home"]))
    assert loaded["settings-security_contacts"]["value"] == "soc@acme.example"
    with db.session() as s:
        assert s.get(OrganizationSecurity, world["home"]).security_contacts == ["soc@acme.example"]


def _currency(db, organization_id) -> tuple:
    with db.session() as s:
        org = s.get(Organization, organization_id)
        return org.currency, org.outcome_unit


@pytest.mark.parametrize(("currency", "outcome_unit", "field", "words"), [
    ("RS", "revenue", "currency", "ISO 4217 code such as INR"),
    ("rupees", "revenue", "currency", "“rupees” is not one"),
    ("INR", "<b>sales</b>", "outcome_unit", "named in words"),
    ("INR", "USD", "outcome_unit", "named in words"),  # a currency is not a count
])
def test_a_bad_currency_or_outcome_is_refused_in_words_and_nothing_changes(world, currency, outcome_unit, field,
                                                                           words):
    db, admin = world["db"], _client(world, ADMIN)
    before = _currency(db, world["home"])
    assert before == ("INR", "revenue")  # the demo's money is rupees (its catalogue and alerts say INR)
    bad = _ok(_save(world, admin, currency=currency, outcome_unit=outcome_unit, password_min_length=16))
    assert words in bad[f"settings-{field}-feedback"]["children"]
    assert "Nothing was saved" in json.dumps(bad["settings-result"])
    assert _currency(db, world["home"]) == before
    with db.session() as s:
        assert s.get(OrganizationSecurity, world["home"]) is None  # the valid password length was not saved either


def test_a_new_currency_and_outcome_are_saved_audited_and_read_back(world):
    db, admin = world["db"], _client(world, ADMIN)
    loaded = _ok(_post(world, admin, "settings-password_min_length.value", organization_id=world["home"]))
    assert loaded["settings-currency"]["value"] == "INR" and loaded["settings-outcome_unit"]["value"] == "revenue"
    saved = _ok(_save(world, admin, currency="eur", outcome_unit="  Conversions "))
    assert "Currency: INR \\u2192 EUR" in json.dumps(saved["settings-result"])
    assert _currency(db, world["home"]) == ("EUR", "conversions")
    assert _currency(db, world["second"]) == ("INR", "revenue")
    with db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.SETTINGS_CHANGED)).one()
        assert event.data["changes"]["currency"] == {"before": "INR", "after": "EUR"}
        assert s.get(OrganizationSecurity, world["home"]) is None  # only the organization's row changed
    _forbidden(_save(world, admin, organization_id=world["second"], currency="USD"))
    assert _currency(db, world["second"]) == ("INR", "revenue")


def test_mfa_for_everyone_forces_enrolment_at_the_next_sign_in(world):
    analyst = world["people"]["Analyst"].email
    first = sign_in(world["app"].server.test_client(), analyst)
    assert first.status_code == 302 and "/login" not in first.location
    _ok(_save(world, _client(world, ADMIN), mfa_policy="everyone"))
    response = sign_in(world["app"].server.test_client(), analyst)
    assert response.status_code == 302 and "/login/enrol" in response.location
    accounts = world["app"].server.extensions["digicadence.accounts"]
    assert accounts.mfa_required(world["ids"]["Analyst"])


def test_password_length_and_lockout_follow_the_organization(world):
    db, accounts = world["db"], world["app"].server.extensions["digicadence.accounts"]
    _ok(_save(world, _client(world, ADMIN), password_min_length=20, lockout_threshold=3))
    analyst_id, email = world["ids"]["Analyst"], world["people"]["Analyst"].email
    with pytest.raises(PasswordRejected) as refused:
        accounts.change_password(analyst_id, DEMO_PASSWORD, "quiet-harbour-lamp7")  # 19 characters
    assert refused.value.messages == ["it must have at least 20 characters"]
    accounts.change_password(analyst_id, DEMO_PASSWORD, "quiet-harbour-lantern-7")
    for attempt in range(3):
        result = accounts.authenticate(email, "wrong-password-000")
        assert (result.locked_until is not None) == (attempt == 2)
    assert accounts.authenticate(email, "quiet-harbour-lantern-7").reason == "locked"
    temporary = accounts.admin_reset_password(load_principal(db, world["ids"][ADMIN]), world["ids"]["Viewer"])
    assert len(temporary) >= 20


def _alerts(world, client, project_id, threshold=None) -> str:
    out = _ok(_post(world, client, "portfolio-alerts.children", project_id=project_id, threshold=threshold))
    return json.dumps(out["portfolio-alerts"]["children"])


def test_alert_thresholds_are_the_organization_default_and_the_page_overrides(world):
    admin, manager = _client(world, ADMIN), _client(world, "Portfolio Manager")
    summary = world["summary"]
    planted = next(a for a in summary.anomalies if a["period"] == summary.last_period.isoformat()
                   and a["organization"] == summary.organizations[0])
    with world["db"].session() as s:
        project = s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == planted["brand_id"])).first()
    default = _alerts(world, manager, project)
    assert default == _alerts(world, manager, project, threshold=5)
    assert '"anomaly"' in default  # the demo plants anomalies in its last month
    _ok(_save(world, admin, alert_drop_threshold=0.5, alert_anomaly_z=10.0))
    strict = _alerts(world, manager, project)
    assert strict.count('"anomaly"') < default.count('"anomaly"')
    assert strict.count('"score drop"') > default.count('"score drop"')
    assert _alerts(world, manager, project, threshold=50).count("score drop") == 0  # the page still overrides
    assert manager.get(f"/?project={project}").status_code == 200


def test_a_system_administrator_chooses_among_all_organizations(world):
    db, second = world["db"], world["second"]
    root = _client(world, "System Administrator")
    assert root.get("/admin/import").status_code == 200 and root.get("/admin/settings").status_code == 200
    principal = load_principal(db, world["ids"]["System Administrator"])
    assert {o["id"] for o in uploads.import_organizations(db, principal)} == {world["home"], second}
    org_admin = load_principal(db, world["ids"][ADMIN])
    assert [o["id"] for o in uploads.import_organizations(db, org_admin)] == [world["home"]]
    saved = _ok(_save(world, root, organization_id=second, lockout_minutes=60))
    assert "Lockout length (minutes): 30 \\u2192 60" in json.dumps(saved["settings-result"])
    with db.session() as s:
        assert s.get(OrganizationSecurity, second).lockout_minutes == 60
        assert s.get(OrganizationSecurity, world["home"]) is None
