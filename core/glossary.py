"""The defined terms of the app, once: the label every page, report and workbook prints for a figure
and the sentence its tooltip (or a report's glossary) gives, so the same thing has the same name
everywhere and two different things never share one.

Why two ratios. The optimizer's ROAS and the portfolio's MER are different quantities and used to
be shown as "Return per unit spent 2.63" and "ROI 7.62". ROAS divides the outcome the response
curves attribute to marketing by the spend; MER divides all revenue, including the baseline that
would come without marketing, by the same spend. MER is therefore always the larger (in the demo,
media drive 20–40 % of revenue, so MER ≈ 2.5–5 × ROAS).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    label: str
    definition: str


TERMS: dict[str, Term] = {
    "dc_score": Term(
        "DC score",
        "Digital cadence score, 0–100: how a brand's digital metrics compare with the other "
        "brands of its project in a month (100 the best of them), weighted by section, platform and "
        "metric.",
    ),
    "outcome": Term(
        "Outcome",
        "What the organization counts as the result of its marketing: revenue in its currency, "
        "or a count such as conversions (Admin → Settings → Money and outcomes).",
    ),
    "predicted_outcome": Term(
        "Predicted outcome",
        "The outcome the response curves expect the spend to drive over "
        "12 months. It counts only what marketing adds, not the sales that would come anyway "
        "(the baseline).",
    ),
    "uplift": Term("Uplift", "Predicted outcome of the plan minus that of last year's allocation, on the same curves."),
    "roas": Term(
        "ROAS",
        "Return on ad spend: the outcome marketing drives (predicted outcome) divided by the spend "
        "that drives it. 2.63 per 1 means each unit of currency spent brings 2.63 that would not come "
        "without it. It leaves out the baseline, so it is lower than MER.",
    ),
    "marginal_roas": Term(
        "Marginal ROAS",
        "What the next unit of spend in a channel would add. A plan is at its best "
        "when every channel free to move has the same marginal ROAS; below 1 per 1 (revenue) the "
        "next unit spent earns back less than it costs.",
    ),
    "mer": Term(
        "MER",
        "Marketing efficiency ratio: all revenue divided by all marketing spend over the 12 months, "
        "including the sales that would come without marketing. Not ROAS: it credits the baseline to the "
        "spend, so it is higher than ROAS.",
    ),
    "spend": Term("Spend", "Marketing spend in the organization's currency, summed over the months shown."),
    "budget": Term("Budget", "The spend to place over the next 12 months, in the organization's currency."),
    "flight_budget": Term("Budget", "The spend to place over the planned weeks, in the organization's currency."),
    "uplift_vs_flat": Term(
        "Uplift vs a flat plan",
        "Predicted outcome of the weekly plan minus that of the same channel totals spread evenly over "
        "the weeks (within the same limits): what the timing alone earns.",
    ),
    "carryover": Term(
        "Carry-over",
        "Advertising keeps working for weeks after it runs (adstock): past spend still brings outcome "
        "into the planned weeks, and the plan's last weeks bring some after the horizon.",
    ),
    "interval": Term(
        "90 % interval",
        "The range the true value lies in with 90 % probability, given how uncertain the fitted curves are.",
    ),
    "binding": Term(
        "Binding constraint",
        "A limit the plan presses against (a channel's cap or floor, a total, a "
        "lock): loosening it could raise the outcome.",
    ),
}


def term(key: str) -> Term:
    """The defined term; a KeyError names a label that was never defined (a test catches it)."""
    return TERMS[key]


def label(key: str) -> str:
    return TERMS[key].label


def definition(key: str) -> str:
    return TERMS[key].definition
