"""Reading one metric's, section's or scenario's data classification (issue 17), for the REST API.

Who may read a level is who may see the item: a metric's or a section's to people who read the
organization's metrics or manage its framework (as `core.setup.framework.framework`), a scenario's
to its readers (`scenario:read`, scope and level: `core.security.authorizer`). An item above the
reader's clearance, of another organization or unknown is one LookupError, so an answer never tells
whether something exists out of sight. Setting levels is `core.setup.classification`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.classification import highest, readable
from core.db import Database
from core.models.metrics import Metric, Platform, Section
from core.models.work import Scenario
from core.security.authorizer import can
from core.security.permissions import Permission
from core.security.principal import Principal
from core.setup.classification import FRAMEWORK_MANAGE, _as_id
from core.setup.framework import reads_metrics_in

KINDS = ("metric", "section", "scenario")


def read_level(db: Database, principal: Principal, kind: str, item_id: Any) -> dict[str, Any]:
    """{kind, id, organization_id, classification (its own), reads_at (what its values read at)}.

    `reads_at` differs from `classification` for a metric of a more sensitive section: its values read
    at the higher of the two. LookupError for anything the principal may not see.
    """
    if kind not in KINDS:
        raise LookupError(f"no such {kind}")
    ident = _as_id(item_id)
    with db.session() as s:
        if kind == "scenario":
            scenario = s.get(Scenario, ident)
            if scenario is None or not can(principal, Permission.SCENARIO_READ.value, scenario, session=s):
                raise LookupError("no such scenario")
            return _answer(kind, scenario.id, scenario.organization_id, scenario.classification,
                           scenario.classification)
        if kind == "metric":
            row = s.execute(select(Metric.organization_id, Metric.classification, Section.classification)
                            .join(Platform, Platform.id == Metric.platform_id)
                            .join(Section, Section.id == Platform.section_id).where(Metric.id == ident)).first()
        else:
            row = s.execute(select(Section.organization_id, Section.classification, Section.classification)
                            .where(Section.id == ident)).first()
        if row is None:
            raise LookupError(f"no such {kind}")
        organization_id, own, section = row
        reads_at = highest((own, section)).value
        sees_framework = (reads_metrics_in(s, principal, organization_id)
                          or can(principal, FRAMEWORK_MANAGE, ("organization", organization_id), session=s))
        if not sees_framework or reads_at not in readable(principal.clearance):
            raise LookupError(f"no such {kind}")
        return _answer(kind, ident, organization_id, own, reads_at)


def _answer(kind: str, ident: int, organization_id: int, own: str, reads_at: str) -> dict[str, Any]:
    return {"kind": kind, "id": int(ident), "organization_id": int(organization_id),
            "classification": own or "internal", "reads_at": reads_at or "internal"}
