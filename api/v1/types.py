"""Field types shared by the resource schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic.json_schema import WithJsonSchema

from core.input_ranges import NumberRange


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored moment is UTC, so say so on the wire (RFC 3339)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def ranged(rng: NumberRange) -> Any:
    """A number field checked by core.input_ranges, so the API refuses exactly what the pages refuse,
    with the same message; the schema publishes the same bounds. NaN and infinities never get this far
    (the request models forbid them)."""

    def check(number: float) -> float:
        message = rng.problem(number)
        if message:
            raise ValueError(message)
        return number

    schema: dict[str, Any] = {"type": "integer" if rng.whole else "number", "maximum": rng.hi,
                              "exclusiveMinimum" if rng.above_lo else "minimum": rng.lo}
    return Annotated[int if rng.whole else float, AfterValidator(check), WithJsonSchema(schema)]
