"""One lift test as a person types it, read the same way by the form, the CSV import and the API.

Why one model: a lift test reaches the fitter as a likelihood term, so a value the API took and the
form refused (or the other way round) would change a fit depending on where it was typed. Friendly
input is accepted everywhere ("1,000", "1 000", a Unicode minus, ISO dates, a spreadsheet's
"2025-03-03 00:00:00"), and every refusal is worded for a marketer; the API shows the same words in
its 422 problem, the CSV import per row and column, the page beside the form.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from core.input_ranges import MAX_MONEY, show

MAX_ID = 2**31 - 1
NOTE_MAX = 300
CHANNEL_MAX = 100
EARLIEST = date(1990, 1, 1)
LATEST = date(2100, 12, 31)
ERROR = "lift_test"  # the pydantic error type of every refusal worded for a person
# Spaces people and spreadsheets put between thousands, and the minus signs they type.
_SPACES = re.compile(r"[ \u00a0\u2009\u202f]")
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-"})


def refuse(message: str) -> PydanticCustomError:
    """A refusal whose message is shown as is (page, CSV report, API problem)."""
    return PydanticCustomError(ERROR, message)


def _number(value: Any, what: str, example: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise refuse(f"Enter the {what}, e.g. {example}.")
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        text = _SPACES.sub("", value).translate(_MINUS).replace(",", "").replace("_", "")
        try:
            number = float(text)
        except ValueError:
            raise refuse(f"The {what} “{value.strip()[:40]}” is not a number; enter one such as {example}.") from None
    else:
        raise refuse(f"The {what} must be a number, e.g. {example}.")
    if not math.isfinite(number) or abs(number) > MAX_MONEY:
        raise refuse(f"The {what} must be a number between −{show(MAX_MONEY)} and {show(MAX_MONEY)}.")
    return number


def read_outcome(value: Any) -> float:
    """The measured incremental outcome: any finite number (zero or below when the test found no lift)."""
    return _number(value, "incremental outcome", "125,000 (zero or negative when the test found no lift)")


def read_standard_error(value: Any) -> float:
    """The standard error of the measurement: above zero."""
    number = _number(value, "standard error", "15,000")
    if number <= 0:
        raise refuse("The standard error must be above zero: a lift test always has some uncertainty.")
    return number


def read_date(value: Any, what: str) -> date:
    """A date as ISO text (YYYY-MM-DD, or with a midnight time as spreadsheets write it) or a date."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()
        except ValueError:
            raise refuse(f"Write the {what} as YYYY-MM-DD, e.g. 2025-03-03 (not “{text[:40]}”).") from None
    if not isinstance(value, date):
        raise refuse(f"Enter the {what} as a date, YYYY-MM-DD.")
    if not EARLIEST <= value <= LATEST:
        raise refuse(f"The {what} {value.isoformat()} is outside {EARLIEST.year}–{LATEST.year}; check the year.")
    return value


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn") and ch not in "\t\n"


def read_note(value: Any) -> str:
    """Free text about the test (how it was run, who ran it): at most 300 characters, single-spaced."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise refuse("The note must be text.")
    text = unicodedata.normalize("NFKC", value)
    if any(_invisible(ch) for ch in text):
        raise refuse("The note cannot contain invisible or control characters.")
    text = " ".join(text.split())
    if len(text) > NOTE_MAX:
        raise refuse(f"A note has at most {NOTE_MAX} characters (this one has {len(text)}).")
    return text


def read_channel(value: Any) -> str:
    """A channel's name as typed (matched later against the brand's organization's channels)."""
    text = " ".join(str(value).split()) if isinstance(value, str) else ""
    if not text:
        raise refuse("Choose the channel the test measured.")
    if len(text) > CHANNEL_MAX:
        raise refuse(f"A channel name has at most {CHANNEL_MAX} characters.")
    return text


Outcome = Annotated[float, BeforeValidator(read_outcome),
                    WithJsonSchema({"type": "number", "minimum": -MAX_MONEY, "maximum": MAX_MONEY})]
StandardError = Annotated[float, BeforeValidator(read_standard_error),
                          WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MONEY})]
StartDate = Annotated[date, BeforeValidator(lambda v: read_date(v, "start date")),
                      WithJsonSchema({"type": "string", "format": "date"})]
EndDate = Annotated[date, BeforeValidator(lambda v: read_date(v, "end date")),
                    WithJsonSchema({"type": "string", "format": "date"})]
Note = Annotated[str, BeforeValidator(read_note), WithJsonSchema({"type": "string", "maxLength": NOTE_MAX})]
ChannelName = Annotated[str, BeforeValidator(read_channel),
                        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": CHANNEL_MAX})]


class LiftTestInput(BaseModel):
    """A lift test: what `channel`'s spend added to the brand's outcome from `period_start` to
    `period_end` (both days included), and the standard error of that measurement."""

    model_config = ConfigDict(extra="forbid")

    brand_id: int = Field(ge=1, le=MAX_ID, description="The brand the test measured.")
    channel: ChannelName = Field(description="The channel's name, one of the brand's organization's channels.")
    period_start: StartDate = Field(description="First day of the test (YYYY-MM-DD).")
    period_end: EndDate = Field(description="Last day of the test, included (YYYY-MM-DD).")
    incremental_outcome: Outcome = Field(
        description="The outcome (revenue, in the brand's outcome unit) the test attributes to the channel over "
                    "the period; zero or negative when it found no lift.")
    standard_error: StandardError = Field(description="Standard error of the incremental outcome, above zero.")
    note: Note = Field(default="", description="How the test was run, by whom (at most 300 characters).")

    @model_validator(mode="after")
    def _in_order(self) -> LiftTestInput:
        if self.period_end < self.period_start:
            raise refuse(f"The test ends ({self.period_end.isoformat()}) before it starts "
                         f"({self.period_start.isoformat()}): check the two dates.")
        return self


def problems(exc: Any) -> list[tuple[str, str]]:
    """(field, message) of each refusal in a pydantic ValidationError, in the words above.

    Pydantic's own messages (a missing or unknown field) are reworded; a refusal of the whole test
    (the dates out of order) is filed under `period_end`.
    """
    out = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "period_end"
        if error["type"] == ERROR:
            message = error["msg"]
        elif error["type"] == "missing":
            message = f"Enter the {field.replace('_', ' ')}."
        elif error["type"] == "extra_forbidden":
            message = f"“{field}” is not a field of a lift test."
        elif field == "brand_id":
            message = "Choose the brand the test measured."
        else:
            message = error["msg"]
        out.append((field, message))
    return out
