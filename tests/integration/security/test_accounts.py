"""Accounts service: sign-in with lockout, MFA, password history, admin actions, erasure, export."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text

from core.models.security import AuditEvent, User
from core.security import accounts as acc
from core.security.accounts import Accounts, InvalidCredentials
from core.security.audit import Action, verify_chain
from core.security.authorizer import Forbidden
from core.security.crypto import SecretBox
from core.security.passwords import REUSED, PasswordRejected, hash_password
from core.security.principal import load_principal
from core.settings import read_settings, save_settings
from tests.integration.security.conftest import FAST, add_user

PASSWORD = "tangerine-kayak-orbit"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _user(db, world, email="lena@a.example", grants=()) -> int:
    return add_user(db, world, email, "A", grants, password_hash=hash_password(PASSWORD, rounds=4))


def _actions(db) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_sign_in_and_generic_failures(db, world, accounts):
    user = _user(db, world)
    ok = accounts.authenticate("Lena@A.example ", PASSWORD, personal={"ip": "192.0.2.1"})
    assert ok.ok and ok.complete and ok.user_id == user and ok.reason == acc.OK
    unknown = accounts.authenticate("nobody@a.example", PASSWORD)
    wrong = accounts.authenticate("lena@a.example", "wrong-password-x")
    assert (unknown.reason, wrong.reason) == (acc.UNKNOWN_USER, acc.BAD_PASSWORD)
    assert unknown.message == wrong.message == acc.GENERIC_FAILURE
    assert _actions(db) == [Action.SIGN_IN, Action.SIGN_IN_FAILED, Action.SIGN_IN_FAILED]
    with db.session() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert events[0].personal == {"email": "lena@a.example", "ip": "192.0.2.1"}
        assert "email" not in json.dumps(events[1].data)  # personal data stays out of the hashed part


def test_lockout_after_five_failures_until_it_expires(db, world, accounts):
    user = _user(db, world)
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(4):
            assert accounts.authenticate("lena@a.example", "wrong-password-x").reason == acc.BAD_PASSWORD
        fifth = accounts.authenticate("lena@a.example", "wrong-password-x")
        assert fifth.reason == acc.BAD_PASSWORD and fifth.locked_until == START + timedelta(minutes=30)
        locked = accounts.authenticate("lena@a.example", PASSWORD)
        assert not locked.ok and locked.reason == acc.LOCKED and locked.message == acc.GENERIC_FAILURE
        clock.shift(timedelta(minutes=29, seconds=59))
        assert accounts.authenticate("lena@a.example", PASSWORD).reason == acc.LOCKED
        clock.shift(timedelta(seconds=2))
        assert accounts.authenticate("lena@a.example", PASSWORD).ok
    assert _actions(db).count(Action.LOCKED) == 1
    with db.session() as s:
        assert s.get(User, user).failed_attempts == 0


def test_lockout_threshold_and_duration_are_configurable(db, world):
    _user(db, world)
    service = Accounts(db, FAST.__class__(bcrypt_rounds=4, lockout_threshold=2, lockout_minutes=1),
                       SecretBox([Fernet.generate_key()]))
    with time_machine.travel(START, tick=False) as clock:
        service.authenticate("lena@a.example", "wrong-password-x")
        assert service.authenticate("lena@a.example", "wrong-password-x").locked_until == START + timedelta(minutes=1)
        assert service.authenticate("lena@a.example", PASSWORD).reason == acc.LOCKED
        clock.shift(timedelta(minutes=1, seconds=1))
        assert service.authenticate("lena@a.example", PASSWORD).ok


def test_admin_unlocks(db, world, accounts, org_admin):
    user = _user(db, world)
    for _ in range(5):
        accounts.authenticate("lena@a.example", "wrong-password-x")
    assert accounts.authenticate("lena@a.example", PASSWORD).reason == acc.LOCKED
    viewer = load_principal(db, add_user(db, world, "v@a.example", "A", [("Viewer", "organization", "A")]))
    with pytest.raises(Forbidden):
        accounts.unlock_user(viewer, user)
    accounts.unlock_user(org_admin, user)
    assert accounts.authenticate("lena@a.example", PASSWORD).ok
    assert Action.UNLOCKED in _actions(db)


def test_disabled_users_cannot_sign_in(db, world, accounts, org_admin):
    user = _user(db, world)
    accounts.disable_user(org_admin, user)
    assert accounts.authenticate("lena@a.example", PASSWORD).reason == acc.DISABLED
    accounts.enable_user(org_admin, user)
    assert accounts.authenticate("lena@a.example", PASSWORD).ok
    with pytest.raises(ValueError):
        accounts.disable_user(org_admin, org_admin.user_id)


def test_password_history_of_five(db, world, accounts):
    user = _user(db, world)
    with db.session() as s:  # the first password enters the history like any other
        accounts._set_password(s, s.get(User, user), PASSWORD, check=False)
    passwords = [PASSWORD] + [f"harbour-lantern-{n}x{n}q" for n in range(1, 6)]
    for current, new in itertools.pairwise(passwords[:5]):
        accounts.change_password(user, current, new)
    for old in passwords[:5]:  # the last five, the current one included, are refused
        with pytest.raises(PasswordRejected) as refused:
            accounts.change_password(user, passwords[4], old)
        assert refused.value.reasons == [REUSED]
    accounts.change_password(user, passwords[4], passwords[5])
    accounts.change_password(user, passwords[5], PASSWORD)  # now six back: allowed again
    with pytest.raises(InvalidCredentials):
        accounts.change_password(user, "not-the-current-one", "fresh-meadow-lantern")


def test_policy_applies_on_change_with_personal_data_and_org_composition(db, world, accounts, org_admin):
    user = add_user(db, world, "ishaan.mehta@a.example", "A", password_hash=hash_password(PASSWORD, rounds=4))
    with pytest.raises(PasswordRejected) as refused:
        accounts.change_password(user, PASSWORD, "mehta-the-great-1")
    assert refused.value.reasons == ["contains_email"]
    current = read_settings(db, org_admin, world.orgs["A"], FAST)
    save_settings(db, org_admin, world.orgs["A"], {**current.values(), "password_composition": True}, FAST)
    with pytest.raises(PasswordRejected) as refused:
        accounts.change_password(user, PASSWORD, "quiet-harbour-lantern")
    assert refused.value.reasons == ["composition"]
    accounts.change_password(user, PASSWORD, "Quiet-harbour-lantern-7")


def test_admin_reset_forces_a_change(db, world, accounts, org_admin):
    user = _user(db, world)
    temporary = accounts.admin_reset_password(org_admin, user)
    assert not accounts.authenticate("lena@a.example", PASSWORD).ok
    result = accounts.authenticate("lena@a.example", temporary)
    assert result.ok and result.must_change_password
    accounts.change_password(user, temporary, "fresh-meadow-lantern")
    assert not accounts.authenticate("lena@a.example", "fresh-meadow-lantern").must_change_password


def test_user_manager_cannot_take_over_a_stronger_account(db, world, accounts, org_admin):
    with db.session() as s:
        from core.models.security import Role
        role = Role(organization_id=world.orgs["A"], name="Helpdesk", permissions=["user:manage"])
        s.add(role)
        s.flush()
        role_id = role.id
    helpdesk = add_user(db, world, "help@a.example", "A")
    with db.session() as s:
        from core.models.security import RoleGrant
        s.add(RoleGrant(user_id=helpdesk, role_id=role_id, scope_type="organization", scope_id=world.orgs["A"]))
    actor = load_principal(db, helpdesk)
    plain = _user(db, world, "plain@a.example")
    accounts.admin_reset_password(actor, plain)
    with pytest.raises(Forbidden):
        accounts.admin_reset_password(actor, org_admin.user_id)


def test_create_user_with_temporary_password_and_with_invitation(db, world, accounts, org_admin):
    created = accounts.create_user(org_admin, email="New.Person@a.example", organization_id=world.orgs["A"],
                                   name="New Person")
    result = accounts.authenticate("new.person@a.example", created.temporary_password)
    assert result.ok and result.must_change_password
    with time_machine.travel(START, tick=False) as clock:
        invited = accounts.create_user(org_admin, email="inv@a.example", organization_id=world.orgs["A"], invite=True)
        assert invited.temporary_password is None and invited.invite_expires_at == START + timedelta(hours=72)
        with db.session() as s:
            stored = s.execute(text("SELECT token_hash FROM account_tokens")).scalar_one()
        assert stored != invited.invite_token and len(stored) == 64
        assert accounts.authenticate("inv@a.example", "").reason == acc.NO_PASSWORD
        clock.shift(timedelta(hours=1))
        assert accounts.accept_invite(invited.invite_token, "fresh-meadow-lantern") == invited.user_id
        with pytest.raises(InvalidCredentials):  # once only
            accounts.accept_invite(invited.invite_token, "fresh-meadow-lantern2")
        late = accounts.create_user(org_admin, email="late@a.example", organization_id=world.orgs["A"], invite=True)
        clock.shift(timedelta(hours=73))
        with pytest.raises(InvalidCredentials):
            accounts.accept_invite(late.invite_token, "fresh-meadow-lantern")
    assert accounts.authenticate("inv@a.example", "fresh-meadow-lantern").ok
    with pytest.raises(Forbidden):
        accounts.create_user(org_admin, email="x@b.example", organization_id=world.orgs["B"])
    with pytest.raises(Forbidden):
        accounts.create_user(org_admin, email="root2@ops.example", organization_id=None)


def test_totp_enrolment_accepts_a_code_once_and_recovery_codes_once(db, world, accounts, org_admin):
    user = _user(db, world, grants=[("Organization Administrator", "organization", "A")])
    first = accounts.authenticate("lena@a.example", PASSWORD)
    assert first.ok and first.mfa_enrolment_required and not first.complete
    assert accounts.mfa_required(user)
    with time_machine.travel(START, tick=False) as clock:
        enrolment = accounts.begin_mfa_enrolment(user)
        assert enrolment.provisioning_uri.startswith("otpauth://totp/") and "Digi-Cadence" in enrolment.provisioning_uri
        totp = pyotp.TOTP(enrolment.secret)
        codes = accounts.confirm_mfa_enrolment(user, totp.now())
        assert len(codes) == 10 and len(set(codes)) == 10
        assert accounts.authenticate("lena@a.example", PASSWORD).mfa_required
        assert not accounts.verify_mfa(user, totp.now())  # the step used to confirm is spent
        clock.shift(timedelta(seconds=30))
        code = totp.now()
        assert accounts.verify_mfa(user, code)
        assert not accounts.verify_mfa(user, code)  # replay refused
        assert accounts.verify_mfa(user, codes[0])
        assert not accounts.verify_mfa(user, codes[0])  # recovery codes are single-use
        assert accounts.verify_mfa(user, codes[1].lower().replace("-", " "))
    with db.session() as s:
        row = s.get(User, user)
        raw = s.execute(text("SELECT mfa_secret_encrypted FROM users WHERE id = :i"), {"i": user}).scalar_one()
        stored_codes = s.execute(text("SELECT code_hash FROM mfa_recovery_codes")).scalars().all()
    assert enrolment.secret not in raw and accounts.box.decrypt(raw) == enrolment.secret
    assert row.mfa_enabled and not set(codes) & set(stored_codes)
    accounts.reset_mfa(org_admin, user)
    with db.session() as s:
        assert s.get(User, user).mfa_secret_encrypted is None
    assert accounts.authenticate("lena@a.example", PASSWORD).mfa_enrolment_required
    assert _actions(db).count(Action.MFA_RESET) == 1


def test_key_rotation_keeps_mfa_working(db, world):
    old, new = Fernet.generate_key(), Fernet.generate_key()
    user = _user(db, world)
    before = Accounts(db, FAST, SecretBox([old]))
    with time_machine.travel(START, tick=False) as clock:
        enrolment = before.begin_mfa_enrolment(user)
        before.confirm_mfa_enrolment(user, pyotp.TOTP(enrolment.secret).now())
        clock.shift(timedelta(seconds=30))
        after = Accounts(db, FAST, SecretBox([new, old]))
        assert after.verify_mfa(user, pyotp.TOTP(enrolment.secret).now())


def test_wrong_mfa_codes_count_toward_lockout(db, world, accounts):
    user = _user(db, world)
    enrolment = accounts.begin_mfa_enrolment(user)
    accounts.confirm_mfa_enrolment(user, pyotp.TOTP(enrolment.secret).now())
    for _ in range(5):
        assert not accounts.verify_mfa(user, "000000")
    assert accounts.authenticate("lena@a.example", PASSWORD).reason == acc.LOCKED


def _wrong_code(totp: pyotp.TOTP) -> str:
    """A six-digit code no nearby time-step accepts."""
    near = {totp.at(datetime.now(UTC) + timedelta(seconds=30 * k)) for k in range(-3, 4)}
    return next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in near)


def test_a_correct_password_between_wrong_codes_does_not_reset_the_lockout(db, world, accounts):
    """Issue 12 item 3: with the password known, wrong codes alternated with correct passwords
    still lock the account at five; only a passed second factor starts the count again."""
    user = _user(db, world)
    with time_machine.travel(START, tick=False) as clock:
        enrolment = accounts.begin_mfa_enrolment(user)
        totp = pyotp.TOTP(enrolment.secret)
        accounts.confirm_mfa_enrolment(user, totp.now())
        for _ in range(4):  # fewer than five, then the right code: the count starts again
            assert accounts.authenticate("lena@a.example", PASSWORD).mfa_required
            assert not accounts.verify_mfa(user, _wrong_code(totp))
        with db.session() as s:
            assert s.get(User, user).failed_attempts == 4
        clock.shift(timedelta(seconds=30))
        assert accounts.authenticate("lena@a.example", PASSWORD).mfa_required
        assert accounts.verify_mfa(user, totp.now())
        with db.session() as s:
            assert s.get(User, user).failed_attempts == 0
        for _ in range(5):
            first = accounts.authenticate("lena@a.example", PASSWORD)
            assert first.ok and first.mfa_required and not first.complete
            assert not accounts.verify_mfa(user, _wrong_code(totp))
        clock.shift(timedelta(seconds=30))
        assert accounts.authenticate("lena@a.example", PASSWORD).reason == acc.LOCKED
        assert not accounts.verify_mfa(user, totp.now())  # the right code too, while locked
    with db.session() as s:
        locked = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.LOCKED)).all()
        refused = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.MFA_FAILED)).all()
    assert len(locked) == 1 and locked[0].data["attempts"] == 5
    assert refused[-1].data == {"reason": acc.LOCKED}


def test_look_alike_addresses_and_names_are_refused(db, world, accounts, org_admin):
    """Issue 12 item 10: an address or name that only looks like another one is refused with a
    plain reason and nothing is written; equal-looking spellings are one account."""
    org = world.orgs["A"]
    lena = accounts.create_user(org_admin, email="  Lena@A.Example ", name="  Lena   Ray ", organization_id=org)
    with db.session() as s:
        row = s.get(User, lena.user_id)
        assert (row.email, row.name) == ("lena@a.example", "Lena Ray")
        users_before, events_before = s.scalar(select(func.count(User.id))), len(_actions(db))
    refused = {
        "lena@a.example\u200b": "invisible",  # zero-width space
        "\u200blena@a.example": "invisible",
        "lena\u2060@a.example": "invisible",  # word joiner
        "lena@a.example\u202e": "invisible",  # right-to-left override
        "l\u0435na@a.example": "different alphabets",  # Cyrillic е
        "lena@\u0430.example": "different alphabets",  # Cyrillic а in the domain
        "le na@a.example": "space",
        "lena.a.example": "not a valid",
        "ｌｅｎａ@Ａ.ＥＸＡＭＰＬＥ": "already exists",  # full width: the same address
        "LENA@a.example": "already exists",
    }
    for email, reason in refused.items():
        with pytest.raises(ValueError, match=reason):
            accounts.create_user(org_admin, email=email, name="Someone", organization_id=org)
    for name, reason in {"Lena\u200bRay": "invisible", "\u0410dmin": "different alphabets",
                         "Sys\u00adtem Administrator": "invisible", "x" * 201: "too long"}.items():
        with pytest.raises(ValueError, match=reason):
            accounts.create_user(org_admin, email="fresh@a.example", name=name, organization_id=org)
    with db.session() as s:
        assert s.scalar(select(func.count(User.id))) == users_before
    assert len(_actions(db)) == events_before
    mixed_words = accounts.create_user(org_admin, email="anna@a.example", name="Anna Иванова",
                                       organization_id=org)  # scripts side by side are a real name
    assert mixed_words.user_id

    password = lena.temporary_password
    for typed in ("LENA@A.EXAMPLE", "ｌｅｎａ@ａ.ｅｘａｍｐｌｅ", " lena@a.example "):
        assert accounts.authenticate(typed, password).ok, typed
    sneaky = accounts.authenticate("lena@a.example\u200b", password)
    assert not sneaky.ok and sneaky.reason == acc.UNKNOWN_USER and sneaky.message == acc.GENERIC_FAILURE
    for unstorable in ("\ud800@a.example", "le\x00na@a.example"):  # a lone surrogate, a NUL: no 500
        assert accounts.authenticate(unstorable, password).reason == acc.UNKNOWN_USER
    with db.session() as s:
        seen = [e.personal["email"] for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action == Action.SIGN_IN_FAILED).order_by(AuditEvent.id))]
    assert seen[-3:] == ["lena@a.example\\u200b", "\\ud800@a.example", "le\\u0000na@a.example"]


def test_erasure_removes_personal_data_and_keeps_the_chain(db, world, accounts, org_admin):
    user = _user(db, world, grants=[("Viewer", "brand", "Ab1")])
    with db.session() as s:
        s.get(User, user).name = "Lena Example"
    accounts.authenticate("lena@a.example", PASSWORD, personal={"ip": "192.0.2.7"})
    accounts.authenticate("lena@a.example", "wrong-password-x")
    export = accounts.download_my_data(user)
    json.dumps(export)  # JSON-able
    assert export["profile"]["email"] == "lena@a.example"
    assert export["grants"][0]["role"] == "Viewer"
    assert [e["action"] for e in export["audit_events"]] == [Action.SIGN_IN, Action.SIGN_IN_FAILED]
    accounts.erase_user(org_admin, user)
    assert verify_chain(db).ok
    with db.session() as s:
        row = s.get(User, user)
        assert (row.email, row.name, row.password_hash, row.is_active) == (f"erased-{user}@erased.invalid", "",
                                                                           None, False)
        dump = json.dumps([[e.data, e.personal] for e in s.scalars(select(AuditEvent))])
    assert "lena" not in dump.lower() and "192.0.2.7" not in dump
    assert not accounts.authenticate("lena@a.example", PASSWORD).ok
    assert load_principal(db, user).all_permissions == frozenset()
