"""The flighting page's side of a run: its form as a job's inputs, submitting and following the job, the export.

The run is a `flighting` job (core.jobs.flighting_kind) submitted through the durable queue exactly as
POST /api/v1/flighting does: validated, authorized and checked for feasibility at submit (a refusal is the
page's message, nothing queued), run by a worker that re-loads the owner's principal. The page follows the
job row through the follow and Cancel callbacks it shares with the optimizer page
(dashboard/optimizer_run.follow_and_cancel): progress, then the result or the reason.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from dash import Output, dcc, no_update

from core.classified_export import mark_export, watermarked
from core.flighting.run import period_of
from core.formatting import Units, parse_amount
from core.jobs.flighting_kind import FLIGHTING_KIND
from core.jobs.kinds import JobInputError
from core.jobs.queue import QueueUnavailable, submit
from core.jobs.records import ACTIVE, JobNotFound, get_job
from core.runtime import get_db
from core.scenarios import get_scenario
from core.security import Action, Principal, record
from core.security.authorizer import Forbidden
from core.spreadsheets import csv_bytes, xlsx_bytes
from dashboard.errors import JOBS_UNAVAILABLE, queue_unavailable
from dashboard.optimizer_run import alert, shown_plan_level

KIND = FLIGHTING_KIND.name
FOLLOW_EVERY_MS = 700
HORIZONS = (13, 26, 52)
MAX_WEEKLY = 1e15  # a weekly cap above this is a typing slip, not a plan

FOLLOW_OUTPUTS = [Output("flighting-watch", "data", allow_duplicate=True),
                  Output("flighting-watch-tick", "disabled", allow_duplicate=True),
                  Output("flighting-progress", "value", allow_duplicate=True),
                  Output("flighting-progress", "label", allow_duplicate=True),
                  Output("flighting-progress-text", "children", allow_duplicate=True),
                  Output("flighting-progress-wrap", "style", allow_duplicate=True),
                  Output("flighting-run", "disabled", allow_duplicate=True),
                  Output("flighting-cancel", "disabled", allow_duplicate=True),
                  Output("flighting-job", "data", allow_duplicate=True),
                  Output("flighting-message", "children", allow_duplicate=True)]


class FormError(ValueError):
    """A form value a person must change; the message says which, in their words."""


def following(job: dict | None, message: Any = "", *, started: bool = False, refused: bool = False) -> tuple:
    """The run controls for `job` (a job row as a dict): following it while active, its outcome once ended.
    A run just started or refused clears the shown plan; a failed or cancelled one too (nothing stale)."""
    if job is None:
        return None, True, 0, "", "", {"display": "none"}, False, True, None if refused else no_update, message
    pct = round((job["progress"] or 0) * 100)
    if job["status"] in ACTIVE:
        return (job["id"], False, pct, f"{pct}%", job["message"] or "", {}, True, False,
                None if started else no_update, message)
    if job["status"] == "succeeded":
        return None, True, 100, "100%", "", {"display": "none"}, False, True, job["id"], alert("Done.", "success")
    if job["status"] == "cancelled":
        text, tone = "Run cancelled.", "secondary"
    else:
        reason = job["error"] or "unknown error"
        text, tone = f"The run stopped. {reason[:1].upper()}{reason[1:]}", "warning"
    return None, True, 0, "", "", {"display": "none"}, False, True, None, alert(text, tone)


def submit_run(principal: Principal, raw: dict[str, Any]) -> tuple:
    """Submit the inputs as a flighting job and follow it; a refusal is the page's message."""
    db = get_db()
    try:
        job_id = submit(db, principal, KIND, raw)
    except JobInputError as exc:
        return following(None, alert(_words(exc.reason), "warning"), refused=True)
    except QueueUnavailable as exc:
        return following(None, alert(JOBS_UNAVAILABLE if queue_unavailable(exc) else str(exc), "warning"),
                         refused=True)
    except Forbidden:
        return following(None, alert("You may not plan this brand."), refused=True)
    return following(get_job(db, principal, job_id), started=True)


def _words(reason: str) -> str:
    """The queue's reason with its field path ("budget: …") turned into a sentence."""
    for field, label in (("budget: ", "The budget: "), ("weeks: ", "The horizon: "), ("brand_ids: ", "Brands: "),
                         ("period_budgets: ", "Budgets by month or quarter: ")):
        if reason.startswith(field):
            return label + reason.removeprefix(field)
    return reason[:1].upper() + reason[1:]


def _amount(value: Any, what: str) -> float | None:
    """A typed amount ("1,20,000", "1.2 M", 120000) as a number; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value) if isinstance(value, int | float) else parse_amount(str(value))
    if number is None or number != number or number < 0 or number > MAX_WEEKLY:
        raise FormError(f"{what} must be an amount of zero or more, such as 250000 or 1.5 M")
    return number


def week_caps(rows: list[dict] | None, weeks: int) -> tuple[dict[str, list[float | None]], dict[str, list[int]],
                                                           dict[str, list[float | None]]]:
    """The weekly grid (per channel an "at most" row, 0 = blackout, empty = no limit, and a "booked" row; week
    columns w1…wN) as the job's `week_max`, `blackout` and `commitments`; FormError names the first cell that is
    not an amount."""
    caps: dict[str, list[float | None]] = {}
    dark: dict[str, list[int]] = {}
    booked: dict[str, list[float | None]] = {}
    for row in rows or []:
        channel = str(row.get("channel") or "")
        if not channel:
            continue
        kind = row.get("kind") or "cap"
        what = f"{channel}, week {{}}" + (" (booked)" if kind == "booked" else "")
        cells = [_amount(row.get(f"w{w + 1}"), what.format(w + 1)) for w in range(weeks)]
        if kind == "booked":
            if any(c for c in cells):
                booked[channel] = [c or None for c in cells]
            continue
        if any(c is not None and c > 0 for c in cells):
            caps[channel] = [c if c else None for c in cells]
        off = [w + 1 for w, c in enumerate(cells) if c == 0]
        if off:
            dark[channel] = off
    return caps, dark, booked


def period_keys(week_starts: list[str], by: str) -> list[str]:
    """The months ("2027-01") or quarters ("2027-Q1") the plan's weeks start in, in order (core's rule)."""
    try:
        return list(dict.fromkeys(period_of(start, by) for start in week_starts))
    except ValueError:
        return []  # undated weeks (no data yet): no period rows


def limit_rows(periods: list[str], channels: list[str], old: list[dict] | None = None) -> list[dict]:
    """The totals grid: a row per month or quarter, then per channel, with "at least" / "at most" kept as typed."""
    kept = {r.get("key"): r for r in old or []}
    rows = [{"key": f"period:{p}", "limit": f"{'Quarter' if '-Q' in p else 'Month'} {p}"} for p in periods]
    rows += [{"key": f"channel:{c}", "limit": f"{c}, all weeks"} for c in channels]
    return [{**r, "least": kept.get(r["key"], {}).get("least"), "most": kept.get(r["key"], {}).get("most")}
            for r in rows]


def totals(rows: list[dict] | None) -> tuple[dict[str, list], dict[str, list]]:
    """The totals grid as the job's `period_budgets` and `channel_budgets` ([least, most], most None = open)."""
    periods: dict[str, list] = {}
    channels: dict[str, list] = {}
    for row in rows or []:
        kind, _, name = str(row.get("key") or "").partition(":")
        least = _amount(row.get("least"), f"{row.get('limit')}, at least")
        most = _amount(row.get("most"), f"{row.get('limit')}, at most")
        if (least is None and most is None) or kind not in ("period", "channel") or not name:
            continue
        if least is not None and most is not None and least > most:
            raise FormError(f"{row.get('limit')}: “at least” is above “at most”.")
        (periods if kind == "period" else channels)[name] = [least or 0.0, most]
    return periods, channels


def form_inputs(*, brand_ids: list | None, channels: list | None, weeks: Any, budget: Any, source: str | None,
                carryover: list | None, bounds: list[dict] | None, limits: list[dict] | None = None) -> dict[str, Any]:
    """The form as FlightingInputs (the queue validates it again); FormError for what a person must fix."""
    if not brand_ids:
        raise FormError("Choose at least one brand.")
    if not channels:
        raise FormError("Choose at least one channel.")
    horizon = int(weeks) if str(weeks).isdigit() and int(weeks) in HORIZONS else None
    if horizon is None:
        raise FormError("Choose a horizon of 13, 26 or 52 weeks.")
    total = _amount(budget, "The budget")
    if not total:
        raise FormError("Enter a budget above zero, such as 12,000,000 or 12 M.")
    caps, dark, booked = week_caps(bounds, horizon)
    periods, channel_totals = totals(limits)
    return {"brand_ids": [int(b) for b in brand_ids], "channels": list(channels), "weeks": horizon, "budget": total,
            "curve_source": source or "fitted", "carryover_out": "on" in (carryover or []),
            "week_max": caps, "blackout": dark, "commitments": {c: v for c, v in booked.items() if c in channels},
            "period_budgets": periods,
            "channel_budgets": {c: v for c, v in channel_totals.items() if c in channels}}


def load_result(principal: Principal, job_id: Any, scenario_id: Any = None) -> dict | None:
    """The person's own finished flighting job's result, or a flighting scenario they may read (None otherwise)."""
    if not job_id and scenario_id:
        scenario = get_scenario(get_db(), principal, scenario_id)
        return scenario.get("result") if scenario.get("kind") == "flighting" else None
    if not job_id:
        return None
    try:
        job = get_job(get_db(), principal, job_id)
    except JobNotFound:
        return None
    return job["result"] if job["status"] == "succeeded" and job.get("kind", KIND) == KIND else None


def media_plan(result: dict) -> pd.DataFrame:
    """The plan as a media plan: a row per brand and channel, a column per week (its start date), a total."""
    weeks = result.get("weeks") or [f"week {w + 1}" for w in range(len(result["cells"][0]["plan"]))]
    rows = [{"Brand": c["brand"], "Channel": c["channel"], **dict(zip(weeks, c["plan"], strict=True)),
             "Total": c["total"]} for c in result["cells"]]
    frame = pd.DataFrame(rows)
    totals = {"Brand": "All", "Channel": "Total", **{w: frame[w].sum() for w in [*weeks, "Total"]}}
    return pd.concat([frame, pd.DataFrame([totals])], ignore_index=True)


def export_bytes(result: dict, fmt: str, watermark: str | None = None) -> bytes:
    """The media plan as CSV (whole amounts) or XLSX (the organization's money format); a classified
    plan's `watermark` line (core.classified_export) is its first column."""
    frame = media_plan(result)
    money = [c for c in frame.columns if c not in ("Brand", "Channel")]
    frame[money] = frame[money].round(0)
    frame = watermarked(frame, watermark)
    if fmt == "csv":
        return csv_bytes(frame)
    units = Units.of(result.get("units"))
    return xlsx_bytes({"Media plan": frame}, {"Media plan": {c: units.xlsx_money() for c in money}})


def export_download(principal: Principal, result: dict, fmt: str, job_id: Any, scenario_id: Any = None) -> dict:
    """The media plan download, audited against the job or scenario it came from."""
    record(get_db(), Action.EXPORT, actor=principal, organization_id=principal.organization_id,
           target=("job", job_id) if job_id else ("scenario", scenario_id),
           data={"format": fmt, "what": "flighting media plan"})
    filename = f"media-plan-{time.strftime('%Y%m%d-%H%M')}.{fmt}"
    line = mark_export(get_db(), principal, shown_plan_level(principal, scenario_id), kind="flighting media plan",
                       fmt=fmt, filename=filename, target=("job", job_id) if job_id else ("scenario", scenario_id))
    return dcc.send_bytes(export_bytes(result, fmt, line), filename)
