"""Tokens: sign-in, JWT attacks refused, refresh rotation and reuse, revocation, personal tokens."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import time_machine
from sqlalchemy import select

from core.models import ApiToken, RefreshToken, User
from core.security import load_principal
from core.security.api_tokens import AUDIENCE, ISSUER
from tests.integration.api.conftest import bearer, token_for
from tests.support import DEMO_PASSWORD


def _claims(client, token: str) -> tuple[dict, dict]:
    header = jwt.get_unverified_header(token)
    return header, jwt.decode(token, options={"verify_signature": False})


def _ring(app):
    return app.server.extensions["digicadence.api_credentials"].ring


def test_sign_in_returns_a_working_pair(client, world):
    pair = token_for(client, world["people"]["Analyst"])
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900
    header, claims = _claims(client, pair["access_token"])
    assert header["alg"] == "HS256" and header["kid"]
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE and claims["exp"] - claims["iat"] == 900
    me = client.get("/api/v1/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200 and me.get_json()["credential"] == "access"


def test_wrong_password_and_missing_code_are_refused(client, world):
    analyst = world["people"]["Analyst"]
    wrong = client.post("/api/v1/auth/token", json={"email": analyst.email, "password": "wrong-password-x"})
    nobody = client.post("/api/v1/auth/token", json={"email": "nobody@x.test", "password": "wrong-password-x"})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.get_json()["detail"] == nobody.get_json()["detail"]
    admin = world["people"]["Organization Administrator"]
    no_code = client.post("/api/v1/auth/token", json={"email": admin.email, "password": DEMO_PASSWORD})
    assert no_code.status_code == 401 and "access_token" not in no_code.get_json()


def test_lockout_applies_to_the_api_as_on_the_web(client, world):
    viewer = world["people"]["Viewer"]
    for _ in range(5):
        client.post("/api/v1/auth/token", json={"email": viewer.email, "password": "wrong-password-x"})
    locked = client.post("/api/v1/auth/token", json={"email": viewer.email, "password": DEMO_PASSWORD})
    assert locked.status_code == 401


def _forge(app, claims: dict, *, key: bytes | None = None, alg: str = "HS256", kid: str | None = None) -> str:
    ring = _ring(app)
    kid = kid or ring.current
    return jwt.encode(claims, key or ring.keys[ring.current], algorithm=alg, headers={"kid": kid})


def _good_claims(world, db) -> dict:
    with db.session() as s:
        user = s.scalar(select(User).where(User.email == world["people"]["Analyst"].email))
        now = datetime.now(UTC)
        return {"iss": ISSUER, "aud": AUDIENCE, "sub": str(user.id), "iat": now, "nbf": now,
                "exp": now + timedelta(minutes=5), "jti": "x1", "ep": user.session_epoch, "fam": "f"}


def test_jwt_attacks_are_refused(app, client, world, db):
    claims = _good_claims(world, db)
    ok = _forge(app, claims)
    assert client.get("/api/v1/auth/me", headers=bearer(ok)).status_code == 200  # the forge itself is sound

    def refused(token: str) -> None:
        response = client.get("/api/v1/brands", headers=bearer(token))
        assert response.status_code == 401 and response.content_type == "application/problem+json"
        assert "items" not in response.get_json()

    head = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT", "kid": _ring(app).current}).encode())
    body = base64.urlsafe_b64encode(json.dumps({**claims, "iat": 1, "nbf": 1, "exp": 2**40}).encode())
    refused(head.decode().rstrip("=") + "." + body.decode().rstrip("=") + ".")  # alg none
    refused(_forge(app, claims, key=b"another-secret-of-thirty-two-bytes!!"))  # wrong key
    refused(_forge(app, claims, kid="unknown-kid"))  # key id not in the ring
    refused(_forge(app, claims, alg="HS512"))  # not on the allow-list
    refused(_forge(app, {**claims, "exp": datetime.now(UTC) - timedelta(minutes=1)}))  # expired
    refused(_forge(app, {**claims, "nbf": datetime.now(UTC) + timedelta(minutes=5)}))  # not yet valid
    refused(_forge(app, {**claims, "aud": "someone-else"}))  # wrong audience
    refused(_forge(app, {**claims, "iss": "someone-else"}))  # wrong issuer
    refused(_forge(app, {k: v for k, v in claims.items() if k != "exp"}))  # a required claim missing
    header, payload, signature = ok.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["sub"] = str(int(tampered["sub"]) + 1)
    refused(".".join([header, base64.urlsafe_b64encode(json.dumps(tampered).encode()).decode().rstrip("="),
                      signature]))  # tampered payload
    refused("not-a-token")


def test_access_token_expires_after_fifteen_minutes(client, world):
    pair = token_for(client, world["people"]["Analyst"])
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=16)):
        assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(client, world, db):
    first = token_for(client, world["people"]["Analyst"])
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(second["access_token"])).status_code == 200
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    # The whole family is dead now: the newest refresh token and its access token too.
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(second["access_token"])).status_code == 401
    with db.session() as s:
        assert all(r.revoked_at is not None for r in s.scalars(select(RefreshToken)))
        assert all(len(r.token_hash) == 64 and not r.token_hash.startswith("dcr_") for r in s.scalars(
            select(RefreshToken)))


def test_revoke_ends_the_family(client, world):
    pair = token_for(client, world["people"]["Analyst"])
    assert client.post("/api/v1/auth/revoke", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401


@pytest.mark.parametrize("how", ["disable", "password", "epoch"])
def test_disabled_user_password_change_and_epoch_kill_tokens(app, client, world, db, how):
    analyst = world["people"]["Analyst"]
    pair = token_for(client, analyst)
    access = bearer(pair["access_token"])
    personal = client.post("/api/v1/auth/tokens", headers=access,
                           json={"name": "pipeline", "permissions": ["metrics:read"]}).get_json()["token"]
    accounts = app.server.extensions["digicadence.accounts"]
    with db.session() as s:
        user = s.scalar(select(User).where(User.email == analyst.email))
        admin_id = s.scalar(select(User.id).where(User.email == world["people"]["System Administrator"].email))
    if how == "disable":
        accounts.disable_user(load_principal(db, admin_id), user.id)
    elif how == "password":
        accounts.change_password(user.id, DEMO_PASSWORD, "an-entirely-new-passphrase-77")
    else:
        with db.session() as s:
            s.get(User, user.id).session_epoch += 1
    assert client.get("/api/v1/auth/me", headers=access).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(personal)).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_personal_token_is_scoped_shown_once_and_revocable(client, world, db):
    person = world["people"]["Analyst"]
    access = bearer(token_for(client, person)["access_token"])
    made = client.post("/api/v1/auth/tokens", headers=access,
                       json={"name": "nightly", "permissions": ["brand:read"], "expires_in_days": 7})
    assert made.status_code == 201
    created = made.get_json()
    secret = created["token"]
    listed = client.get("/api/v1/auth/tokens", headers=access).get_json()["items"]
    assert [t["name"] for t in listed] == ["nightly"] and "token" not in listed[0]
    with db.session() as s:
        assert s.scalar(select(ApiToken.token_hash)) != secret and secret not in str(s.scalar(select(ApiToken.prefix)))
    me = client.get("/api/v1/auth/me", headers=bearer(secret)).get_json()
    assert me["credential"] == "personal" and me["permissions"] == ["brand:read"]
    assert client.get("/api/v1/brands", headers=bearer(secret)).status_code == 200
    assert client.get("/api/v1/metric-values", headers=bearer(secret)).get_json()["items"] == []  # no metrics:read
    # More than the owner holds is refused; so is minting tokens with a personal token.
    assert client.post("/api/v1/auth/tokens", headers=access,
                       json={"name": "x", "permissions": ["user:manage"]}).status_code == 403
    assert client.post("/api/v1/auth/tokens", headers=bearer(secret),
                       json={"name": "y", "permissions": ["brand:read"]}).status_code == 403
    assert client.delete(f"/api/v1/auth/tokens/{created['id']}", headers=access).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(secret)).status_code == 401


def test_personal_token_expires(client, world):
    access = bearer(token_for(client, world["people"]["Analyst"])["access_token"])
    made = client.post("/api/v1/auth/tokens", headers=access,
                       json={"name": "short", "permissions": ["brand:read"], "expires_in_days": 1})
    secret = made.get_json()["token"]
    assert client.get("/api/v1/auth/me", headers=bearer(secret)).status_code == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(days=2)):
        assert client.get("/api/v1/auth/me", headers=bearer(secret)).status_code == 401


def test_brand_limited_personal_token_sees_only_that_brand(client, world, db):
    manager = world["people"]["Portfolio Manager"]
    access = bearer(token_for(client, manager)["access_token"])
    brands = client.get("/api/v1/brands", headers=access).get_json()["items"]
    assert len(brands) > 1
    only = brands[1]["id"]
    secret = client.post("/api/v1/auth/tokens", headers=access, json={
        "name": "one brand", "permissions": ["brand:read", "metrics:read"], "brand_id": only}).get_json()["token"]
    seen = client.get("/api/v1/brands", headers=bearer(secret)).get_json()["items"]
    assert [b["id"] for b in seen] == [only]
    values = client.get("/api/v1/metric-values?limit=50", headers=bearer(secret)).get_json()["items"]
    assert values and {v["brand_id"] for v in values} == {only}
    foreign = client.post("/api/v1/auth/tokens", headers=access, json={
        "name": "theirs", "permissions": ["brand:read"], "brand_id": world["foreign"]["brand"]})
    assert foreign.status_code == 404


def test_sign_in_limits_of_the_web_apply_to_the_token_endpoint(db, tmp_path, world):
    from tests.support import make_app
    app = make_app(db, tmp_path, signin_rate_per_account="3 per minute")
    client = app.server.test_client()
    email = world["people"]["Analyst"].email
    codes = [client.post("/api/v1/auth/token", json={"email": email, "password": DEMO_PASSWORD}).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.post("/api/v1/auth/token", json={"email": email, "password": DEMO_PASSWORD})
    assert limited.content_type == "application/problem+json" and int(limited.headers["Retry-After"]) > 0
    other = client.post("/api/v1/auth/token", json={"email": world["people"]["Viewer"].email,
                                                    "password": DEMO_PASSWORD})
    assert other.status_code == 200  # the bucket is per account
