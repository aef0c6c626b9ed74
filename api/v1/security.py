"""Who calls the API: the bearer token of the request, never a cookie.

`require_bearer` accepts an access JWT or a personal API token from the `Authorization` header
and leaves the caller's Principal on `flask.g`; every refusal is the same 401 problem (the reason
goes to the audit trail only). The dashboard's session cookie is ignored here on purpose: a
browser that is signed in to the dashboard holds no API credential.
"""

from __future__ import annotations

from flask import current_app, g, request

from api.v1.problems import ApiProblem
from core.security import Principal
from core.security.api_tokens import ApiCredentials, Bearer, TokenRefused

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="digicadence-api"'}


def credentials() -> ApiCredentials:
    return current_app.extensions["digicadence.api_credentials"]


def require_bearer() -> Bearer:
    """The request's bearer, or a 401 problem."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        g.api_refusal = "missing_bearer"
        raise ApiProblem(401, "Send a bearer token: Authorization: Bearer <token>.", headers=CHALLENGE)
    try:
        bearer = credentials().authenticate(token.strip())
    except TokenRefused as exc:
        g.api_refusal = exc.reason
        raise ApiProblem(401, "The token is invalid, expired or revoked.", headers=CHALLENGE) from None
    g.api_bearer = bearer
    return bearer


def current_principal() -> Principal:
    """The calling principal (inside an operation that requires a bearer)."""
    bearer: Bearer | None = g.get("api_bearer")
    if bearer is None:
        raise ApiProblem(401, "Send a bearer token.", headers=CHALLENGE)
    return bearer.principal
