"""`Idempotency-Key` on POST: the first response is stored per principal and key and replayed.

A retry with the same key and the same request (method, path, query, content type and body)
gets the first response again, with `Idempotent-Replayed: true`; the same key with a different
request is a 422; a retry while the first is still running is a 409. Server errors are not
stored, so they can be retried. Operations whose response holds a secret (tokens) are marked
`idempotent=False`: their responses are never stored, and a key sent to them is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from flask import Response, g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from api.v1.problems import ApiProblem
from core.models.api import IdempotencyRecord
from core.models.base import utcnow
from core.runtime import get_db


class Operation(Protocol):
    """What this module reads of an api.v1.framework.Operation (a Protocol, so the two do not import each other)."""

    idempotent: bool
    location: Callable[[Any], str] | None


HEADER = "Idempotency-Key"
MAX_KEY = 200
KEEP = timedelta(hours=24)


def _request_hash() -> str:
    """What makes two requests the same one. Multipart bodies are hashed by their parts (each client
    picks a random boundary, so the raw bytes of a retry differ)."""
    h = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode(), request.mimetype or ""):
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    if request.mimetype == "multipart/form-data":
        for name, value in sorted((str(k), str(v)) for k, v in request.form.items(multi=True)):
            h.update(f"{name}={value}".encode("utf-8", "surrogatepass") + b"\0")
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: str(item[0])):
            h.update(f"{name}:{upload.filename}:".encode("utf-8", "surrogatepass")
                     + hashlib.sha256(upload.read()).digest())
            upload.seek(0)
    else:
        h.update(request.get_data(cache=True))
    return h.hexdigest()


def _principal_key() -> str:
    bearer = g.get("api_bearer")
    return f"user:{bearer.user_id}" if bearer.kind == "access" else f"token:{bearer.token_id}"


def begin(op: Operation) -> Response | None:
    """Before the view: a stored response to replay, a refusal, or None to go on (claim recorded)."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return None
    if not op.idempotent or g.get("api_bearer") is None:
        raise ApiProblem(400, f"{HEADER} is not accepted here: this response holds a secret that is never stored.")
    key = key.strip()
    if not key or len(key) > MAX_KEY:
        raise ApiProblem(400, f"{HEADER} must be 1 to {MAX_KEY} characters.")
    principal, digest = _principal_key(), _request_hash()
    db = get_db()
    with db.session() as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - KEEP))
    try:
        with db.session() as session:
            session.add(IdempotencyRecord(principal=principal, key=key, request_hash=digest))
    except IntegrityError:
        with db.session() as session:
            stored = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.principal == principal,
                                                                    IdempotencyRecord.key == key))
            if stored is None:  # removed meanwhile (its first request failed): ask to retry
                raise ApiProblem(409, "A request with this key failed just now; retry it.") from None
            if stored.request_hash != digest:
                raise ApiProblem(422, f"This {HEADER} was used with a different request.",
                                 slug="idempotency-key-reused") from None
            if stored.status is None:
                raise ApiProblem(409, "The first request with this key is still running; retry later.") from None
            response = Response(stored.body, status=stored.status, content_type=stored.content_type or None)
            response.headers["Idempotent-Replayed"] = "true"
            if op.location is not None and stored.status < 300:  # headers are not stored; this one derives
                response.headers["Location"] = op.location(json.loads(stored.body))
            return response
    g.api_idempotency = (principal, key)
    return None


def finish(response: Response) -> Response:
    """After the view: store the response (below 500) for replays; forget the claim otherwise."""
    claim = g.pop("api_idempotency", None)
    if claim is None:
        return response
    principal, key = claim
    with get_db().session() as session:
        stored = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.principal == principal,
                                                                IdempotencyRecord.key == key))
        if stored is not None and response.status_code < 500:
            stored.status = response.status_code
            stored.content_type = response.content_type or ""
            stored.body = response.get_data(as_text=True)
        elif stored is not None:
            session.delete(stored)
    return response


def abandon() -> None:
    """The view raised: drop the claim so the client may retry with the same key."""
    claim = g.pop("api_idempotency", None)
    if claim is None:
        return
    principal, key = claim
    with get_db().session() as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.principal == principal,
                                                        IdempotencyRecord.key == key))
