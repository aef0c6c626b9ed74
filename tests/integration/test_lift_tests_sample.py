"""The demo's true incremental outcomes and the sample file of lift tests made from them.

Checked against the generator's own record: the true curves' contribution over the whole history,
per week, is the `mean_contribution` the demo seed stored beside each curve; the committed sample
is byte for byte what `core.lift_tests.truth` writes from the seeded demo, imports cleanly into the
demo organization, and maps onto the brands' weekly fit grid with no test left out or rounded.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.demo import seed_demo
from core.lift_tests import experiments_for, import_lift_tests
from core.lift_tests.truth import SAMPLE, SAMPLE_ORGANIZATION, sample_text, true_incremental
from core.models import Brand, Channel, Organization, ResponseCurve, Spend, User
from core.security import load_principal
from tests.support import demo_people


@pytest.fixture(scope="module")
def demo(_sqlite_db):
    from tests.conftest import _empty

    _empty(_sqlite_db)
    seed_demo(_sqlite_db, seed=42)
    return _sqlite_db


def test_true_incremental_over_the_history_is_the_generators_mean_contribution(demo):
    with demo.session() as s:
        curves = s.execute(select(ResponseCurve.brand_id, ResponseCurve.channel_id, ResponseCurve.diagnostics)
                           .where(ResponseCurve.kind == "truth").order_by(ResponseCurve.id).limit(12)).all()
        first, last = s.execute(select(Spend.period).order_by(Spend.period).limit(1)).scalar(), \
            s.execute(select(Spend.period).order_by(Spend.period.desc()).limit(1)).scalar()
        weeks = (last - first).days // 7 + 1
        for brand_id, channel_id, diagnostics in curves:
            total = true_incremental(s, brand_id, channel_id, first, last)
            assert total / weeks == pytest.approx(diagnostics["mean_contribution"], rel=1e-9)
        with pytest.raises(ValueError, match="no true response curve"):
            true_incremental(s, brand_id, channel_id + 10_000, first, last)


def test_the_sample_is_what_the_truth_gives_and_imports_onto_the_fit_grid(demo, tmp_path):
    assert sample_text(demo) == SAMPLE.read_text(encoding="utf-8")
    people = demo_people(demo, tmp_path)
    with demo.session() as s:
        org = s.scalar(select(Organization.id).where(Organization.slug == SAMPLE_ORGANIZATION))
        manager = s.scalar(select(User.id).where(User.email == people["Organization Administrator"].email))
    admin = load_principal(demo, manager)
    report = import_lift_tests(demo, admin, org, SAMPLE.read_bytes())
    assert report.committed and len(report.ids) == 8, report.errors
    with demo.session() as s:
        for brand_id in sorted({t["brand_id"] for t in report.tests}):
            weeks = sorted(set(s.scalars(select(Spend.period).where(Spend.brand_id == brand_id))))
            channels = sorted(s.scalars(select(Channel.name).where(Channel.organization_id == org)))
            found, notes = experiments_for(s, brand_id, weeks, "week", channels)
            mine = [t for t in report.tests if t["brand_id"] == brand_id]
            assert notes == [] and len(found) == len(mine)
            for experiment, test in zip(found, sorted(mine, key=lambda t: (t["period_start"], t["channel"])),
                                        strict=True):
                assert weeks[experiment.start] == test["period_start"]
                assert experiment.end - experiment.start == 3 and experiment.lift == test["incremental_outcome"]
        lumina = s.scalar(select(Brand.id).where(Brand.name == "Lumina", Brand.organization_id == org))
    assert lumina in {t["brand_id"] for t in report.tests}
    assert all(t["period_start"].weekday() == 0 for t in report.tests)  # Mondays, as the demo's weeks
