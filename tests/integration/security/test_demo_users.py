"""Demo users: one per built-in role at a known scope, credentials from the environment or random."""

from __future__ import annotations

import pyotp
from cryptography.fernet import Fernet

from core.config import Config
from core.security.accounts import Accounts
from core.security.crypto import SecretBox
from core.security.demo_users import ensure_demo_users
from core.security.principal import load_principal
from tests.integration.security.conftest import FAST

CONFIG = Config.from_env({"DIGICADENCE_DEMO_PASSWORD": "demo-lantern-harbour", "SECRET_KEY": "s" * 32,
                          "DIGICADENCE_DEMO_TOTP_SECRET": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"})
FIXED = {"password": CONFIG.demo_password, "totp_secret": CONFIG.demo_totp_secret}


def test_demo_users_from_the_environment(db, world):
    box = SecretBox([Fernet.generate_key()])
    creds = ensure_demo_users(db, world.orgs["A"], world.orgs["B"], **FIXED, settings=FAST, box=box)
    by_role = {c.role: c for c in creds}
    assert set(by_role) == {"System Administrator", "Organization Administrator", "Portfolio Manager",
                            "Brand Manager", "Analyst", "Viewer"}
    assert by_role["System Administrator"].email == "admin@demo.digicadence.test"
    assert (by_role["System Administrator"].scope_type, by_role["Analyst"].scope_type,
            by_role["Brand Manager"].scope_type) == ("system", "project", "brand")
    assert by_role["Organization Administrator"].totp_secret == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    assert by_role["Viewer"].totp_secret is None
    accounts = Accounts(db, FAST, box)
    for cred in creds:
        result = accounts.authenticate(cred.email, "demo-lantern-harbour")
        assert result.ok, cred.role
        assert result.mfa_required == (cred.totp_secret is not None)
        principal = load_principal(db, result.user_id)
        assert principal.all_permissions, cred.role
    admin = accounts.authenticate("admin@demo.digicadence.test", "demo-lantern-harbour")
    assert accounts.verify_mfa(admin.user_id, pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").now())
    viewer = load_principal(db, accounts.authenticate("viewer@demo.digicadence.test", "demo-lantern-harbour").user_id)
    assert set(viewer.brands) == {by_role["Viewer"].scope_id}
    # a second run keeps the accounts and grants
    again = ensure_demo_users(db, world.orgs["A"], **FIXED, settings=FAST, box=box)
    assert [c.password for c in again] == [None] * 6


def test_random_demo_credentials_are_returned_once(db, world):
    box = SecretBox([Fernet.generate_key()])
    creds = ensure_demo_users(db, world.orgs["A"], settings=FAST, box=box)
    passwords = [c.password for c in creds]
    assert all(passwords) and len(set(passwords)) == 6
    accounts = Accounts(db, FAST, box)
    assert all(accounts.authenticate(c.email, c.password).ok for c in creds)
    again = ensure_demo_users(db, world.orgs["A"], settings=FAST, box=box)
    assert all(c.password is None and c.totp_secret is None for c in again)
