"""The new customer's sample files (data/samples/new_customer/) import cleanly with their shipped
mappings into an organization that has the six brands and the default framework: every row counted,
nothing refused, the four channels created; without the brands, the preview lists exactly the six
as brands to create (for someone who may set up the portfolio)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.demo.catalogue import METRICS, build_framework
from core.demo.samples import COMPETITOR_BRANDS, OWN_BRANDS
from core.imports import commit, load_spec, preview
from core.models import Brand, Channel, ControlValue, MetricValue, Organization, Outcome, Spend

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples" / "new_customer"
MAPPINGS = REPO / "docs" / "import-mappings"
BRANDS = (*OWN_BRANDS, *COMPETITOR_BRANDS)


def _organization(db, slug: str, brands: tuple[str, ...]) -> int:
    with db.session() as s:
        org = Organization(name=slug.title(), slug=slug)
        s.add(org)
        s.flush()
        sections, platforms, metrics = build_framework(org.id)
        s.add_all([*sections, *platforms, *metrics])
        s.add_all([Brand(organization_id=org.id, name=name) for name in brands])
        return org.id


def _spec(kind: str):
    return load_spec(MAPPINGS / f"new_customer_{kind}.json", kind=kind)


@pytest.mark.parametrize("kind", ["metrics", "marketing"])
def test_the_samples_preview_cleanly_and_commit_every_row(db, kind):
    org = _organization(db, "kestrel", BRANDS)
    path = SAMPLES / f"{kind}.csv"
    report = preview(db, org, path, _spec(kind))
    assert report.ok, report.format_text()
    if kind == "metrics":
        assert report.to_insert == 6 * len(METRICS) * 24 == 8640
    else:
        assert report.to_insert == 3 * 104 * (4 + 1 + 1)  # spend per channel, revenue, the festive control
    done = commit(db, org, path, _spec(kind))
    assert done.ok and done.to_insert == report.to_insert
    with db.session() as s:
        count = lambda model: s.scalar(select(func.count()).select_from(model))  # noqa: E731
        if kind == "metrics":
            assert count(MetricValue) == 8640
        else:
            assert (count(Spend), count(Outcome), count(ControlValue)) == (1248, 312, 312)
            assert set(s.scalars(select(Channel.name).where(Channel.organization_id == org))) == {
                "TV", "Search", "Social", "Display"}


def test_without_the_brands_the_preview_lists_the_six_to_create(db):
    org = _organization(db, "kestrel", ())
    refused = preview(db, org, SAMPLES / "metrics.csv", _spec("metrics"))
    assert not refused.ok
    offered = preview(db, org, SAMPLES / "metrics.csv", _spec("metrics"), new_brands=True)
    assert sorted(offered.new_brands) == sorted(BRANDS)
