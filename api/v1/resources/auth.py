"""Tokens: sign in for an access token and a refresh token, rotate and revoke them; personal API tokens.

Signing in goes through the same `Accounts` service as the web sign-in (lockout, generic failure,
MFA codes counted toward the lockout) and under the same per-IP and per-account rate limits.
"""

from __future__ import annotations

from typing import Literal

from flask import current_app, g, request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, not_found
from api.v1.security import credentials, current_principal
from api.v1.types import UtcDatetime
from core.security import Accounts, Forbidden
from core.security.api_tokens import PERSONAL_MAX_DAYS, TokenRefused
from core.security.permissions import Permission

router = Router("auth", "Access and refresh tokens, and personal API tokens for pipelines.")
GENERIC = "Invalid email, password or code."


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(default=None, max_length=64, description="A TOTP or recovery code (users with MFA).")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds the access token stays valid.")


class PersonalTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    permissions: list[Permission] = Field(min_length=1)
    expires_in_days: int = Field(default=90, ge=1, le=PERSONAL_MAX_DAYS)
    project_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    brand_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def one_scope(self) -> PersonalTokenCreate:
        if self.project_id is not None and self.brand_id is not None:
            raise ValueError("limit a token to a project or to a brand, not both")
        return self


class PersonalToken(BaseModel):
    id: int
    name: str
    prefix: str
    permissions: list[str]
    scope_type: Literal["project", "brand"] | None
    scope_id: int | None
    created_at: UtcDatetime
    expires_at: UtcDatetime
    last_used_at: UtcDatetime | None
    revoked: bool


class PersonalTokenCreated(PersonalToken):
    token: str = Field(description="The token itself, shown only in this response.")


class PersonalTokenList(BaseModel):
    items: list[PersonalToken]


class Me(BaseModel):
    user_id: int
    organization_id: int | None
    credential: Literal["access", "personal"]
    permissions: list[str]


def _accounts() -> Accounts:
    return current_app.extensions["digicadence.accounts"]


def _pair(pair) -> TokenResponse:
    return TokenResponse(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/auth/token", summary="Sign in: an access token and a refresh token", response=TokenResponse,
             body=TokenRequest, auth=False, idempotent=False, signin_limited=True, problems=(403,))
def token(body: TokenRequest) -> TokenResponse:
    """Email and password, plus `totp` when the account uses two-factor sign-in. Failures say one
    generic thing; repeated failures lock the account as on the web. A correct sign-in that must
    first be finished in the web app (set up two-factor sign-in, change the password) is a 403."""
    accounts = _accounts()
    result = accounts.authenticate(body.email, body.password, personal={"ip": request.remote_addr or ""})
    if not result.ok:
        raise ApiProblem(401, GENERIC)
    if result.mfa_enrolment_required:
        raise ApiProblem(403, "Set up two-factor sign-in in the web app first.", slug="mfa-enrolment-required")
    if result.mfa_required and (not body.totp or not accounts.verify_mfa(result.user_id, body.totp)):
        raise ApiProblem(401, GENERIC + " This account needs a `totp` code.", slug="mfa-required")
    if result.must_change_password:
        raise ApiProblem(403, "Change your password in the web app first.", slug="password-change-required")
    g.api_user_id = result.user_id
    return _pair(credentials().issue(result.user_id))


@router.post("/auth/refresh", summary="Use a refresh token once for a new pair", response=TokenResponse,
             body=RefreshRequest, auth=False, idempotent=False, signin_limited=True)
def refresh(body: RefreshRequest) -> TokenResponse:
    """Refresh tokens are single use. Presenting one again revokes its whole family."""
    try:
        return _pair(credentials().refresh(body.refresh_token))
    except TokenRefused as exc:
        g.api_refusal = exc.reason
        raise ApiProblem(401, "The refresh token is invalid, expired, used or revoked.") from None


@router.post("/auth/revoke", summary="Revoke a refresh token and its family", body=RefreshRequest, status=204,
             auth=False, idempotent=False, signin_limited=True)
def revoke(body: RefreshRequest) -> None:
    """Answers 204 whether or not the token was known (nothing to learn from it)."""
    credentials().revoke_refresh(body.refresh_token)


@router.get("/auth/me", summary="Who the token belongs to, and what it may do", response=Me)
def me() -> Me:
    principal = current_principal()
    return Me(user_id=principal.user_id, organization_id=principal.organization_id,
              credential=g.api_bearer.kind, permissions=sorted(principal.all_permissions))


@router.get("/auth/tokens", summary="Your personal API tokens", response=PersonalTokenList)
def list_tokens() -> PersonalTokenList:
    items = credentials().list_personal_tokens(current_principal().user_id)
    return PersonalTokenList(items=[PersonalToken(**t) for t in items])


@router.post("/auth/tokens", summary="Create a personal API token (shown once)", response=PersonalTokenCreated,
             status=201, body=PersonalTokenCreate, idempotent=False)
def create_token(body: PersonalTokenCreate) -> Created:
    """Permissions must be ones you hold (at the project or brand, when the token is limited to one).
    Needs a signed-in access token: a personal token cannot mint others."""
    if g.api_bearer.kind != "access":
        raise ApiProblem(403, "Create personal tokens with an access token from /auth/token.")
    scope = ("project", body.project_id) if body.project_id else ("brand", body.brand_id) if body.brand_id else None
    try:
        new = credentials().create_personal_token(
            current_principal(), name=body.name, permissions=[p.value for p in body.permissions],
            days=body.expires_in_days, scope_type=scope[0] if scope else None, scope_id=scope[1] if scope else None)
    except Forbidden as exc:
        if exc.reason == "not found":
            raise not_found() from None
        raise
    except ValueError as exc:
        raise ApiProblem(422, str(exc)) from None
    return Created(PersonalTokenCreated(token=new.token, **new.info))


@router.delete("/auth/tokens/<id:token_id>", summary="Revoke one of your personal API tokens", status=204)
def revoke_token(token_id: int) -> None:
    if not credentials().revoke_personal_token(current_principal(), token_id):
        raise not_found()
