"""The inputs of one budget run, described once: the What-if page, the API and the optimization job.

Why one model: the page's hand-written parser and the API's request schema used to describe the
same inputs twice, so either could take what the other refused. `BudgetInputs` is the API's request
schema (OpenAPI lists it with the bounds of core.input_ranges) and what the page and the job read
through `BudgetInputs.read`, so a value is refused everywhere with the same words.

Two ways in. The API validates strictly (no context): an unknown field is a 422. The page and the
job call `BudgetInputs.read(raw)`, which is lenient the way a form is: grid rows carry display
columns (the brand's name, last year's spend) that are ignored, rows of brands or channels no longer
selected are dropped, an empty field means its default. Either way the friendly number formats
("1,000", "1 000", "20 %", and for amounts "1.5M", "₹2 crore", "INR 250K": core.formatting.parse_amount)
are read by the field validators, and every refusal is a
`PydanticCustomError` whose message is the one the page shows ("budget: 'lots' is not a number; ...").
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.formatting import parse_amount
from core.input_ranges import (
    BUDGET,
    FRONTIER_POINTS,
    GENERATIONS,
    MAX_ACTIVE,
    MAX_CHANGE_PCT,
    MAX_UNIT_STEPS,
    MONEY,
    SEED,
    TARGET,
    TARGET_ROAS,
    UNIT,
    NumberRange,
    RangeError,
    unit_steps_problem,
)

SCENARIOS = {"max_outcome": "Maximize outcome for a budget", "min_budget": "Smallest budget for a target outcome",
             "marginal_roas": "Spend until the marginal ROAS falls to a target",
             "overall_roas": "Largest budget whose ROAS stays at or above a target"}
# The scenarios whose budget is an output, found from a target ROAS (core.budget_efficiency).
ROAS_SCENARIOS = ("marginal_roas", "overall_roas")
SOURCES = {"fitted": "Fitted curves", "truth": "Demo truth curves (the generating parameters, demo only)"}
MAX_CELLS = 120
# The starting change cap per cell, for the page and the API alike (a run that leaves the field out gets it;
# an explicit null or a cleared field means no limit): a year's plan that moves no channel further than
# ±30 % from last year's spend stays where its curve has data, and never cuts a channel to nothing on the
# strength of an extrapolated curve.
DEFAULT_MAX_CHANGE_PCT = 30.0
MAX_ID = 2**31 - 1
ERROR = "budget_input"  # the pydantic error type of every refusal worded for a person
LENIENT = "lenient"  # the validation context key `BudgetInputs.read` sets
# Spaces people and spreadsheets put between thousands: space, no-break space, thin and narrow no-break space.
_SPACES = re.compile(r"[ \u00a0\u2009\u202f]")

__all__ = ["DEFAULT_MAX_CHANGE_PCT", "MAX_CELLS", "ROAS_SCENARIOS", "SCENARIOS", "SOURCES", "BrandBound",
           "BudgetInputError", "BudgetInputs", "CellBound", "ChannelBound", "check_unit"]


class BudgetInputError(ValueError):
    """Inputs a person must fix (the message says what); raised before any work is done."""


def refuse(message: str) -> PydanticCustomError:
    """A refusal whose message is shown as is, on the page and in the API's 422 problem."""
    return PydanticCustomError(ERROR, message)


def _lenient(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(LENIENT))


def _parses(text: str) -> bool:
    try:
        float(text.replace(",", "").replace("_", ""))
    except ValueError:
        return False
    return True


def read_number(rng: NumberRange, value: Any, name: str | None = None, *, percent: bool = False) -> float | None:
    """A number in its range from a form, a grid cell or JSON; None when left empty.

    What people type is accepted: thousands separated by commas or spaces, for a percentage a
    trailing "%", for anything else a scale and a currency as the pages write them ("1.5M", "₹2 K").
    Everything else is refused with the range in words (core.input_ranges).
    """
    if isinstance(value, str):
        cleaned = _SPACES.sub("", value)
        cleaned = cleaned.removesuffix("%") if percent else cleaned
        if _parses(cleaned):
            value = cleaned
        elif not percent and parse_amount(cleaned) is not None:
            value = parse_amount(cleaned)
        # else unreadable: the message quotes what was typed
    try:
        return rng.read(value, name)
    except RangeError as exc:
        raise refuse(str(exc)) from None


def _number_schema(rng: NumberRange, nullable: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer" if rng.whole else "number", "maximum": rng.hi,
                              "exclusiveMinimum" if rng.above_lo else "minimum": rng.lo}
    return {"anyOf": [schema, {"type": "null"}]} if nullable else schema


def friendly(rng: NumberRange, *, default: float | None = None, percent: bool = False) -> Any:
    """A field type read through `read_number`; empty is `default` (None: "not set"). The OpenAPI
    schema publishes the range's bounds, so the API documents exactly what the page accepts."""

    def read(value: Any) -> float | None:
        number = read_number(rng, value, percent=percent)
        return default if number is None else number

    kind = int if rng.whole else float
    if default is None:
        return Annotated[kind | None, BeforeValidator(read), WithJsonSchema(_number_schema(rng, True))]
    return Annotated[kind, BeforeValidator(read), WithJsonSchema(_number_schema(rng, False))]


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Channel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Money = friendly(MONEY)
Bound = tuple[float | None, float | None]


def check_unit(budget: float | None, unit: float | None, *, at_least_one: bool = True) -> None:
    """Refuse a unit that splits the budget into no whole unit or into an absurd number of them."""
    problem = None if budget is None or unit is None else unit_steps_problem(budget, unit, at_least_one=at_least_one)
    if problem:
        raise BudgetInputError(problem)


class _Inputs(BaseModel):
    """Strict for the API (unknown fields refused); lenient under `BudgetInputs.read`, where a form's
    display columns are dropped before validation."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _from_form(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        data = cls._prepare(data)
        if _lenient(info):
            return {k: v for k, v in data.items() if k in cls.model_fields}
        return data

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """What a model reads from the whole object before its fields are validated (display columns
        included, so a message can use them)."""
        return data


class _Bounds(_Inputs):
    """A minimum and a maximum in annual money, both optional, named in messages by `NAME`."""

    NAME: ClassVar[str]  # formatted with the row's brand (its name when the form has it) and channel
    lower: Money = None
    upper: Money = None

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Read the money with the row's name in the message ("Brand A / TV minimum: ...")."""
        name = cls.NAME.format(brand=data.get("brand") or data.get("brand_id"), channel=data.get("channel"))
        data = dict(data)
        for key, suffix in (("lower", "minimum"), ("upper", "maximum"), ("min_spend", "minimum when on")):
            if key in data:
                data[key] = read_number(MONEY, data[key], f"{name} {suffix}")
        lo, hi = data.get("lower"), data.get("upper")
        if lo is not None and hi is not None and lo > hi:
            raise refuse(f"{name}: minimum {lo:,.0f} exceeds maximum {hi:,.0f}")
        return data

    def is_set(self) -> bool:
        """Whether the row constrains anything (rows left empty are dropped)."""
        return self.lower is not None or self.upper is not None

    def pair(self) -> Bound:
        return self.lower, self.upper


class CellBound(_Bounds):
    """Bounds on one brand × channel cell (annual money)."""

    NAME = "{brand} / {channel}"
    brand_id: Id
    channel: Channel
    locked: bool = False
    min_spend: Money = Field(default=None, description="The spend this cell needs when it is on at all.")

    def is_set(self) -> bool:
        return super().is_set() or self.locked or self.min_spend is not None


class BrandBound(_Bounds):
    """Bounds on one brand's total (annual money)."""

    NAME = "brand {brand} total"
    brand_id: Id


class ChannelBound(_Bounds):
    """Bounds on one channel's total across the chosen brands (annual money)."""

    NAME = "channel {channel} total"
    channel: Channel


def _rows(value: Any, info: ValidationInfo, keep: Any) -> Any:
    """Rows of brands or channels no longer selected are dropped (a form keeps them while the person
    changes the selection), as are rows that are not objects or name no valid id."""
    if value is None:
        return []
    if not isinstance(value, list) or "brand_ids" not in info.data or "channels" not in info.data:
        return value  # the type error, or an earlier field's refusal, is reported instead
    return [row for row in value if isinstance(row, dict) and keep(row, set(info.data["brand_ids"]),
                                                                   set(info.data["channels"]))]


def _brand_id(row: dict[str, Any]) -> int | None:
    text = str(row.get("brand_id", "")).strip()
    return int(text) if text.isdigit() else None


def _choice(value: Any, default: str, allowed: Any, what: str) -> str:
    """One of `allowed`, or `default` when the field was left empty."""
    if value is None or value == "":
        return default
    if value not in allowed:
        raise refuse(f"unknown {what} {str(value)[:40]!r}")
    return value


class BudgetInputs(_Inputs):
    """The budget what-if's inputs; money is annual, None where a field was left empty."""

    brand_ids: list[Id] = Field(json_schema_extra={"minItems": 1, "maxItems": MAX_CELLS})
    channels: list[Channel] = Field(json_schema_extra={"minItems": 1, "maxItems": MAX_CELLS})
    scenario: Literal["max_outcome", "min_budget", "marginal_roas", "overall_roas"] = "max_outcome"
    curve_source: Literal["fitted", "truth"] = "fitted"
    budget: friendly(BUDGET) = Field(default=None, description="The budget to allocate; last year's spend if empty.")
    target: friendly(TARGET) = Field(default=None, validate_default=True,
                                   description="The outcome to reach (scenario min_budget).")
    target_roas: friendly(TARGET_ROAS) = Field(default=None, validate_default=True, description=(
        "Outcome per unit of spend, e.g. 1.5 for ₹1.50 per ₹1 (scenarios marginal_roas: spend until each cell's "
        "marginal ROAS falls to it; overall_roas: the largest budget whose plan's modelled outcome per unit of "
        "spend stays at or above it). The budget is then an output."))
    max_change_pct: friendly(MAX_CHANGE_PCT, percent=True) = Field(default=DEFAULT_MAX_CHANGE_PCT, description=(
        f"Largest change of any cell from last year's spend, in %; {DEFAULT_MAX_CHANGE_PCT:g} when left out, "
        "null for no limit."))
    cells: list[CellBound] = Field(default_factory=list, max_length=MAX_CELLS)
    brand_bounds: list[BrandBound] = Field(default_factory=list, max_length=MAX_CELLS)
    channel_bounds: list[ChannelBound] = Field(default_factory=list, max_length=MAX_CELLS)
    max_active_per_brand: friendly(MAX_ACTIVE) = None
    unit: friendly(UNIT) = Field(default=None, validate_default=True, description=(
        f"Spend in whole multiples of this amount; at most {MAX_UNIT_STEPS:,} units in the budget."))
    generations: friendly(GENERATIONS, default=120) = 120
    frontier_points: friendly(FRONTIER_POINTS, default=11) = 11
    risk_front: bool = True
    seed: friendly(SEED, default=0) = 0

    LABELS: ClassVar[dict[str, str]] = {"brand_ids": "brands", "channels": "channels", "cells": "cell bounds",
                                        "brand_bounds": "brand totals", "channel_bounds": "channel totals",
                                        "risk_front": "risk front", "curve_source": "curve source",
                                        "target_roas": "target ROAS"}

    @classmethod
    def read(cls, raw: Any) -> BudgetInputs:
        """The page's and the job's way in: lenient as a form is (module docstring); BudgetInputError
        carries the message the page shows."""
        if isinstance(raw, BudgetInputs):
            return raw
        if not isinstance(raw, dict):
            raise BudgetInputError("no inputs")
        try:
            return cls.model_validate(raw, context={LENIENT: True})
        except ValidationError as exc:
            raise BudgetInputError(cls.message(exc)) from None

    @classmethod
    def message(cls, exc: ValidationError) -> str:
        """The first refusal in a person's words: ours as written, pydantic's prefixed with the field."""
        error = exc.errors()[0]
        if error["type"] == ERROR:
            return error["msg"]
        loc = error["loc"]
        if error["type"] == "missing" and loc in (("brand_ids",), ("channels",)):
            return f"choose at least one {'brand' if loc[0] == 'brand_ids' else 'channel'}"
        field = cls.LABELS.get(str(loc[0]), str(loc[0]).replace("_", " ")) if loc else "inputs"
        if error["type"] == "extra_forbidden":
            return f"{field}: unknown field {str(loc[-1])!r}"
        return f"{field}: {error['msg'][:1].lower()}{error['msg'][1:]}"

    # ---------------------------------------------------------------------------------------- selection

    @field_validator("brand_ids", mode="before")
    @classmethod
    def _brands(cls, value: Any) -> list[int]:
        try:
            ids = sorted({int(str(b).strip()) for b in value or []})
        except (TypeError, ValueError):
            raise refuse("brands: expected brand ids") from None
        if not ids:
            raise refuse("choose at least one brand")
        if not all(1 <= b <= MAX_ID for b in ids):
            raise refuse("brands: expected brand ids")
        return ids

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, value: Any, info: ValidationInfo) -> list[str]:
        if value is not None and not isinstance(value, list | tuple):
            raise refuse("channels: expected a list of channel names")
        channels = sorted({str(c).strip() for c in value or [] if str(c).strip()})
        if not channels:
            raise refuse("choose at least one channel")
        if len(info.data.get("brand_ids") or []) * len(channels) > MAX_CELLS:
            raise refuse(f"at most {MAX_CELLS} brand × channel cells per run")
        return channels

    @field_validator("scenario", mode="before")
    @classmethod
    def _scenario(cls, value: Any) -> str:
        return _choice(value, "max_outcome", SCENARIOS, "scenario type")

    @field_validator("curve_source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> str:
        return _choice(value, "fitted", SOURCES, "curve source")

    @field_validator("target")
    @classmethod
    def _target(cls, value: float | None, info: ValidationInfo) -> float | None:
        if info.data.get("scenario") == "min_budget" and not value:
            raise refuse("the smallest-budget scenario needs a target outcome")
        return value

    @field_validator("target_roas")
    @classmethod
    def _target_roas(cls, value: float | None, info: ValidationInfo) -> float | None:
        if info.data.get("scenario") in ROAS_SCENARIOS and not value:
            raise refuse("the target-ROAS scenarios need a target ROAS: the outcome each unit of spend should "
                         "return, e.g. 1.5")
        return value

    # ---------------------------------------------------------------------------------------- bounds

    @field_validator("cells", mode="before")
    @classmethod
    def _selected_cells(cls, value: Any, info: ValidationInfo) -> Any:
        return _rows(value, info, lambda row, brands, channels: _brand_id(row) in brands
                     and str(row.get("channel")) in channels)

    @field_validator("brand_bounds", mode="before")
    @classmethod
    def _selected_brands(cls, value: Any, info: ValidationInfo) -> Any:
        return _rows(value, info, lambda row, brands, channels: _brand_id(row) in brands)

    @field_validator("channel_bounds", mode="before")
    @classmethod
    def _selected_channels(cls, value: Any, info: ValidationInfo) -> Any:
        return _rows(value, info, lambda row, brands, channels: str(row.get("channel")) in channels)

    @field_validator("cells", "brand_bounds", "channel_bounds")
    @classmethod
    def _set_rows_only(cls, rows: list[_Bounds]) -> list[_Bounds]:
        return [row for row in rows if row.is_set()]

    # ---------------------------------------------------------------------------------------- options

    @field_validator("unit")
    @classmethod
    def _whole_units(cls, unit: float | None, info: ValidationInfo) -> float | None:
        """A chosen budget must split into whole units; the smallest-budget scenario checks the budget
        it finds, and a run without a budget checks last year's spend (core.budget)."""
        if info.data.get("scenario") == "max_outcome":
            try:
                check_unit(info.data.get("budget"), unit)
            except BudgetInputError as exc:
                raise refuse(str(exc)) from None
        return unit

    @field_validator("risk_front", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        """A form's switch is a checklist: ["on"] or []."""
        if isinstance(value, list):
            return bool(value and value[0])
        return False if value is None else value

    # ---------------------------------------------------------------------------------------- lookups

    def cell_map(self) -> dict[tuple[int, str], CellBound]:
        """The cell bounds by (brand id, channel)."""
        return {(c.brand_id, c.channel): c for c in self.cells}

    def brand_totals(self) -> dict[int, Bound]:
        return {b.brand_id: b.pair() for b in self.brand_bounds}

    def channel_totals(self) -> dict[str, Bound]:
        return {c.channel: c.pair() for c in self.channel_bounds}
