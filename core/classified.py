"""What a principal's views of classified data hold and leave out (issue 17).

`core.security.authorizer.level_filter` keeps values above a principal's clearance out of every
query; this module answers the questions around it that pages, reports and the API share, so they
say the same thing: which metrics of an organization a reader is shown (`readable_metric_ids`,
`shown`), how many were left out and at which level ("2 metrics left out: classified confidential",
`left_out`), and the highest level a view contains (`view_level`, the badge every chart, grid and
report carries). DC totals are computed from every metric, so a view that leaves metrics out says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, select

from core.classification import Classification, highest, readable
from core.models.metrics import Metric, Platform, Section
from core.models.portfolio import Brand, Project
from core.read_cache import cached_read
from core.security.principal import Principal


@cached_read(scoped=False)
def metric_levels(conn: Connection, organization_id: int) -> dict[int, str]:
    """Metric id → the level its values read at (the higher of its own and its section's)."""
    rows = conn.execute(select(Metric.id, Metric.classification, Section.classification)
                        .join(Platform, Platform.id == Metric.platform_id)
                        .join(Section, Section.id == Platform.section_id)
                        .where(Section.organization_id == int(organization_id))).all()
    return {int(metric_id): highest((own, section)).value for metric_id, own, section in rows}


def readable_metric_ids(conn: Connection, metric_ids: Iterable[int], clearance: str) -> set[int]:
    """The ones of `metric_ids` a holder of `clearance` may read (unknown ids are left out)."""
    ids = sorted({int(m) for m in metric_ids})
    if not ids:
        return set()
    levels = readable(Classification(clearance))
    rows = conn.execute(select(Metric.id, Metric.classification, Section.classification)
                        .join(Platform, Platform.id == Metric.platform_id)
                        .join(Section, Section.id == Platform.section_id)
                        .where(Metric.id.in_(ids))).all()
    return {int(metric_id) for metric_id, own, section in rows if own in levels and section in levels}


def shown(meta: pd.DataFrame, principal: Principal) -> pd.DataFrame:
    """The rows of a metric catalogue (`core.portfolio.metric_catalogue`) the principal may read."""
    if meta.empty or "classification" not in meta:
        return meta
    return meta[meta["classification"].isin(readable(principal.clearance))]


@dataclass(frozen=True)
class LeftOut:
    """Metrics of an organization left out of a principal's views, counted per level."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def note(self) -> str:
        """"2 metrics left out: classified confidential" ("" when nothing was left out)."""
        if not self.total:
            return ""
        levels = " or ".join(level for level in ("confidential", "restricted") if self.counts.get(level))
        noun = "metric" if self.total == 1 else "metrics"
        them = "it" if self.total == 1 else "them"
        return (f"{self.total} {noun} left out: classified {levels}. DC scores still include {them}; "
                "values, drivers and section scores of classified data are not shown.")


def left_out(conn: Connection, principal: Principal, organization_id: int | None) -> LeftOut:
    """What the principal's views of the organization leave out (nothing for an unknown organization)."""
    if organization_id is None:
        return LeftOut()
    allowed = readable(principal.clearance)
    counts: dict[str, int] = {}
    for level in metric_levels(conn, int(organization_id)).values():
        if level not in allowed:
            counts[level] = counts.get(level, 0) + 1
    return LeftOut(counts)


def view_level(conn: Connection, principal: Principal, organization_id: int | None) -> Classification:
    """The highest level among the organization's metrics the principal is shown: the view's badge.

    A view built from an organization's metric data holds at most this; "internal" at least, since
    scores and names are never public by default.
    """
    if organization_id is None:
        return Classification.INTERNAL
    allowed = readable(principal.clearance)
    levels = [level for level in metric_levels(conn, int(organization_id)).values() if level in allowed]
    return highest([*levels, Classification.INTERNAL.value])


def brand_organization(conn: Connection, brand_id: int) -> int | None:
    """The organization of a brand (None for an unknown one): what a brand view's level is read over."""
    return conn.execute(select(Brand.organization_id).where(Brand.id == int(brand_id))).scalar()


def project_organization(conn: Connection, project_id: int) -> int | None:
    """The organization of a project (None for an unknown one), for views over a project's scores."""
    return conn.execute(select(Project.organization_id).where(Project.id == int(project_id))).scalar()
