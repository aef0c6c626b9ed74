"""Synthetic brands with known response curves, from a family wider than the fitter's model.

The fitting benchmark (benchmarks.fitting) fits many of these and scores the fitted channel ROAS
against the truth. The family is the test, never one data set: each brand is an independent, seeded
draw, and the draws deliberately break the model's assumptions where real data would.

One brand (`synthetic_brand(seed)`), weekly:
- 104–260 observed weeks, 2–8 channels (names from a fixed list of media types);
- pre-history: spend and the calendar start `BURN_IN` weeks before the first observed week, so the
  first observed weeks carry adstock from spend the fitter never sees;
- spend: log-normal per channel, log x = log scale + σ·(ρ·shared factor + √(1−ρ²)·own AR(1) noise)
  + a·yearly seasonality + b·confounder, with σ 0.2–0.6, loading ρ 0.3–0.85 on one shared AR(1) factor
  (cross-channel correlation), a 0–0.5 and b 0.1–0.4; channel scales differ by up to 10^2.5 (orders of
  magnitude); about 40 % of channels are flighted (on/off blocks, roughly a quarter of weeks at zero);
- adstock: geometric with decay θ 0.05–0.8 but *truncated* to 4–12 lags with normalized weights
  θ^l / Σθ^l, l = 0..L−1 (the model's adstock is infinite geometric);
- saturation: Hill (shape n 0.5–3) or logistic (`core.optimize.curves.logistic`, steepness n 1–4),
  half-saturation / inflection K = the channel's mean non-zero spend × e^U(ln 0.4, ln 2.5);
- ROAS: large channels earn less per unit of spend: channel ROAS = level × (spend / geometric mean
  spend of the brand's channels)^−0.35 × LogNormal(0, 0.3), level 0.7–3 (log-uniform), so most channel
  ROAS fall in 0.3–10; β is then set so that the channel's contribution over the observed weeks is
  exactly ROAS × spend;
- baseline B0·(1 + trend + yearly seasonality): trend −20 %…+40 % over the history, seasonality two
  harmonics with amplitude 5–25 % and a random phase (the spend shares its shape);
- controls (given to the fitter): `demand_index`, a standardized AR(1) confounder that moves spend and
  revenue (revenue effect 3–12 % of B0 per sd), and `event`, a 0/1 column of 2–5 event weeks that lift
  revenue by 10–40 % of B0;
- media share: B0 is solved so total media is 10–50 % of noise-free revenue over the observed weeks;
- noise: Gaussian with sd 5–20 % of mean noise-free revenue.

Truth kept on the brand: each channel's `CurveParams` (with its family; `decay` is θ), the true lag
truncation, contributions (T, C), ROAS = contribution / spend over the observed weeks, contribution
shares, and the baseline, control effect and noise, so that
revenue = baseline + control_effect + Σ contribution + noise exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.optimize.curves import CurveParams, saturation

BURN_IN = 26  # unobserved weeks of spend before the first observed week (≥ the longest lag window)
PERIODS_PER_YEAR = 52.18
CHANNEL_NAMES = ("tv", "search", "social", "display", "video", "radio", "print", "outdoor")
CONTROL_NAMES = ("demand_index", "event")
RANGES = {  # the family's bounds, checked by the tests
    "weeks": (104, 260), "channels": (2, 8), "decay": (0.05, 0.8), "lags": (4, 12),
    "hill_shape": (0.5, 3.0), "logistic_shape": (1.0, 4.0), "media_share": (0.10, 0.50),
    "noise_share": (0.05, 0.20),
}


@dataclass(frozen=True)
class SyntheticBrand:
    """One synthetic brand: what a fitter sees (revenue, spend, controls) and the truth behind it."""

    seed: int
    revenue: np.ndarray  # (T,)
    spend: np.ndarray  # (T, C), observed weeks only
    channels: list[str]
    controls: np.ndarray  # (T, k)
    control_names: list[str]
    params: dict[str, CurveParams]  # true curves; decay is θ of the truncated adstock
    lags: dict[str, int]  # true adstock lag window L (weights θ^l, l = 0..L−1, normalized)
    contribution: np.ndarray  # (T, C) true contribution per channel
    roas: dict[str, float]  # true contribution / spend over the observed weeks
    share: dict[str, float]  # true contribution / Σ channel contributions
    baseline: np.ndarray  # (T,) B0·(1 + trend + seasonality)
    control_effect: np.ndarray  # (T,) what the controls add to revenue
    noise: np.ndarray  # (T,)
    noise_sd: float
    media_share: float  # Σ contributions / Σ noise-free revenue
    prehistory: np.ndarray  # (BURN_IN, C) spend before the first observed week (not shown to fitters)
    period: str = "W"


def truncated_adstock(spend: np.ndarray, decay: float, lags: int) -> np.ndarray:
    """a_t = Σ_{l<L} w_l·x_{t−l}, w_l = θ^l / Σθ^l, along axis 0 (x before the series is 0)."""
    w = decay ** np.arange(lags)
    w /= w.sum()
    x = np.asarray(spend, dtype=float)
    out = np.zeros_like(x)
    for lag, wl in enumerate(w):
        out[lag:] += wl * x[: len(x) - lag]
    return out


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """A stationary AR(1) series with unit variance."""
    e = rng.normal(size=n)
    out = np.empty(n)
    out[0] = e[0]
    for t in range(1, n):
        out[t] = phi * out[t - 1] + np.sqrt(1.0 - phi**2) * e[t]
    return out


def _flighting(rng: np.random.Generator, n: int) -> np.ndarray:
    """On/off blocks (a two-state Markov chain, about a quarter of weeks off); True = on air."""
    on = np.empty(n, bool)
    on[0] = True
    for t in range(1, n):
        on[t] = rng.random() > 0.1 if on[t - 1] else rng.random() < 0.3
    return on


def _spend(rng: np.random.Generator, n: int, c: int, season: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """(n, c) log-normal spend, correlated across channels, with the season and with demand."""
    shared = _ar1(rng, n, rng.uniform(0.5, 0.9))
    base = 10 ** rng.uniform(2.0, 4.0)
    out = np.empty((n, c))
    for j in range(c):
        scale = base * 10 ** rng.uniform(0.0, 2.5)
        sigma, rho = rng.uniform(0.2, 0.6), rng.uniform(0.3, 0.85)
        own = _ar1(rng, n, rng.uniform(0.0, 0.6))
        log_x = sigma * (rho * shared + np.sqrt(1 - rho**2) * own) + rng.uniform(0, 0.5) * season \
            + rng.uniform(0.1, 0.4) * demand
        out[:, j] = scale * np.exp(log_x)
        if rng.random() < 0.4:
            on = _flighting(rng, n)
            while on[BURN_IN:].mean() < 0.5:  # keep at least half the observed weeks on air
                on = _flighting(rng, n)
            out[~on, j] = 0.0
    return out


def _curve(rng: np.random.Generator, spend: np.ndarray) -> tuple[str, float, int, float, float]:
    """(family, decay, lags, K, n) for one channel, K near its typical (mean non-zero) spend."""
    family = "hill" if rng.random() < 0.5 else "logistic"
    decay = rng.uniform(*RANGES["decay"])
    lags = int(rng.integers(RANGES["lags"][0], RANGES["lags"][1] + 1))
    typical = spend[spend > 0].mean()
    k = typical * np.exp(rng.uniform(np.log(0.4), np.log(2.5)))
    n = rng.uniform(*RANGES["hill_shape" if family == "hill" else "logistic_shape"])
    return family, float(decay), lags, float(k), float(n)


def synthetic_brand(seed: int) -> SyntheticBrand:
    """One seeded draw from the family described in the module docstring."""
    rng = np.random.default_rng(seed)
    t_len = int(rng.integers(RANGES["weeks"][0], RANGES["weeks"][1] + 1))
    c = int(rng.integers(RANGES["channels"][0], RANGES["channels"][1] + 1))
    n = BURN_IN + t_len
    t = np.arange(n) - BURN_IN
    phase = rng.uniform(0, 2 * np.pi, 2)
    season = np.sin(2 * np.pi * t / PERIODS_PER_YEAR + phase[0]) \
        + 0.5 * np.sin(4 * np.pi * t / PERIODS_PER_YEAR + phase[1])
    season /= np.abs(season).max()
    demand = _ar1(rng, n, rng.uniform(0.6, 0.9))
    demand = (demand - demand[BURN_IN:].mean()) / demand[BURN_IN:].std()
    full_spend = _spend(rng, n, c, season, demand)
    obs = slice(BURN_IN, n)
    spend = full_spend[obs]
    channels = list(CHANNEL_NAMES[:c])

    # ROAS: large channels earn less per unit of spend; levelled to an overall media ROAS.
    totals = spend.sum(axis=0)
    relative = totals / np.exp(np.log(totals).mean())
    roas = np.exp(rng.uniform(np.log(0.7), np.log(3.0))) * relative**-0.35 * np.exp(rng.normal(0, 0.3, c))
    params, lags = {}, {}
    contribution = np.empty((t_len, c))
    for j, ch in enumerate(channels):
        family, decay, lag, k, shape = _curve(rng, spend[:, j])
        sat = saturation(family, truncated_adstock(full_spend[:, j], decay, lag), k, shape)[obs]
        beta = roas[j] * totals[j] / sat.sum()
        params[ch] = CurveParams(float(beta), decay, k, shape, family)
        lags[ch] = lag
        contribution[:, j] = beta * sat
    media_total = contribution.sum()

    # Baseline and controls, all proportional to B0; B0 solved for the drawn media share.
    trend = rng.uniform(-0.2, 0.4) * (t[obs] / (t_len - 1) - 0.5)
    amplitude = rng.uniform(0.05, 0.25)
    events = np.zeros(t_len)
    events[rng.choice(t_len, int(rng.integers(2, 6)), replace=False)] = 1.0
    shape_baseline = 1.0 + trend + amplitude * season[obs]
    shape_controls = rng.uniform(0.03, 0.12) * demand[obs] + rng.uniform(0.1, 0.4) * events
    media_share = float(rng.uniform(*RANGES["media_share"]))
    b0 = media_total * (1 - media_share) / media_share / (shape_baseline + shape_controls).sum()
    baseline, control_effect = b0 * shape_baseline, b0 * shape_controls
    clean = baseline + control_effect + contribution.sum(axis=1)
    noise_sd = float(rng.uniform(*RANGES["noise_share"]) * clean.mean())
    noise = rng.normal(0, noise_sd, t_len)
    return SyntheticBrand(
        seed=seed, revenue=clean + noise, spend=spend, channels=channels,
        controls=np.column_stack([demand[obs], events]), control_names=list(CONTROL_NAMES),
        params=params, lags=lags, contribution=contribution,
        roas={ch: float(contribution[:, j].sum() / totals[j]) for j, ch in enumerate(channels)},
        share={ch: float(contribution[:, j].sum() / media_total) for j, ch in enumerate(channels)},
        baseline=baseline, control_effect=control_effect, noise=noise, noise_sd=noise_sd,
        media_share=float(media_total / clean.sum()), prehistory=full_spend[:BURN_IN],
    )


def family_seeds(n: int, seed: int = 0) -> list[int]:
    """The n brand seeds of family `seed`: independent streams from one SeedSequence."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n)]


def synthetic_family(n: int, seed: int = 0) -> list[SyntheticBrand]:
    """n independent brands from the family, reproducible from `seed`."""
    return [synthetic_brand(s) for s in family_seeds(n, seed)]
