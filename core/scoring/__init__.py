"""The DC score: normalization, weighted roll-up, coverage, gaps and change decomposition.

`engine` is pure pandas/numpy over frames; `service` loads frames from the database, scoped to
projects, and materializes the results in `dc_scores`.
"""

from core.scoring.engine import (
    METHODS,
    ScoreInputs,
    competitive_gaps,
    compute_scores,
    decompose_change,
    effective_weights,
    normalize,
)

__all__ = [
    "METHODS",
    "ScoreInputs",
    "competitive_gaps",
    "compute_scores",
    "decompose_change",
    "effective_weights",
    "normalize",
]
