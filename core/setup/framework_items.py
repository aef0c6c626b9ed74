"""Framework items as a page names them: "section:3", "platform:7", "metric:42".

The framework page offers one dropdown of an organization's sections, platforms and metrics; these
helpers tell which organization such an item belongs to (for the callback's object check) and how
many imported values removing it would delete (so the page can ask before it passes
`discard_values=True` to core.setup.framework). The changes themselves stay in that module.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db import Database
from core.models import Metric, Platform, Section
from core.security.authorizer import authorize
from core.security.principal import Principal
from core.setup.framework import FRAMEWORK_MANAGE, _mine, _values_of
from core.setup.framework_rules import NotInFramework

MODELS = {"section": Section, "platform": Platform, "metric": Metric}


def parse_item(item: Any) -> tuple[str, int] | None:
    """("metric", 42) for "metric:42"; None for anything else (a forged value from a browser)."""
    kind, _, ident = str(item or "").partition(":")
    if kind not in MODELS or not ident.isdigit() or not 0 < int(ident) < 2**31:
        return None
    return kind, int(ident)


def item_value(kind: str, ident: int) -> str:
    return f"{kind}:{int(ident)}"


def organization_of(db: Database, item: Any) -> int | None:
    """The organization whose framework holds the item, or None (no such item)."""
    parsed = parse_item(item)
    if parsed is None:
        return None
    kind, ident = parsed
    with db.session() as s:
        row = s.get(MODELS[kind], ident)
        if row is None:
            return None
        return row.section.organization_id if isinstance(row, Platform) else row.organization_id


def values_held(db: Database, principal: Principal, organization_id: int, item: Any) -> int:
    """How many imported metric values removing the item would delete (framework:manage checked)."""
    organization_id = int(organization_id)
    authorize(principal, FRAMEWORK_MANAGE, ("organization", organization_id))
    parsed = parse_item(item)
    if parsed is None:
        raise NotInFramework("item")
    kind, ident = parsed
    with db.session() as s:
        row = _mine(s, MODELS[kind], ident, organization_id, kind)
        if isinstance(row, Metric):
            ids = [row.id]
        elif isinstance(row, Platform):
            ids = list(s.scalars(select(Metric.id).where(Metric.platform_id == row.id)))
        else:
            ids = list(s.scalars(select(Metric.id).join(Platform, Metric.platform_id == Platform.id)
                                 .where(Platform.section_id == row.id)))
        return _values_of(s, ids)
