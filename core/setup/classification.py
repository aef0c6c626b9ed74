"""Setting data classification levels (issue 17): an organization's defaults, a metric's or a
section's level (administrators: `framework:manage`), a scenario's level (its owner).

Every change is validated here (one of the four levels, `core.classification.parse`), authorized and
audited as `classification.changed` with the level before and after, so the pages, the API and any
later command line share one rule. `default_level` is what new rows of each kind get.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.classification import DEFAULT, KINDS, Classification, ClassificationError, parse
from core.db import Database
from core.models.metrics import Metric, Section
from core.models.portfolio import Organization
from core.models.work import Scenario
from core.security.audit import Action, record
from core.security.authorizer import authorize, can, deny
from core.security.permissions import Permission
from core.security.principal import Principal

FRAMEWORK_MANAGE = Permission.FRAMEWORK_MANAGE.value
_DEFAULT_COLUMN = {kind: f"default_{kind}_classification" for kind in KINDS}


def default_level(session: Session, organization_id: int | None, kind: str) -> str:
    """The level a new row of `kind` ("metric", "scenario", "import") gets in the organization."""
    if organization_id is None:
        return DEFAULT.value
    column = getattr(Organization, _DEFAULT_COLUMN[kind])
    return session.scalar(select(column).where(Organization.id == int(organization_id))) or DEFAULT.value


def scenario_default(session: Session, principal: Principal, organization_id: int | None) -> str:
    """A new scenario's level: the organization's default, never above what its saver may read
    (else saving would hide the scenario from the person who saved it)."""
    level = parse(default_level(session, organization_id, "scenario"))
    return min(level, principal.clearance, key=lambda item: item.rank).value


def _changed(session: Session, principal: Principal, organization_id: int, target: Any, before: str,
             after: Classification) -> None:
    record(session, Action.CLASSIFICATION_CHANGED, actor=principal, organization_id=organization_id,
           target=target, data={"before": before, "after": after.value})


def set_framework_level(db: Database, principal: Principal, kind: str, item_id: Any, level: Any) -> str:
    """Classify a metric or a section ("metric" / "section"); needs `framework:manage` on its organization.

    Returns the level now stored. An unknown id or one of another organization raises LookupError
    (the caller answers it like any id it may not see); a bad level raises ClassificationError.
    """
    new = parse(level)
    model = {"metric": Metric, "section": Section}.get(kind)
    if model is None:
        raise ClassificationError("only metrics and sections are classified here")
    with db.session() as s:
        row = s.get(model, _as_id(item_id))
        if row is None or (principal.organization_id not in (None, row.organization_id)
                           and not principal.is_system_admin):
            raise LookupError(f"no such {kind}")
        organization_id = row.organization_id
    authorize(principal, FRAMEWORK_MANAGE, ("organization", organization_id))
    with db.session() as s:
        row = s.get(model, _as_id(item_id))
        before = row.classification
        if before != new.value:
            row.classification = new.value
            _changed(s, principal, organization_id, (kind, row.id), before, new)
    return new.value


def set_scenario_level(db: Database, principal: Principal, scenario_id: Any, level: Any) -> str:
    """Classify a scenario: its owner may, within their own clearance (never so high that they lose it).

    A scenario the principal cannot read raises LookupError (the same answer as an unknown id); one
    they read but do not own is refused and audited.
    """
    new = parse(level)
    with db.session() as s:
        scenario = s.get(Scenario, _as_id(scenario_id))
        if scenario is None or not can(principal, Permission.SCENARIO_READ.value, scenario, session=s):
            raise LookupError("no such scenario")
        owner, organization_id, before = scenario.owner_id, scenario.organization_id, scenario.classification
    if owner is None or owner != principal.user_id:
        deny(principal, Permission.SCENARIO_SAVE.value, ("scenario", int(scenario_id)), "only its owner classifies it")
    if new.rank > principal.clearance.rank:
        raise ClassificationError(f"you may classify up to {principal.clearance.value}, the highest level you read")
    with db.session() as s:
        scenario = s.get(Scenario, _as_id(scenario_id))
        if before != new.value:
            scenario.classification = new.value
            _changed(s, principal, organization_id, scenario, before, new)
    return new.value


def _as_id(value: Any) -> int:
    try:
        ident = int(value)
    except (TypeError, ValueError, OverflowError):
        raise LookupError("no such item") from None
    if not 0 < ident <= 2 ** 63 - 1:
        raise LookupError("no such item")
    return ident
