"""The getting-started checklist: how far an organization has come from empty to its first plan.

A new customer's organization has users but no data, so every analytic page would open blank. The
portfolio page shows this checklist instead (and the other pages point to it), one step per thing
the organization must bring, in the order they build on each other:

project → brands → metric framework → metric values → spend and revenue → response curves → first plan.

Each step ticks itself off from the database, so there is nothing to mark by hand and nothing to
get out of step: a step is done when its rows exist in the organization (archived projects and
brands do not count). The read model counts only the organization asked about, never another one,
and says for each step whether the principal may act on it (the permission the step's page
checks), so the page offers only actions that would be allowed.

Fitting response curves has no page of its own today: an optimizer run fits the curves of the
brands it plans for when they have none (core.budget_cells), and `python -m core.response_curves
fit` fits one brand at a terminal. The step links to the optimizer and names the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.models import (
    Brand,
    Metric,
    MetricValue,
    Organization,
    Outcome,
    Platform,
    Project,
    ProjectBrand,
    ResponseCurve,
    Section,
    Spend,
)
from core.models.work import Job, Scenario
from core.read_cache import cached_read
from core.security import Principal, authorize, can
from core.security.permissions import Permission

PORTFOLIO_PAGE = "/admin/portfolio"
FRAMEWORK_PAGE = "/admin/framework"
IMPORT_PAGE = "/admin/import"
OPTIMIZER_PAGE = "/optimizer"
FIT_COMMAND = "python -m core.response_curves fit --org {slug} --brand NAME"


@dataclass(frozen=True)
class Step:
    """One step of the checklist as the principal sees it.

    `detail` is a count in words ("3 own and 2 competitor brands"), given only to people who may read
    the whole organization or act on the step; `can_act` says whether the principal holds the
    permission the step's page (`href`) needs, so the page links only actions that would be allowed.
    """

    key: str
    title: str
    done: bool
    href: str
    action: str
    permission: str
    can_act: bool
    detail: str | None = None
    hint: str | None = None


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _if_any(text: str, *counts: int) -> str | None:
    """The count in words, or None while there is nothing to count (an open step needs no "0 …")."""
    return text if any(counts) else None


def _live_brands(organization_id: int):
    return select(Brand.id).where(Brand.organization_id == organization_id, Brand.archived_at.is_(None))


def _framework_counts(conn: Connection, organization_id: int) -> tuple[int, int]:
    """(sections, metrics) of the framework the organization scores with.

    Today the framework is one catalogue for every tenant; once its tables carry an organization
    (issue 14, item 5) only the organization's own rows count, without a change here.
    """
    stmt = (select(func.count(func.distinct(Section.id)), func.count(Metric.id))
            .select_from(Metric).join(Platform, Platform.id == Metric.platform_id)
            .join(Section, Section.id == Platform.section_id))
    for model in (Section, Platform, Metric):
        owner = getattr(model, "organization_id", None)
        if owner is not None:
            stmt = stmt.where(owner == organization_id)
    sections, metrics = conn.execute(stmt).one()
    return int(sections), int(metrics)


@dataclass(frozen=True)
class _Counts:
    slug: str
    projects: int
    own: int
    competitors: int
    sections: int
    metrics: int
    values: int
    valued_brands: int
    latest: date | None
    spend: int
    outcomes: int
    fitted_brands: int
    scenarios: int
    runs: int


@cached_read(scoped=False)
def _data_counts(conn: Connection, organization_id: int) -> tuple:
    """The counts over the analytic tables, kept per data token (every table read here is watched by
    the triggers of migration 0010, so an import, a fit or a new brand shows at the next page load)."""
    brands = _live_brands(organization_id)
    projects = conn.scalar(select(func.count()).select_from(Project).where(
        Project.organization_id == organization_id, Project.archived_at.is_(None))) or 0
    roles = dict(conn.execute(
        select(ProjectBrand.role, func.count(func.distinct(ProjectBrand.brand_id)))
        .join(Project, Project.id == ProjectBrand.project_id)
        .where(Project.organization_id == organization_id, Project.archived_at.is_(None),
               ProjectBrand.brand_id.in_(brands))
        .group_by(ProjectBrand.role)).all())
    sections, metrics = _framework_counts(conn, organization_id)
    values, valued, latest = conn.execute(
        select(func.count(), func.count(func.distinct(MetricValue.brand_id)), func.max(MetricValue.period))
        .where(MetricValue.brand_id.in_(brands))).one()
    spend = conn.scalar(select(func.count()).select_from(Spend).where(Spend.brand_id.in_(brands))) or 0
    outcomes = conn.scalar(select(func.count()).select_from(Outcome).where(Outcome.brand_id.in_(brands))) or 0
    fitted = conn.scalar(select(func.count(func.distinct(ResponseCurve.brand_id)))
                         .where(ResponseCurve.kind == "fitted", ResponseCurve.brand_id.in_(brands))) or 0
    slug = conn.scalar(select(Organization.slug).where(Organization.id == organization_id)) or "SLUG"
    return (slug, int(projects), int(roles.get("own", 0)),
            int(roles.get("competitor", 0)) + int(roles.get("benchmark", 0)), sections, metrics,
            int(values), int(valued), latest, int(spend), int(outcomes), int(fitted))


def _counts(conn: Connection, organization_id: int) -> _Counts:
    """Everything the steps need, each a count over this organization's live rows only.

    Scenarios and job rows are not data-versioned, so their two counts are read fresh each time.
    """
    scenarios = conn.scalar(select(func.count()).select_from(Scenario).where(
        Scenario.organization_id == organization_id, Scenario.status != "archived")) or 0
    runs = conn.scalar(select(func.count()).select_from(Job).where(
        Job.organization_id == organization_id, Job.kind == "optimization", Job.status == "succeeded")) or 0
    return _Counts(*_data_counts(conn, organization_id), int(scenarios), int(runs))


def _acts_in(principal: Principal, permission: str, organization_id: int) -> bool:
    """Whether the principal holds `permission` somewhere in the organization (for project-scoped work)."""
    scopes = principal.scopes(permission)
    if scopes.everywhere or organization_id in scopes.organizations:
        return True
    return principal.organization_id == organization_id and bool(scopes.projects or scopes.brands)


def _brands_detail(c: _Counts) -> str | None:
    if not (c.own or c.competitors):
        return None
    return f"{c.own:,} own and {_plural(c.competitors, 'competitor brand')}" if c.competitors else \
        f"{_plural(c.own, 'own brand')}, no competitors yet"


def _steps(c: _Counts) -> list[tuple[str, str, bool, str, str, str, str | None, str | None]]:
    """(key, title, done, href, action, permission, detail, hint) of every step, in order."""
    manage, framework = Permission.PORTFOLIO_MANAGE.value, Permission.FRAMEWORK_MANAGE.value
    imports, run = Permission.METRICS_IMPORT.value, Permission.SCENARIO_RUN.value
    latest = f", latest {c.latest:%B %Y}" if c.latest else ""
    return [
        ("project", "Create a project", c.projects > 0, PORTFOLIO_PAGE, "Create a project", manage,
         _if_any(_plural(c.projects, "project"), c.projects), "A project is a set of brands compared with each other."),
        ("brands", "Add your brands and competitors", c.own > 0, PORTFOLIO_PAGE, "Add brands", manage,
         _brands_detail(c), "Own brands are the ones you manage; competitors are scored beside them."),
        ("framework", "Set up the metric framework", c.metrics > 0, FRAMEWORK_PAGE, "Set up the framework",
         framework, _if_any(f"{_plural(c.sections, 'section')}, {_plural(c.metrics, 'metric')}", c.metrics),
         "Sections, platforms and metrics, with their weights; start from the default template."),
        ("metrics", "Import metric values", c.values > 0, IMPORT_PAGE + "?kind=metrics", "Import metric values",
         imports,
         _if_any(f"{_plural(c.values, 'value')} for {_plural(c.valued_brands, 'brand')}{latest}", c.values),
         "A CSV or XLSX of brand × metric × month; DC scores are computed when it is committed."),
        ("marketing", "Import spend and revenue", c.spend > 0 and c.outcomes > 0, IMPORT_PAGE + "?kind=marketing",
         "Import spend and revenue", imports,
         _if_any(f"{_plural(c.spend, 'spend row')}, {_plural(c.outcomes, 'revenue row')}", c.spend, c.outcomes),
         "Weekly or monthly spend per channel and revenue per brand, for the response curves."),
        ("curves", "Fit response curves", c.fitted_brands > 0, OPTIMIZER_PAGE, "Open the optimizer", run,
         _if_any(f"curves for {_plural(c.fitted_brands, 'brand')}", c.fitted_brands),
         "An optimizer run fits the curves of the brands it plans for; at a terminal: "
         + FIT_COMMAND.format(slug=c.slug)),
        ("plan", "Make a first plan", c.scenarios > 0 or c.runs > 0, OPTIMIZER_PAGE, "Run the optimizer", run,
         _if_any(f"{_plural(c.runs, 'optimizer run')}, {_plural(c.scenarios, 'saved scenario')}", c.runs,
                 c.scenarios),
         "Split a budget across brands and channels, then save it as a scenario."),
    ]


def getting_started(source: Database | Connection | Session, principal: Principal,
                    organization_id: int | None = None) -> list[Step]:
    """The checklist of `organization_id` (default: the principal's own organization) for `principal`.

    Another organization needs a grant there (a System Administrator); anyone else is refused with
    `Forbidden`, audited. Empty for a principal without an organization who names none, and for an
    unknown or archived organization.
    """
    if isinstance(source, Database):
        with source.engine.connect() as conn:
            return getting_started(conn, principal, organization_id)
    if isinstance(source, Session):
        return getting_started(source.connection(), principal, organization_id)
    org = principal.organization_id if organization_id is None else int(organization_id)
    if org is None:
        return []
    if org != principal.organization_id:
        authorize(principal, Permission.PORTFOLIO_READ.value, ("organization", org))
    if source.scalar(select(Organization.id).where(Organization.id == org, Organization.archived_at.is_(None))) is None:
        return []  # unknown or archived: nothing to set up
    counts = _counts(source, org)
    reads_all = can(principal, Permission.PORTFOLIO_READ.value, ("organization", org))
    steps = []
    for key, title, done, href, action, permission, detail, hint in _steps(counts):
        may = _acts_in(principal, permission, org) if permission == Permission.SCENARIO_RUN.value \
            else can(principal, permission, ("organization", org))
        steps.append(Step(key, title, done, href, action, permission, may,
                          detail if (reads_all or may) else None, hint))
    return steps


def setup_complete(steps: list[Step]) -> bool:
    """Whether every step is done (the checklist then disappears); an empty list counts as complete."""
    return all(step.done for step in steps)
