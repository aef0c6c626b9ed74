"""Creating, listing, pausing and deleting one's report subscriptions, and the one-click unsubscribe.

Every function takes the principal and checks in the data layer: creating needs report:export on the
report's object (core.reports.check, the same check a download makes), the recipient must be an active
member of the owner's organization who may export it too, and only the owner changes or deletes a
subscription (someone else's id is the same SubscriptionNotFound as an unknown one). Bad input raises
SubscriptionError with the reason and writes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, or_, select

from core import reports
from core.db import Database
from core.models import Brand, Organization, Project, ReportSubscription, Scenario, SubscriptionDelivery, User
from core.models.base import utcnow
from core.models.subscriptions import CADENCES, FORMATS, REPORTS
from core.security import Forbidden, Principal, load_principal, record
from core.subscriptions.schedule import next_run, zone
from core.subscriptions.sending import URL_MAX as URL_MAX  # the page's field limit
from core.subscriptions.sending import webhook_url

REPORT_NAMES = {"portfolio": "Executive summary", "brand": "Brand card", "scenario": "Scenario report",
                "compliance": "Compliance report", "alerts": "Alert digest"}
# A compliance report's period when the subscription has not been sent before (core.compliance's default too).
COMPLIANCE_FIRST_DAYS = 30


class SubscriptionError(ValueError):
    """Input a person must fix; nothing was written."""


class SubscriptionNotFound(LookupError):
    """No such subscription of this person (unknown, or somebody else's)."""


@dataclass(frozen=True)
class SubscriptionInput:
    report: str
    target_id: int
    project_id: int | None
    format: str
    cadence: str
    hour: int
    timezone: str
    email: bool
    webhook_url: str | None
    recipient_id: int | None


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise SubscriptionError(f"{what}: choose one of {', '.join(allowed)}")
    return str(value)


def _whole(value: Any, what: str, low: int, high: int, *, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise SubscriptionError(f"{what} is required")
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SubscriptionError(f"{what}: expected a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise SubscriptionError(f"{what}: expected {low} to {high}, not {number}")
    return number


def check_webhook(url: Any) -> str | None:
    """An http(s) URL with a host and no credentials, or None when empty; SubscriptionError says why not."""
    try:
        return webhook_url(url)
    except ValueError as exc:
        raise SubscriptionError(f"webhook URL: {exc}") from None


def read_input(raw: dict[str, Any]) -> SubscriptionInput:
    """The form or API body as checked values; SubscriptionError names the first bad field."""
    report = _choice(raw.get("report"), tuple(r for r in REPORTS if r != "alerts"), "report")
    try:
        tz = zone(raw.get("timezone") or "").key
    except ValueError as exc:
        raise SubscriptionError(str(exc)) from None
    data = SubscriptionInput(
        report=report, target_id=_whole(raw.get("target_id"), "report target", 1, 2**31 - 1),
        project_id=_whole(raw.get("project_id"), "project", 1, 2**31 - 1, required=report == "brand"),
        format=_choice(raw.get("format"), FORMATS, "format"), cadence=_choice(raw.get("cadence"), CADENCES, "cadence"),
        hour=_whole(raw.get("hour"), "hour", 0, 23), timezone=tz, email=bool(raw.get("email", True)),
        webhook_url=check_webhook(raw.get("webhook_url")),
        recipient_id=_whole(raw.get("recipient_id"), "recipient", 1, 2**31 - 1, required=False))
    if not data.email and not data.webhook_url:
        raise SubscriptionError("choose e-mail, a webhook or both: otherwise nothing would be sent")
    return data


def report_params(report: str, target_id: int, project_id: int | None) -> dict[str, Any]:
    """The core.reports parameters of a subscription's target."""
    if report == "compliance":
        return {"organization_id": target_id}
    if report == "portfolio":
        return {"project_ids": [target_id]}
    if report == "brand":
        return {"brand_id": target_id, "project_id": project_id}
    return {"scenario_id": target_id}


def _recipient(db: Database, principal: Principal, recipient_id: int | None) -> int:
    if recipient_id is None or recipient_id == principal.user_id:
        return int(principal.user_id)
    with db.session() as s:
        user = s.get(User, recipient_id)
        ok = user is not None and user.is_active and user.erased_at is None \
            and user.organization_id == principal.organization_id
    if not ok:
        raise SubscriptionError("recipient: choose an active member of your organization")
    return recipient_id


def create_subscription(db: Database, principal: Principal, raw: dict[str, Any]) -> int:
    """Check and store a subscription owned by the principal; its id. Forbidden when the owner may not export it."""
    data = read_input(raw)
    params = report_params(data.report, data.target_id, data.project_id)
    try:
        reports.check(db, principal, data.report, params, data.format)  # Forbidden propagates
    except ValueError as exc:
        raise SubscriptionError(str(exc)) from None
    recipient = _recipient(db, principal, data.recipient_id)
    if recipient != principal.user_id:
        try:
            reports.check(db, load_principal(db, recipient), data.report, params, data.format)
        except (Forbidden, ValueError):
            raise SubscriptionError("recipient: this person may not export this report") from None
    now = utcnow()
    with db.session() as s:
        row = ReportSubscription(
            organization_id=principal.organization_id, owner_id=principal.user_id, recipient_id=recipient,
            report=data.report, target_id=data.target_id,
            project_id=data.project_id if data.report == "brand" else None,
            format=data.format, cadence=data.cadence, hour=data.hour, timezone=data.timezone, email=data.email,
            webhook_url=data.webhook_url, active=True, unsubscribe_nonce=secrets.token_hex(16),
            next_run_at=next_run(data.cadence, data.hour, data.timezone, now))
        s.add(row)
        s.flush()
        record(s, "subscription.create", actor=principal, organization_id=principal.organization_id,
               target=("report_subscription", row.id), data={"report": data.report, "cadence": data.cadence})
        return row.id


def target_label(s: Any, report: str, target_id: int, project_id: int | None) -> str:
    """What a subscription sends, in words ("Brand card: Aurora (Project North)")."""
    if report == "portfolio":
        name = s.scalar(select(Project.name).where(Project.id == target_id))
    elif report == "brand":
        brand = s.scalar(select(Brand.name).where(Brand.id == target_id))
        project = s.scalar(select(Project.name).where(Project.id == project_id))
        name = f"{brand} ({project})" if brand else None
    elif report in ("compliance", "alerts"):
        name = s.scalar(select(Organization.name).where(Organization.id == target_id))
    else:
        name = s.scalar(select(Scenario.name).where(Scenario.id == target_id))
    return f"{REPORT_NAMES[report]}: {name or f'#{target_id} (no longer there)'}"


def describe(s: Any, row: ReportSubscription) -> str:
    """The subscription in one sentence (the unsubscribe page and the notifications)."""
    shape = "" if row.format == "html" else f" as {row.format.upper()}"  # the alert digest is the mail itself
    return (f"{target_label(s, row.report, row.target_id, row.project_id)}{shape}, "
            f"{row.cadence} at {row.hour:02d}:00 {row.timezone}")


def compliance_start(s: Any, subscription_id: int, today: date) -> date:
    """Where a compliance delivery's period starts: the day of the subscription's previous sent delivery (that
    day again: an event late that day is not missed), else COMPLIANCE_FIRST_DAYS back; at most a year."""
    previous = s.scalar(select(func.max(SubscriptionDelivery.finished_at)).where(
        SubscriptionDelivery.subscription_id == subscription_id, SubscriptionDelivery.status == "sent"))
    start = previous.date() if previous is not None else today - timedelta(days=COMPLIANCE_FIRST_DAYS - 1)
    return min(max(start, today - timedelta(days=365)), today)


def list_subscriptions(db: Database, principal: Principal) -> list[dict[str, Any]]:
    """The principal's subscriptions: the ones they own and the ones they receive, newest first."""
    me = principal.user_id
    with db.session() as s:
        rows = s.scalars(select(ReportSubscription).where(or_(ReportSubscription.owner_id == me,
                                                               ReportSubscription.recipient_id == me))
                         .order_by(ReportSubscription.created_at.desc(), ReportSubscription.id.desc())).all()
        emails = dict(s.execute(select(User.id, User.email).where(
            User.id.in_({r.recipient_id for r in rows} | {r.owner_id for r in rows}))).all())
        return [{"id": r.id, "report": r.report, "what": target_label(s, r.report, r.target_id, r.project_id)
                 + ("" if r.format == "html" else f" ({r.format.upper()})"),
                 "when": f"{r.cadence} at {r.hour:02d}:00 {r.timezone}", "recipient": emails.get(r.recipient_id, ""),
                 "owner": emails.get(r.owner_id, ""), "mine": r.owner_id == me,
                 "status": ("active" if r.active else "stopped: " + (r.stopped_reason or "paused")) + " · by "
                 + " and ".join(c for c, on in (("e-mail", r.email), ("webhook", bool(r.webhook_url))) if on),
                 "next_run_at": r.next_run_at.isoformat() if r.active else ""} for r in rows]


def _owned(s: Any, principal: Principal, subscription_id: Any) -> ReportSubscription:
    try:
        row = s.get(ReportSubscription, int(subscription_id))
    except (TypeError, ValueError):
        row = None
    if row is None or row.owner_id != principal.user_id:
        raise SubscriptionNotFound("no such subscription of yours")
    return row


def set_active(db: Database, principal: Principal, subscription_id: Any, active: bool) -> None:
    """Pause or resume the principal's own subscription; a resumed one is next due from now, not from before."""
    with db.session() as s:
        row = _owned(s, principal, subscription_id)
        row.active, row.stopped_reason = bool(active), None if active else "paused by its owner"
        if active:
            row.next_run_at = next_run(row.cadence, row.hour, row.timezone, utcnow())
        record(s, "subscription.resume" if active else "subscription.pause", actor=principal,
               organization_id=row.organization_id, target=("report_subscription", row.id))


def delete_subscription(db: Database, principal: Principal, subscription_id: Any) -> None:
    """Delete the principal's own subscription and its delivery log."""
    with db.session() as s:
        row = _owned(s, principal, subscription_id)
        record(s, "subscription.delete", actor=principal, organization_id=row.organization_id,
               target=("report_subscription", row.id))
        s.execute(delete(ReportSubscription).where(ReportSubscription.id == row.id))


def _signer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="digicadence.unsubscribe")


def unsubscribe_token(secret_key: str, subscription_id: int, nonce: str) -> str:
    """The signed token of a subscription's one-click unsubscribe link."""
    return _signer(secret_key).dumps([int(subscription_id), nonce])


def unsubscribe(db: Database, secret_key: str, token: str) -> str | None:
    """Stop the subscription the signed token names; what was stopped, in words, or None for a bad token.

    Works without sign-in: the signature is the proof. Stopping an already stopped one says so again.
    """
    try:
        subscription_id, nonce = _signer(secret_key).loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    with db.session() as s:
        row = s.get(ReportSubscription, subscription_id) if isinstance(subscription_id, int) else None
        if row is None or not secrets.compare_digest(str(nonce), row.unsubscribe_nonce):
            return None
        recipient = s.scalar(select(User.email).where(User.id == row.recipient_id)) or "the recipient"
        if row.active:
            row.active, row.stopped_reason = False, "unsubscribed by its recipient"
            record(s, "subscription.unsubscribe", organization_id=row.organization_id,
                   target=("report_subscription", row.id))
        return f"{describe(s, row)}, sent to {recipient}"
