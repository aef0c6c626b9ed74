"""Lift tests people record: scope, permission, audit, duplicates, the all-or-nothing CSV, and their
mapping onto a fit's periods. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.lift_tests import (
    Audit,
    LiftTestConflict,
    LiftTestError,
    add_lift_test,
    delete_lift_test,
    experiments_for,
    form_options,
    import_lift_tests,
    list_lift_tests,
    readable,
)
from core.models import AuditEvent, Channel, LiftTest
from core.optimize.fit import Experiment
from core.security import Forbidden, load_principal
from tests.integration.security.conftest import add_user, build_world

CHANNELS = ("TV", "Search", "Meta")


@pytest.fixture
def lab(db):
    w = build_world(db)
    with db.session() as s:
        for org in ("A", "B"):
            s.add_all([Channel(organization_id=w.orgs[org], name=name) for name in CHANNELS])
    people = {
        "analyst": add_user(db, w, "ana@a.test", "A", [("Analyst", "organization", "A")]),
        "viewer": add_user(db, w, "vic@a.test", "A", [("Viewer", "organization", "A")]),
        "brand_analyst": add_user(db, w, "bea@a.test", "A", [("Analyst", "brand", "Ab1")]),
        "admin_b": add_user(db, w, "olga@b.test", "B", [("Organization Administrator", "organization", "B")]),
    }
    return {"db": db, "w": w, "as": {k: load_principal(db, v) for k, v in people.items()}}


def _test(brand_id: int, **changes) -> dict:
    return {"brand_id": brand_id, "channel": "search", "period_start": "2025-03-03", "period_end": "2025-03-30",
            "incremental_outcome": "120,000", "standard_error": "15,000", "note": "geo holdout", **changes}


def _count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(LiftTest))


def _events(db, action: str) -> list[dict]:
    with db.session() as s:
        return [e for e in s.scalars(select(AuditEvent.data).where(AuditEvent.action == action)
                                     .order_by(AuditEvent.id))]


def test_an_analyst_records_lists_and_deletes_a_test_each_audited(lab):
    db, w, me = lab["db"], lab["w"], lab["as"]["analyst"]
    ident = add_lift_test(db, me, _test(w.brands["Ab1"]))
    [row] = list_lift_tests(db, me)
    assert row["id"] == ident and row["brand"] == "Ab1" and row["channel"] == "Search"
    assert (row["period_start"], row["period_end"], row["days"]) == (date(2025, 3, 3), date(2025, 3, 30), 28)
    assert (row["incremental_outcome"], row["standard_error"], row["source"]) == (120_000.0, 15_000.0, "manual")
    assert row["can_delete"]
    [added] = _events(db, Audit.ADDED)
    assert added["brand"] == "Ab1" and added["channel"] == "Search" and added["incremental_outcome"] == 120_000
    removed = delete_lift_test(db, me, ident)
    assert removed["id"] == ident and _count(db) == 0
    assert _events(db, Audit.DELETED) == [{k: v for k, v in removed.items() if k != "id"}]


def test_another_organizations_people_see_none_and_cannot_add_or_delete(lab):
    db, w = lab["db"], lab["w"]
    ident = add_lift_test(db, lab["as"]["analyst"], _test(w.brands["Ab2"]))
    stranger = lab["as"]["admin_b"]
    assert list_lift_tests(db, stranger) == [] and not readable(db, stranger, ident)
    denials_before = len(_events(db, "authz.denied"))
    with pytest.raises(Forbidden):
        add_lift_test(db, stranger, _test(w.brands["Ab2"], period_start="2025-04-07", period_end="2025-05-04"))
    with pytest.raises(Forbidden):
        delete_lift_test(db, stranger, ident)
    with pytest.raises(Forbidden):
        import_lift_tests(db, stranger, w.orgs["A"], b"brand,channel,period_start,period_end,incremental_outcome,"
                                                     b"standard_error\nAb2,TV,2025-01-06,2025-01-12,1,1\n")
    assert _count(db) == 1 and len(_events(db, "authz.denied")) == denials_before + 3
    # Their own brand works, with their own channel of the same name.
    add_lift_test(db, stranger, _test(w.brands["Bb2"]))
    assert [r["brand"] for r in list_lift_tests(db, stranger)] == ["Bb2"]
    assert [r["brand"] for r in list_lift_tests(db, lab["as"]["analyst"])] == ["Ab2"]


def test_a_viewer_reads_but_may_not_write(lab):
    db, w = lab["db"], lab["w"]
    ident = add_lift_test(db, lab["as"]["analyst"], _test(w.brands["Ab1"]))
    viewer = lab["as"]["viewer"]
    [row] = list_lift_tests(db, viewer)
    assert not row["can_delete"] and form_options(db, viewer)["brands"] == []
    with pytest.raises(Forbidden):
        add_lift_test(db, viewer, _test(w.brands["Ab1"], channel="TV"))
    with pytest.raises(Forbidden):
        delete_lift_test(db, viewer, ident)
    assert _count(db) == 1


def test_a_brand_scoped_analyst_writes_only_their_brand(lab):
    db, w, me = lab["db"], lab["w"], lab["as"]["brand_analyst"]
    assert [b["name"] for b in form_options(db, me)["brands"]] == ["Ab1"]
    assert form_options(db, me)["channels"] == {w.orgs["A"]: ["Meta", "Search", "TV"]}
    add_lift_test(db, me, _test(w.brands["Ab1"]))
    with pytest.raises(Forbidden):
        add_lift_test(db, me, _test(w.brands["Ab2"]))
    other = add_lift_test(db, lab["as"]["analyst"], _test(w.brands["Ab3"]))
    assert [r["brand"] for r in list_lift_tests(db, me)] == ["Ab1"] and not readable(db, me, other)


def test_a_duplicate_is_refused_with_the_first_ones_id(lab):
    db, w, me = lab["db"], lab["w"], lab["as"]["analyst"]
    first = add_lift_test(db, me, _test(w.brands["Ab1"]))
    with pytest.raises(LiftTestConflict) as refused:
        add_lift_test(db, me, _test(w.brands["Ab1"], channel=" SEARCH ", incremental_outcome="90000"))
    assert str(refused.value) == (f"A lift test of Ab1 on Search for 2025-03-03 … 2025-03-30 is already recorded "
                                  f"(#{first}); delete that one first to replace it.")
    add_lift_test(db, me, _test(w.brands["Ab1"], period_end="2025-03-23"))  # another period is another test
    assert _count(db) == 2 and len(_events(db, Audit.ADDED)) == 2


def test_bad_input_and_an_unknown_channel_change_nothing(lab):
    db, w, me = lab["db"], lab["w"], lab["as"]["analyst"]
    with pytest.raises(LiftTestError) as refused:
        add_lift_test(db, me, _test(w.brands["Ab1"], standard_error="0"))
    assert refused.value.field == "standard_error" and "always has some uncertainty" in str(refused.value)
    with pytest.raises(LiftTestError) as refused:
        add_lift_test(db, me, _test(w.brands["Ab1"], channel="Radio"))
    assert str(refused.value) == "Ab1's organization has no channel named “Radio”; its channels: Meta, Search, TV."
    assert _count(db) == 0 and _events(db, Audit.ADDED) == []


HEADER = "brand,channel,period_start,period_end,incremental_outcome,standard_error,note\n"


def test_the_csv_is_all_or_nothing_with_an_error_per_row_and_column(lab):
    db, w, me = lab["db"], lab["w"], lab["as"]["analyst"]
    add_lift_test(db, me, _test(w.brands["Ab1"], channel="TV"))
    bad = (HEADER + "Ab1,Search,2025-03-03,2025-03-30,\"120,000\",15000,fine\n"
           "Ab2,Radio,2025-03-03,2025-03-30,1,1,\n"
           "Bb1,TV,2025-03-03,2025-03-30,1,1,\n"
           "Ab2,TV,2025-03-30,2025-03-03,5,0,\n"
           "Ab1,TV,2025-03-03,2025-03-30,1,1,\n"
           "ab1,search,2025-03-03,2025-03-30,2,1,\n")
    report = import_lift_tests(db, me, w.orgs["A"], bad.encode())
    assert not report.committed and report.tests == [] and report.rows == 6
    found = {(e["row"], e["column"]) for e in report.errors}
    assert found == {(3, "channel"), (4, "brand"), (5, "standard_error"), (6, "period_end"),
                     (7, "period_end")}
    reasons = {(e["row"], e["column"]): e["reason"] for e in report.errors}
    assert reasons[(4, "brand")] == "There is no brand “Bb1” you may record lift tests for in this organization."
    assert reasons[(7, "period_end")] == "Row 2 records the same brand, channel and period."
    assert "already recorded" in reasons[(6, "period_end")]
    assert _count(db) == 1 and _events(db, Audit.IMPORTED) == []


def test_the_csv_preview_writes_nothing_and_the_commit_writes_every_row(lab):
    db, w, me = lab["db"], lab["w"], lab["as"]["analyst"]
    good = (HEADER.replace("period_start", "Period Start")
            + "Ab1,Search,2025-03-03,2025-03-30,\"120,000\",15000,north\nAb2,tv,2025-01-06,2025-02-02,-4 000,2500,\n")
    preview = import_lift_tests(db, me, w.orgs["A"], good, commit=False)
    assert preview.ok and not preview.committed and [t["channel"] for t in preview.tests] == ["Search", "TV"]
    assert preview.tests[1]["incremental_outcome"] == -4000 and _count(db) == 0
    done = import_lift_tests(db, me, w.orgs["A"], good)
    assert done.committed and len(done.ids) == 2
    assert {r["source"] for r in list_lift_tests(db, me)} == {"import"}
    assert len(_events(db, Audit.ADDED)) == 2
    assert _events(db, Audit.IMPORTED) == [{"added": 2, "brands": sorted([w.brands["Ab1"], w.brands["Ab2"]])}]


@pytest.mark.parametrize(("content", "words"), [
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"brand,channel\nAb1,TV\n", "missing: period_start"),
    (HEADER.encode(), "lists no lift tests"),
    (b"x" * (1024 * 1024 + 1), "over 1 MB"),
])
def test_an_unreadable_file_is_refused_whole(lab, content, words):
    report = import_lift_tests(lab["db"], lab["as"]["analyst"], lab["w"].orgs["A"], content)
    assert not report.ok and words in report.errors[0]["reason"] and _count(lab["db"]) == 0


def test_a_brand_outside_the_importers_scope_reads_as_unknown(lab):
    db, w = lab["db"], lab["w"]
    report = import_lift_tests(db, lab["as"]["brand_analyst"], w.orgs["A"],
                               HEADER + "Ab1,TV,2025-01-06,2025-01-12,1,1,\nAb2,TV,2025-01-06,2025-01-12,1,1,\n")
    assert [(e["row"], e["column"]) for e in report.errors] == [(3, "brand")] and _count(db) == 0


# ---- experiments_for --------------------------------------------------------------------------------

WEEKS = [date(2025, 1, 6) + timedelta(weeks=i) for i in range(20)]  # Mondays, 2025-01-06 … 2025-05-19


def _record(db, me, brand_id, channel, start, end, lift=100.0, se=10.0) -> int:
    return add_lift_test(db, me, {"brand_id": brand_id, "channel": channel, "period_start": start,
                                  "period_end": end, "incremental_outcome": lift, "standard_error": se})


def test_experiments_for_maps_tests_onto_the_weekly_grid_and_says_what_it_leaves_out(lab):
    db, w, me = lab["db"], lab["w"], lab["as"]["analyst"]
    brand = w.brands["Ab1"]
    _record(db, me, brand, "TV", date(2025, 2, 3), date(2025, 3, 2), lift=5000, se=400)  # weeks 4..7 exactly
    _record(db, me, brand, "Search", date(2025, 1, 8), date(2025, 1, 21), lift=-20)  # Wed–Tue: weeks 0..1 rounded
    _record(db, me, brand, "Search", date(2024, 12, 30), date(2025, 1, 12))  # starts before the window
    _record(db, me, brand, "Search", date(2025, 5, 19), date(2025, 5, 31))  # ends after it (last week ends 05-25)
    _record(db, me, brand, "Meta", date(2025, 2, 3), date(2025, 2, 16))  # a channel the fit leaves out
    _record(db, me, brand, "TV", date(2025, 4, 2), date(2025, 4, 3))  # two days: no week by half
    _record(db, me, w.brands["Ab2"], "TV", date(2025, 2, 3), date(2025, 3, 2))  # another brand's
    with db.session() as s:
        found, notes = experiments_for(s, brand, WEEKS, "week", channels=["TV", "Search"])
    assert found == [Experiment("Search", 0, 1, -20.0, 10.0), Experiment("TV", 4, 7, 5000.0, 400.0)]
    text = "\n".join(notes)
    assert len(notes) == 5, text
    assert "counted as the weeks 2025-01-06 … 2025-01-13: its dates do not fall on week boundaries" in text
    assert "reaches outside the fitted history (2025-01-06 … 2025-05-25)" in text
    assert "the fit does not use Meta" in text
    assert "covers no week of the fitted series by half or more" in text
    with db.session() as s:
        everything, _ = experiments_for(s, brand, WEEKS, "week")
    assert [e.channel for e in everything] == ["Search", "Meta", "TV"]  # the two-day test still skipped


def test_experiments_for_on_a_monthly_series(lab):
    db, w, me = lab["db"], lab["w"], lab["as"]["analyst"]
    months = [date(2024, m, 1) for m in range(1, 13)]
    _record(db, me, w.brands["Ab3"], "TV", date(2024, 2, 1), date(2024, 3, 31))  # Feb and Mar exactly
    _record(db, me, w.brands["Ab3"], "Search", date(2024, 12, 1), date(2024, 12, 31))  # the last month
    _record(db, me, w.brands["Ab3"], "Meta", date(2024, 12, 20), date(2025, 1, 5))  # past the window's end
    with db.session() as s:
        found, notes = experiments_for(s, w.brands["Ab3"], months, "month")
        assert experiments_for(s, w.brands["Ab3"], [], "month") == ([], [])
        with pytest.raises(ValueError):
            experiments_for(s, w.brands["Ab3"], months, "day")
    assert found == [Experiment("TV", 1, 2, 100.0, 10.0), Experiment("Search", 11, 11, 100.0, 10.0)]
    assert len(notes) == 1 and "2024-01-01 … 2024-12-31" in notes[0]
