"""What changed and why, in words: the executive summary at the top of the Portfolio page and of the
executive PDF (issue 16, item 14).

A pure function of the read models the page already holds for the principal — the scoped
`core.portfolio.brand_ranking`, `core.portfolio.score_drivers` of the brands it names, and the
number of alerts shown — so it can state only what the reader may see, never queries on its own,
and the same data always gives the same words (ties broken by brand name). Numbers go through
`core.formatting`, the movers' reasons through `core.portfolio.mover_reason`; every direction word
(up, down, rose, fell, above, below) is taken from the sign of the number it stands beside, as
printed, so the text cannot say "rose" beside a −0.1.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from core import formatting as fmt
from core.portfolio import mover_reason

# Points month on month: a move inside ±STEADY counts as holding steady, the band of the page's
# "Improving / declining" card.
STEADY = 0.5


def _shown(value: float) -> float:
    """The value as the text prints it (one decimal), so words follow the printed sign."""
    return round(float(value), 1)


def _month(period: date) -> str:
    return f"{period:%B %Y}"


def _previous_month(period: date) -> date:
    return period.replace(day=1) - timedelta(days=1)


def _own(ranking: pd.DataFrame) -> pd.DataFrame:
    return ranking[ranking["role"] == "own"].dropna(subset=["score"])


def _first(frame: pd.DataFrame, column: str, ascending: bool) -> dict | None:
    """The row with the largest (or smallest) `column`, ties to the brand name first in the alphabet."""
    if frame.empty:
        return None
    ordered = frame.sort_values([column, "brand", "brand_id"], ascending=[ascending, True, True], kind="stable")
    return ordered.iloc[0].to_dict()


def _riser_and_faller(ranking: pd.DataFrame) -> tuple[dict | None, dict | None]:
    """The own brands that rose and fell most, by a move that shows at one decimal (None for none)."""
    moved = _own(ranking).dropna(subset=["change_1m"])
    shown = moved["change_1m"].map(_shown)
    return _first(moved[shown > 0], "change_1m", False), _first(moved[shown < 0], "change_1m", True)


def summary_subjects(ranking: pd.DataFrame) -> list[int]:
    """Ids of the own brands the summary explains (biggest riser, then faller): the brands whose
    `score_drivers` the caller passes to `executive_summary`."""
    return [int(row["brand_id"]) for row in _riser_and_faller(ranking) if row is not None]


def _reason(row: dict, drivers: pd.DataFrame | None) -> str:
    """The brand's reason as ", mostly … (+0.8)[, despite …]", or "" when its driver is unknown or points
    the other way than its stored change (a stale decomposition is left unsaid rather than contradicting)."""
    if drivers is None or drivers.empty:
        return ""
    found = drivers[drivers["brand_id"] == row["brand_id"]]
    if found.empty:
        return ""
    driver = found.iloc[0].to_dict()
    contribution = driver.get("contribution")
    if contribution is None or np.sign(contribution) != np.sign(row["change_1m"]):
        return ""
    text = mover_reason(driver)
    return f", {text}" if text else ""


def _direction(value: float, up: str, down: str, level: str) -> str:
    shown = _shown(value)
    return up if shown > 0 else down if shown < 0 else level


def _headline(own: pd.DataFrame, drivers: pd.DataFrame | None, period: date) -> str:
    """The portfolio's DC score and its change on the month before (one brand: that brand's, with why)."""
    previous = _month(_previous_month(period))
    changes = own["change_1m"].dropna()
    if len(own) == 1:
        row = own.iloc[0].to_dict()
        text = f"{row['brand']}'s DC score is {fmt.score(row['score'])} in {_month(period)}"
    else:
        text = f"Your {len(own)} own brands average a DC score of {fmt.score(own['score'].mean())} in {_month(period)}"
    if changes.empty:
        return text + f"; there is no score for {previous} to compare with."
    change = changes.mean()
    size = fmt.score(abs(change))
    text += _direction(
        change, f", up {size} points on {previous}", f", down {size} points on {previous}", f", unchanged on {previous}"
    )
    if len(own) == 1:
        text += _reason(own.iloc[0].to_dict(), drivers)
    return text + "."


def _counts(own: pd.DataFrame, period: date) -> str:
    """How many own brands rose, fell and held steady (and how many have no earlier score)."""
    changes = own["change_1m"]
    rose, fell = int((changes > STEADY).sum()), int((changes < -STEADY).sum())
    steady, unscored = int((changes.abs() <= STEADY).sum()), int(changes.isna().sum())
    text = (
        f"Of them, {rose or 'none'} rose and {fell or 'none'} fell by more than {fmt.score(STEADY)} points; "
        f"{steady or 'none'} held within ±{fmt.score(STEADY)}"
    )
    if unscored:
        text += f", and {unscored} {'has' if unscored == 1 else 'have'} no score for {_month(_previous_month(period))}"
    return text + "."


def _moves(ranking: pd.DataFrame, drivers: pd.DataFrame | None) -> str:
    """The biggest riser and faller among the own brands, each with the metric that moved it most."""
    riser, faller = _riser_and_faller(ranking)
    parts = []
    for row, verb in ((riser, "rose"), (faller, "fell")):
        if row is None:
            parts.append(f"no own brand {verb}")
            continue
        parts.append(
            f"{row['brand']} {verb} most ({fmt.signed(row['change_1m'])} to {fmt.score(row['score'])})"
            + _reason(row, drivers)
        )
    if riser is None and faller is None:
        return ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _against_best_competitor(ranking: pd.DataFrame, own: pd.DataFrame) -> str:
    """Own brands (their average and their best) against the best competitor the reader may see."""
    best = _first(ranking[ranking["role"] == "competitor"].dropna(subset=["score"]), "score", False)
    if best is None:
        return ""
    mine = _first(own, "score", False)

    def gap(value: float) -> str:
        return _direction(
            value - best["score"],
            f"{fmt.score(abs(value - best['score']))} points above",
            f"{fmt.score(abs(value - best['score']))} points below",
            "level with",
        )

    target = f"the best competitor, {best['brand']} ({fmt.score(best['score'])})"
    if len(own) == 1:
        return f"{mine['brand']} is {gap(mine['score'])} {target}."
    return (
        f"Your own brands' average is {gap(own['score'].mean())} {target}; your best, {mine['brand']} "
        f"({fmt.score(mine['score'])}), is {gap(mine['score'])} it."
    )


def _alerts(count: int, period: date) -> str:
    if count <= 0:
        return ""
    verb, noun = ("is", "alert") if count == 1 else ("are", "alerts")
    return (
        f"There {verb} {count} {noun} for {_month(period)} (score drops and metrics that broke with their "
        "history), listed under Alerts."
    )


def summary_sentences(ranking: pd.DataFrame, drivers: pd.DataFrame | None, alerts: int, period: date) -> list[str]:
    """The summary as sentences: the headline, then (several own brands, an earlier month) the counts
    and the biggest moves, then the best competitor and the alerts when there are any."""
    own = _own(ranking)
    if own.empty:
        return [f"No own brand of this project is scored for {_month(period)} in your view."]
    sentences = [_headline(own, drivers, period)]
    if len(own) > 1 and own["change_1m"].notna().any():
        sentences += [_counts(own, period), _moves(ranking, drivers)]
    sentences += [_against_best_competitor(ranking, own), _alerts(alerts, period)]
    return [s for s in sentences if s]


def executive_summary(ranking: pd.DataFrame, drivers: pd.DataFrame | None, alerts: int, period: date) -> str:
    """What changed and why, as one paragraph (see the module docstring).

    ranking: `brand_ranking` for the principal and `period`; drivers: `score_drivers` of
    `summary_subjects(ranking)` between the month before and `period` (None without an earlier
    month); alerts: how many alerts the reader is shown for `period`.
    """
    return " ".join(summary_sentences(ranking, drivers, alerts, pd.Timestamp(period).date()))
