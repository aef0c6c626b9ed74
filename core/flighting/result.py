"""What a flighting solve returns: the plan, its outcome split at the horizon, the binding totals' prices."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from core.flighting.kkt import KktReport
from core.flighting.model import WeeklyModel
from core.flighting.problem import FlightingProblem


@dataclass
class FlightingResult:
    status: str  # "optimal" | "heuristic" | "not_converged"
    method: str
    plan: np.ndarray  # (series, weeks) spend
    outcome: float  # in the horizon plus, if counted, after it
    outcome_in_horizon: float
    outcome_after: float
    weekly_outcome: np.ndarray  # (series, weeks)
    prices: dict[str, float]  # d outcome / d total of each binding total (the budget's is the marginal ROI)
    kkt: KktReport | None
    iterations: int
    elapsed_s: float
    notes: list[str] = field(default_factory=list)
    outcome_bound: float | None = None  # S-shaped: the envelope's optimum, above the best real plan

    def to_dict(self) -> dict:
        return {
            "status": self.status, "method": self.method, "plan": self.plan.tolist(), "outcome": self.outcome,
            "outcome_in_horizon": self.outcome_in_horizon, "outcome_after": self.outcome_after,
            "prices": self.prices, "kkt_violation": None if self.kkt is None else self.kkt.max_violation,
            "iterations": self.iterations, "elapsed_s": self.elapsed_s, "notes": list(self.notes),
            "outcome_bound": self.outcome_bound,
        }


def package(problem: FlightingProblem, model: WeeklyModel, x: np.ndarray, status: str, method: str,
            started: float, kkt: KktReport | None, iterations: int, notes: list[str],
            prices: dict[str, float] | None = None) -> FlightingResult:
    inside, after = model.outcome_parts(x)
    return FlightingResult(status, method, x, float(inside.sum() + after.sum()), float(inside.sum()),
                           float(after.sum()), inside, prices if prices is not None else (kkt.prices if kkt else {}),
                           kkt, iterations, time.perf_counter() - started, notes)
