"""An import that changes a brand's spend or outcome queues one fit job for that brand (core.jobs.refit), whose
run stores the brand's next fit version; a queue that refuses never breaks the import."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from core.imports.uploads import commit_upload, preview_upload, stage_upload
from core.jobs.queue import QueueUnavailable
from core.jobs.runner import execute
from core.models import Brand, Channel, FitVersion, Job, Spend
from core.response_curves import fit_brand
from tests.integration.jobs.support import FAST, Recorder, build_world

LONG_SPEND = {"kind": "marketing", "layout": "long", "granularity": "week"}


@pytest.fixture
def world(db, tmp_path):
    return build_world(db, tmp_path, months=15)


def spend_file(db, brand_id: int, factor: float) -> bytes:
    """The brand's last four weeks of TV spend, scaled by `factor` (1.0: the stored rows, unchanged)."""
    with db.session() as s:
        name = s.scalar(select(Brand.name).where(Brand.id == brand_id))
        rows = s.execute(select(Spend.period, Spend.amount).join(Channel, Channel.id == Spend.channel_id)
                         .where(Spend.brand_id == brand_id, Channel.name == "TV")
                         .order_by(Spend.period.desc()).limit(4)).all()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["brand", "channel", "period", "amount"])
    writer.writerows([name, "TV", p.isoformat(), round(float(a) * factor, 2)] for p, a in rows)
    return buf.getvalue().encode()


def import_spend(db, principal, org_id: int, data: bytes, dispatcher):
    token = stage_upload(db, principal, "spend.csv", data).token
    assert preview_upload(db, principal, token, org_id, LONG_SPEND, "marketing").ok
    return commit_upload(db, principal, token, org_id, dispatcher=dispatcher)


def fit_jobs(db) -> list[Job]:
    with db.session() as s:
        jobs = s.scalars(select(Job).where(Job.kind == "fit")).all()
        s.expunge_all()
        return jobs


class Refusing(Recorder):
    def dispatch(self, job_id: str) -> None:
        raise QueueUnavailable("too many jobs waiting")


def test_a_spend_import_enqueues_one_fit_job_for_the_brand_and_its_run_stores_the_next_version(world):
    db, admin, brand = world["db"], world["principal"]("Organization Administrator"), world["brand"]
    fit_brand(db, brand, n_bootstrap=6, n_starts=2, trigger="cli")
    queue = Recorder()
    report = import_spend(db, admin, admin.organization_id, spend_file(db, brand, 1.2), queue)
    assert report.committed and report.tables["spend"].update == 4
    assert report.refit_brands == [brand]
    jobs = fit_jobs(db)
    assert len(jobs) == 1 and queue.sent == [jobs[0].id] == report.fit_jobs
    assert jobs[0].payload == {"brand_id": brand, "trigger": "import"} and jobs[0].owner_id == admin.user_id
    assert execute(db, jobs[0].id, FAST) == "succeeded"
    with db.session() as s:
        rows = s.execute(select(FitVersion.version, FitVersion.trigger, FitVersion.created_by, FitVersion.inputs)
                         .where(FitVersion.brand_id == brand).order_by(FitVersion.version)).all()
    assert [(r.version, r.trigger) for r in rows] == [(1, "cli"), (2, "import")] and rows[1].created_by == admin.user_id
    # version 2 saw the imported spend: its last four TV weeks are 1.2 × version 1's
    assert rows[1].inputs["spend"]["TV"][-4:] == pytest.approx([round(v * 1.2, 2) for v in
                                                                rows[0].inputs["spend"]["TV"][-4:]], abs=0.01)


def test_an_unchanged_import_queues_nothing(world):
    db, admin, brand = world["db"], world["principal"]("Organization Administrator"), world["brand"]
    queue = Recorder()
    report = import_spend(db, admin, admin.organization_id, spend_file(db, brand, 1.0), queue)
    assert report.committed and report.unchanged == 4 and report.refit_brands == []
    assert fit_jobs(db) == [] and queue.sent == []


def test_a_refusing_queue_leaves_the_import_committed_with_a_warning(world):
    db, admin, brand = world["db"], world["principal"]("Organization Administrator"), world["brand"]
    report = import_spend(db, admin, admin.organization_id, spend_file(db, brand, 0.5), Refusing())
    assert report.committed and report.refit_brands == [brand] and report.fit_jobs == []
    assert any("could not be queued for refitting" in w and "too many jobs waiting" in w for w in report.warnings)
    with db.session() as s:  # the data is in
        assert s.scalar(select(func.count()).select_from(Spend).where(Spend.brand_id == brand)) > 0
        assert s.scalar(select(Job.status).where(Job.kind == "fit")) == "failed"
