"""Channels per organization: create, rename, merge (spend and curves move; overlaps refused), and no
organization writes another's channels."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.models import AuditEvent, Brand, Channel, Organization, ResponseCurve, Spend
from core.security import Principal
from core.security.authorizer import Forbidden
from core.security.permissions import BUILTIN_ROLES
from core.setup.__main__ import main as setup_main
from core.setup.channels import ChannelError, create_channel, list_channels, merge_channels, rename_channel

W1, W2, W3 = date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)


def person(db, org: int, role: str = "Organization Administrator") -> Principal:
    return Principal(user_id=None, organization_id=org, organizations={org: BUILTIN_ROLES[role]}, db=db)


@pytest.fixture
def world(db):
    """Two organizations with a brand each; organization A spends on 'Meta' and 'Facebook Ads'."""
    with db.session() as s:
        a, b = Organization(name="A", slug="a"), Organization(name="B", slug="b")
        s.add_all([a, b])
        s.flush()
        ours, theirs = Brand(organization_id=a.id, name="Ours"), Brand(organization_id=b.id, name="Theirs")
        meta, fb = Channel(organization_id=a.id, name="Meta"), Channel(organization_id=a.id, name="Facebook Ads")
        their_tv = Channel(organization_id=b.id, name="TV")
        s.add_all([ours, theirs, meta, fb, their_tv])
        s.flush()
        s.add_all([Spend(brand_id=ours.id, channel_id=meta.id, period=W1, amount=100),
                   Spend(brand_id=ours.id, channel_id=fb.id, period=W2, amount=40),
                   Spend(brand_id=ours.id, channel_id=fb.id, period=W3, amount=60),
                   Spend(brand_id=theirs.id, channel_id=their_tv.id, period=W1, amount=7),
                   ResponseCurve(brand_id=ours.id, channel_id=meta.id, kind="fitted"),
                   ResponseCurve(brand_id=ours.id, channel_id=fb.id, kind="fitted"),
                   ResponseCurve(brand_id=ours.id, channel_id=fb.id, kind="truth")])
        return {"db": db, "a": a.id, "b": b.id, "ours": ours.id, "meta": meta.id, "fb": fb.id, "tv": their_tv.id}


def _spend(db, channel: int) -> list[tuple]:
    with db.session() as s:
        return [tuple(r) for r in s.execute(select(Spend.period, Spend.amount).where(Spend.channel_id == channel)
                                            .order_by(Spend.period)).all()]


def test_create_rename_and_list(world):
    db, a = world["db"], world["a"]
    admin = person(db, a)
    search = create_channel(db, admin, a, "  Paid   Search ")
    with pytest.raises(ChannelError, match="already has a channel"):
        create_channel(db, admin, a, "paid search")
    with pytest.raises(ChannelError, match="name"):
        create_channel(db, admin, a, "   ")
    assert create_channel(db, person(db, world["b"]), world["b"], "Paid Search")  # the same name, their own
    rename_channel(db, admin, a, search, "Search")
    with pytest.raises(ChannelError, match="already has a channel"):
        rename_channel(db, admin, a, search, "META")
    listed = {r["name"]: r for r in list_channels(db, admin, a)}
    assert set(listed) == {"Facebook Ads", "Meta", "Search"}
    assert listed["Facebook Ads"]["spend_rows"] == 2 and listed["Facebook Ads"]["curves"] == 2
    with db.session() as s:
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.organization_id == a)))
    assert {"channel.created", "channel.renamed"} <= actions


def test_merge_moves_spend_and_curves(world):
    db, a = world["db"], world["a"]
    total = sum(amount for _, amount in _spend(db, world["meta"]) + _spend(db, world["fb"]))
    moved = merge_channels(db, person(db, a), a, world["fb"], world["meta"])
    assert moved == {"spend_rows": 2, "curves_moved": 1, "curves_dropped": 1}
    assert _spend(db, world["meta"]) == [(W1, 100), (W2, 40), (W3, 60)]
    assert sum(amount for _, amount in _spend(db, world["meta"])) == total
    with db.session() as s:
        assert s.get(Channel, world["fb"]) is None
        curves = s.execute(select(ResponseCurve.channel_id, ResponseCurve.kind).order_by(ResponseCurve.kind)).all()
        assert [tuple(c) for c in curves] == [(world["meta"], "fitted"), (world["meta"], "truth")]
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "channel.merged")).one()
        assert event.data["from"] == "Facebook Ads" and event.data["spend_rows"] == 2


def test_merge_with_overlapping_spend_is_refused_with_the_list(world):
    db, a = world["db"], world["a"]
    with db.session() as s:
        s.add(Spend(brand_id=world["ours"], channel_id=world["fb"], period=W1, amount=100))
    before = (_spend(db, world["meta"]), _spend(db, world["fb"]))
    with pytest.raises(ChannelError, match=r"both have spend.*\(1\): Ours 2026-01-05"):
        merge_channels(db, person(db, a), a, world["fb"], world["meta"])
    assert (_spend(db, world["meta"]), _spend(db, world["fb"])) == before
    with pytest.raises(ChannelError, match="two different"):
        merge_channels(db, person(db, a), a, world["fb"], world["fb"])


def test_no_organization_writes_anothers_channels(world):
    db, a, b = world["db"], world["a"], world["b"]
    admin_a = person(db, a)
    with db.session() as s:
        count = s.scalar(select(func.count()).select_from(Channel))
    for call in (lambda: rename_channel(db, admin_a, a, world["tv"], "Ours"),
                 lambda: merge_channels(db, admin_a, a, world["tv"], world["meta"]),
                 lambda: merge_channels(db, admin_a, a, world["meta"], world["tv"])):
        with pytest.raises(ChannelError, match="no such channel"):
            call()
    for call in (lambda: list_channels(db, admin_a, b), lambda: create_channel(db, admin_a, b, "Radio"),
                 lambda: rename_channel(db, admin_a, b, world["tv"], "Radio"),
                 lambda: create_channel(db, person(db, a, "Analyst"), a, "Radio"),
                 lambda: merge_channels(db, person(db, a, "Brand Manager"), a, world["fb"], world["meta"])):
        with pytest.raises(Forbidden):
            call()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Channel)) == count
        assert s.get(Channel, world["tv"]).name == "TV"
    assert _spend(db, world["tv"]) == [(W1, 7)]


def test_the_command_line_manages_channels(world, capsys):
    url = world["db"].engine.url.render_as_string(hide_password=False)
    assert setup_main(["channel-create", "Radio", "--org", "a", "--database-url", url]) == 0
    assert setup_main(["channel-merge", str(world["fb"]), str(world["meta"]), "--org", "a", "--database-url",
                       url]) == 0
    assert setup_main(["channel-rename", str(world["tv"]), "Mine", "--org", "a", "--database-url", url]) == 1
    assert "no such channel" in capsys.readouterr().err
    assert setup_main(["channel-list", "--org", "a", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "Radio" in out and "Meta\t3 spend rows" in out and "Facebook" not in out
