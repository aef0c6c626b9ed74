"""The REST API under /api/v1: bearer tokens, pydantic schemas, OpenAPI 3.1, problem+json errors.

Adding a resource
-----------------
1. Write `api/v1/resources/<name>.py` with its pydantic models and a `router = Router("<tag>", "…")`;
   declare each operation with `@router.get/post/delete(rule, summary=…, response=Model,
   query=Model, body=Model, form=Model, files=(…), status=…)`. Path ids use `<id:name>`.
   Views read through core functions that take the principal (`current_principal()`), raise
   `not_found()` for ids out of scope and `ApiProblem(status, detail)` for anything else.
2. Add the module to `RESOURCES` below. It is then routed, validated, audited, rate limited,
   idempotent on POST and in /api/v1/openapi.json and /api/v1/docs; the schemathesis test and
   the route check of tests/integration/web/test_authorization_matrix.py cover it as well.

The API never reads the dashboard's session cookie and is exempt from its CSRF check and its
page gate (`is_api_request`): credentials come only from the Authorization header.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from api.v1.framework import IdConverter, Operation, UidConverter, mount
from api.v1.openapi import build_document, render_docs
from api.v1.problems import ApiProblem, from_problem, internal_error, problem_response
from api.v1.resources import (
    admin,
    auth,
    brands,
    channels,
    classification,
    curves,
    flighting,
    imports,
    jobs,
    lift_tests,
    metric_framework,
    metrics,
    organizations,
    portfolio,
    projects,
    reports,
    scenarios,
    scores,
)
from core.config import Config
from core.runtime import get_db
from core.security import Action, Forbidden, record
from core.security.api_tokens import ApiCredentials, KeyRing
from core.security.identity import sign_in_key

BLUEPRINT = "api_v1"
PREFIX = "/api/v1"
VERSION = "1.0.0"
RESOURCES = [auth, portfolio, organizations, projects, brands, metrics, metric_framework, channels, scores, curves,
             lift_tests, imports, scenarios, classification, jobs, flighting, reports, admin]


def is_api_request() -> bool:
    """Whether the request was routed to the API (the dashboard's gate and CSRF leave it alone)."""
    return (request.blueprint or "") == BLUEPRINT


def api_not_found() -> Response:
    """The API's 404 for a path under /api/v1 that no route took (the dashboard's gate calls it)."""
    return problem_response(404, "No such endpoint; see /api/v1/openapi.json.")


def _account_key() -> str:
    """The web sign-in's per-account bucket: the e-mail signing in, or the refresh token presented."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    if body.get("email") is not None:
        return "account:" + sign_in_key(str(body["email"]))
    return "api-refresh:" + hashlib.sha256(str(body.get("refresh_token", "")).encode()).hexdigest()[:32]


def _rate_key() -> str:
    """Per caller: the bearer's user or token when there is one, else the address."""
    header = request.headers.get("Authorization", "")
    token = header.partition(" ")[2].strip()
    if token:
        return "api:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "api-ip:" + (request.remote_addr or "")


def _audit(response: Response) -> Response:
    """Every call goes to the audit trail: who, which operation, the outcome; never a token or a body."""
    bearer = g.get("api_bearer")
    op: Operation | None = g.get("api_operation")
    data = {"method": request.method, "operation": op.endpoint if op else request.endpoint or "unknown",
            "status": response.status_code}
    if bearer is not None:
        data |= {"credential": bearer.kind, "token_id": bearer.token_id}
    if g.get("api_refusal"):
        data["refusal"] = g.api_refusal
    actor = bearer.user_id if bearer is not None else g.get("api_user_id")
    organization = bearer.principal.organization_id if bearer is not None else None
    if response.status_code == 429:
        data["rate_limited"] = True
    record(get_db(), Action.API_CALL, actor=actor, organization_id=organization, data=data,
           personal={"ip": request.remote_addr or ""})
    return response


def create_blueprint(limiter: Limiter, config: Config) -> tuple[Blueprint, dict]:
    bp = Blueprint(BLUEPRINT, __name__, url_prefix=PREFIX)
    signin_limits = [
        limiter.limit(lambda: current_app.config["DC_SIGNIN_RATE_PER_IP"], methods=["POST"]),
        limiter.limit(lambda: current_app.config["DC_SIGNIN_RATE_PER_ACCOUNT"], methods=["POST"],
                      key_func=_account_key),
    ]
    operations = mount(bp, [m.router for m in RESOURCES], signin_limits)
    limiter.limit(lambda: current_app.config["DC_API_RATE"], key_func=_rate_key)(bp)
    document = build_document(
        operations, title="Digi-Cadence API", version=VERSION,
        description="Brand-portfolio analytics for pipelines: every read is scoped to the caller, every "
                    "call audited. Get a token with POST /api/v1/auth/token and send it as "
                    "`Authorization: Bearer <token>`.",
        tags=[{"name": m.router.tag, "description": m.router.description} for m in RESOURCES])

    @bp.get("/openapi.json")
    def openapi_json():
        return jsonify(document)

    @bp.get("/docs")
    def docs():
        return Response(render_docs(document), mimetype="text/html")

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def unknown_path(unknown: str):
        raise ApiProblem(404, "No such endpoint; see /api/v1/openapi.json.")

    @bp.errorhandler(ApiProblem)
    def api_problem(error: ApiProblem):
        return from_problem(error)

    @bp.errorhandler(Forbidden)
    def forbidden(_error: Forbidden):
        return problem_response(403, "You may not do this.")

    @bp.errorhandler(RateLimitExceeded)
    def rate_limited(error: RateLimitExceeded):
        response = problem_response(429, f"Rate limit exceeded ({error.description}); retry later.")
        return response

    @bp.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return problem_response(error.code or 500, error.description or "")

    @bp.errorhandler(Exception)
    def unexpected(error: Exception):
        return internal_error(error, request.path)

    bp.after_request(_audit)
    return bp, document


def init_api(server: Flask, config: Config, limiter: Limiter) -> Blueprint:
    """Mount /api/v1 on the server (after `init_auth`, which owns the limiter and the accounts)."""
    server.url_map.converters["id"] = IdConverter
    server.url_map.converters["uid"] = UidConverter
    server.config.setdefault("DC_API_RATE", config.api_rate)
    server.extensions["digicadence.api_credentials"] = ApiCredentials(
        server.extensions["digicadence"].db, KeyRing.from_config(config))
    bp, document = create_blueprint(limiter, config)
    server.extensions["digicadence.openapi"] = document
    server.register_blueprint(bp)
    return bp
