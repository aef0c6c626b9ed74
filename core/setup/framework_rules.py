"""What a metric framework accepts: names, weights, codes, directions, units, ranges.

Shared by the framework's service functions, its file import and its pages, so a rule and its
message are written once. Every refusal is a `FrameworkError` with a message in a marketer's words.
"""

from __future__ import annotations

import math
import re
from typing import Any

from core.models import Metric

MAX_WEIGHT = 1000.0
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,119}$")
DIRECTIONS = ("higher", "lower")
LIMITS = {"section": 100, "platform": 100, "metric": 200, "unit": 40, "description": 1000}


class FrameworkError(ValueError):
    """A change the framework cannot take; the message says why, for the person who asked."""


class NotInFramework(FrameworkError):
    """An id that is not of this organization's framework (another's, or none at all): a 404 in the API."""

    def __init__(self, what: str) -> None:
        super().__init__(f"There is no such {what} in this organization's framework.")


def clean_name(value: Any, what: str) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise FrameworkError(f"Give the {what} a name.")
    if len(name) > LIMITS[what]:
        raise FrameworkError(f"A {what} name can be at most {LIMITS[what]} characters.")
    return name


def clean_weight(value: Any, what: str) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise FrameworkError(f"The weight of {what} must be a number.") from None
    if not math.isfinite(weight) or weight <= 0:
        raise FrameworkError(f"The weight of {what} must be more than 0.")
    if weight > MAX_WEIGHT:
        raise FrameworkError(f"The weight of {what} can be at most {MAX_WEIGHT:g}.")
    return weight


def _bound(value: Any, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FrameworkError(f"The {what} must be a number or empty.") from None
    if not math.isfinite(number):
        raise FrameworkError(f"The {what} must be a finite number.")
    return number


def _code(value: Any) -> str:
    code = str(value or "").strip()
    if not CODE.match(code):
        raise FrameworkError("A metric code is 1 to 120 letters, digits, '_', '.' or '-', starting with a "
                             "letter or digit (for example amazon_avg_rating).")
    return code


def _direction(value: Any) -> str:
    direction = str(value or "higher").strip().lower()
    if direction not in DIRECTIONS:
        raise FrameworkError("Say whether higher or lower values are better ('higher' or 'lower').")
    return direction


def _text(value: Any, key: str) -> str:
    text = " ".join(str(value or "").split()) if key == "unit" else str(value or "").strip()
    if len(text) > LIMITS[key]:
        raise FrameworkError(f"A metric's {key} can be at most {LIMITS[key]} characters.")
    return text


def clean_metric(fields: dict, current: Metric | None = None) -> dict:
    """The metric fields of `fields` checked and normalized: all of them for a new metric (defaults
    filled in), only those given for a change to `current`."""
    new = current is None
    out: dict[str, Any] = {}
    if "code" in fields or new:
        out["code"] = _code(fields.get("code"))
    if "name" in fields or new:
        out["name"] = clean_name(fields.get("name"), "metric")
    if "direction" in fields or new:
        out["direction"] = _direction(fields.get("direction"))
    if "weight" in fields or new:
        out["weight"] = clean_weight(fields.get("weight", 1.0), "a metric")
    for key in ("unit", "description"):
        if key in fields or new:
            out[key] = _text(fields.get(key), key)
    for key, what in (("min_value", "lowest plausible value"), ("max_value", "highest plausible value")):
        if key in fields:
            out[key] = _bound(fields[key], what)
    lo = out.get("min_value", current.min_value if current else None)
    hi = out.get("max_value", current.max_value if current else None)
    if lo is not None and hi is not None and lo >= hi:
        raise FrameworkError("The lowest plausible value must be below the highest.")
    return out
