"""A flighting run from the database: the principal's brands, their stored curves and weekly spend history.

`run_flighting(db, user_id, inputs)` is what the "flighting" job kind (core.jobs.flighting_kind) calls for
the API (POST /api/v1/flighting). It takes the job owner's *user id*, re-loads that user's Principal and
re-authorizes scenario:run on every brand (a job runs with no request around it); channels are the
brand's channels the principal may run, with a stored curve of the chosen source. The carry-over in is
each channel's spend history (the fit's recursion, model.carryover_state); week 1 of the plan is the week
after the brand's last week of data. Money in refusals speaks the organization's currency.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from core.db import Database
from core.flighting.compare import comparisons, last_year_window
from core.flighting.problem import FlightingProblem
from core.flighting.reasons import explain
from core.flighting.solve import solve
from core.models import Brand, Channel, Spend, join_channel
from core.optimize.curves import CurveParams
from core.optimize.problem import InfeasibleError
from core.response_curves import stored_curves
from core.security import Principal, authorize, load_principal, scope_filter
from core.settings import brand_units

RUN = "scenario:run"
HISTORY_WEEKS = 104  # weeks of spend history read for the carry-over (θ ≤ 0.9: 0.9^104 ≈ 2e-5)
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$")  # a month "2027-01" or a quarter "2027-Q1"


class FlightingInputError(ValueError):
    """Inputs a person must change (nothing was run); `reason` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FlightingInputs(BaseModel):
    """What a flighting run asks for. Channel keys are channel names; weeks are numbered from 1."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    brand_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=20)
    channels: list[Annotated[str, Field(min_length=1, max_length=120)]] | None = Field(default=None, max_length=40)
    weeks: Annotated[int, Field(ge=1, le=104)] = 13
    budget: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    curve_source: Literal["fitted", "truth"] = "fitted"
    carryover_out: bool = True
    weekly_max: dict[str, Money] = Field(default_factory=dict, description="channel → largest weekly spend")
    min_when_on: dict[str, Money] = Field(default_factory=dict, description="channel → least weekly spend when on")
    blackout: dict[str, list[Annotated[int, Field(ge=1, le=104)]]] = Field(default_factory=dict)
    week_max: dict[str, list[Money | None]] = Field(
        default_factory=dict, description="channel → largest spend in each week (null: no limit, 0: a blackout)")
    channel_budgets: dict[str, tuple[Money, Money | None]] = Field(
        default_factory=dict, description="channel → (least, most) over the horizon, all brands together")
    period_budgets: dict[str, tuple[Money, Money | None]] = Field(
        default_factory=dict, description='month "2027-01" or quarter "2027-Q1" → (least, most) spent in its weeks '
                                          "(a week belongs to the month and quarter it starts in)")
    commitments: dict[str, list[Money | None]] = Field(
        default_factory=dict, description="channel → spend already booked in each week (a floor; null: none)")

    @field_validator("period_budgets")
    @classmethod
    def _periods(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not PERIOD.match(key):
                raise ValueError(f"{key!r} is not a month like 2027-01 or a quarter like 2027-Q1")
        return value

    @classmethod
    def read(cls, raw: dict[str, Any]) -> FlightingInputs:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "inputs"
            raise FlightingInputError(f"{where}: {first['msg']}") from None


def _history(db: Database, principal: Principal, brand_id: int) -> tuple[str, dict[str, np.ndarray], str | None]:
    """The brand's name, weekly spend per channel the principal may run (oldest first) and its last week."""
    with db.session() as s:
        name = s.scalar(select(Brand.name).where(Brand.id == brand_id))
        rows = s.execute(join_channel(select(Channel.name, Spend.period, Spend.amount, Spend.granularity), Spend)
                         .where(Spend.brand_id == brand_id, scope_filter(principal, RUN, Channel))).all()
    if any(r.granularity != "week" for r in rows):
        raise FlightingInputError(f"{name}: flighting plans weeks and this brand's data are monthly")
    periods = sorted({r.period for r in rows})[-HISTORY_WEEKS:]
    index = {p: i for i, p in enumerate(periods)}
    out: dict[str, np.ndarray] = {}
    for r in rows:
        if r.period in index:
            out.setdefault(r.name, np.zeros(len(periods)))[index[r.period]] = float(r.amount)
    return str(name), out, (periods[-1].isoformat() if periods else None)


def _week_cap(caps: list[float | None] | None, week: int) -> float:
    """A channel's cap in week `week` (0-based) from its per-week list; weeks past the list's end are free."""
    if not caps or week >= len(caps) or caps[week] is None:
        return np.inf
    return float(caps[week])


def period_of(week_start: str, by: str) -> str:
    """The month ("2027-01") or quarter ("2027-Q1") a plan week belongs to: the one its first day falls in.
    ValueError for a week without a date."""
    d = date.fromisoformat(week_start)
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}" if by == "quarter" else f"{d.year}-{d.month:02d}"


def week_periods(week_starts: list[str]) -> list[set[str]]:
    """The month and quarter each plan week belongs to."""
    try:
        return [{period_of(start, "month"), period_of(start, "quarter")} for start in week_starts]
    except ValueError:
        raise FlightingInputError("budgets by month or quarter need dated weeks, and this brand's data has "
                                  "none; remove them") from None


def plan_weeks(last_data_week: str | None, weeks: int) -> list[str]:
    """The plan's week starts (ISO dates): week 1 is the week after the last week of data."""
    if not last_data_week:
        return [f"week {w + 1}" for w in range(weeks)]
    last = date.fromisoformat(last_data_week)
    return [(last + timedelta(weeks=w + 1)).isoformat() for w in range(weeks)]


def default_budget(db: Database, principal: Principal, brand_ids: list[int], channels: list[str] | None,
                   weeks: int) -> dict[str, Any]:
    """The form's start: last year's spend for the same weeks (the latest weeks when the history is shorter)
    over the brands and channels chosen, and the last week of data (the plan starts the week after)."""
    total, last = 0.0, None
    for brand_id in brand_ids:
        authorize(principal, RUN, ("brand", brand_id))
        _, spend, brand_last = _history(db, principal, brand_id)
        rows = [v for c, v in spend.items() if channels is None or c in channels]
        if rows:
            depth = max(len(r) for r in rows)
            total += float(last_year_window(np.array([np.r_[np.zeros(depth - len(r)), r] for r in rows]), weeks).sum())
        last = max(filter(None, (last, brand_last)), default=None)
    return {"budget": total, "last_data_week": last, "weeks": plan_weeks(last, weeks)}


def build(db: Database, principal: Principal, inputs: FlightingInputs) -> tuple[FlightingProblem, list[dict]]:
    """The problem for the principal's brands and the cells it plans (brand id, brand, channel)."""
    curves: list[CurveParams] = []
    cells, history = [], []
    for brand_id in inputs.brand_ids:
        authorize(principal, RUN, ("brand", brand_id))
        name, spend, last = _history(db, principal, brand_id)
        with db.session() as s:
            stored = stored_curves(s, brand_id, inputs.curve_source)
        chosen = [c for c in sorted(stored) if c in spend and (inputs.channels is None or c in inputs.channels)]
        if not chosen:
            raise FlightingInputError(f"{name}: no {inputs.curve_source} response curves for the chosen channels "
                                      "yet; fit the brand first")
        for c in chosen:
            curves.append(stored[c][0])
            history.append(spend[c])
            cells.append({"brand_id": brand_id, "brand": name, "channel": c, "last_data_week": last})
    depth = max(len(h) for h in history)
    hist = np.array([np.r_[np.zeros(depth - len(h)), h] for h in history])
    channels = [c["channel"] for c in cells]
    t = inputs.weeks
    upper = np.array([[min(inputs.weekly_max.get(c, np.inf), _week_cap(inputs.week_max.get(c), w)) for w in range(t)]
                      for c in channels])
    blackout = np.array([[w + 1 in set(inputs.blackout.get(c, [])) for w in range(t)] for c in channels])
    unknown = sorted(set(inputs.commitments) - set(channels))
    if unknown:
        raise FlightingInputError(f"spend is booked for {unknown[0]}, which is not in the plan "
                                  "(not chosen, or no curve yet)")
    booked = np.array([[_booked(inputs.commitments.get(c), w) for w in range(t)] for c in channels])
    last = max((c["last_data_week"] for c in cells if c["last_data_week"]), default=None)
    periods = week_periods(plan_weeks(last, t)) if inputs.period_budgets else None
    with db.engine.connect() as conn:
        units = brand_units(conn, inputs.brand_ids)
    problem = FlightingProblem(
        curves, [c["brand"] for c in cells], channels, t, inputs.budget, upper=upper, blackout=blackout,
        commitments=booked, min_when_on=np.array([inputs.min_when_on.get(c, 0.0) for c in channels]), history=hist,
        carryover_out=inputs.carryover_out, units=units, periods=periods,
        period_budgets=inputs.period_budgets, channel_budgets=inputs.channel_budgets)  # most None: no maximum
    return problem, cells


def _booked(amounts: list[float | None] | None, week: int) -> float:
    """A channel's booked spend in week `week` (0-based): each brand's row of that channel holds it."""
    if not amounts or week >= len(amounts) or amounts[week] is None:
        return 0.0
    return float(amounts[week])


def check(db: Database, principal: Principal, raw: dict[str, Any]) -> dict[str, Any]:
    """The inputs in canonical form once authorized and feasible (FlightingInputError / Forbidden otherwise)."""
    inputs = FlightingInputs.read(raw)
    problem, _ = build(db, principal, inputs)
    try:
        problem.validate()
    except InfeasibleError as exc:
        raise FlightingInputError(exc.reason) from None
    return inputs.model_dump(mode="json")


def run_flighting(db: Database, user_id: int, raw: dict[str, Any],
                  progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """The best weekly plan for the inputs, as JSON-able data (money in the organization's currency)."""
    report = progress or (lambda _f, _m: None)
    principal = load_principal(db, user_id)
    inputs = FlightingInputs.read(raw)
    report(0.1, "loading curves and spend history")
    problem, cells = build(db, principal, inputs)
    report(0.3, "planning the weeks")
    try:
        result = solve(problem, progress=lambda f, m: report(0.3 + 0.6 * f, m))
    except InfeasibleError as exc:
        raise FlightingInputError(exc.reason) from None
    report(0.9, "comparing with a flat plan and last year's pattern")
    compare = comparisons(problem, result.plan)
    last = max((c["last_data_week"] for c in cells if c["last_data_week"]), default=None)
    weeks = plan_weeks(last, inputs.weeks)
    reasons = explain(problem, result.plan, result.prices, result.status, compare.get("budget_marginal"), weeks)
    report(1.0, "done")
    out = result.to_dict()
    plan = out.pop("plan")
    flat = compare["flat"]["outcome"]
    return {**out, "inputs": inputs.model_dump(mode="json"), "compare": compare, "budget": inputs.budget,
            "weeks": weeks, "horizon_weeks": inputs.weeks,
            "scenario_label": f"Flighting plan, {inputs.weeks} weeks", "curve_source": inputs.curve_source,
            "uplift": result.outcome - flat, "uplift_pct": (result.outcome - flat) / flat * 100 if flat else None,
            "units": problem.units.as_dict() if problem.units else None,
            "cells": [{**c, "plan": row, "total": float(sum(row)), **{k: v for k, v in why.items() if k != "total"}}
                      for c, row, why in zip(cells, plan, reasons, strict=True)]}
