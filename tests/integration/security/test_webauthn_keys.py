"""Security keys and passkeys in the core: registration, second factor, passkey sign-in, the counter
rule against cloned keys, single-use challenges, the administrators' key policy and the audited reset.

The keys are `tests.soft_authenticator.SoftKey`: real P-256 signatures over real authenticator data,
so the `webauthn` package's verification runs as it does for a browser.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models.security import AuditEvent, SecurityKey, User
from core.security import webauthn_keys as wk
from core.security.audit import Action, verify_chain
from core.security.authorizer import Forbidden
from core.security.passwords import hash_password
from core.security.principal import load_principal
from core.security.security_key_policy import code_refused, key_enrolment_needed, remove_own_key, reset_keys
from core.settings import read_settings, save_settings
from tests.integration.security.conftest import FAST, add_user
from tests.soft_authenticator import SoftKey

RP = wk.RelyingParty(id="localhost", origin="http://localhost:8050")
PASSWORD = "tangerine-kayak-orbit"


def _user(db, world, email="lena@a.example", grants=()) -> int:
    return add_user(db, world, email, "A", grants, password_hash=hash_password(PASSWORD, rounds=4))


def _register(db, user_id: int, name="Blue key", passkey=True, key: SoftKey | None = None) -> SoftKey:
    key = key or SoftKey()
    store: dict = {}
    options = wk.begin_registration(db, RP, store, user_id, name=name, passkey=passkey)
    wk.finish_registration(db, RP, store, user_id, key.create(options))
    return key


def _sign_in(db, key: SoftKey, user_id: int | None = None, **kwargs) -> int:
    store: dict = {}
    options = wk.begin_authentication(db, RP, store, user_id)
    return wk.finish_authentication(db, RP, store, key.get(options, **kwargs))


def _events(db, action: str) -> list[AuditEvent]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_register_several_keys_name_rename_and_remove(db, world):
    user = _user(db, world)
    first = _register(db, user, "Blue key", passkey=True)
    store: dict = {}
    options = wk.begin_registration(db, RP, store, user, name="  Spare   key ", passkey=False)
    assert [c["id"] for c in options["excludeCredentials"]] == [wk.bytes_to_base64url(first.credential_id)]
    assert options["authenticatorSelection"]["residentKey"] == "discouraged"
    wk.finish_registration(db, RP, store, user, SoftKey().create(options))
    keys = wk.list_keys(db, user)
    assert [(k["name"], k["passkey"], k["transports"]) for k in keys] == [
        ("Blue key", True, ["usb"]), ("Spare key", False, ["usb"])]
    with db.session() as s:
        handles = set(s.scalars(select(SecurityKey.user_handle).where(SecurityKey.user_id == user)))
    assert len(handles) == 1, "one user handle for all of a person's keys"
    assert wk.rename_key(db, user, keys[1]["id"], "Backup key")["name"] == "Backup key"
    wk.remove_key(db, user, keys[0]["id"])
    assert [k["name"] for k in wk.list_keys(db, user)] == ["Backup key"]
    assert [len(_events(db, a)) for a in (Action.SECURITY_KEY_ADDED, Action.SECURITY_KEY_RENAMED,
                                          Action.SECURITY_KEY_REMOVED)] == [2, 1, 1]
    assert _events(db, Action.SECURITY_KEY_ADDED)[0].personal == {"key_name": "Blue key"}
    assert verify_chain(db).ok


def test_bad_names_and_other_peoples_keys_change_nothing(db, world):
    user, other = _user(db, world), _user(db, world, "omar@a.example")
    _register(db, other, "Omar's key")
    theirs = wk.list_keys(db, other)[0]["id"]
    for bad in ("", "   ", "x" * 61, "bell\x07", "zero\u200bwidth", None, 42):
        with pytest.raises(wk.KeyRefused) as refused:
            wk.begin_registration(db, RP, {}, user, name=bad, passkey=True)
        assert refused.value.reason == "bad_name" and "1 to 60 characters" in str(refused.value)
    for action in (lambda: wk.rename_key(db, user, theirs, "Mine now"), lambda: wk.remove_key(db, user, theirs),
                   lambda: wk.remove_key(db, user, "1; drop table"), lambda: wk.remove_key(db, user, 10**30)):
        with pytest.raises(wk.KeyRefused):
            action()
    assert not wk.owns_key(db, user, theirs) and wk.owns_key(db, other, theirs)
    assert [k["name"] for k in wk.list_keys(db, other)] == ["Omar's key"]


def test_a_challenge_works_once_and_not_after_it_expires(db, world):
    user = _user(db, world)
    key = SoftKey()
    store: dict = {}
    options = wk.begin_registration(db, RP, store, user, name="Key", passkey=True)
    answer = key.create(options)
    wk.finish_registration(db, RP, store, user, answer)
    with pytest.raises(wk.KeyRefused) as again:
        wk.finish_registration(db, RP, store, user, answer)
    assert again.value.reason == wk.EXPIRED
    options = wk.begin_authentication(db, RP, store, user, now=1000.0)
    with pytest.raises(wk.KeyRefused) as late:
        wk.finish_authentication(db, RP, store, key.get(options), now=1000.0 + wk.CEREMONY_TTL_S + 1)
    assert late.value.reason == wk.EXPIRED and wk.STATE_KEY not in store
    # An answer to another challenge, or from another site, is refused too.
    wk.begin_authentication(db, RP, store, user)
    with pytest.raises(wk.KeyRefused) as other:
        wk.finish_authentication(db, RP, store, key.get({"challenge": wk.bytes_to_base64url(b"x" * 32)}))
    assert other.value.reason == wk.INVALID
    options = wk.begin_authentication(db, RP, store, user)
    with pytest.raises(wk.KeyRefused):
        wk.finish_authentication(db, RP, store, key.get(options, origin="https://evil.example"))


def test_a_key_is_a_second_factor_after_the_password(db, world, accounts):
    user = _user(db, world)
    assert accounts.authenticate("lena@a.example", PASSWORD).complete, "no second factor yet"
    key = _register(db, user, passkey=False)
    result = accounts.authenticate("lena@a.example", PASSWORD)
    assert result.ok and result.mfa_required and not result.complete
    assert _sign_in(db, key, user, user_verified=False) == user  # possession is the second factor
    with db.session() as s:
        row = s.scalar(select(SecurityKey).where(SecurityKey.user_id == user))
        assert row.sign_count == 1 and row.last_used_at is not None
    assert _events(db, Action.SIGN_IN)[-1].data == {"factor": "security_key", "key_id": row.id}


def test_a_wrong_or_removed_key_is_refused_audited_and_counted(db, world, accounts):
    user, other = _user(db, world), _user(db, world, "omar@a.example")
    mine, theirs = _register(db, user), _register(db, other)
    store: dict = {}
    options = wk.begin_authentication(db, RP, store, user)
    with pytest.raises(wk.KeyRefused) as wrong:
        wk.finish_authentication(db, RP, store, theirs.get(options),
                                 count_failure=lambda s, u: accounts._count_failure(s, u, {}))
    assert wrong.value.reason == wk.WRONG_USER
    assert _events(db, Action.MFA_FAILED)[-1].data == {"reason": wk.WRONG_USER, "factor": "security_key"}
    with db.session() as s:
        assert s.get(User, user).failed_attempts == 1
    with pytest.raises(wk.KeyRefused) as stranger:
        _sign_in(db, SoftKey())  # never registered, as a passkey
    assert stranger.value.reason == wk.UNKNOWN_KEY
    wk.remove_key(db, user, wk.list_keys(db, user)[0]["id"])
    with pytest.raises(wk.KeyRefused) as removed:
        _sign_in(db, mine)
    assert removed.value.reason == wk.UNKNOWN_KEY
    assert [e.data["reason"] for e in _events(db, Action.SIGN_IN_FAILED)] == [wk.UNKNOWN_KEY, wk.UNKNOWN_KEY]


def test_passkey_sign_in_needs_user_verification_and_an_active_account(db, world):
    user = _user(db, world)
    key = _register(db, user, passkey=True)
    assert _sign_in(db, key) == user
    assert _events(db, Action.SIGN_IN)[-1].data["factor"] == "passkey"
    with pytest.raises(wk.KeyRefused) as unverified:
        _sign_in(db, key, user_verified=False)
    assert unverified.value.reason == wk.INVALID
    with db.session() as s:
        s.get(User, user).is_active = False
    with pytest.raises(wk.KeyRefused) as disabled:
        _sign_in(db, key)
    assert disabled.value.reason == wk.NOT_ALLOWED


def test_a_cloned_key_with_a_stale_counter_is_refused_and_audited(db, world, accounts):
    user = _user(db, world)
    original = _register(db, user)
    clone = original.clone()  # the copy made while the counter stood at 0
    assert _sign_in(db, original) == user  # counter 1
    assert _sign_in(db, original) == user  # counter 2
    with pytest.raises(wk.KeyRefused) as refused:
        _sign_in(db, clone)  # presents 1, not above the stored 2
    assert refused.value.reason == wk.CLONED and "copied" in str(refused.value)
    [alarm] = _events(db, Action.SECURITY_KEY_CLONE_SUSPECTED)
    assert (alarm.data["stored_count"], alarm.data["presented_count"]) == (2, 1)
    with db.session() as s:
        assert s.scalar(select(SecurityKey.sign_count).where(SecurityKey.user_id == user)) == 2, "unchanged"
    clone.sign_count = 1  # the same counter again (a replay) is refused as well
    with pytest.raises(wk.KeyRefused):
        _sign_in(db, clone)
    assert _sign_in(db, original) == user  # the real key, moving on, still works


class _Uncounted(SoftKey):
    """An authenticator that never counts (many passkey providers): its counter is always 0."""

    def get(self, options, **kwargs):
        self.sign_count = -1  # get() adds one
        return super().get(options, **kwargs)


def test_authenticators_without_a_counter_sign_in_repeatedly(db, world):
    user = _user(db, world)
    key = _register(db, user, key=_Uncounted())
    assert [_sign_in(db, key) for _ in range(3)] == [user] * 3


def test_admins_can_be_required_to_use_a_key(db, world, accounts, org_admin):
    admin = org_admin.user_id
    analyst = _user(db, world, "ana@a.example", [("Analyst", "organization", "A")])
    assert not key_enrolment_needed(db, admin)
    current = read_settings(db, org_admin, world.orgs["A"], FAST)
    assert current.security_key_for_admins is False
    with pytest.raises(Exception, match="either on or off"):
        save_settings(db, org_admin, world.orgs["A"], {**current.values(), "security_key_for_admins": "yes"}, FAST)
    _, changes = save_settings(db, org_admin, world.orgs["A"], {**current.values(), "security_key_for_admins": True},
                               FAST)
    assert changes == {"security_key_for_admins": [False, True]}
    assert key_enrolment_needed(db, admin) and not code_refused(db, admin)
    assert not key_enrolment_needed(db, analyst), "the rule is for administrators"
    _register(db, admin)
    assert not key_enrolment_needed(db, admin) and code_refused(db, admin)
    only = wk.list_keys(db, admin)[0]["id"]
    with pytest.raises(wk.KeyRefused, match="keep a security key"):
        remove_own_key(db, admin, only)  # the last key of an administrator under the rule stays
    _register(db, admin, "Spare")
    remove_own_key(db, admin, only)
    assert [k["name"] for k in wk.list_keys(db, admin)] == ["Spare"]


def test_an_administrator_resets_a_persons_keys_audited(db, world, accounts, org_admin):
    user = _user(db, world, grants=[("Analyst", "organization", "A")])
    key = _register(db, user)
    _register(db, user, "Second")
    with db.session() as s:
        epoch = s.get(User, user).session_epoch
    viewer = load_principal(db, _user(db, world, "vic@a.example", [("Viewer", "organization", "A")]))
    with pytest.raises(Forbidden):
        reset_keys(accounts, viewer, user)
    assert len(wk.list_keys(db, user)) == 2, "a refused reset removes nothing"
    reset_keys(accounts, org_admin, user)
    assert wk.list_keys(db, user) == []
    [event] = _events(db, Action.SECURITY_KEYS_RESET)
    assert (event.actor_id, event.target_id, event.data) == (org_admin.user_id, str(user), {"removed": 2})
    with db.session() as s:
        assert s.get(User, user).session_epoch == epoch + 1, "their sessions end"
    with pytest.raises(wk.KeyRefused):
        _sign_in(db, key)
    assert verify_chain(db).ok


def test_the_data_download_lists_keys_and_erasure_removes_them(db, world, accounts, org_admin):
    user = _user(db, world, grants=[("Analyst", "organization", "A")])
    _register(db, user, "Blue key")
    assert [k["name"] for k in accounts.download_my_data(user)["security_keys"]] == ["Blue key"]
    accounts.erase_user(org_admin, user)
    assert wk.list_keys(db, user) == []


def test_failed_passkey_answers_count_toward_the_lockout_like_wrong_passwords(db, world, accounts):
    """A passkey of the person's own that keeps failing (here: no user verification) locks the account after
    the organization's threshold, as wrong passwords do; the real answer is then refused until the lock ends.
    A stranger's unknown key names no account and locks nobody."""
    user = _user(db, world)
    key = _register(db, user, passkey=True)
    counted = {"count_failure": lambda s, u: accounts._count_failure(s, u, {})}
    threshold = accounts.settings.lockout_threshold
    for attempt in range(1, threshold + 1):
        store: dict = {}
        options = wk.begin_authentication(db, RP, store, None)
        with pytest.raises(wk.KeyRefused) as refused:
            wk.finish_authentication(db, RP, store, key.get(options, user_verified=False), **counted)
        assert refused.value.reason == wk.INVALID
        with db.session() as s:
            row = s.get(User, user)
            assert (row.locked_until is not None) == (attempt == threshold), attempt
    assert len(_events(db, Action.LOCKED)) == 1
    store = {}
    options = wk.begin_authentication(db, RP, store, None)
    with pytest.raises(wk.KeyRefused) as locked:
        wk.finish_authentication(db, RP, store, key.get(options), **counted)
    assert locked.value.reason == wk.NOT_ALLOWED
    other = _user(db, world, "omar@a.example")
    for _ in range(threshold + 1):
        store = {}
        options = wk.begin_authentication(db, RP, store, None)
        with pytest.raises(wk.KeyRefused):
            wk.finish_authentication(db, RP, store, SoftKey().get(options), **counted)
    with db.session() as s:
        assert s.get(User, other).failed_attempts == 0 and s.get(User, other).locked_until is None
