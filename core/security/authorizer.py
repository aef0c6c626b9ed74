"""The one authorizer and the one scope filter.

`authorize(principal, permission, obj)` raises `Forbidden` (and audits the denial);
`can(...)` answers the same question as a bool, for deciding what to show. `scope_filter`
turns the same rules into a SQL WHERE clause, so list queries return exactly the rows `can`
would allow. Both read `Principal.scopes`, and the rules per kind of object are:

- Organization: a grant at system scope, or at that organization.
- Project: system, its organization, or the project itself.
- Brand (and rows keyed by brand: metric values, spend, outcomes, …): system, its organization,
  a project the brand belongs to, or the brand itself.
- Market data: a competitor brand of a project, its metric values and its DC scores in that project
  are also readable (MARKET_READ) through a grant on one of the project's own brands; nothing else
  keyed by the competitor (spend, outcomes, curves, …) is.
- DC score: system, its project's organization, its project, or a grant on its brand itself
  (a project grant does not reveal the brand's scores inside other projects).
- Scenario: system, its organization, its project; its owner also keeps read/run/save/export on
  it while holding that permission anywhere in the organization.
- User, AuditEvent, custom Role: system or their organization (rows without one: system only).
- Channel (each organization's own catalogue): system, its organization, or a grant on a project or
  brand of that organization (whoever sees a brand's spend sees its organization's channel names).
- Classification (issue 17, `level_filter`): on top of the above, metric values, section and platform
  scores and scenarios classified above the principal's clearance are not there at all (a scenario
  above it is refused like one out of scope); a metric reads at the higher of its and its section's level.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true, tuple_
from sqlalchemy.orm import Session

from core.classification import Classification, readable
from core.models.alerts import Alert
from core.models.marketing import Channel
from core.models.metrics import DCScore, Metric, MetricValue, Platform, Section
from core.models.portfolio import Brand, Organization, Project
from core.models.security import AuditEvent, Role, User
from core.models.work import ImportBatch, Scenario
from core.read_cache import cached_under
from core.security.audit import Action, record
from core.security.permissions import Permission
from core.security.principal import Principal, ScopeSet

# What a scenario's owner keeps on it without an organization or project grant.
OWNER_PERMISSIONS = frozenset({Permission.SCENARIO_READ.value, Permission.SCENARIO_RUN.value,
                               Permission.SCENARIO_SAVE.value, Permission.REPORT_EXPORT.value})

MAX_ID = 2 ** 63 - 1  # the largest id a BIGINT (and SQLite's INTEGER) can hold
KINDS: dict[str, type] = {
    "organization": Organization, "project": Project, "brand": Brand, "scenario": Scenario,
    "user": User, "audit_event": AuditEvent, "role": Role,
}


class Forbidden(PermissionError):
    """The principal lacks `permission` on `target`. Show users a generic message, not this one."""

    def __init__(self, permission: str, target: Any, reason: str = "not permitted") -> None:
        super().__init__(f"{permission} on {_describe(target)}: {reason}")
        self.permission = permission
        self.target = target
        self.reason = reason


def _describe(target: Any) -> str:
    if isinstance(target, tuple):
        return f"{target[0]} {target[1]}"
    return f"{type(target).__name__} {getattr(target, 'id', '?')}"


def _brand_and_project_grants(principal: Principal, brand_id: int) -> frozenset[str]:
    perms: set[str] = set(principal.brands.get(brand_id, ()))
    for project_id, brand_ids in principal.project_brands.items():
        if brand_id in brand_ids:
            perms |= principal.projects.get(project_id, frozenset())
    return frozenset(perms)


def _in_org(principal: Principal, organization_id: int | None) -> frozenset[str]:
    return principal.organizations.get(organization_id, frozenset()) if organization_id is not None else frozenset()


def permissions_for(principal: Principal, obj: Any, *, session: Session | None = None) -> frozenset[str]:
    """Every permission the principal holds on `obj` (a model object or a (kind, id) pair)."""
    if isinstance(obj, tuple):
        obj = _resolve(principal, obj, session)
        if obj is None or obj == "system":
            return principal.system
    held = set(principal.system)
    if isinstance(obj, Organization):
        held |= _in_org(principal, obj.id)
    elif isinstance(obj, Project):
        held |= _in_org(principal, obj.organization_id) | principal.projects.get(obj.id, frozenset())
    elif isinstance(obj, Brand):
        held |= _in_org(principal, obj.organization_id) | _brand_and_project_grants(principal, obj.id)
        held |= principal.market_permissions(obj.id)
    elif isinstance(obj, Scenario):
        if not _level_readable(principal, obj.classification):
            return frozenset()  # above the clearance: as if it were out of scope
        held |= _in_org(principal, obj.organization_id)
        if obj.project_id is not None:
            held |= principal.projects.get(obj.project_id, frozenset())
        if obj.owner_id is not None and obj.owner_id == principal.user_id \
                and obj.organization_id == principal.organization_id:
            held |= OWNER_PERMISSIONS & principal.all_permissions
    elif isinstance(obj, User | AuditEvent | Role):
        held |= _in_org(principal, obj.organization_id)
    else:
        raise TypeError(f"no authorization rule for {type(obj).__name__}")
    return frozenset(held)


def _resolve(principal: Principal, pair: tuple[str, Any], session: Session | None) -> Any:
    """Load the object a (kind, id) pair names; None when it does not exist."""
    kind, ident = pair
    if kind == "system":
        return "system"
    return _resolve_many(principal, kind, [ident], session)[0]


def _valid_id(ident: Any) -> int | None:
    """A browser's id as a row id, or None: a forged id is simply not found, and a number no BIGINT
    holds is not sent to the database (it would refuse it: a 500, not a 403)."""
    try:
        ident = int(ident)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        return None
    return ident if 0 < ident <= MAX_ID else None


# Kinds whose rule needs only the id and the organization, from tables that move the data token
# (migration 0010): resolved with one query per call and kept under the principal's token.
_OWNED_BY_ORGANIZATION = {"project": Project, "brand": Brand}


def _resolve_many(principal: Principal, kind: str, idents: list[Any], session: Session | None) -> list[Any]:
    """The objects several ids of one kind name, in order (None where none exists): one query."""
    if kind not in KINDS:
        raise TypeError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)} or 'system'")
    ids = [_valid_id(ident) for ident in idents]
    wanted = sorted({i for i in ids if i is not None})
    if kind == "organization":
        return [Organization(id=i) if i is not None else None for i in ids]  # the rule needs only the id
    if not wanted:
        return [None] * len(ids)
    model = KINDS[kind]
    if session is not None:  # the caller's unit of work: what it added or changed counts
        found = {i: session.get(model, i) for i in wanted}
    elif principal.db is None:
        raise ValueError("a (kind, id) pair needs a session or a principal built from the database")
    elif kind in _OWNED_BY_ORGANIZATION:
        owners = cached_under(principal.db.engine, principal.data_token, f"authorizer.{kind}_owners",
                              tuple(wanted), lambda: _owners(principal.db, model, wanted))
        found = {i: model(id=i, organization_id=org) for i, org in owners.items()}
    else:
        with principal.db.session() as own:
            found = {row.id: row for row in own.scalars(select(model).where(model.id.in_(wanted)))}
            own.expunge_all()
    return [found.get(i) if i is not None else None for i in ids]


def _owners(db: Any, model: Any, ids: list[int]) -> dict[int, int]:
    """Id → organization of the rows of `model` among `ids` (the missing ones are left out)."""
    with db.engine.connect() as conn:
        return dict(conn.execute(select(model.id, model.organization_id).where(model.id.in_(ids))).all())


def authorize_each(principal: Principal, permission: str, kind: str, idents: list[Any]) -> None:
    """`authorize` on every (kind, id) of a list at once (a callback's ids: one query per kind, and
    none for projects and brands while the principal's data token holds); denials audited each."""
    if kind == "system":
        objects: list[Any] = ["system"] * len(idents)
    else:
        objects = _resolve_many(principal, kind, list(idents), None)
    for ident, obj in zip(idents, objects, strict=True):
        held = principal.system if obj is None or obj == "system" else permissions_for(principal, obj)
        if str(permission) not in held:
            deny(principal, permission, (kind, ident))


def can(principal: Principal, permission: str, obj: Any, *, session: Session | None = None) -> bool:
    """Whether the principal may; for showing or hiding things. Not audited."""
    return str(permission) in permissions_for(principal, obj, session=session)


def authorize(principal: Principal, permission: str, obj: Any, *, session: Session | None = None) -> None:
    """Raise `Forbidden` unless the principal holds `permission` on `obj`; every denial is audited.

    The denial is written in its own transaction (the caller's rolls back on the exception). On
    SQLite call this before writing in the same unit of work, or the audit write waits for it.
    """
    if can(principal, permission, obj, session=session):
        return
    deny(principal, permission, obj)


def deny(principal: Principal, permission: str, obj: Any, reason: str = "not permitted") -> None:
    """Audit a refusal and raise `Forbidden` (for checks beyond a single permission, e.g. escalation)."""
    if principal.db is not None:
        record(principal.db, Action.ACCESS_DENIED, actor=principal.user_id,
               organization_id=principal.organization_id, target=obj if obj != "system" else ("system", None),
               data={"permission": str(permission), "reason": reason})
    raise Forbidden(str(permission), obj, reason)


def _level_readable(principal: Principal, level: str | None) -> bool:
    return (level or Classification.INTERNAL.value) in readable(principal.clearance)


def level_filter(principal: Principal, model: Any) -> ColumnElement[bool]:
    """WHERE clause keeping the rows of `model` whose classification the principal may read.

    The one statement of the classification rule for queries: `scope_filter` adds it for metric
    values, DC scores, scenarios and alerts; readers of the framework (`Metric`, `Section`) and of import
    batches add it themselves. Someone cleared for restricted data gets no extra clause at all.
    """
    if principal.clearance is Classification.RESTRICTED:
        return true()
    levels = readable(principal.clearance)
    sections = select(Section.id).where(Section.classification.in_(levels))
    if model is Section:
        return Section.classification.in_(levels)
    if model is Metric:
        platforms = select(Platform.id).where(Platform.section_id.in_(sections))
        return and_(Metric.classification.in_(levels), Metric.platform_id.in_(platforms))
    if model is MetricValue:
        return MetricValue.metric_id.in_(select(Metric.id).where(level_filter(principal, Metric)))
    if model is DCScore:  # a section's and its platforms' scores are data of the section's level
        platforms = select(Platform.id).where(Platform.section_id.in_(sections))
        return or_(DCScore.level == "total", and_(DCScore.level == "section", DCScore.node_id.in_(sections)),
                   and_(DCScore.level == "platform", DCScore.node_id.in_(platforms)))
    if model in (Scenario, ImportBatch, Alert):
        return model.classification.in_(levels)
    raise TypeError(f"no classification rule for {getattr(model, '__name__', model)}")


def scope_filter(principal: Principal, permission: str, model: Any) -> ColumnElement[bool]:
    """WHERE clause keeping the rows of `model` on which the principal holds `permission` (and, for
    classified rows, whose level the principal may read: `level_filter`)."""
    clause = _scope_filter(principal, permission, model)
    if model in (MetricValue, DCScore, Scenario, Alert) \
            and principal.clearance is not Classification.RESTRICTED:
        return and_(clause, level_filter(principal, model))
    return clause


def _scope_filter(principal: Principal, permission: str, model: Any) -> ColumnElement[bool]:
    s = principal.scopes(str(permission))
    if s.everywhere:
        return true()
    if model is Organization:
        return _any(Organization.id.in_(s.organizations) if s.organizations else None)
    if model is Project:
        return _any(Project.organization_id.in_(s.organizations) if s.organizations else None,
                    Project.id.in_(s.projects) if s.projects else None)
    if model is Brand:
        return _any(Brand.organization_id.in_(s.organizations) if s.organizations else None,
                    Brand.id.in_(s.brands | s.market_brands) if s.brands or s.market_brands else None)
    if model is DCScore:
        org_projects = select(Project.id).where(Project.organization_id.in_(s.organizations))
        return _any(DCScore.project_id.in_(org_projects) if s.organizations else None,
                    DCScore.project_id.in_(s.projects) if s.projects else None,
                    DCScore.brand_id.in_(s.direct_brands) if s.direct_brands else None,
                    tuple_(DCScore.project_id, DCScore.brand_id).in_(sorted(s.market_pairs)) if s.market_pairs
                    else None)
    if model is MetricValue and s.market_brands:  # market data: competitors' metric values
        return _any(_brand_keyed(s, MetricValue.brand_id), MetricValue.brand_id.in_(s.market_brands))
    if model is Scenario:
        owner = None
        if str(permission) in OWNER_PERMISSIONS & principal.all_permissions and principal.user_id is not None:
            owner = and_(Scenario.owner_id == principal.user_id, Scenario.organization_id == principal.organization_id)
        return _any(Scenario.organization_id.in_(s.organizations) if s.organizations else None,
                    Scenario.project_id.in_(s.projects) if s.projects else None, owner)
    if model in (User, AuditEvent, Role):
        return _any(model.organization_id.in_(s.organizations) if s.organizations else None)
    if model is Channel:
        brand_orgs = select(Brand.organization_id).where(Brand.id.in_(s.brands))
        return _any(Channel.organization_id.in_(s.organizations) if s.organizations else None,
                    Channel.organization_id.in_(brand_orgs) if s.brands else None)
    brand_id = getattr(model, "brand_id", None)
    if brand_id is not None:
        return _brand_keyed(s, brand_id)
    raise TypeError(f"no scope rule for {getattr(model, '__name__', model)}")


def _brand_keyed(s: ScopeSet, brand_id: Any) -> ColumnElement[bool]:
    """Rows keyed by brand: the brands of the organizations, projects and brands granted (no market data)."""
    org_brands = select(Brand.id).where(Brand.organization_id.in_(s.organizations))
    return _any(brand_id.in_(org_brands) if s.organizations else None,
                brand_id.in_(s.brands) if s.brands else None)


def _any(*clauses: ColumnElement[bool] | None) -> ColumnElement[bool]:
    present = [c for c in clauses if c is not None]
    return or_(*present) if present else false()


def visible(principal: Principal, permission: str, model: Any):
    """`select(model)` narrowed by the scope filter — the usual way to list rows."""
    return select(model).where(scope_filter(principal, permission, model))
