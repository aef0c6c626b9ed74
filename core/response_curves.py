"""Fit and store a brand's response curves from its spend, revenue and control history.

The database side of core/optimize/fit.py (which stays free of the database): `fit_brand` loads the
brand's series, aligns them on one period grid, fits, and replaces the brand's fitted curves in one
transaction (the demo's truth curves are never touched), keeping the fit as the brand's next
FitVersion (core.fit_versions: the data it saw and what the review page draws); `stored_curves` reads
them back for the allocator. `prepare_fit` (fit, write nothing) and `store_fit` (write, in the
caller's transaction) are the two halves, for the "fit" job kind (core.jobs.fit_kind). Series
problems the fitter cannot work around raise `FitDataError` with a `reason` code the dashboard and
the API can show.

Alignment rules, so a fit never depends on how rows happened to be stored:
- the periods are those of the revenue series, limited to where spend and revenue overlap;
  within that window revenue must be present for every period (weekly or monthly, no gaps);
- a missing spend row means nothing was spent; a channel that spent nothing in the window is left out;
- controls named `exposure:*` (impressions, clicks) measure the media themselves and are not
  used as controls; a control missing some periods is left out, with a note. The fitter itself
  leaves out (with a note) controls constant over its training periods — constant in the window, or
  varying only in the holdout periods (a one-off event late in the history). Every other control
  is used, e.g. the demo's festive-season series `event:festive`.

Command line: `python -m core.response_curves fit --brand-id N` (or `--org SLUG --brand NAME`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from core.db import Database
from core.fit_record import fit_inputs, fit_result
from core.fit_versions import add_version
from core.lift_tests.for_fit import experiments_for
from core.models import Brand, Channel, ControlValue, Organization, Outcome, ResponseCurve, Spend, join_channel
from core.optimize.curves import CurveParams
from core.optimize.fit import Experiment, FitResult, fit_response_curves
from core.optimize.progress import Monitor, ProgressFn

PERIOD_CODE = {"week": "W", "month": "M"}
MIN_PERIODS = {"week": 52, "month": 24}  # at least a year of weeks / two of months, for the seasonal terms
EXTRA_PERIODS = 10  # and this many periods beyond the number of parameters
EXCLUDED_CONTROL_PREFIX = "exposure:"
HOLDOUT = 0.15  # share of the last periods held out for the out-of-sample diagnostics


class FitDataError(ValueError):
    """The brand's history cannot be fitted; `reason` is one of the codes below, the message says why.

    unknown_brand, no_spend, no_revenue, mixed_granularity, mismatched_periods, too_few_periods
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class BrandHistory:
    """A brand's series aligned on one period grid, ready for fit_response_curves."""

    brand_id: int
    brand: str
    granularity: str  # "week" | "month"
    periods: list[date]
    channels: list[str]
    channel_ids: dict[str, int]
    spend: np.ndarray  # (periods, channels)
    revenue: np.ndarray  # (periods,)
    control_names: list[str]
    controls: np.ndarray  # (periods, controls)
    notes: list[str] = field(default_factory=list)
    experiments: list[Experiment] = field(default_factory=list)  # the brand's lift tests on this grid


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _regular(periods: list[date], granularity: str) -> bool:
    if len(periods) < 2:
        return True
    if granularity == "week":
        return all((b - a).days == 7 for a, b in itertools.pairwise(periods))
    return all(_months_between(a, b) == 1 for a, b in itertools.pairwise(periods))


def _read_series(session: Session, brand: Brand) -> tuple[list[Any], list[Any], str]:
    """(spend rows, revenue rows by period, granularity); FitDataError when one is missing or they mix grains."""
    spend_rows = session.execute(join_channel(
        select(Spend.period, Spend.granularity, Channel.name, Channel.id, Spend.amount), Spend)
        .where(Spend.brand_id == brand.id)
    ).all()
    if not spend_rows:
        raise FitDataError("no_spend", f"brand '{brand.name}' has no spend rows")
    revenue_rows = session.execute(
        select(Outcome.period, Outcome.granularity, Outcome.revenue)
        .where(Outcome.brand_id == brand.id, Outcome.revenue.is_not(None)).order_by(Outcome.period)
    ).all()
    if not revenue_rows:
        raise FitDataError("no_revenue", f"brand '{brand.name}' has spend but no revenue rows")
    grains = {r.granularity for r in spend_rows} | {r.granularity for r in revenue_rows}
    if len(grains) != 1:
        raise FitDataError("mixed_granularity", f"brand '{brand.name}' mixes {sorted(grains)} periods; "
                           "fit one granularity at a time")
    return spend_rows, revenue_rows, grains.pop()


def _revenue_window(spend_rows: list[Any], revenue_rows: list[Any], granularity: str) -> dict[date, float]:
    """Revenue by period over the window where spend and revenue overlap, checked to be a gapless grid."""
    spend_periods = sorted({r.period for r in spend_rows})
    first = max(spend_periods[0], revenue_rows[0].period)
    last = min(spend_periods[-1], revenue_rows[-1].period)
    if first > last:
        raise FitDataError("mismatched_periods", f"spend ({spend_periods[0]} … {spend_periods[-1]}) and revenue "
                           f"({revenue_rows[0].period} … {revenue_rows[-1].period}) do not overlap")
    revenue = {r.period: float(r.revenue) for r in revenue_rows if first <= r.period <= last}
    periods = sorted(revenue)
    off_grid = sorted({p for p in spend_periods if first <= p <= last} - set(periods))
    if off_grid:
        raise FitDataError("mismatched_periods", f"{len(off_grid)} spend period(s) have no revenue row, "
                           f"first {off_grid[0]}: spend and revenue must share period starts")
    if not _regular(periods, granularity):
        raise FitDataError("mismatched_periods", f"revenue has gaps between {first} and {last}: "
                           f"every {granularity} of the window needs a revenue row")
    return revenue


def _spend_matrix(spend_rows: list[Any], periods: list[date], brand: str,
                  notes: list[str]) -> tuple[list[str], np.ndarray]:
    """(channels, spend per period × channel) on the grid; a missing row is zero spend, an idle channel is
    left out with a note."""
    index = {p: i for i, p in enumerate(periods)}
    names = sorted({r.name for r in spend_rows})
    col = {c: j for j, c in enumerate(names)}
    spend = np.zeros((len(periods), len(names)))
    rows = [(index[r.period], col[r.name], r.amount) for r in spend_rows if r.period in index]
    if rows:
        i, j, v = (np.array(a) for a in zip(*rows, strict=True))
        spend[i.astype(int), j.astype(int)] = v.astype(float)
    active = spend.sum(axis=0) > 0
    if not active.any():
        raise FitDataError("no_spend", f"brand '{brand}' spent nothing between {periods[0]} and {periods[-1]}")
    if not active.all():
        notes.append("left out (no spend in the window): " + ", ".join(n for n, a in zip(names, active, strict=True)
                                                                       if not a))
    return [n for n, a in zip(names, active, strict=True) if a], spend[:, active]


def _control_matrix(session: Session, brand_id: int, periods: list[date],
                    notes: list[str]) -> tuple[list[str], np.ndarray]:
    """(control names, values per period × control): exposure series and controls missing a period left out."""
    control_rows = session.execute(
        select(ControlValue.name, ControlValue.period, ControlValue.value)
        .where(ControlValue.brand_id == brand_id, ControlValue.period >= periods[0], ControlValue.period <= periods[-1])
    ).all()
    on_grid = set(periods)
    by_name: dict[str, dict[date, float]] = {}
    for r in control_rows:
        if not r.name.startswith(EXCLUDED_CONTROL_PREFIX) and r.period in on_grid:
            by_name.setdefault(r.name, {})[r.period] = float(r.value)
    control_names, columns = [], []
    for name in sorted(by_name):
        values = by_name[name]
        if len(values) < len(periods):
            notes.append(f"control '{name}' left out: {len(periods) - len(values)} period(s) missing")
            continue
        control_names.append(name)
        columns.append(np.array([values[p] for p in periods]))
    return control_names, np.column_stack(columns) if columns else np.zeros((len(periods), 0))


def load_history(session: Session, brand_id: int, n_fourier: int = 2) -> BrandHistory:
    """Read and align the brand's spend, revenue and controls; FitDataError when they cannot be fitted."""
    brand = session.get(Brand, brand_id)
    if brand is None:
        raise FitDataError("unknown_brand", f"no brand with id {brand_id}")
    spend_rows, revenue_rows, granularity = _read_series(session, brand)
    revenue = _revenue_window(spend_rows, revenue_rows, granularity)
    periods = sorted(revenue)
    notes: list[str] = []
    names, spend = _spend_matrix(spend_rows, periods, brand.name, notes)
    control_names, controls = _control_matrix(session, brand_id, periods, notes)

    n_params = 4 * len(names) + 2 + 2 * n_fourier + len(control_names)
    needed = max(MIN_PERIODS[granularity], n_params + EXTRA_PERIODS)
    if len(periods) < needed:
        raise FitDataError("too_few_periods", f"{len(periods)} {granularity}s of history for {len(names)} channel(s) "
                           f"and {len(control_names)} control(s): at least {needed} are needed")
    channel_ids = {r.name: r.id for r in spend_rows}
    return BrandHistory(
        brand_id=brand_id, brand=brand.name, granularity=granularity, periods=periods, channels=names,
        channel_ids={n: channel_ids[n] for n in names}, spend=spend, revenue=np.array([revenue[p] for p in periods]),
        control_names=control_names, controls=controls, notes=notes,
    )


def channel_diagnostics(fit: FitResult, history: BrandHistory, channel: str, seed: int) -> dict[str, Any]:
    """What is stored with one fitted curve: fit quality, intervals, and the range the curve was fitted on."""
    j = history.channels.index(channel)
    x = history.spend[:, j]
    draws = fit.param_draws.get(channel)
    return {
        "r2": fit.r2,
        "holdout_r2": fit.holdout_r2,
        "holdout_mape": fit.holdout_mape,
        "nrmse": fit.nrmse,
        "param_intervals": fit.param_interval(channel) if draws is not None else {},
        "contribution": fit.contribution[channel],
        "contribution_interval": fit.contribution_interval.get(channel),
        "roas": fit.roas[channel],
        "roas_interval": fit.roas_interval.get(channel),
        "n_periods": len(history.periods),
        "granularity": history.granularity,
        "first_period": history.periods[0].isoformat(),
        "last_period": history.periods[-1].isoformat(),
        # The curve is data-backed only across the spend it saw; the allocator can flag extrapolation.
        "fitted_range": {"min": float(x.min()), "max": float(x.max()), "mean": float(x.mean()),
                         "active_share": float(np.mean(x > 0))},
        "channels": history.channels,
        "controls": fit.controls,
        "coefficients": fit.coefficients,
        "noise_sd": fit.noise_sd,
        "notes": history.notes + fit.notes,
        "n_bootstrap": 0 if draws is None else len(draws),
        "seed": seed,
        # beta, decay, half_saturation, shape per draw: rebuilds the curve draws for intervals and the risk front
        "bootstrap_draws": [] if draws is None else draws.tolist(),
    }


@dataclass
class PreparedFit:
    """A finished fit not stored yet: the history it saw, the result, and the version record built from both."""

    history: BrandHistory
    fit: FitResult
    seed: int
    inputs: dict[str, Any]
    result: dict[str, Any]


def prepare_fit(
    db: Database,
    brand_id: int,
    *,
    n_bootstrap: int = 100,
    seed: int = 0,
    n_starts: int = 6,
    progress: ProgressFn | None = None,
    cancel: Any = None,
) -> PreparedFit:
    """Load the brand's history and fit it; writes nothing (a job stores it in its final transaction)."""
    mon = Monitor(progress, cancel)
    mon.report(0.0, "loading history")
    with db.session() as session:
        history = load_history(session, brand_id)
        # Lift tests are likelihood terms of the fit; one the fit cannot use is left out with a note.
        history.experiments, skipped = experiments_for(session, brand_id, history.periods, history.granularity,
                                                       history.channels)
        history.notes.extend(skipped)

    def scaled(fraction: float, message: str) -> None:
        mon.report(0.02 + 0.95 * fraction, message)

    fit = fit_response_curves(
        history.revenue, history.spend, history.channels, history.controls, history.control_names,
        period=PERIOD_CODE[history.granularity], n_starts=n_starts, holdout=HOLDOUT, n_bootstrap=n_bootstrap, seed=seed,
        experiments=history.experiments, progress=scaled, cancel=cancel,
    )
    mon.report(0.98, "storing curves")
    return PreparedFit(history, fit, seed, fit_inputs(history), fit_result(fit, history))


def store_fit(session: Session, prepared: PreparedFit, *, created_by: int | None = None,
              trigger: str = "manual") -> int:
    """Replace the brand's fitted curves and keep the fit as the brand's next version; returns its number."""
    history, fit = prepared.history, prepared.fit
    # Lock the brand row so two refits of one brand cannot interleave their delete and insert (or numbering).
    session.execute(select(Brand.id).where(Brand.id == history.brand_id).with_for_update())
    session.execute(delete(ResponseCurve).where(ResponseCurve.brand_id == history.brand_id,
                                                ResponseCurve.kind == "fitted"))
    session.add_all([
        ResponseCurve(brand_id=history.brand_id, channel_id=history.channel_ids[ch], kind="fitted",
                      params=fit.params[ch].to_dict(),
                      diagnostics=channel_diagnostics(fit, history, ch, prepared.seed))
        for ch in history.channels
    ])
    return add_version(session, history.brand_id, prepared.inputs, prepared.result, created_by=created_by,
                       trigger=trigger).version


def fit_brand(
    db: Database,
    brand_id: int,
    *,
    n_bootstrap: int = 100,
    seed: int = 0,
    n_starts: int = 6,
    progress: ProgressFn | None = None,
    cancel: Any = None,
    created_by: int | None = None,
    trigger: str = "manual",
) -> FitResult:
    """Fit the brand's curves, store them as its fitted curves (replacing the previous ones) and keep the
    fit as the brand's next FitVersion, in one transaction."""
    prepared = prepare_fit(db, brand_id, n_bootstrap=n_bootstrap, seed=seed, n_starts=n_starts, progress=progress,
                           cancel=cancel)
    with db.session() as session:
        store_fit(session, prepared, created_by=created_by, trigger=trigger)
    Monitor(progress, None).report(1.0, "fit stored")
    return prepared.fit


def stored_curves(
    conn: Connection | Session, brand_id: int, kind: str = "fitted"
) -> dict[str, tuple[CurveParams, dict[str, Any]]]:
    """The brand's stored curves of one kind: channel name -> (params, diagnostics); the newest row wins."""
    rows = conn.execute(
        join_channel(select(Channel.name, ResponseCurve.params, ResponseCurve.diagnostics), ResponseCurve)
        .where(ResponseCurve.brand_id == brand_id, ResponseCurve.kind == kind)
        .order_by(ResponseCurve.fitted_at, ResponseCurve.id)
    ).all()
    return {r.name: (CurveParams.from_dict(r.params), r.diagnostics or {}) for r in rows}


# ----------------------------------------------------------------------------------------------- CLI


def format_table(brand: str, curves: dict[str, tuple[CurveParams, dict[str, Any]]]) -> str:
    """A readable diagnostics table: one line per channel, fit quality once."""
    if not curves:
        return f"{brand}: no fitted curves"
    first = next(iter(curves.values()))[1]

    def num(v: Any, fmt: str) -> str:
        return "—" if v is None else format(v, fmt)

    def iv(v: Any, fmt: str) -> str:
        return "" if not v else f" [{format(v[0], fmt)}, {format(v[1], fmt)}]"

    lines = [
        f"{brand}: {first['n_periods']} {first['granularity']}s {first['first_period']} … {first['last_period']}, "
        f"R² {num(first['r2'], '.3f')}, holdout R² {num(first['holdout_r2'], '.3f')}, "
        f"holdout MAPE {num(first['holdout_mape'], '.1%')}, NRMSE {num(first['nrmse'], '.3f')}, "
        f"bootstrap {first['n_bootstrap']}",
        f"{'channel':<16}{'beta':>12}{'decay':>7}{'K':>12}{'shape':>7}{'contribution':>14}{'ROAS':>7}  ROAS 90 %",
    ]
    for name, (p, d) in curves.items():
        lines.append(
            f"{name:<16}{p.beta:>12.4g}{p.decay:>7.2f}{p.half_saturation:>12.4g}{p.shape:>7.2f}"
            f"{d['contribution']:>14.4g}{num(d['roas'], '.2f'):>7}{iv(d.get('roas_interval'), '.2f')}"
        )
    for note in first.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from core.config import database_url_from_env, normalize_database_url

    parser = argparse.ArgumentParser(prog="python -m core.response_curves", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("fit",))
    parser.add_argument("--brand-id", type=int)
    parser.add_argument("--org", help="organization slug (with --brand)")
    parser.add_argument("--brand", help="brand name (with --org)")
    parser.add_argument("--bootstrap", type=int, default=100, help="bootstrap refits for the intervals")
    parser.add_argument("--starts", type=int, default=6, help="least-squares starts per fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the stored curves and diagnostics as JSON")
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or the embedded SQLite")
    args = parser.parse_args(argv)
    if (args.brand_id is None) == (args.org is None or args.brand is None):
        parser.error("give --brand-id, or --org and --brand")
    db = Database(normalize_database_url(args.database_url) if args.database_url else database_url_from_env())
    try:
        brand_id = args.brand_id
        if brand_id is None:
            with db.session() as s:
                brand_id = s.scalar(select(Brand.id).join(Organization, Organization.id == Brand.organization_id)
                                    .where(Organization.slug == args.org, Brand.name == args.brand))
            if brand_id is None:
                print(f"no brand '{args.brand}' in organization '{args.org}'", file=sys.stderr)
                return 2
        try:
            fit_brand(db, brand_id, n_bootstrap=args.bootstrap, seed=args.seed, n_starts=args.starts, trigger="cli")
        except FitDataError as exc:
            print(f"cannot fit ({exc.reason}): {exc}", file=sys.stderr)
            return 1
        with db.session() as s:
            name = s.get(Brand, brand_id).name
            curves = stored_curves(s, brand_id)
    finally:
        db.dispose()
    if args.json:
        out = {c: {"params": p.to_dict(), "diagnostics": {k: v for k, v in d.items() if k != "bootstrap_draws"}}
               for c, (p, d) in curves.items()}
        print(json.dumps({"brand_id": brand_id, "brand": name, "curves": out}, indent=2, default=str))
    else:
        print(format_table(name, curves))
    return 0


if __name__ == "__main__":
    sys.exit(main())
