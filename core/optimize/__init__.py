"""What-if engines: response curves, the budget allocator and the metric recommender.

Pure numpy/scipy (+ pymoo for the genetic searches); nothing here imports Flask, Dash or the database
(core/response_curves.py loads a brand's history, calls fit.py and stores the fitted curves).

- curves.py     CurveParams (one curve), CurveArrays (many, vectorized, Hill or logistic per cell; inverse
                marginal for the allocator)
- logistic_branch.py  the logistic's tangent point, marginal cap and closed-form inverse marginal
- problem.py    AllocationProblem (cells, bounds, locks, ±% change, brand/channel totals), InfeasibleError
- allocate.py   maximize_outcome, minimize_budget, budget_frontier: exact for concave curves (KKT)
- edges.py      the one-sided marginal ROI at the ends of the feasible budget range
- envelope.py   concave envelopes of S-curves and the exact polish of an active set
- genetic.py    optimize_hard: S-curves, on/off minimum spend, k active per brand, whole units
- fit.py        fit_response_curves: scale-free MAP fit (fit_model), Hill/logistic per channel (fit_family),
                Laplace intervals (fit_uncertainty), lift tests, warnings (fit_warnings); FitResult (fit_result)
- recommend.py  recommend / recommend_exhaustive / recommend_portfolio for metric targets
- risk.py       risk_front: NSGA-II Pareto front of expected outcome vs its sd across the bootstrap draws,
                anchored by gradient search at the expected-outcome optimum and polished; RiskFrontResult
- results.py    AllocationResult, FrontierResult (to_dict); status_words: a status in a marketer's words
- shadow.py     shadow prices of the binding limits (one-sided, by LP duality) and their finite-difference check
- explain.py    explain_plan: "Why this plan" — each cell's KKT reason, the value of relaxing each limit, a summary
- odds.py       plan_odds: the share of the curves' draws in which a plan beats the current mix, its uplift interval
- progress.py   Monitor (progress callback + cancellation token), Cancelled
"""
