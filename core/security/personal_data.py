"""The person's own data: what a download of it holds, and what erasing them removes.

Kept apart from the accounts service (which checks who may act and audits it) so the two rights
the privacy rules give a person are stated in one short module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from core.models.security import AccountToken, AuditEvent, PasswordHistory, Role, RoleGrant, SecurityKey, User
from core.models.security_alerts import SecurityAlert, SecurityKnownNetwork
from core.models.sso import SSOIdentity
from core.models.subscriptions import ReportSubscription
from core.security import mfa
from core.security.audit import blank_personal, iso_utc
from core.security.role_names import role_label


def _when(moment: datetime | None) -> str | None:
    return iso_utc(moment) if moment is not None else None


def export(session: Session, user: User) -> dict[str, Any]:
    """Everything stored about the person, as a JSON-able dict (profile, grants, own events)."""
    grants = session.execute(select(RoleGrant, Role).join(Role, Role.id == RoleGrant.role_id)
                             .where(RoleGrant.user_id == user.id).order_by(RoleGrant.id)).all()
    events = session.scalars(select(AuditEvent).where(
        (AuditEvent.actor_id == user.id)
        | ((AuditEvent.target_type == "user") & (AuditEvent.target_id == str(user.id)))
    ).order_by(AuditEvent.id)).all()
    return {
        "profile": {
            "id": user.id, "email": user.email, "name": user.name, "organization_id": user.organization_id,
            "is_active": user.is_active, "created_at": _when(user.created_at),
            "last_sign_in_at": _when(user.last_sign_in_at),
            "password_changed_at": _when(user.password_changed_at),
            "must_change_password": user.must_change_password, "mfa_enabled": user.mfa_enabled,
            "erased_at": _when(user.erased_at),
        },
        "grants": [{"role": role_label(role.name, role.is_builtin and role.organization_id is None),
                    "permissions": sorted(role.permissions or []),
                    "scope_type": grant.scope_type, "scope_id": grant.scope_id,
                    "granted_at": _when(grant.created_at)} for grant, role in grants],
        "security_keys": [{"name": k.name, "passkey": k.is_passkey, "created_at": _when(k.created_at),
                           "last_used_at": _when(k.last_used_at)} for k in session.scalars(
            select(SecurityKey).where(SecurityKey.user_id == user.id).order_by(SecurityKey.id))],
        "company_accounts": [{"issuer": i.issuer, "subject": i.subject, "linked_at": _when(i.created_at),
                              "last_seen_at": _when(i.last_seen_at)} for i in session.scalars(
            select(SSOIdentity).where(SSOIdentity.user_id == user.id).order_by(SSOIdentity.created_at))],
        # Report subscriptions the person made or receives (their webhook address included).
        "report_subscriptions": [{"id": r.id, "owner": r.owner_id == user.id, "recipient": r.recipient_id == user.id,
                                  "report": r.report, "target_id": r.target_id, "project_id": r.project_id,
                                  "format": r.format, "cadence": r.cadence, "hour": r.hour, "timezone": r.timezone,
                                  "email": r.email, "webhook_url": r.webhook_url, "active": r.active,
                                  "created_at": _when(r.created_at)} for r in session.scalars(
            select(ReportSubscription).where((ReportSubscription.owner_id == user.id)
                                             | (ReportSubscription.recipient_id == user.id))
            .order_by(ReportSubscription.id))],
        # Security alerts about the person (core.security_alerts) and the networks they signed in from.
        "security_alerts": [{"id": a.id, "kind": a.kind, "title": a.title, "detail": a.detail,
                             "occurred_at": _when(a.occurred_at)} for a in session.scalars(
            select(SecurityAlert).where(SecurityAlert.user_id == user.id).order_by(SecurityAlert.id))],
        "sign_in_networks": [{"network": n.network, "first_seen_at": _when(n.first_seen_at),
                              "last_seen_at": _when(n.last_seen_at)} for n in session.scalars(
            select(SecurityKnownNetwork).where(SecurityKnownNetwork.user_id == user.id)
            .order_by(SecurityKnownNetwork.first_seen_at))],
        "audit_events": [{"id": e.id, "action": e.action, "created_at": _when(e.created_at),
                          "actor_id": e.actor_id, "target_type": e.target_type, "target_id": e.target_id,
                          "data": e.data, "personal": e.personal} for e in events],
    }


def erase(session: Session, user: User, now: datetime) -> dict[str, int]:
    """Right to erasure: pseudonymize the row, drop credentials, grants and the report subscriptions the
    person made or receives, blank `personal` of the person's audit events. The audit chain stays valid
    (personal data is not hashed)."""
    mfa.clear_mfa(session, user)
    _redact_security_alerts(session, user)
    session.execute(delete(ReportSubscription).where((ReportSubscription.owner_id == user.id)
                                                     | (ReportSubscription.recipient_id == user.id)))
    for model in (RoleGrant, PasswordHistory, AccountToken, SecurityKey, SSOIdentity, SecurityKnownNetwork):
        session.execute(delete(model).where(model.user_id == user.id))
    user.email = f"erased-{user.id}@erased.invalid"
    user.name = ""
    user.password_hash = None
    user.is_active = False
    user.locked_until = None
    user.erased_at = now
    session.flush()
    return {"events_blanked": blank_personal(session, user.id)}


def _redact_security_alerts(session: Session, user: User) -> None:
    """Take the person's address (and, in alerts about them, their IP addresses) out of the security alerts'
    words; the alerts stay, about "an erased person"."""
    erased = "an erased person"
    rows = session.scalars(select(SecurityAlert).where(or_(
        SecurityAlert.user_id == user.id, SecurityAlert.title.contains(user.email, autoescape=True),
        SecurityAlert.detail.contains(user.email, autoescape=True))))
    for alert in rows:
        values = {user.email}
        if alert.user_id == user.id:
            for value in (alert.personal or {}).values():
                values |= {str(v) for v in (value if isinstance(value, list) else [value]) if v}
        for value in sorted(values, key=len, reverse=True):
            alert.title = alert.title.replace(value, erased)
            alert.detail = alert.detail.replace(value, erased)
        alert.personal = {k: [v for v in vs if v != user.email] for k, vs in (alert.personal or {}).items()
                          if isinstance(vs, list)} if alert.user_id != user.id else {}
