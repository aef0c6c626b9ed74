"""Who owns what: organizations, projects and brands, and how brands sit in projects."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.classification import DEFAULT
from core.models.base import Base, utcnow


class BrandRole(enum.StrEnum):
    """How a brand takes part in a project: tracked as ours, or compared against."""

    OWN = "own"
    COMPETITOR = "competitor"
    BENCHMARK = "benchmark"


class Normalization(enum.StrEnum):
    MINMAX = "minmax"
    PERCENTILE = "percentile"


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Archived: off the pages and lists, data kept (migration 0013); None while live.
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    # The money and outcome its figures read in (migration 0016; core.settings): an ISO 4217 code (None:
    # not chosen, figures without a sign) and "revenue" or a count's plural noun (None: revenue).
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    outcome_unit: Mapped[str | None] = mapped_column(String(40), default=None)
    # The classification new metrics (and sections), scenarios and imported data sets get (migration 0021).
    default_metric_classification: Mapped[str] = mapped_column(String(20), default=DEFAULT.value,
                                                               server_default=DEFAULT.value)
    default_scenario_classification: Mapped[str] = mapped_column(String(20), default=DEFAULT.value,
                                                                 server_default=DEFAULT.value)
    default_import_classification: Mapped[str] = mapped_column(String(20), default=DEFAULT.value,
                                                               server_default=DEFAULT.value)

    projects: Mapped[list[Project]] = relationship(back_populates="organization")
    brands: Mapped[list[Brand]] = relationship(back_populates="organization")


class Project(Base):
    """A set of brands compared together; the DC score is normalized within a project."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    normalization: Mapped[Normalization] = mapped_column(
        Enum(Normalization, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=Normalization.MINMAX,
    )
    # {section name: weight}; a section not listed weighs 1 (default: equal weights).
    section_weights: Mapped[dict] = mapped_column(default=dict)
    scores_computed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Archived: off the pages and lists, data kept (migration 0013); None while live.
    archived_at: Mapped[datetime | None] = mapped_column(default=None)

    organization: Mapped[Organization] = relationship(back_populates="projects")
    members: Mapped[list[ProjectBrand]] = relationship(back_populates="project", cascade="all, delete-orphan")


class Brand(Base):
    __tablename__ = "brands"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Archived: off the pages and lists, data kept (migration 0013); None while live.
    archived_at: Mapped[datetime | None] = mapped_column(default=None)

    organization: Mapped[Organization] = relationship(back_populates="brands")


class ProjectBrand(Base):
    __tablename__ = "project_brands"
    __table_args__ = (CheckConstraint("role in ('own', 'competitor', 'benchmark')", name="role"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20), default=BrandRole.OWN.value)

    project: Mapped[Project] = relationship(back_populates="members")
    brand: Mapped[Brand] = relationship()
