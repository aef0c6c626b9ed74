"""Marketing-mix data: channels, spend and outcome series, controls, fitted response curves."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Select, String, UniqueConstraint, and_
from sqlalchemy.orm import Mapped, aliased, mapped_column

from core.models.base import Base, utcnow
from core.models.portfolio import Brand


class Granularity(enum.StrEnum):
    WEEK = "week"
    MONTH = "month"


_GRANULARITY_CHECK = "granularity in ('week', 'month')"


class Channel(Base):
    """A paid media channel (TV, Search, Meta, …) that spend is allocated to.

    Each organization has its own channel catalogue (imports create channels, and one tenant's
    names must never show up in another's pages): the same name in two organizations is two rows.
    """

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))


def join_channel(stmt: Select[Any], model: Any) -> Select[Any]:
    """`stmt` joined to the channel of each brand-keyed row of `model` (spend, response curves).

    Only a channel of the row's own brand's organization joins: a row pointing at another
    organization's channel (which nothing should write) shows nothing rather than its name.
    """
    owner = aliased(Brand)
    return (stmt.select_from(model).join(owner, owner.id == model.brand_id)
            .join(Channel, and_(Channel.id == model.channel_id, Channel.organization_id == owner.organization_id)))


class Spend(Base):
    """Spend of one brand on one channel in one period (week start or month start)."""

    __tablename__ = "spend"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_nonnegative"),
        CheckConstraint(_GRANULARITY_CHECK, name="granularity"),
        Index("ix_spend_brand_period", "brand_id", "period"),
    )

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[date] = mapped_column(primary_key=True)
    granularity: Mapped[str] = mapped_column(String(5), default=Granularity.WEEK.value)
    amount: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(80), default="manual")


class Outcome(Base):
    """What the brand earned in a period: revenue, and units where known."""

    __tablename__ = "outcomes"
    __table_args__ = (CheckConstraint(_GRANULARITY_CHECK, name="granularity"),)

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[date] = mapped_column(primary_key=True)
    granularity: Mapped[str] = mapped_column(String(5), default=Granularity.WEEK.value)
    revenue: Mapped[float] = mapped_column(Float)
    units: Mapped[float | None] = mapped_column(Float, default=None)
    source: Mapped[str] = mapped_column(String(80), default="manual")


class ControlValue(Base):
    """A non-media driver of outcome (competitor sales, events, newsletters, price, …)."""

    __tablename__ = "control_values"

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    period: Mapped[date] = mapped_column(primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(80), default="manual")


class ResponseCurve(Base):
    """revenue = beta · hill(adstock(spend)) for one brand × channel.

    `kind` is "fitted" for curves estimated from history, or "truth" for the generating
    parameters the demo seed keeps so the fitter can be checked against them.
    """

    __tablename__ = "response_curves"
    __table_args__ = (
        CheckConstraint("kind in ('fitted', 'truth')", name="kind"),
        Index("ix_response_curves_brand_channel", "brand_id", "channel_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default="fitted")
    params: Mapped[dict] = mapped_column(default=dict)
    diagnostics: Mapped[dict] = mapped_column(default=dict)
    fitted_at: Mapped[datetime] = mapped_column(default=utcnow)
