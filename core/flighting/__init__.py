"""Flighting: spend week by week over a horizon with carry-over in and out (issue 19); see docs/MODELING.md.

problem.FlightingProblem (inputs, validation) → solve.solve → result.FlightingResult; model.WeeklyModel is
the fit's weekly model, ipm the exact solver, kkt its independent check, heuristic the S-shaped path.
"""
