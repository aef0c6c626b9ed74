"""The metric framework (section → platform → metric) of each organization, and the monthly metric values.

Every organization has its own framework (migration 0014): a section belongs to one organization,
a platform and a metric through their section. `metrics.organization_id` repeats the section's
organization on purpose: it lets the database hold metric codes unique per organization (a
constraint cannot reach through a join) and lets an import or an API read find an organization's
metrics by code without joining platforms and sections. `core.setup.framework` keeps it equal to the
section's organization (a metric never moves between organizations).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.classification import DEFAULT
from core.models.base import Base, utcnow

# Data classification (issue 17, core.classification): stored as the level's value, checked by the services.
LEVEL = String(20)


class Direction(enum.StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


class Section(Base):
    """A top level of an organization's framework (the template's: Marketplace, Digital Spends,
    Organic Performance, Socialwatch). `weight` is the organization's default weight of the section
    in the DC score; a project's `section_weights` (by section name) overrides it for that project."""

    __tablename__ = "sections"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        CheckConstraint("weight > 0", name="weight_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    # A section's level covers every metric under it (a metric reads at the higher of the two).
    classification: Mapped[str] = mapped_column(LEVEL, default=DEFAULT.value, server_default=DEFAULT.value)

    platforms: Mapped[list[Platform]] = relationship(back_populates="section")


class Platform(Base):
    __tablename__ = "platforms"
    __table_args__ = (
        UniqueConstraint("section_id", "name"),
        CheckConstraint("weight > 0", name="weight_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("sections.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    weight: Mapped[float] = mapped_column(Float, default=1.0)

    section: Mapped[Section] = relationship(back_populates="platforms")
    metrics: Mapped[list[Metric]] = relationship(back_populates="platform")


class Metric(Base):
    """A measurable quantity; `direction` says whether more is better."""

    __tablename__ = "metrics"
    __table_args__ = (
        CheckConstraint("direction in ('higher', 'lower')", name="direction"),
        CheckConstraint("weight > 0", name="weight_positive"),
        UniqueConstraint("organization_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The section's organization, repeated (see the module docstring).
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(10), default=Direction.HIGHER.value)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    unit: Mapped[str] = mapped_column(String(40), default="")
    # Plausible range: imports reject values outside it (None = unbounded on that side).
    min_value: Mapped[float | None] = mapped_column(Float, default=None)
    max_value: Mapped[float | None] = mapped_column(Float, default=None)
    description: Mapped[str] = mapped_column(String(1000), default="")
    classification: Mapped[str] = mapped_column(LEVEL, default=DEFAULT.value, server_default=DEFAULT.value)

    platform: Mapped[Platform] = relationship(back_populates="metrics")


class FrameworkVersion(Base):
    """The current version of an organization's framework: bumped by every saved change, so pages can
    say which framework the scores were computed with ("framework v3, 6 Dec 2026"). Saving a change
    recomputes every project of the organization for all months in the same transaction
    (docs/SCORING.md), so stored scores always match the current version."""

    __tablename__ = "framework_versions"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(default=1)
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    saved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    note: Mapped[str] = mapped_column(String(300), default="")


class MetricValue(Base):
    """One raw observation. Periods are the first day of a month (UTC)."""

    __tablename__ = "metric_values"
    __table_args__ = (Index("ix_metric_values_period_brand", "period", "brand_id"),)

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True)
    metric_id: Mapped[int] = mapped_column(ForeignKey("metrics.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[date] = mapped_column(primary_key=True)
    raw_value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(80), default="manual")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DCScore(Base):
    """Materialized scores per project × period × brand at total, section and platform level.

    `node_id` is the section or platform id (0 for the total). The primary key (project, period,
    brand, …) serves reads by period; `ix_dc_scores_project_level_brand` serves the dashboard's reads
    by brand (does this pair have scores, a brand's periods, a few brands' trend), which would
    otherwise walk every level and node of the project. It leaves score and coverage out, so a
    recompute's in-place updates stay HOT (no index write). Recomputed for a
    project whenever its inputs change, so it is a cache of `core.scoring`, never edited by hand. It has
    no foreign keys on purpose (checking them dominated the cost of a recompute); triggers from
    the initial migration delete a project's or brand's scores when it is deleted.
    """

    __tablename__ = "dc_scores"
    __table_args__ = (
        CheckConstraint("level in ('total', 'section', 'platform')", name="level"),
        Index("ix_dc_scores_project_level_brand", "project_id", "level", "brand_id", "period"),
        # Free space in each page lets a recompute update scores in place (HOT, no index write).
        {"postgresql_with": {"fillfactor": 80}},
    )

    project_id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[date] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str] = mapped_column(String(10), primary_key=True)
    node_id: Mapped[int] = mapped_column(primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    coverage: Mapped[float] = mapped_column(Float)
