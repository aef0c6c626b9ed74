"""The odds a plan wins: how often it beats the current allocation across the curves' draws.

Both allocations are scored on the same draw of every curve (paired), so what the curves are unsure
of in common — a channel's overall strength, say — cancels, and only what separates the two plans
counts. The probability is the share of draws where the plan predicts strictly more outcome; the
interval is the central `level` interval of the uplift (plan minus current) over the draws.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from core.formatting import compact
from core.optimize.curves import CurveArrays

LEVEL = 0.8


def plan_odds(
    draws: CurveArrays | None, plan: np.ndarray, current: np.ndarray | None, level: float = LEVEL
) -> dict[str, Any] | None:
    """{"probability", "uplift_interval", "level", "draws"} of `plan` against `current`; None without draws.

    `draws` holds arrays of shape (draws, cells) in the cells' order of `plan` and `current`.
    """
    if draws is None or current is None or draws.beta.ndim != 2 or draws.beta.shape[0] == 0:
        return None
    x, x0 = np.asarray(plan, dtype=float), np.asarray(current, dtype=float)
    uplift = draws.response(x[None, :]).sum(axis=-1) - draws.response(x0[None, :]).sum(axis=-1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(uplift, [tail, 1.0 - tail])
    return {
        "probability": float(np.mean(uplift > 0)),
        "uplift_interval": [float(low), float(high)],
        "level": level,
        "draws": len(uplift),
    }


def odds_words(odds: dict[str, Any] | None, money: Callable[[float], str] = compact) -> str:
    """The odds line a page or report prints; `money` formats amounts (a core.formatting function)."""
    if not odds:
        return "No odds: the curves carry no draws of their uncertainty (fit them with bootstrap draws)."
    low, high = odds["uplift_interval"]
    return (
        f"The plan beats the current allocation in {odds['probability'] * 100:.0f} % of {odds['draws']} "
        f"draws of the curves; {odds['level'] * 100:.0f} % interval of the uplift {money(low)} to {money(high)}."
    )
