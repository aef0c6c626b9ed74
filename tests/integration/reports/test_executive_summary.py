"""The executive summary (issue 16, item 14) over the seeded demo, on SQLite and PostgreSQL.

A property over every project and month the Portfolio and the Brand Manager may read: each claim
of the paragraph is parsed back and checked against the read models (the own brands' average and
its change, the counts, the biggest riser and faller and their drivers, the best competitor, the
alert count), every direction word against the sign of its number, and no digit is left unchecked;
the Brand Manager's text names no brand outside their scope. Then the page's callback and the
executive PDF carry the same paragraph.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta

import dash
import pandas as pd
import pytest
from dash._utils import split_callback_id
from pypdf import PdfReader
from sqlalchemy import select

from core import portfolio as pf
from core import portfolio_alerts as pa
from core.formatting import signed
from core.models import Brand, ProjectBrand
from core.portfolio_summary import STEADY, executive_summary, summary_sentences, summary_subjects
from core.reports import render
from core.settings import project_alert_defaults
from tests.integration.reports.conftest import principal
from tests.support import csrf_headers, make_app, sign_in

MONTH = r"[A-Z][a-z]+ \d{4}"
NUM = r"\d+\.\d"
SIGNED = r"[+−]\d+\.\d"


def _label(period: date) -> str:
    return f"{period:%B %Y}"


def _one(value: float) -> str:
    return f"{value:.1f}"


def _alternation(names) -> str:
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


def _direction(word: str | None, value: float, size: str | None) -> None:
    """`word` (above/below/up/down, None for level/unchanged) agrees with the sign of `value` as printed."""
    shown = round(value, 1)
    if word is None:
        assert shown == 0, value
    else:
        assert (shown > 0) == (word in ("above", "up")) and shown != 0, (word, value)
        assert size == _one(abs(value)), (size, value)


class Claims:
    """Parses the summary's claims one by one, checks each, and blanks what it checked."""

    def __init__(self, text: str, ranking: pd.DataFrame, drivers: pd.DataFrame, metrics: list[str]):
        self.text, self.rest, self.count = text, text, 0
        self.brands = _alternation(ranking["brand"])
        self.metrics = _alternation(metrics)
        self.rows = ranking.set_index("brand")
        self.drivers = drivers.set_index("brand_id")
        self.reason = (
            rf"(?:, mostly ({self.metrics}) \(({SIGNED})\)(?:, despite ({self.metrics}) "
            rf"\(({SIGNED})\))?)?"
        )

    def find(self, pattern: str, required: bool = True) -> list[re.Match]:
        found = list(re.finditer(pattern, self.text))
        assert found or not required, (pattern, self.text)
        for match in found:
            self.rest = self.rest.replace(match.group(0), " ")
        self.count += len(found)
        return found

    def check_reason(self, brand: str, groups: tuple) -> None:
        """The "mostly M (c)[, despite N (d)]" of a move: the brand's driver, pointing the way the brand moved."""
        metric, contribution, against, against_contribution = groups
        if metric is None:
            return
        change = self.rows.at[brand, "change_1m"]
        driver = self.drivers.loc[int(self.rows.at[brand, "brand_id"])]
        assert metric == driver["metric"] and contribution == signed(driver["contribution"])
        assert (driver["contribution"] > 0) == (change > 0)  # never contradicts the move
        if against is not None:
            assert against == driver["against_metric"]
            assert against_contribution == signed(driver["against_contribution"])
            assert (driver["against_contribution"] > 0) == (change < 0)

    def unchecked_digits(self) -> str:
        return re.sub(MONTH, " ", self.rest)


def _check(
    text: str, ranking: pd.DataFrame, drivers: pd.DataFrame, alerts: int, period: date, metrics: list[str]
) -> int:
    """Every claim of `text` against the read models; returns how many claims were checked."""
    claims = Claims(text, ranking, drivers, metrics)
    own = ranking[ranking["role"] == "own"]
    changes = own["change_1m"].dropna()
    previous = _label(period.replace(day=1) - timedelta(days=1))
    if len(own) == 1:
        (head,) = claims.find(rf"({claims.brands})'s DC score is ({NUM}) in ({MONTH})")
        assert head.group(1) == own["brand"].iloc[0] and head.group(2) == _one(own["score"].iloc[0])
    else:
        (head,) = claims.find(rf"Your (\d+) own brands average a DC score of ({NUM}) in ({MONTH})")
        assert int(head.group(1)) == len(own) and head.group(2) == _one(own["score"].mean())
    assert head.group(head.re.groups) == _label(period)
    if changes.empty:
        claims.find(rf"; there is no score for {previous} to compare with\.")
    else:
        (move,) = claims.find(rf", (?:(up|down) ({NUM}) points|unchanged) on ({MONTH})" + claims.reason)
        _direction(move.group(1), changes.mean(), move.group(2))
        assert move.group(3) == previous
        if len(own) == 1:
            claims.check_reason(own["brand"].iloc[0], move.groups()[3:])
    if len(own) > 1 and len(changes):
        (counts,) = claims.find(
            r"Of them, (\d+|none) rose and (\d+|none) fell by more than 0\.5 points; "
            rf"(\d+|none) held within ±0\.5(?:, and (\d+) (?:has|have) no score for {previous})?"
        )
        got = [0 if g in (None, "none") else int(g) for g in counts.groups()]
        assert got == [
            (changes > STEADY).sum(),
            (changes < -STEADY).sum(),
            (changes.abs() <= STEADY).sum(),
            own["change_1m"].isna().sum(),
        ]
        for verb, sign in (("rose", 1), ("fell", -1)):
            candidates = own[own["change_1m"].round(1) * sign > 0]
            found = claims.find(
                rf"({claims.brands}) {verb} most \(({SIGNED}) to ({NUM})\)" + claims.reason, required=False
            )
            if candidates.empty:
                assert not found and f"no own brand {verb}" in text.lower()
                continue
            (match,) = found
            best = candidates.assign(key=-sign * candidates["change_1m"]).sort_values(["key", "brand"]).iloc[0]
            assert match.group(1) == best["brand"]  # the biggest move, ties to the first name
            assert match.group(2) == signed(best["change_1m"]) and match.group(3) == _one(best["score"])
            claims.check_reason(best["brand"], match.groups()[3:])
    competitors = ranking[ranking["role"] == "competitor"]
    if competitors.empty:
        assert "competitor" not in text
    else:
        best = competitors.sort_values(["score", "brand"], ascending=[False, True]).iloc[0]
        gap = rf"is (?:({NUM}) points (above|below)|level with)"
        (versus,) = claims.find(
            rf"(Your own brands' average|{claims.brands}) {gap} the best competitor, "
            rf"({claims.brands}) \(({NUM})\)"
        )
        assert versus.group(4) == best["brand"] and versus.group(5) == _one(best["score"])
        mine = own["score"].mean() if len(own) > 1 else own["score"].iloc[0]
        _direction(versus.group(3), mine - best["score"], versus.group(2))
        if len(own) > 1:
            top = own.sort_values(["score", "brand"], ascending=[False, True]).iloc[0]
            (yours,) = claims.find(rf"your best, ({claims.brands}) \(({NUM})\), {gap} it")
            assert yours.group(1) == top["brand"] and yours.group(2) == _one(top["score"])
            _direction(yours.group(4), top["score"] - best["score"], yours.group(3))
    if alerts:
        (said,) = claims.find(rf"There (?:is|are) (\d+) alerts? for ({MONTH})")
        assert int(said.group(1)) == alerts and said.group(2) == _label(period)
    else:
        assert "alert" not in text
    assert not re.search(r"\d", claims.unchecked_digits()), (claims.rest, text)  # no number unchecked
    return claims.count


def _summary(conn, who, project_id: int, period: date, ranking: pd.DataFrame, earlier: list[date]):
    """The paragraph as the report builds it, and the alert count it was given."""
    alerts = len(pa.score_drop_alerts(ranking)) + len(pa.metric_anomalies(conn, who, project_id, period))
    subjects = summary_subjects(ranking)
    drivers = pf.score_drivers(conn, project_id, subjects, earlier[-1], period) if earlier and subjects else None
    return executive_summary(ranking, drivers, alerts, period), alerts


@pytest.mark.parametrize("role", ["Portfolio Manager", "Brand Manager"])
def test_every_number_and_direction_word_matches_the_read_models(world, role):
    who = principal(world, role)
    checked = months = 0
    with world["db"].engine.connect() as conn:
        for project in pf.list_projects(conn, who):
            pid = project["id"]
            metrics = pf.metric_catalogue(conn, project["organization_id"])["metric"].tolist()
            hidden = set(conn.scalars(select(Brand.name).join(ProjectBrand).where(ProjectBrand.project_id == pid)))
            periods = [pd.Timestamp(p).date() for p in pf.project_periods(conn, who, pid)]
            for i, period in enumerate(periods):
                ranking = pf.brand_ranking(conn, who, pid, period)
                own_ids = ranking.loc[ranking["role"] == "own", "brand_id"].tolist()
                oracle = (
                    pf.score_drivers(conn, pid, own_ids, periods[i - 1], period)
                    if i
                    else pd.DataFrame(columns=["brand_id"])
                )
                text, alerts = _summary(conn, who, pid, period, ranking, periods[:i])
                sentences = summary_sentences(ranking, oracle if i else None, alerts, period)
                assert " ".join(sentences) == text  # drivers of the named brands only: the same words
                assert 1 <= len(sentences) <= 5
                checked += _check(text, ranking, oracle, alerts, period, metrics)
                months += 1
                for name in hidden - set(ranking["brand"]):  # scoped: no brand the reader may not see
                    assert not re.search(rf"\b{re.escape(name)}\b", text), (role, name, text)
    assert months >= 14 and checked >= 3 * months  # every project's every month, a few claims each


def _page_content(client, path: str) -> str:
    router = next(key for key in dash.get_app().callback_map if "_pages_content.children" in key)
    body = {
        "output": router,
        "outputs": split_callback_id(router),
        "changedPropIds": ["_pages_location.pathname"],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": path},
            {"id": "_pages_location", "property": "search", "value": ""},
        ],
    }
    response = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert response.status_code == 200
    return json.dumps(response.get_json()["response"]["_pages_content"]["children"], ensure_ascii=False)


def _post_summary(client, project_id: int, threshold) -> object:
    inputs = [
        ("portfolio-project", "data", project_id),
        ("portfolio-period", "data", None),
        ("portfolio-drop-threshold", "value", threshold),
    ]
    body = {
        "output": "portfolio-summary.children",
        "outputs": {"id": "portfolio-summary", "property": "children"},
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": ["portfolio-project.data"],
        "state": [],
    }
    return client.post("/_dash-update-component", json=body, headers=csrf_headers(client))


def test_the_portfolio_page_opens_with_the_summary_for_the_month_and_threshold_on_screen(world):
    client = make_app(world["db"], world["tmp"]).server.test_client()
    assert sign_in(client, world["people"]["Portfolio Manager"].email).status_code == 302
    page = _page_content(client, "/")
    assert page.index('"portfolio-summary"') < page.index('"portfolio-kpis"')  # first, above the headline cards
    who, pid = principal(world, "Portfolio Manager"), world["project"]
    with world["db"].engine.connect() as conn:
        periods = [pd.Timestamp(p).date() for p in pf.project_periods(conn, who, pid)]
        ranking = pf.brand_ranking(conn, who, pid, periods[-1])
        drop, z = project_alert_defaults(conn, pid)
        drivers = pf.score_drivers(conn, pid, summary_subjects(ranking), periods[-2], periods[-1])
        anomalies = len(pa.metric_anomalies(conn, who, pid, periods[-1], z_threshold=z))
    for typed, threshold in ((None, drop), (0.5, 0.5)):  # the count is the alerts panel's, at its threshold
        alerts = len(pa.score_drop_alerts(ranking, threshold)) + anomalies
        response = _post_summary(client, pid, typed)
        assert response.status_code == 200
        said = response.get_json()["response"]["portfolio-summary"]["children"]
        assert said == executive_summary(ranking, drivers, alerts, periods[-1])
        assert f"{alerts} alert" in said or alerts == 0
    theirs = _post_summary(client, world["foreign"]["project"], None)
    assert theirs.status_code == 403 and b"average" not in theirs.data


def test_the_executive_pdf_opens_each_project_with_its_summary(world):
    db, who, pid = world["db"], principal(world, "Portfolio Manager"), world["project"]
    with db.engine.connect() as conn:
        periods = [pd.Timestamp(p).date() for p in pf.project_periods(conn, who, pid)]
        ranking = pf.brand_ranking(conn, who, pid, periods[-1])
        expected, _alerts = _summary(conn, who, pid, periods[-1], ranking, periods[:-1])
    report = render(db, who, "portfolio", {"project_ids": [pid]}, "pdf")
    first = re.sub(r"\s+", " ", PdfReader(io.BytesIO(report.content)).pages[0].extract_text())
    assert expected in first
    assert first.index(expected) < first.index("Portfolio DC score")  # above the headline figures
