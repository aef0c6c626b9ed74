"""Compliance reports (issue 18 item 4): access review, audit extract with the chain's check, retention
status and data-subject requests, for one organization, with `compliance:read` and nothing else."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select, update

from core import reports
from core.admin import request_erasure
from core.compliance import access_review, organizations, retention_status, subject_requests
from core.demo import seed_demo
from core.models import AuditEvent, Job, Organization, Role, RoleGrant, User
from core.ops.retention import set_policy
from core.security import Forbidden, load_principal
from core.security.accounts import Accounts
from core.security.crypto import SecretBox
from core.security.settings import SecuritySettings
from tests.support import demo_people

TODAY = date(2026, 12, 7)


@pytest.fixture
def org(db, tmp_path):
    return _world(db, tmp_path)


def _world(db, tmp_path) -> dict:
    """The demo, an auditor whose custom role holds compliance:read only, and one person of each organization."""
    seed_demo(db, seed=7, months=2)
    people = demo_people(db, tmp_path)
    with db.session() as s:
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        role = Role(name="Auditor", organization_id=first, permissions=["compliance:read"])
        auditor = User(email="auditor@demo.test", name="Ada Auditor", organization_id=first)
        stranger = User(email="stranger@other.test", name="Stranger", organization_id=second)
        s.add_all([role, auditor, stranger])
        s.flush()
        s.add(RoleGrant(user_id=auditor.id, role_id=role.id, scope_type="organization", scope_id=first))
        ids = {c.role: s.scalar(select(User.id).where(User.email == c.email)) for c in people.values()}
        ids.update(auditor=auditor.id, stranger=stranger.id)
    return {"db": db, "first": first, "second": second, "ids": ids}


def _principal(org, who: str):
    return load_principal(org["db"], org["ids"][who])


def _workbook(content: bytes):
    return load_workbook(io.BytesIO(content), read_only=True)


def _rows(book, sheet: str) -> list[tuple]:
    return [tuple(r) for r in book[sheet].iter_rows(values_only=True)]


def test_an_auditor_with_compliance_read_alone_gets_the_report_of_their_organization_only(org):
    db, auditor = org["db"], _principal(org, "auditor")
    assert [o["id"] for o in organizations(db, auditor)] == [org["first"]]
    params = {"organization_id": org["first"], "today": TODAY.isoformat()}
    book = _workbook(reports.render(db, auditor, "compliance", params, "xlsx").content)
    people = [r[0] for r in _rows(book, "Access review")]
    assert "auditor@demo.test" in people and "orgadmin@demo.digicadence.test" in people
    assert "stranger@other.test" not in people and "admin@demo.digicadence.test" not in people
    access = {r[0]: r for r in _rows(book, "Access review")}
    assert "Auditor (custom) — organization" in access["auditor@demo.test"][3]
    assert "authenticator app" in access["orgadmin@demo.digicadence.test"][5]  # the demo admin enrolled TOTP
    clearance = {person: row[4] for person, row in access.items()}  # the classification each may read
    assert clearance["auditor@demo.test"] == "Internal" and clearance["viewer@demo.digicadence.test"] == "Internal"
    assert clearance["portfolio@demo.digicadence.test"] == "Confidential"
    assert clearance["orgadmin@demo.digicadence.test"] == "Restricted"
    pdf = PdfReader(io.BytesIO(reports.render(db, auditor, "compliance", params, "pdf").content))
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert "Compliance report" in text and "hash chain verifies" in text

    with pytest.raises(Forbidden):  # the other organization, though it exists
        reports.render(db, auditor, "compliance", {**params, "organization_id": org["second"]}, "pdf")
    with pytest.raises(Forbidden):  # compliance:read gives no portfolio figures
        reports.render(db, auditor, "portfolio", {}, "pdf")
    for role in ("Viewer", "Analyst", "Portfolio Manager"):  # report:export is not compliance:read
        with pytest.raises(Forbidden):
            reports.render(db, _principal(org, role), "compliance", params, "xlsx")
    assert reports.render(db, _principal(org, "System Administrator"), "compliance",
                          {**params, "organization_id": org["second"]}, "xlsx").content


def test_bad_parameters_are_refused_in_words(org):
    db, auditor = org["db"], _principal(org, "auditor")
    first = org["first"]
    for params, words in (({"organization_id": first, "start": "2026-12-07", "end": "2026-11-01"}, "after it ends"),
                          ({"organization_id": first, "start": "yesterday"}, "a date like"),
                          ({"organization_id": first, "start": "2024-01-01", "end": "2026-01-01"}, "at most 366"),
                          ({"start": "2026-11-01"}, "organization_id is required"),
                          ({"organization_id": "x"}, "integer id"),
                          ({"organization_id": first, "brand_id": 3}, "unknown parameter")):
        with pytest.raises(ValueError, match=words):
            reports.check(db, auditor, "compliance", params, "pdf")


def test_data_subject_requests_say_where_each_stands(org):
    db, first = org["db"], org["first"]
    accounts = Accounts(db, SecuritySettings(bcrypt_rounds=4), SecretBox([Fernet.generate_key()]))
    viewer, analyst = org["ids"]["Viewer"], org["ids"]["Analyst"]
    accounts.download_my_data(viewer)
    request_erasure(db, viewer)
    request_erasure(db, analyst)
    accounts.erase_user(_principal(org, "Organization Administrator"), analyst)
    today = datetime.now(UTC).date()
    from core.compliance import read_period
    rows = subject_requests(db, first, read_period(None, None, today))
    states = [(r["request"], r["person"], r["state"]) for r in rows]
    assert ("Copy of personal data", "viewer@demo.digicadence.test", "handled: copy downloaded by the person") in states
    assert ("Erasure requested", "viewer@demo.digicadence.test", "open: awaiting an administrator") in states
    erased = [s for s in states if s[0] == "Erasure requested" and s[1] == f"erased person #{analyst}"]
    assert erased and erased[0][2].startswith("handled: erased "), states
    assert ("Erasure carried out", f"erased person #{analyst}", "handled: personal data erased") in states
    assert not any("analyst@" in r["person"] for r in rows)  # an erased person is not named again
    assert not subject_requests(db, org["second"], read_period(None, None, today))  # the other organization's own


def test_retention_says_when_the_oldest_rows_go_and_follows_the_policy(org):
    db, first = org["db"], org["first"]
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    with db.session() as s:
        s.add(Job(id="old-run", organization_id=first, kind="optimization", status="succeeded", payload={},
                  created_at=now - timedelta(days=100), finished_at=now - timedelta(days=100)))
    rows = {r["data"]: r for r in retention_status(db, first, now)}
    runs = rows["Finished runs and jobs"]
    assert runs["kept_days"] == 180 and runs["policy"] == "default"
    assert runs["next_goes"] == f"{now - timedelta(days=100) + timedelta(days=180):%Y-%m-%d}"
    assert rows["Exported files kept with their jobs"]["next_goes"] == "nothing to go"
    set_policy(db, first, jobs_days=60)
    runs = {r["data"]: r for r in retention_status(db, first, now)}["Finished runs and jobs"]
    assert runs["kept_days"] == 60 and runs["policy"] == "organization's own" and runs["next_goes"] == "at the next run"


def test_the_report_says_when_the_audit_chain_is_broken(sqlite_db, tmp_path):
    """On SQLite: PostgreSQL refuses to change an audit event at all (its append-only trigger)."""
    org = _world(sqlite_db, tmp_path)
    db = org["db"]
    with db.session() as s:
        victim = s.scalars(select(AuditEvent.id).where(AuditEvent.organization_id == org["first"])
                           .order_by(AuditEvent.id)).first()
        s.execute(update(AuditEvent).where(AuditEvent.id == victim).values(action="user.tampered"))
    params = {"organization_id": org["first"], "start": "2026-01-01", "end": datetime.now(UTC).date().isoformat()}
    pdf = PdfReader(io.BytesIO(reports.render(db, _principal(org, "auditor"), "compliance", params, "pdf").content))
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert f"event #{victim}" in text and "does NOT verify" in text.replace("\n", " ")


def test_access_review_marks_people_who_cannot_sign_in(org):
    db, first = org["db"], org["first"]
    now = datetime.now(UTC)
    with db.session() as s:
        s.execute(update(User).where(User.id == org["ids"]["Viewer"]).values(is_active=False))
        s.execute(update(User).where(User.id == org["ids"]["Analyst"]).values(locked_until=now + timedelta(hours=1)))
    status = {r["person"]: r["status"] for r in access_review(db, first, now)}
    assert status["viewer@demo.digicadence.test"] == "disabled"
    assert status["analyst@demo.digicadence.test"] == "locked"
    assert status["auditor@demo.test"] == "active"
