"""An organization built up step by step for the getting-started checklist's tests (issue 14, item 8).

Rows are written directly, as the imports, fits and runs of a customer would leave them, so each
test can stop at any step; the integration tests and the browser test share it.
"""

from __future__ import annotations

from datetime import date, datetime

from core.models import (
    Brand,
    Channel,
    DCScore,
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
from core.models.security import RoleGrant, User
from core.models.work import Job, Scenario
from core.security.crypto import SecretBox
from core.security.grants import ensure_builtin_roles
from core.security.passwords import hash_password
from tests.support import DEMO_PASSWORD, DEMO_TOTP

MONTH = date(2026, 9, 1)


def organization(db, name: str) -> int:
    with db.session() as s:
        org = Organization(name=name, slug=name.lower().replace(" ", "-"))
        s.add(org)
        s.flush()
        return org.id


def add_user(db, organization_id: int, role: str, email: str, *, box: SecretBox | None = None) -> int:
    """A user of the organization holding `role` on the whole organization (MFA set when `box` is given)."""
    with db.session() as s:
        roles = ensure_builtin_roles(s)
        user = User(email=email, name=role, organization_id=organization_id,
                    password_hash=hash_password(DEMO_PASSWORD, 4))
        if box is not None:
            user.mfa_secret_encrypted, user.mfa_enabled = box.encrypt(DEMO_TOTP), True
        s.add(user)
        s.flush()
        s.add(RoleGrant(user_id=user.id, role_id=roles[role].id, scope_type="organization", scope_id=organization_id))
        return user.id


class Builder:
    """Adds one organization's setup, step by step, as a customer's imports and runs would."""

    def __init__(self, db, organization_id: int) -> None:
        self.db, self.org = db, organization_id
        self.ids: dict[str, int] = {}

    def project(self, name: str = "Snacks", archived: bool = False) -> int:
        with self.db.session() as s:
            p = Project(organization_id=self.org, name=name, archived_at=datetime(2026, 1, 1) if archived else None)
            s.add(p)
            s.flush()
            self.ids["project"] = p.id
            return p.id

    def brands(self) -> None:
        with self.db.session() as s:
            own = [Brand(organization_id=self.org, name=f"Own {i} of {self.org}") for i in range(3)]
            rivals = [Brand(organization_id=self.org, name=f"Rival {i} of {self.org}") for i in range(2)]
            s.add_all(own + rivals)
            s.flush()
            for b in own:
                s.add(ProjectBrand(project_id=self.ids["project"], brand_id=b.id, role="own"))
            for b in rivals:
                s.add(ProjectBrand(project_id=self.ids["project"], brand_id=b.id, role="competitor"))
            self.ids["brand"] = own[0].id
            self.ids["rival"] = rivals[0].id

    def framework(self) -> None:
        with self.db.session() as s:
            section = Section(organization_id=self.org, name="Marketplace", position=1)
            s.add(section)
            s.flush()
            platform = Platform(section_id=section.id, name="Amazon")
            s.add(platform)
            s.flush()
            metric = Metric(organization_id=self.org, platform_id=platform.id, code="amazon_rating", name="Rating")
            s.add(metric)
            s.flush()
            self.ids["metric"] = metric.id

    def metric_values(self) -> None:
        with self.db.session() as s:
            for brand in (self.ids["brand"], self.ids["rival"]):
                s.add(MetricValue(brand_id=brand, metric_id=self.ids["metric"], period=MONTH, raw_value=4.2))

    def spend(self) -> None:
        with self.db.session() as s:
            channel = Channel(organization_id=self.org, name="Search")
            s.add(channel)
            s.flush()
            self.ids["channel"] = channel.id
            s.add(Spend(brand_id=self.ids["brand"], channel_id=channel.id, period=MONTH, granularity="month",
                        amount=1000.0))

    def outcomes(self) -> None:
        with self.db.session() as s:
            s.add(Outcome(brand_id=self.ids["brand"], period=MONTH, granularity="month", revenue=5000.0))

    def curve(self, kind: str = "fitted") -> None:
        with self.db.session() as s:
            s.add(ResponseCurve(brand_id=self.ids["brand"], channel_id=self.ids["channel"], kind=kind, params={}))

    def scenario(self) -> None:
        with self.db.session() as s:
            s.add(Scenario(organization_id=self.org, project_id=self.ids["project"], name="First plan", kind="budget"))

    def optimizer_run(self, status: str = "succeeded") -> None:
        with self.db.session() as s:
            s.add(Job(id=f"run-{self.org}-{status}", organization_id=self.org, kind="optimization", status=status,
                      payload={}))

    def scores(self) -> None:
        with self.db.session() as s:
            s.add(DCScore(project_id=self.ids["project"], period=MONTH, brand_id=self.ids["brand"], level="total",
                          node_id=0, score=61.0, coverage=1.0))

    def everything(self) -> None:
        self.project()
        self.brands()
        self.framework()
        self.metric_values()
        self.spend()
        self.outcomes()
        self.curve()
        self.scenario()
