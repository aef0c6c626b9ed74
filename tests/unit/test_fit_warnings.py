"""Warnings a marketer reads, and the family choice recorded beside the fit."""

from __future__ import annotations

import json

import numpy as np

from core.optimize.curves import CurveParams
from core.optimize.fit import fit_response_curves


def test_flat_spend_is_flagged_and_a_varied_channel_is_not() -> None:
    """A channel whose spend hardly moves cannot show its curve: it is flagged (low variation, and its ROAS
    interval is wider than the estimate); a channel with varied spend is not flagged for its spend."""
    rng = np.random.default_rng(5)
    periods = 156
    varied = 100 * rng.lognormal(0, 0.6, periods)
    flat = 50 * (1 + 0.02 * rng.normal(size=periods))
    truth = [CurveParams(800.0, 0.3, 100.0, 1.2), CurveParams(100.0, 0.2, 50.0, 1.0)]
    t = np.arange(periods)
    revenue = (2000 + 50 * np.sin(2 * np.pi * t / 52.18) + truth[0].contribution(varied)
               + truth[1].contribution(flat) + rng.normal(0, 40, periods))
    res = fit_response_curves(revenue, np.column_stack([varied, flat]), ["tv", "radio"], n_bootstrap=10)
    codes = {(w["code"], w["channel"]) for w in res.warnings}
    assert ("low_spend_variation", "radio") in codes and ("wide_interval", "radio") in codes
    assert ("low_spend_variation", "tv") not in codes
    assert all(w["text"].startswith(w["channel"] + ":") for w in res.warnings if w["channel"])

    d = res.to_dict()
    json.dumps(d)  # storable as it is
    assert set(d["family_choice"]) == {"tv", "radio"} and d["families"] == res.families
    for ch, choice in d["family_choice"].items():
        assert {"hill", "logistic", "t"} <= set(choice)
        assert res.params[ch].family == res.families[ch]
        # the logistic is kept only when its holdout error is lower by more than its noise
        assert (res.families[ch] == "logistic") == (choice["t"] > 1.645)
