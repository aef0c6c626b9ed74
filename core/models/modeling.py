"""What a marketing-mix model learns from and what it produced: lift tests and kept fit versions.

Both are keyed by brand, so the scope filter (core.security.authorizer.scope_filter) limits them
like every other brand-keyed row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, utcnow


class LiftTest(Base):
    """A measured experiment: what one channel's spend added to the brand's outcome over a period.

    `incremental_outcome` is the outcome (revenue or conversions, in the brand's outcome unit) the
    test attributes to the channel between `period_start` and `period_end` inclusive, with its
    `standard_error`. The fitter uses it as a likelihood term (core.optimize.fit.Experiment).
    """

    __tablename__ = "lift_tests"
    __table_args__ = (
        CheckConstraint("standard_error > 0", name="positive_se"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        Index("ix_lift_tests_brand", "brand_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    incremental_outcome: Mapped[float] = mapped_column(Float)
    standard_error: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(80), default="manual")  # manual, import, api
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FitVersion(Base):
    """One fit of one brand, kept: the data it saw (`inputs`) and what it found (`result`).

    `version` counts per brand from 1. `inputs` holds the aligned series the fitter was given
    (periods, revenue, spend by channel, controls, experiments) so a fit can be explained and
    re-run; `result` holds core.optimize.fit.FitResult.to_dict() plus the series the review page
    draws (fitted, interval, decomposition). `data_digest` is a hash of `inputs`.
    """

    __tablename__ = "fit_versions"
    __table_args__ = (UniqueConstraint("brand_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    trigger: Mapped[str] = mapped_column(String(40), default="manual")  # manual, import, api, cli
    data_digest: Mapped[str] = mapped_column(String(64))
    inputs: Mapped[dict] = mapped_column(default=dict)
    result: Mapped[dict] = mapped_column(default=dict)
