"""Errors of the API as RFC 9457 `application/problem+json`, and the schema that documents them.

Views raise `ApiProblem`; the blueprint's handlers also turn validation errors, refusals and
unexpected failures into problems. Out-of-scope and unknown ids give the same 404 body, so a
response never tells whether something exists elsewhere.
"""

from __future__ import annotations

import json
import logging
import uuid

from flask import Response
from pydantic import BaseModel, Field, ValidationError

log = logging.getLogger("digicadence.api")
PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "https://digicadence.invalid/problems/"  # stable identifiers, not links to follow


class FieldError(BaseModel):
    """One invalid input: where (`loc`, e.g. ["body", "name"]) and why."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An error: `type` identifies the kind, `detail` says what to change; `errors` lists invalid fields."""

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = ""
    errors: list[FieldError] | None = None
    reference: str | None = None


TITLES = {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Unprocessable content",
          429: "Too many requests", 500: "Internal error", 503: "Service unavailable"}
SLUGS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
         409: "conflict", 413: "payload-too-large", 415: "unsupported-media-type", 422: "validation",
         429: "rate-limited", 500: "internal", 503: "unavailable"}
NOT_FOUND_DETAIL = "No such resource, or it is not in your scope."


class ApiProblem(Exception):
    """Raise from a view to answer with a problem document."""

    def __init__(self, status: int, detail: str = "", *, errors: list[FieldError] | None = None,
                 slug: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.slug = slug
        self.headers = headers or {}


def not_found() -> ApiProblem:
    return ApiProblem(404, NOT_FOUND_DETAIL)


def problem_response(status: int, detail: str = "", *, errors: list[FieldError] | None = None,
                     slug: str | None = None, headers: dict[str, str] | None = None,
                     reference: str | None = None) -> Response:
    body = Problem(type=TYPE_BASE + (slug or SLUGS.get(status, str(status))), title=TITLES.get(status, "Error"),
                   status=status, detail=detail, errors=errors, reference=reference)
    # json.dumps escapes lone surrogates (e.g. an odd field name echoed in `loc`) instead of failing.
    response = Response(json.dumps(body.model_dump(exclude_none=True), ensure_ascii=True), status=status,
                        mimetype=PROBLEM_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_problem(problem: ApiProblem) -> Response:
    return problem_response(problem.status, problem.detail, errors=problem.errors, slug=problem.slug,
                            headers=problem.headers)


def validation_problem(exc: ValidationError, where: str) -> ApiProblem:
    """422 with one entry per invalid field; the submitted values are not echoed back."""
    errors = [FieldError(loc=[where, *e["loc"]], msg=e["msg"], type=e["type"]) for e in exc.errors()]
    return ApiProblem(422, f"The {where} is not valid; see errors.", errors=errors)


def internal_error(error: BaseException, path: str) -> Response:
    reference = uuid.uuid4().hex[:10]
    log.error("API request failed (reference %s) at %s", reference, path, exc_info=error)
    return problem_response(500, "Something went wrong on our side; nothing was changed.", reference=reference)


def dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)
