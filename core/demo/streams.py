"""Random streams of the demo generators, and the AR(1) noise both of them use.

Each component draws from its own generator, derived from (seed, component), so adding draws in one
component can never shift the numbers of another and one seed always gives the same portfolio.
"""

from __future__ import annotations

import numpy as np

STREAM_METRICS, STREAM_ANOMALIES, STREAM_SPEND, STREAM_CURVES, STREAM_REVENUE = range(1, 6)


def stream(seed: int, component: int) -> np.random.Generator:
    """The generator of one component (stream 0: the brands' sizes and prices)."""
    return np.random.default_rng([seed, component])


def ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    """AR(1) along the last axis, started from its stationary distribution (persistent noise)."""
    from scipy.signal import lfilter

    first = shocks[..., :1] / np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], np.concatenate([first, shocks[..., 1:]], axis=-1), axis=-1)
