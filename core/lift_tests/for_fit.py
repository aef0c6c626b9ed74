"""A brand's lift tests as the fitter's likelihood terms (core.optimize.fit.Experiment).

The fitter works on period indices of the series it fits, so each test's dates are mapped onto
that grid: period i covers its start date up to the next period's start (a week, or a calendar
month). A test counts the periods it covers at least half of, so a test recorded Monday to Sunday
on a weekly series, or from the 1st to the last day of a month on a monthly one, maps exactly; a
test whose dates fall inside periods is rounded to the periods it mostly covers, with a note. Tests
are skipped, each with a note in plain words, when they reach outside the fitted window (the model
cannot say what the channel did on days it does not see), cover no period by half, or measure a
channel the fit leaves out (no spend in the window).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Brand, Channel, LiftTest
from core.optimize.fit import Experiment

GRANULARITIES = ("week", "month")


def _next_start(period: date, granularity: str) -> date:
    if granularity == "week":
        return period + timedelta(days=7)
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def _mostly_covered(start: date, stop: date, period: date, nxt: date) -> bool:
    """Whether [start, stop) covers at least half of the period [period, nxt)."""
    covered = (min(stop, nxt) - max(start, period)).days
    return 2 * covered >= (nxt - period).days


def _span(start: date, end: date, periods: Sequence[date], granularity: str) -> tuple[int, int] | None:
    """First and last index of the periods the test [start, end] (end included) covers by half or more."""
    stop = end + timedelta(days=1)
    bounds = [*periods[1:], _next_start(periods[-1], granularity)]
    covered = [i for i, (p, nxt) in enumerate(zip(periods, bounds, strict=True))
               if p < stop and start < nxt and _mostly_covered(start, stop, p, nxt)]
    return (covered[0], covered[-1]) if covered else None


def experiments_for(session: Session, brand_id: int, periods: list[date], granularity: str,
                    channels: Sequence[str] | None = None) -> tuple[list[Experiment], list[str]]:
    """The brand's lift tests on the fitted series' period indices, and a note for each test left out.

    `periods`: the start dates of the fitted series (weekly or monthly, in order, no gaps);
    `channels`: the channels the fit uses (by name); None takes every channel of the brand's tests.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    if not periods:
        return [], []
    brand = session.get(Brand, brand_id)
    if brand is None:
        return [], []
    rows = session.execute(select(LiftTest, Channel.name).join(Channel, Channel.id == LiftTest.channel_id)
                           .where(LiftTest.brand_id == brand_id, Channel.organization_id == brand.organization_id)
                           .order_by(LiftTest.period_start, Channel.name, LiftTest.id)).all()
    used = None if channels is None else set(channels)
    window_end = _next_start(periods[-1], granularity) - timedelta(days=1)
    unit = granularity
    experiments: list[Experiment] = []
    notes: list[str] = []
    for test, channel in rows:
        label = (f"lift test #{test.id} ({channel}, {test.period_start.isoformat()} … "
                 f"{test.period_end.isoformat()})")
        if used is not None and channel not in used:
            notes.append(f"{label} left out: the fit does not use {channel} (no spend on it in the fitted window).")
            continue
        if test.period_start < periods[0] or test.period_end > window_end:
            notes.append(f"{label} left out: it reaches outside the fitted history "
                         f"({periods[0].isoformat()} … {window_end.isoformat()}).")
            continue
        span = _span(test.period_start, test.period_end, periods, granularity)
        if span is None:
            notes.append(f"{label} left out: it covers no {unit} of the fitted series by half or more.")
            continue
        first, last = span
        exact = periods[first] == test.period_start and (
            _next_start(periods[last], granularity) - timedelta(days=1)) == test.period_end
        if not exact:
            notes.append(f"{label} counted as the {unit}s {periods[first].isoformat()} … {periods[last].isoformat()}: "
                         f"its dates do not fall on {unit} boundaries.")
        experiments.append(Experiment(channel=channel, start=first, end=last, lift=float(test.incremental_outcome),
                                      se=float(test.standard_error)))
    return experiments, notes
