"""What a perfect lift test would measure on the demo, from its stored truth, and the sample CSV.

The demo seed keeps the generating curve of every own brand × channel ("truth" ResponseCurve rows)
beside the weekly spend that drove its revenue. A channel's true incremental outcome over a period is
then what its curve contributed in those weeks, carry-over of earlier spend included:
Σ_{t in period} β · saturation(adstock(spend)_t) — exactly the quantity the fitter's lift-test
likelihood compares with its own model (core.optimize.fit.Experiment).

`python -m core.lift_tests.truth [--out PATH]` seeds the demo (seed 42, the default window) into a
throw-away SQLite database and writes `data/samples/lift_tests_demo.csv` from it: a few four-week
tests of Aurora Consumer Products' brands, each carrying the true incremental outcome and a standard
error of a tenth of it (a well-powered geo test's precision), so a fit calibrated with the file is
pulled towards the truth; `tests/integration/test_lift_tests_sample.py` checks the file is exactly
what this writes.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.models import Brand, Channel, Organization, ResponseCurve, Spend
from core.optimize.curves import CurveParams

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "lift_tests_demo.csv"
# (brand, channel, first Monday, weeks): tests of the first demo organization's own brands, on channels
# with different flighting (always-on Search, pulsed Meta, burst TV and YouTube), in 2025 and 2026, each
# in weeks the channel was on air (as a test of a channel would be run).
SAMPLE_TESTS = (
    ("Lumina", "Search", date(2025, 3, 3), 4),
    ("Lumina", "TV", date(2025, 7, 7), 4),
    ("Veda Botanics", "Meta", date(2025, 5, 5), 4),
    ("Veda Botanics", "YouTube", date(2026, 4, 13), 4),
    ("PureLeaf", "Search", date(2025, 6, 2), 4),
    ("PureLeaf", "Retail Media", date(2026, 4, 6), 4),
    ("Silken", "OOH", date(2025, 10, 6), 4),
    ("Dewdrop", "Meta", date(2026, 6, 29), 4),
)
SAMPLE_ORGANIZATION = "aurora"
RELATIVE_SE = 0.10


def true_incremental(session: Session, brand_id: int, channel_id: int, start: date, end: date) -> float:
    """The channel's true contribution to the brand's outcome over the weeks starting in [start, end].

    Reads the stored truth curve and the brand's weekly spend on the channel from its first week (a
    week without a spend row spent nothing); ValueError when the brand has no truth curve there.
    """
    params = session.scalar(select(ResponseCurve.params).where(
        ResponseCurve.brand_id == brand_id, ResponseCurve.channel_id == channel_id, ResponseCurve.kind == "truth"))
    if params is None:
        raise ValueError("no true response curve for this brand and channel (only the demo keeps them)")
    rows = session.execute(select(Spend.period, Spend.amount).where(
        Spend.brand_id == brand_id, Spend.channel_id == channel_id, Spend.granularity == "week")
        .order_by(Spend.period)).all()
    if not rows:
        raise ValueError("no weekly spend on this channel")
    first = rows[0].period
    weeks = (rows[-1].period - first).days // 7 + 1
    spend = np.zeros(weeks)
    for period, amount in rows:
        spend[(period - first).days // 7] = float(amount)
    contribution = CurveParams.from_dict(params).contribution(spend)
    days = np.array([(first + timedelta(weeks=int(i))) for i in range(weeks)])
    inside = (days >= start) & (days <= end)
    return float(contribution[inside].sum())


def sample_rows(db: Database, organization_slug: str = SAMPLE_ORGANIZATION) -> list[list[str]]:
    """The sample file's rows (header first) from a database holding the seeded demo."""
    rows = [["brand", "channel", "period_start", "period_end", "incremental_outcome", "standard_error", "note"]]
    with db.session() as s:
        org = s.scalar(select(Organization.id).where(Organization.slug == organization_slug))
        for brand_name, channel_name, start, weeks in SAMPLE_TESTS:
            brand = s.scalar(select(Brand.id).where(Brand.organization_id == org, Brand.name == brand_name))
            channel = s.scalar(select(Channel.id).where(Channel.organization_id == org, Channel.name == channel_name))
            end = start + timedelta(weeks=weeks, days=-1)
            lift = true_incremental(s, brand, channel, start, end)
            rows.append([brand_name, channel_name, start.isoformat(), end.isoformat(), f"{lift:.0f}",
                         f"{RELATIVE_SE * abs(lift):.0f}", f"Demo truth: {weeks}-week test, SE = 10 % of the lift"])
    return rows


def sample_text(db: Database) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(sample_rows(db))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    from core.demo import seed_demo

    parser = argparse.ArgumentParser(prog="python -m core.lift_tests.truth", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=SAMPLE, help="where to write the CSV")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'demo.db'}")
        db.upgrade()
        seed_demo(db, seed=42)
        text = sample_text(db)
        db.dispose()
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {len(text.splitlines()) - 1} lift tests to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
