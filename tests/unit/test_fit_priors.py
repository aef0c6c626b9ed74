"""The pooled prior on the channels' relative ROAS is the Gaussian it says it is, for any channel order."""

from __future__ import annotations

import numpy as np
import pytest

from core.optimize.fit_model import PRIORS, Model


def _model(c: int, priors: dict[str, tuple[float, float]]) -> Model:
    rng = np.random.default_rng(c)
    spend = rng.lognormal(0, 0.5, (60, c))
    return Model(rng.normal(1, 0.1, 60), spend, np.zeros((60, 0)), "W", 2, ["hill"] * c, priors)


@pytest.mark.parametrize("c", [1, 3, 6])
def test_the_pooled_prior_is_the_joint_gaussian_of_a_shared_level_and_own_deviations(c: int) -> None:
    m, s = PRIORS["roas_ratio"]
    tau = PRIORS["roas_spread"][1]
    cov = tau**2 * np.eye(c) + s**2 * np.ones((c, c))
    model = _model(c, PRIORS)
    r = np.random.default_rng(10 + c).normal(m, 1.5, c)
    z = model._roas_z(r)
    assert z @ z == pytest.approx((r - m) @ np.linalg.solve(cov, r - m), rel=1e-12)
    # its rows in the Jacobian give the prior precision Σ⁻¹ in the Laplace approximation
    rows = np.column_stack([model._roas_z(r + h) - z for h in np.eye(c)])
    np.testing.assert_allclose(rows.T @ rows, np.linalg.inv(cov), rtol=1e-10, atol=1e-12)
    perm = np.random.default_rng(c).permutation(c)
    np.testing.assert_allclose(model._roas_z(r[perm]), z[perm], rtol=1e-12)


def test_without_a_spread_the_channels_are_independent() -> None:
    priors = {k: v for k, v in PRIORS.items() if k != "roas_spread"}
    model = _model(4, priors)
    r = np.log([0.05, 0.2, 0.5, 2.0])
    m, s = priors["roas_ratio"]
    np.testing.assert_allclose(model._roas_z(r), (r - m) / s, rtol=1e-12)


def test_a_well_measured_channel_moves_its_brands_other_channels() -> None:
    """Pooling: with one channel's ln ρ far above the prior mean, the others' prior optimum moves up too."""
    model = _model(3, PRIORS)
    m = PRIORS["roas_ratio"][0]
    z = model._roas_z(np.array([m + 2.0, m, m]))
    grad = np.column_stack([model._roas_z(np.array([m + 2.0, m + h, m])) - z for h in (1e-6,)])[:, 0] @ z / 1e-6
    assert grad < 0  # raising the second channel from the prior mean lowers the prior's cost
