"""The demo's marketing mix, generated as arrays without touching a database.

Marketing mix. Weekly spend per own brand and channel follows its own media plan (the channel's
flighting — always-on, pulsed, or on/off bursts — with its own flight calendar, budget drift, dark
spells and festive push; see generate_spend), so channels are not moved in lockstep and their
curves are identified, and weekly revenue is exactly

    revenue_t = baseline + trend_per_week·t
                + Σ_k (season_sin[k]·sin(2π(k+1)f_t) + season_cos[k]·cos(2π(k+1)f_t))
                + festive_amplitude·exp(−½·(d(f_t, festive_center)/festive_width)²)
                + Σ_c CurveParams_c.contribution(spend_c)_t + ε_t,   ε_t ~ N(0, noise_sd²)

with t = weeks since the first week, f_t = (day of year of the week start − 1) / 365.25 and
d the circular distance on the year. The baseline terms and noise_sd are stored with every
true curve (ResponseCurve.diagnostics), the curve itself in ResponseCurve.params. The festive bump
is published as a control series (`event:festive`, the exp(…) factor, ControlValue rows), the way
MMM data sets carry holiday and event regressors: without it the festive revenue would be credited
to whichever media happen to run then. Half-saturation lies inside the observed adstock range
(so the curvature shows in the data), and the noise is 1–2 % of the baseline.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from core.demo.catalogue import CHANNELS, ChannelSpec
from core.demo.streams import STREAM_CURVES, STREAM_REVENUE, STREAM_SPEND, ar1, stream
from core.optimize.curves import CurveParams, geometric_adstock, hill

REVENUE_MODEL = (
    "revenue_t = baseline + trend_per_week*t + sum_k(season_sin[k]*sin(2*pi*(k+1)*f_t) + "
    "season_cos[k]*cos(2*pi*(k+1)*f_t)) + festive_amplitude*exp(-0.5*(d(f_t, festive_center)/festive_width)**2) "
    "+ sum_c contribution_c(spend_c)_t + N(0, noise_sd**2); t = weeks since first_week, "
    "f_t = (day_of_year(week_start) - 1)/365.25, d = circular distance on [0, 1); "
    "control event:festive = exp(-0.5*(d(f_t, festive_center)/festive_width)**2)"
)

# Non-media drivers published with the demo (ControlValue rows per own brand and week).
CONTROL_NAMES: tuple[str, ...] = ("event:festive",)


def year_fraction(days: list[date]) -> np.ndarray:
    """(day of year − 1) / 365.25: the calendar position seasonality is written in."""
    return (pd.DatetimeIndex(days).day_of_year.to_numpy() - 1) / 365.25



def generate_spend(seed: int, n_brands: int, weeks: list[date], size: np.ndarray,
                   channels: tuple[ChannelSpec, ...] = CHANNELS) -> np.ndarray:
    """Weekly spend, brands × channels × weeks, each series with its own media plan.

    Every brand × channel series draws its own calendar, as media plans of different channels
    are booked separately (and as MMM data sets are designed to be, so the channels can be told apart):
    - a budget level that drifts (log AR(1), sd 0.35), e.g. re-planned quarterly budgets;
    - flights: on/off ("burst") or high/low ("pulsed") runs from the parity of a cumulative count of
      random switches, so run lengths are geometric (mean 1/p weeks); each flight has its own weight;
    - dark weeks: always-on and pulsed channels pause now and then (campaign changes, budget freezes);
    - festive push: about half the series raise spend in late Oct – mid Nov, by their own amount.
    Bursts are kept active at least a fifth of the time, so every curve is identified.
    """
    rng = stream(seed, STREAM_SPEND)
    n_c, n_w = len(channels), len(weeks)
    shape = (n_brands, n_c, n_w)
    kind = np.array([c.flighting for c in channels], dtype=object)[None, :, None]
    frac = year_fraction(weeks)
    festive = np.exp(-0.5 * (_circular(frac - 0.80) / 0.05) ** 2)  # late Oct – mid Nov
    base = np.array([c.weekly_spend for c in channels])[None, :] * size[:, None]
    base = base * rng.lognormal(0.0, 0.3, (n_brands, n_c))
    phi = 0.8
    drift = np.exp(ar1(rng.normal(0.0, 0.45 * np.sqrt(1 - phi**2), shape), phi))
    switch_p = np.where(kind == "always", 0.0, np.where(kind == "pulsed", 0.25, 0.20))
    switches = rng.random(shape) < switch_p
    start = rng.integers(0, 2, (n_brands, n_c, 1))
    flight = np.cumsum(switches, axis=2)
    on = (flight + start) % 2 == 1
    too_quiet = on.mean(axis=2, keepdims=True) < 0.2
    on = np.where(too_quiet, ~on, on)
    weight = np.take_along_axis(rng.lognormal(0.0, 0.3, (n_brands, n_c, n_w + 1)), flight, axis=2)
    # Dark spells of always-on and pulsed channels: a two-state chain, pausing with probability 6 % / 7 %
    # a week and resuming with 35 % (spells of ~3 weeks; dark ~15 % of the time).
    pause = rng.random(shape) < np.where(kind == "always", 0.06, np.where(kind == "pulsed", 0.07, 0.0))
    resume = rng.random(shape) < 0.35
    dark = np.zeros(shape, bool)
    for w in range(1, n_w):  # a loop over weeks, vectorized over every series
        dark[:, :, w] = np.where(dark[:, :, w - 1], ~resume[:, :, w], pause[:, :, w])
    push = np.where(rng.random((n_brands, n_c)) < 0.5, rng.uniform(0.3, 1.0, (n_brands, n_c)), 0.0)
    wiggle = rng.lognormal(0.0, 0.15, shape)
    level = np.where(kind == "always", 1.0, np.where(kind == "pulsed", 0.45 + 1.1 * on, 1.8 * on))
    spend = base[:, :, None] * drift * level * wiggle * np.where(kind == "always", 1.0, weight) * ~dark
    spend = spend * (1.0 + push[:, :, None] * festive[None, None, :])
    return np.round(spend, -2)  # media plans are booked in round amounts



def _circular(d: np.ndarray) -> np.ndarray:
    """Signed distance on the unit circle of the year, in [−½, ½)."""
    return (d + 0.5) % 1.0 - 0.5



def generate_mmm(
    seed: int, weeks: list[date], spend: np.ndarray, price: np.ndarray, channels: tuple[ChannelSpec, ...] = CHANNELS,
) -> tuple[np.ndarray, np.ndarray, list[list[dict]], np.ndarray]:
    """Revenue and units per brand × week, per brand the true curve of each channel, and the
    control series (brands × CONTROL_NAMES × weeks) a model needs to explain the non-media part.

    Half-saturation is a quantile (30th–70th) of the channel's adstock over active weeks, so K lies
    inside the observed range and the data covers both sides of it; beta is set so the channel
    returns its drawn ROI at its own spend level; the baseline is sized so media drive 20–40 % of
    revenue. The festive bump is published as the control `event:festive` (its intensity, 0–1),
    like the holiday and event regressors of real MMM data sets.
    """
    rng = stream(seed, STREAM_CURVES)
    rng_rev = stream(seed, STREAM_REVENUE)
    n_b, n_c, n_w = spend.shape
    t = np.arange(n_w, dtype=float)
    frac = year_fraction(weeks)
    revenue = np.zeros((n_b, n_w))
    units = np.zeros((n_b, n_w))
    controls = np.zeros((n_b, len(CONTROL_NAMES), n_w))
    truths: list[list[dict]] = []
    # A loop over brand × channel series (not over values): each series needs its own adstock.
    for b in range(n_b):
        contributions = np.zeros((n_c, n_w))
        brand_curves = []
        for c, ch in enumerate(channels):
            x = spend[b, c]
            decay = float(rng.uniform(*ch.decay))
            shape = float(rng.uniform(*ch.shape))
            roi = float(rng.uniform(*ch.roi))
            adstock = geometric_adstock(x, decay)
            active = adstock[x > 0]
            k = float(np.quantile(active, rng.uniform(0.3, 0.7)))
            beta = roi * float(x.mean()) / float(np.mean(hill(adstock, k, shape)))
            params = CurveParams(beta=beta, decay=decay, half_saturation=k, shape=shape)
            contributions[c] = params.contribution(x)
            brand_curves.append({"params": params, "roi": roi})
        media = float(contributions.sum(axis=0).mean())
        share = rng_rev.uniform(0.2, 0.4)
        base = media * (1 - share) / share
        terms = {
            "baseline": base,
            "trend_per_week": base * rng_rev.uniform(-0.10, 0.30) / n_w,
            "season_sin": (base * rng_rev.normal(0.0, 0.05, 2)).tolist(),
            "season_cos": (base * rng_rev.normal(0.0, 0.05, 2)).tolist(),
            "festive_amplitude": base * rng_rev.uniform(0.08, 0.22),
            "festive_center": rng_rev.uniform(0.78, 0.84),
            "festive_width": 0.03,
            "noise_sd": base * rng_rev.uniform(0.01, 0.02),
        }
        baseline = baseline_series(terms, t, frac)
        controls[b, 0] = festive_series(terms, frac)
        noise = rng_rev.normal(0.0, terms["noise_sd"], n_w)
        revenue[b] = baseline + contributions.sum(axis=0) + noise
        # Units: revenue at the brand's list price, with festive discounts and a little mix noise.
        discount = 0.12 * np.exp(-0.5 * (_circular(frac - terms["festive_center"]) / 0.04) ** 2)
        units[b] = np.round(revenue[b] / (price[b] * (1 - discount)) * rng_rev.lognormal(0.0, 0.02, n_w))
        common = {
            **{k: (float(v) if not isinstance(v, list) else [float(x) for x in v]) for k, v in terms.items()},
            "first_week": weeks[0].isoformat(),
            "model": REVENUE_MODEL,
            "media_share": float(share),
            "list_price": float(price[b]),
        }
        truths.append([
            {
                "channel": ch.name,
                "params": curve["params"].to_dict(),
                "diagnostics": {
                    **common,
                    "roi": curve["roi"],
                    "mean_weekly_spend": float(spend[b, c].mean()),
                    "mean_contribution": float(contributions[c].mean()),
                    "curve_kind": "s-shaped" if curve["params"].shape > 1 else "concave",
                },
            }
            for c, (ch, curve) in enumerate(zip(channels, brand_curves, strict=True))
        ])
    return revenue, units, truths, controls



def festive_series(terms: dict, frac: np.ndarray) -> np.ndarray:
    """The festive intensity exp(−½·(d(f_t, festive_center)/festive_width)²): the `event:festive` control."""
    return np.exp(-0.5 * (_circular(frac - terms["festive_center"]) / terms["festive_width"]) ** 2)



def baseline_series(terms: dict, t: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Non-media revenue: baseline + trend + two-harmonic seasonality + festive bump."""
    k = np.arange(1, len(terms["season_sin"]) + 1)[:, None]
    season = (np.asarray(terms["season_sin"])[:, None] * np.sin(2 * np.pi * k * frac)
              + np.asarray(terms["season_cos"])[:, None] * np.cos(2 * np.pi * k * frac)).sum(axis=0)
    bump = festive_series(terms, frac)
    return terms["baseline"] + terms["trend_per_week"] * t + season + terms["festive_amplitude"] * bump

