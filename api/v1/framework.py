"""The small framework the resource modules are written in: a `Router` of typed operations.

An operation declares its path, its pydantic models (query, JSON body, multipart form, response)
and whether it needs a bearer token. The same declaration validates the request, serializes the
response and becomes the operation in the OpenAPI document (api/v1/openapi.py), so the contract
and the behaviour cannot drift apart. A view receives the validated models and returns a response
model (or `Created`/None); it never reads `flask.request` itself.

Path ids use the `id` converter: positive 32-bit integers, anything else is a 404 problem; `uid`
takes a UUID (job ids). An operation that answers with a file declares `produces` (its media types)
instead of a response model; `location` derives the Location header from the response body (also
on an idempotent replay); `problems` adds statuses beyond the usual ones (e.g. 503).
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from pydantic import BaseModel, ValidationError
from werkzeug.routing import BaseConverter

from api.v1 import idempotency
from api.v1.problems import ApiProblem, not_found, validation_problem
from api.v1.security import require_bearer
from core.config import Config
from core.jsonlimits import JsonTooDeep, check_depth, size_text

MAX_ID = 2**31 - 1
PROBLEM_STATUSES = (400, 401, 403, 404, 409, 413, 415, 422, 429)


class IdConverter(BaseConverter):
    """A database id in a path. Any segment matches, so the request stays with the API (a failed
    match would fall through to the dashboard's catch-all); the view answers 404 unless it is an
    integer in 1 … 2³¹−1, and larger numbers never reach the database."""

    regex = "[^/]+"

    def to_python(self, value: str) -> int:
        return int(value) if value.isdigit() and 1 <= int(value) <= MAX_ID else 0

    def to_url(self, value: object) -> str:
        return str(value)


class UidConverter(BaseConverter):
    """A UUID in a path (job ids), in its canonical lower-case form; anything else is a 404 problem
    (any segment matches, for the reason IdConverter gives)."""

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        try:
            return str(uuid.UUID(value)) if len(value) == 36 else ""
        except ValueError:
            return ""

    def to_url(self, value: object) -> str:
        return str(value)


PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "uid": {"type": "string", "format": "uuid"},
}


@dataclass
class Created:
    """Return from a view to answer 201 (or another status) with a body."""

    body: BaseModel
    status: int = 201


@dataclass
class Operation:
    method: str
    rule: str
    view: Callable[..., Any]
    summary: str
    tag: str
    response: type[BaseModel] | None
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    files: tuple[str, ...] = ()
    auth: bool = True
    idempotent: bool = True
    description: str = ""
    signin_limited: bool = False  # the web sign-in's per-IP and per-account limits apply
    produces: tuple[str, ...] = ()  # media types of a file response (the view returns a flask Response)
    location: Callable[[dict[str, Any]], str] | None = None  # the Location header, from the JSON body
    problems: tuple[int, ...] = ()  # problem statuses this operation adds to PROBLEM_STATUSES

    @property
    def endpoint(self) -> str:
        return f"{self.tag}_{self.view.__name__}"

    @property
    def path_converters(self) -> dict[str, str]:
        return {name: conv or "id" for conv, name in re.findall(r"<(?:([^:<>]+):)?([^<>]+)>", self.rule)}

    @property
    def openapi_path(self) -> str:
        return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", self.rule)


class Router:
    """The operations of one resource module; `api.v1` mounts every router on the blueprint."""

    def __init__(self, tag: str, description: str = "") -> None:
        self.tag = tag
        self.description = description
        self.operations: list[Operation] = []

    def route(self, method: str, rule: str, *, summary: str, response: type[BaseModel] | None = None,
              status: int = 200, **options: Any) -> Callable[[Callable], Callable]:
        def register(view: Callable) -> Callable:
            description = inspect.getdoc(view) or ""
            self.operations.append(Operation(method, rule, view, summary, self.tag, response, status,
                                             description=description, **options))
            return view
        return register

    def get(self, rule: str, **kw: Any) -> Callable[[Callable], Callable]:
        return self.route("GET", rule, **kw)

    def post(self, rule: str, **kw: Any) -> Callable[[Callable], Callable]:
        return self.route("POST", rule, **kw)

    def patch(self, rule: str, **kw: Any) -> Callable[[Callable], Callable]:
        return self.route("PATCH", rule, **kw)

    def delete(self, rule: str, **kw: Any) -> Callable[[Callable], Callable]:
        return self.route("DELETE", rule, **kw)


def _parse(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, where) from None


def _json_body() -> Any:
    """The one place the API parses a JSON body: its size, its nesting, then the JSON itself."""
    if not request.is_json:
        raise ApiProblem(415, "Send the body as application/json.")
    limit = current_app.config.get("DC_MAX_JSON_BYTES", Config.max_json_bytes)
    data = request.get_data(cache=True)  # above MAX_CONTENT_LENGTH: 413 from Flask, as a problem
    if len(data) > limit:
        raise ApiProblem(413, f"The body is larger than the {size_text(limit)} limit for JSON; nothing was changed.")
    try:
        check_depth(data, current_app.config.get("DC_MAX_JSON_DEPTH", Config.max_json_depth))
    except JsonTooDeep as exc:
        raise ApiProblem(400, f"The body nests {exc.depth} levels deep; at most {exc.limit} are allowed.") from None
    payload = request.get_json(silent=True)
    if payload is None:
        raise ApiProblem(400, "The body is not valid JSON.")
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiProblem(400, "The body holds text that is not valid Unicode (a lone surrogate escape).") from None
    return payload


def _query_dict() -> dict[str, Any]:
    return {k: v[0] if len(v) == 1 else v for k, v in request.args.to_dict(flat=False).items()}


def _render(op: Operation, result: Any) -> Response:
    status = op.status
    if isinstance(result, Created):
        result, status = result.body, result.status
    if result is None:
        return Response(status=204)
    if isinstance(result, Response):
        return result
    body = result if isinstance(result, BaseModel) else op.response.model_validate(result)
    response = Response(body.model_dump_json(), status=status, mimetype="application/json")
    if op.location is not None:
        response.headers["Location"] = op.location(body.model_dump(mode="json"))
    return response


def _path_and_query(op: Operation, path: dict[str, Any]) -> dict[str, Any]:
    """The view's path and query arguments; a 0 or empty id is a 404, an undeclared query parameter a 422."""
    if any(value in (0, "") for value in path.values()):
        raise not_found()
    kwargs: dict[str, Any] = dict(path)
    if op.query is not None:
        kwargs["query"] = _parse(op.query, _query_dict(), "query")
    elif request.args:
        raise ApiProblem(422, f"Unknown query parameters: {', '.join(sorted(request.args))}.")
    return kwargs


def _payload(op: Operation) -> dict[str, Any]:
    """The view's body, form and file arguments (read after the idempotency check, like the work itself)."""
    kwargs: dict[str, Any] = {}
    if op.body is not None:
        kwargs["body"] = _parse(op.body, _json_body(), "body")
    if op.form is not None:
        kwargs["form"] = _parse(op.form, request.form.to_dict(), "form")
        for name in op.files:
            upload = request.files.get(name)
            if upload is None or not upload.filename:
                raise ApiProblem(422, f"Attach the file as the multipart field '{name}'.")
            kwargs[name] = upload
    return kwargs


def make_view(op: Operation, signin_limits: list[Callable[[Callable], Callable]]) -> Callable[..., Response]:
    """The Flask view of an operation: authenticate, validate, run (idempotently for POST), render."""

    @functools.wraps(op.view)
    def view(**path: Any) -> Response:
        g.api_operation = op
        if op.auth:
            require_bearer()
        kwargs = _path_and_query(op, path)
        replay = idempotency.begin(op)
        if replay is not None:
            return replay
        try:
            response = _render(op, op.view(**kwargs, **_payload(op)))
        except BaseException:
            idempotency.abandon()
            raise
        return idempotency.finish(response)

    view.__name__ = op.endpoint
    view.__qualname__ = f"api_v1.{op.endpoint}"
    if op.signin_limited:
        for limit in signin_limits:
            view = limit(view)
    return view


def mount(bp: Blueprint, routers: list[Router], signin_limits: list[Callable[[Callable], Callable]]
          ) -> list[Operation]:
    """Add every router's operations to the blueprint; returns them for the OpenAPI document."""
    operations: list[Operation] = []
    for router in routers:
        for op in router.operations:
            bp.add_url_rule(op.rule, endpoint=op.endpoint, view_func=make_view(op, signin_limits), methods=[op.method])
            operations.append(op)
    return operations
