"""Record, list and delete a brand's lift tests, with permission, scope and audit on every call.

Who may: reading is `scenario:read` (everyone who reads plans and their models, executives and
Viewers included); recording and deleting is `scenario:run`, the permission that runs budget
optimizations and with them the fits these tests calibrate (Analyst, Brand Manager, Portfolio
Manager, Organization Administrator). A test changes what every later fit of the brand believes
about a channel, so writing it is the same trust as running a model, while merely reading it is not.

Each brand has at most one test per channel and period: the same brand, channel, start and end
recorded twice would count one experiment twice in the fit's likelihood, so a second is refused
with the first one's id.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.lift_tests.schema import LiftTestInput, problems
from core.models import Brand, Channel, LiftTest, Organization
from core.security import Principal, can, record, scope_filter
from core.security.authorizer import deny
from core.security.permissions import Permission

READ = Permission.SCENARIO_READ.value
WRITE = Permission.SCENARIO_RUN.value
SOURCES = ("manual", "import", "api")


class Audit:
    """Audit action names of lift tests (one place, so writers and readers agree)."""

    ADDED = "lift_test.added"
    DELETED = "lift_test.deleted"
    IMPORTED = "lift_test.imported"


class LiftTestError(ValueError):
    """A lift test that cannot be recorded as given; `field` names the input, the message says why."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class LiftTestConflict(LiftTestError):
    """The brand already has a test of that channel and period."""


def read_input(raw: LiftTestInput | dict[str, Any]) -> LiftTestInput:
    """The one schema, from a form's or a caller's dict; LiftTestError with the first problem."""
    if isinstance(raw, LiftTestInput):
        return raw
    try:
        return LiftTestInput.model_validate(raw)
    except ValidationError as exc:
        field, message = problems(exc)[0]
        raise LiftTestError(message, field) from None


def channel_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def organization_channels(session: Session, organization_id: int) -> dict[str, Channel]:
    """The organization's channels by name as people type it (case and spacing aside)."""
    rows = session.scalars(select(Channel).where(Channel.organization_id == organization_id)
                           .order_by(func.lower(Channel.name)))
    return {channel_key(c.name): c for c in rows}


def resolve_channel(channels: dict[str, Channel], name: str, brand: str) -> Channel:
    found = channels.get(channel_key(name))
    if found is None:
        known = ", ".join(c.name for c in channels.values()) or "none yet (an import of spend creates them)"
        raise LiftTestError(f"{brand}'s organization has no channel named “{name}”; its channels: {known}.", "channel")
    return found


def duplicate_of(session: Session, brand_id: int, channel_id: int, start: date, end: date) -> int | None:
    return session.scalar(select(LiftTest.id).where(
        LiftTest.brand_id == brand_id, LiftTest.channel_id == channel_id,
        LiftTest.period_start == start, LiftTest.period_end == end))


def duplicate_message(brand: str, channel: str, start: date, end: date, other: int) -> str:
    return (f"A lift test of {brand} on {channel} for {start.isoformat()} … {end.isoformat()} is already recorded "
            f"(#{other}); delete that one first to replace it.")


def writable_brand(session: Session, principal: Principal, brand_id: int, *, lock: bool = False) -> Brand:
    """The brand, if the principal may record tests for it (Forbidden, audited, otherwise; an unknown
    id is refused the same way)."""
    brand = session.get(Brand, brand_id, with_for_update=lock) if 0 < brand_id <= 2**31 - 1 else None
    if brand is None or not can(principal, WRITE, brand):
        deny(principal, WRITE, ("brand", brand_id), "no such brand" if brand is None else "not permitted")
    return brand


def audit_data(test: LiftTest, brand: Brand, channel: Channel) -> dict[str, Any]:
    return {"brand": brand.name, "channel": channel.name, "period_start": test.period_start.isoformat(),
            "period_end": test.period_end.isoformat(), "incremental_outcome": test.incremental_outcome,
            "standard_error": test.standard_error, "source": test.source}


def add_lift_test(db: Database, principal: Principal, raw: LiftTestInput | dict[str, Any], *,
                  source: str = "manual") -> int:
    """Record one test; returns its id. LiftTestError (nothing written) when the input or a duplicate
    refuses it, Forbidden when the brand is not the principal's to write."""
    test = read_input(raw)
    with db.session() as s:
        # The brand row is locked (PostgreSQL) so two people recording the same test at once cannot both pass
        # the duplicate check.
        brand = writable_brand(s, principal, test.brand_id, lock=True)
        channel = resolve_channel(organization_channels(s, brand.organization_id), test.channel, brand.name)
        other = duplicate_of(s, brand.id, channel.id, test.period_start, test.period_end)
        if other is not None:
            raise LiftTestConflict(duplicate_message(brand.name, channel.name, test.period_start, test.period_end,
                                                     other))
        row = LiftTest(brand_id=brand.id, channel_id=channel.id, period_start=test.period_start,
                       period_end=test.period_end, incremental_outcome=test.incremental_outcome,
                       standard_error=test.standard_error, note=test.note,
                       source=source if source in SOURCES else "manual", created_by=principal.user_id)
        s.add(row)
        s.flush()
        record(s, Audit.ADDED, actor=principal, organization_id=brand.organization_id, target=("lift_test", row.id),
               data=audit_data(row, brand, channel))
        return row.id


def readable(db: Database, principal: Principal, lift_test_id: int) -> bool:
    """Whether the principal may see the test (an unknown id: no, the same answer)."""
    with db.session() as s:
        return _readable_row(s, principal, lift_test_id) is not None


def sees_organization(db: Database, principal: Principal, organization_id: int) -> bool:
    """Whether the principal may read lift tests of some brand of the organization (an unknown one: no)."""
    with db.session() as s:
        return s.scalar(select(Brand.id).where(Brand.organization_id == organization_id,
                                               scope_filter(principal, READ, Brand)).limit(1)) is not None


def _readable_row(session: Session, principal: Principal, lift_test_id: int) -> LiftTest | None:
    if not 0 < int(lift_test_id) <= 2**31 - 1:
        return None
    return session.scalar(select(LiftTest).where(LiftTest.id == int(lift_test_id),
                                                 scope_filter(principal, READ, LiftTest)))


def delete_lift_test(db: Database, principal: Principal, lift_test_id: int) -> dict[str, Any]:
    """Delete one test; returns what it held (also the audit event's data). Forbidden (audited) when the
    principal may not write its brand, or cannot see it (the same refusal as an unknown id)."""
    with db.session() as s:
        row = _readable_row(s, principal, lift_test_id)
        if row is None:
            deny(principal, WRITE, ("lift_test", lift_test_id), "no such lift test")
        brand = writable_brand(s, principal, row.brand_id)
        channel = s.get(Channel, row.channel_id)
        data = audit_data(row, brand, channel)
        s.execute(delete(LiftTest).where(LiftTest.id == row.id))
        record(s, Audit.DELETED, actor=principal, organization_id=brand.organization_id,
               target=("lift_test", row.id), data=data)
        return {"id": row.id, **data}


def list_lift_tests(db: Database, principal: Principal, *, organization_id: int | None = None,
                    brand_id: int | None = None, after_id: int | None = None, limit: int | None = None,
                    lift_test_id: int | None = None) -> list[dict[str, Any]]:
    """The tests the principal may read, by id; optionally one organization's or one brand's, a page at a time
    (or the one test `lift_test_id`)."""
    stmt = (select(LiftTest, Brand.name, Brand.organization_id, Organization.name.label("organization"),
                   Channel.name.label("channel"))
            .join(Brand, Brand.id == LiftTest.brand_id).join(Organization, Organization.id == Brand.organization_id)
            .join(Channel, Channel.id == LiftTest.channel_id)
            .where(scope_filter(principal, READ, LiftTest)).order_by(LiftTest.id))
    if organization_id is not None:
        stmt = stmt.where(Brand.organization_id == organization_id)
    if brand_id is not None:
        stmt = stmt.where(LiftTest.brand_id == brand_id)
    if lift_test_id is not None:
        stmt = stmt.where(LiftTest.id == lift_test_id)
    if after_id is not None:
        stmt = stmt.where(LiftTest.id > after_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with db.session() as s:
        may_write = {b for b in s.scalars(select(Brand.id).where(scope_filter(principal, WRITE, Brand)))}
        return [{"id": t.id, "brand_id": t.brand_id, "brand": brand, "organization_id": org, "organization": org_name,
                 "channel_id": t.channel_id, "channel": channel, "period_start": t.period_start,
                 "period_end": t.period_end, "days": (t.period_end - t.period_start).days + 1,
                 "incremental_outcome": t.incremental_outcome, "standard_error": t.standard_error,
                 "note": t.note, "source": t.source, "created_at": t.created_at, "can_delete": t.brand_id in may_write}
                for t, brand, org, org_name, channel in s.execute(stmt)]


def form_options(db: Database, principal: Principal) -> dict[str, Any]:
    """What the form offers: the live brands the principal may record tests for (with their organization)
    and each of those organizations' channels."""
    with db.session() as s:
        brands = s.execute(select(Brand.id, Brand.name, Brand.organization_id, Organization.name)
                           .join(Organization, Organization.id == Brand.organization_id)
                           .where(scope_filter(principal, WRITE, Brand), Brand.archived_at.is_(None),
                                  Organization.archived_at.is_(None))
                           .order_by(func.lower(Organization.name), func.lower(Brand.name))).all()
        orgs = sorted({b[2] for b in brands})
        channels = {org: [c.name for c in organization_channels(s, org).values()] for org in orgs}
    return {"brands": [{"id": b[0], "name": b[1], "organization_id": b[2], "organization": b[3]} for b in brands],
            "channels": channels, "organizations": len(orgs)}
