"""Opaque cursors: the last row's key, base64url JSON. Clients pass them back unread.

A cursor only says where a page starts; every page is still read through the scope filter, so
a crafted cursor can skip rows but never reveal one. A malformed cursor is a 422.
"""

from __future__ import annotations

import base64
import json
from typing import Any, NoReturn

from api.v1.problems import ApiProblem, FieldError


def encode(key: list[Any] | None) -> str | None:
    if key is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def invalid() -> NoReturn:
    """The 422 of a cursor this API did not return (also for a well-formed one whose values do not parse)."""
    raise ApiProblem(422, "The cursor is not one this API returned.",
                     errors=[FieldError(loc=["query", "cursor"], msg="invalid cursor", type="cursor")])


def decode(cursor: str | None, size: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or len(key) != size or not all(isinstance(k, int | str) for k in key):
            raise ValueError("bad shape")
        return key
    except (ValueError, TypeError):
        invalid()
