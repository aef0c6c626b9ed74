"""Kept fit versions (core.fit_versions, core.response_curves.fit_brand): numbering per brand, the data each
fit saw and its digest, what the review page draws, the comparison with the previous version, and scope.

The demo (15 months: 66 weeks) gives fittable own brands in two organizations; fits are kept small
(few bootstrap draws and starts).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select, update

from core.fit_versions import get_version, list_versions, model_brands
from core.models import AuditEvent, Brand, Channel, FitVersion, Organization, Outcome, Spend
from core.optimize.curves import CurveParams
from core.response_curves import fit_brand
from tests.integration.jobs.support import build_world

FAST = {"n_bootstrap": 6, "n_starts": 2}


@pytest.fixture
def world(db, tmp_path):
    return build_world(db, tmp_path, months=15)


def own_brands(world) -> tuple[int, int, int]:
    """(the Brand Manager's brand, the Viewer's brand, a brand of the other organization), all with spend."""
    people = world["people"]
    with world["db"].session() as s:
        orgs = s.scalars(select(Organization.id).order_by(Organization.id)).all()
        foreign = s.scalar(select(Brand.id).where(Brand.organization_id == orgs[1],
                                                  Brand.id.in_(select(Spend.brand_id))).order_by(Brand.id))
    return people["Brand Manager"].scope_id, people["Viewer"].scope_id, foreign


def versions(db, brand_id) -> list[FitVersion]:
    with db.session() as s:
        rows = s.scalars(select(FitVersion).where(FitVersion.brand_id == brand_id).order_by(FitVersion.version)).all()
        s.expunge_all()
        return rows


def test_versions_count_per_brand_keep_the_data_they_saw_and_compare(world):
    db = world["db"]
    bm_brand, viewer_brand, _ = own_brands(world)
    analyst = world["principal"]("Analyst")
    fit1 = fit_brand(db, bm_brand, seed=0, created_by=analyst.user_id, trigger="manual", **FAST)
    fit_brand(db, viewer_brand, seed=0, trigger="cli", **FAST)
    fit2 = fit_brand(db, bm_brand, seed=1, trigger="cli", **FAST)
    v1, v2 = versions(db, bm_brand)
    assert (v1.version, v2.version) == (1, 2) and [v.version for v in versions(db, viewer_brand)] == [1]
    assert v1.created_by == analyst.user_id and v1.trigger == "manual" and v2.trigger == "cli"

    # inputs are the stored rows as the fit saw them
    with db.session() as s:
        revenue = [float(r) for r in s.scalars(select(Outcome.revenue).where(Outcome.brand_id == bm_brand)
                                               .order_by(Outcome.period))]
        tv = dict(s.execute(select(Spend.period, Spend.amount).join(Channel, Channel.id == Spend.channel_id)
                            .where(Spend.brand_id == bm_brand, Channel.name == "TV")).all())
    assert v1.inputs["revenue"] == revenue and len(v1.inputs["periods"]) == 66
    assert v1.inputs["spend"]["TV"] == [float(tv[p]) for p in sorted(tv)]
    assert v1.inputs["granularity"] == "week" and "event:festive" in v1.inputs["controls"]
    # same data, same digest; the result is what that fit found
    assert v1.data_digest == v2.data_digest and len(v1.data_digest) == 64
    assert v1.result["r2"] == pytest.approx(fit1.r2, rel=1e-5) and v2.result["r2"] == pytest.approx(fit2.r2, rel=1e-5)
    assert v1.result["actual"] == pytest.approx(revenue, rel=1e-5)
    parts = np.sum([np.array(v) for v in v1.result["decomposition"].values()], axis=0)
    assert parts == pytest.approx(np.array(v1.result["fitted"]), rel=1e-4)
    for channel, curve in v1.result["curves"].items():
        params = CurveParams.from_dict(v1.result["params"][channel])
        assert curve["response"] == pytest.approx(params.response(np.array(curve["spend"])).tolist(), rel=1e-4)
        assert curve["current_spend"] == pytest.approx(np.mean(v1.inputs["spend"][channel][-13:]), rel=1e-5)
        assert len(curve["lower"]) == len(curve["spend"])
    # compact: the draws stay with the curves (ResponseCurve.diagnostics), not in the version
    assert "bootstrap_draws" not in json.dumps(v1.result) and v1.result["n_bootstrap"] == 6
    d = v1.result["diagnostics"]
    residual = np.array(revenue) - np.array(fit1.fitted)
    assert d["durbin_watson"] == pytest.approx(np.sum(np.diff(residual) ** 2) / np.sum(residual ** 2), rel=1e-4)

    # changed data, a new digest; the comparison is against the version before
    with db.session() as s:
        s.execute(update(Outcome).where(Outcome.brand_id == bm_brand).values(revenue=Outcome.revenue * 1.5))
    fit_brand(db, bm_brand, seed=1, trigger="cli", **FAST)
    v3 = versions(db, bm_brand)[2]
    assert v3.version == 3 and v3.data_digest != v2.data_digest
    shown = get_version(db, world["principal"]("Brand Manager"), bm_brand)
    assert shown["version"] == 3 and shown["previous_version"] == 2
    rows = {r["channel"]: r for r in shown["changes"]}
    for channel, row in rows.items():
        lo, hi = v2.result["roas_interval"][channel]
        assert row["roas"] == v3.result["roas"][channel] and row["previous_roas"] == v2.result["roas"][channel]
        assert row["outside"] == (not lo <= row["roas"] <= hi)
    # 1.5 × the revenue: the channels' ROAS grows by about half, outside the tight bootstrap interval of v2
    assert any(r["outside"] for r in rows.values())
    assert get_version(db, world["principal"]("Brand Manager"), bm_brand, 1)["changes"] == []
    with db.session() as s:
        audited = s.scalars(select(AuditEvent.data).where(AuditEvent.action == "model.fitted",
                                                          AuditEvent.target_id == str(bm_brand))).all()
    assert sorted(a["version"] for a in audited) == [1, 2, 3]


def test_versions_are_read_only_within_scope(world):
    db = world["db"]
    bm_brand, viewer_brand, foreign = own_brands(world)
    for brand in (bm_brand, viewer_brand, foreign):
        fit_brand(db, brand, **FAST)
    viewer, bm, analyst = (world["principal"](r) for r in ("Viewer", "Brand Manager", "Analyst"))
    assert get_version(db, viewer, viewer_brand)["version"] == 1  # executives read
    assert [v["version"] for v in list_versions(db, viewer, viewer_brand)] == [1]
    assert get_version(db, viewer, bm_brand) is None and list_versions(db, viewer, bm_brand) == []
    assert get_version(db, bm, viewer_brand) is None
    for principal in (viewer, bm, analyst):  # the other organization's brand is no brand at all
        assert get_version(db, principal, foreign) is None and list_versions(db, principal, foreign) == []
        assert foreign not in {b["id"] for b in model_brands(db, principal)}
    listed = {b["id"]: b["latest"] for b in model_brands(db, analyst)}
    assert listed[bm_brand] == 1 and listed[viewer_brand] == 1
    assert {b["id"] for b in model_brands(db, viewer)} == {viewer_brand}
    assert get_version(db, analyst, bm_brand, "x") is None and get_version(db, analyst, "nope") is None
    assert get_version(db, analyst, bm_brand, 7) is None
