"""The detectors: audit events in, findings out (in plain words, each with a key unique to the finding).

Every detector reads only events after the pass's cursor as triggers, and the trail before them as
context (the window of a burst, the person's known networks), so each event is judged once:
- lockout_burst: at least N accounts of one organization locked within M minutes (its settings);
- denial_spike: one person refused (`authz.denied`) at least N times within M minutes;
- admin_grant: a grant of a role that holds an administrative permission (user, role, settings or system
  management: System Administrator, Organization Administrator, or a custom role with one of those);
- mfa_reset: an administrator reset someone's two-factor sign-in or removed their security keys;
- new_network: a sign-in (password, passkey or company sign-in) from a network (IPv4 /24, IPv6 /48) the
  person never signed in from before; a person's very first sign-in is not one.

A burst or spike raises one alert; while it goes on (another event within M minutes of the last alert's)
it raises no second one. Events of System Administrators, who belong to no organization, make
system-wide findings (organization None).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import AuditEvent, Organization, Role, SecurityAlert, SecurityKnownNetwork, User
from core.security.audit import Action
from core.security.permissions import ADMINISTRATIVE_PERMISSIONS, BUILTIN_ROLES
from core.security.role_names import CUSTOM_MARK
from core.settings import SecurityAlertPolicy

SIGN_INS = (Action.SIGN_IN, Action.SSO_SIGN_IN)
RESETS = {Action.MFA_RESET: "Two-factor sign-in was reset", Action.SECURITY_KEYS_RESET: "Security keys were removed"}
KIND_NAMES = {"lockout_burst": "Lockout burst", "denial_spike": "Denial spike", "admin_grant": "New administrator",
              "mfa_reset": "MFA or key reset", "new_network": "Sign-in from a new network",
              "audit_chain": "Audit chain broken"}
Policies = Callable[[int | None], SecurityAlertPolicy]


@dataclass
class Finding:
    organization_id: int | None
    kind: str
    subject: str
    key: str
    title: str
    detail: str
    occurred_at: datetime
    event_id: int | None = None
    user_id: int | None = None
    personal: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return f"{self.kind}:{self.key}"[:300]


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def clock(moment: datetime) -> str:
    return f"{aware(moment):%Y-%m-%d %H:%M} UTC"


def _subject_org(organization_id: int | None) -> str:
    return f"org:{organization_id}" if organization_id is not None else "system"


class Names:
    """E-mail addresses of the people the findings name, read once per pass."""

    def __init__(self, session: Session) -> None:
        self.session, self.known = session, {}

    def __call__(self, user_id: Any) -> str:
        if user_id is None:
            return "the system"
        try:
            ident = int(user_id)
        except (TypeError, ValueError):
            return str(user_id)
        if ident not in self.known:
            self.known[ident] = self.session.scalar(select(User.email).where(User.id == ident)) or f"user #{ident}"
        return self.known[ident]

    def organization(self, organization_id: int | None) -> str:
        if organization_id is None:
            return "System Administrators"
        return self.session.scalar(select(Organization.name).where(Organization.id == organization_id)) or \
            f"organization #{organization_id}"


def _last_alert(session: Session, kind: str, subject: str) -> datetime | None:
    last = session.scalar(select(func.max(SecurityAlert.occurred_at)).where(SecurityAlert.kind == kind,
                                                                            SecurityAlert.subject == subject))
    return aware(last) if last is not None else None


def _earlier(session: Session, action: str, organization_id: int | None, cursor: int, since: datetime,
             actor_id: int | None = None) -> list[AuditEvent]:
    """Events of `action` already read (id ≤ cursor) since `since`, in one organization (the trail's index)."""
    query = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.id <= cursor,
                                     AuditEvent.created_at >= since)
    query = query.where(AuditEvent.organization_id == organization_id) if organization_id is not None else \
        query.where(AuditEvent.organization_id.is_(None))
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    return list(session.scalars(query.order_by(AuditEvent.id)))


def _windows(session: Session, events: list[AuditEvent], cursor: int, kind: str, subject: str, organization_id,
             minutes: int, threshold: int, action: str, count: Callable[[deque], int],
             actor_id: int | None = None) -> list[tuple[AuditEvent, list[AuditEvent]]]:
    """The new events at which the window of the last `minutes` holds `threshold` or more (by `count`), each
    with the events in its window; at most one per `minutes` after the subject's last alert."""
    window = timedelta(minutes=minutes)
    first = aware(events[0].created_at)
    stream = _earlier(session, action, organization_id, cursor, first - window, actor_id) + events
    last = _last_alert(session, kind, subject)
    held: deque[AuditEvent] = deque()
    hits = []
    for event in stream:
        moment = aware(event.created_at)
        held.append(event)
        while held and aware(held[0].created_at) <= moment - window:
            held.popleft()
        if event.id <= cursor or count(held) < threshold:
            continue
        if last is not None and moment - last < window:
            continue
        hits.append((event, list(held)))
        last = moment
    return hits


def lockout_bursts(session: Session, events: list[AuditEvent], cursor: int, policies: Policies,
                   names: Names) -> list[Finding]:
    groups: dict[int | None, list[AuditEvent]] = defaultdict(list)
    for event in events:
        if event.action == Action.LOCKED:
            groups[event.organization_id].append(event)
    out = []
    for organization_id, locked in groups.items():
        policy = policies(organization_id)
        subject = _subject_org(organization_id)
        hits = _windows(session, locked, cursor, "lockout_burst", subject, organization_id,
                        policy.lockout_burst_minutes, policy.lockout_burst_accounts, Action.LOCKED,
                        lambda held: len({e.target_id for e in held}))
        for event, held in hits:
            accounts = list(dict.fromkeys(names(e.target_id) for e in held if e.target_id))
            shown = ", ".join(accounts[:10]) + (f" and {len(accounts) - 10} more" if len(accounts) > 10 else "")
            out.append(Finding(
                organization_id, "lockout_burst", subject, f"{subject}:{event.id}",
                f"{len(accounts)} accounts locked out within {policy.lockout_burst_minutes} minutes",
                f"Locked: {shown}; the last at {clock(event.created_at)}. Many accounts locked at once usually means "
                f"someone is guessing passwords across accounts. The alert fires at "
                f"{policy.lockout_burst_accounts} accounts in {policy.lockout_burst_minutes} minutes; the Audit page "
                "shows the failed sign-ins and where they came from.",
                aware(event.created_at), event.id, personal={"emails": accounts}))
    return out


def denial_spikes(session: Session, events: list[AuditEvent], cursor: int, policies: Policies,
                  names: Names) -> list[Finding]:
    groups: dict[tuple[int | None, int], list[AuditEvent]] = defaultdict(list)
    for event in events:
        if event.action == Action.ACCESS_DENIED and event.actor_id is not None:
            groups[(event.organization_id, event.actor_id)].append(event)
    out = []
    for (organization_id, actor_id), denied in groups.items():
        policy = policies(organization_id)
        subject = f"user:{actor_id}"
        hits = _windows(session, denied, cursor, "denial_spike", subject, organization_id,
                        policy.denial_spike_minutes, policy.denial_spike_count, Action.ACCESS_DENIED, len, actor_id)
        for event, held in hits:
            asked: dict[str, int] = defaultdict(int)
            for e in held:
                asked[str((e.data or {}).get("permission", "?"))] += 1
            what = ", ".join(f"{p} ({n})" for p, n in sorted(asked.items(), key=lambda kv: -kv[1])[:5])
            email = names(actor_id)
            out.append(Finding(
                organization_id, "denial_spike", subject, f"{subject}:{event.id}",
                f"{email} was refused {len(held)} times within {policy.denial_spike_minutes} minutes",
                f"Refused: {what}; the last at {clock(event.created_at)}. Someone trying door after door may be "
                "probing what a taken-over account can reach (or a script is misconfigured). The alert fires at "
                f"{policy.denial_spike_count} refusals in {policy.denial_spike_minutes} minutes.",
                aware(event.created_at), event.id, actor_id, {"email": email}))
    return out


def _granted_role(session: Session, event: AuditEvent) -> tuple[str, frozenset[str]] | None:
    """The granted role's name and permissions (now), from the event's role id or, for older events, its name."""
    data = event.data or {}
    role = session.get(Role, int(data["role_id"])) if isinstance(data.get("role_id"), int) else None
    if role is not None:
        return role.name + ("" if role.is_builtin else CUSTOM_MARK), frozenset(role.permissions or ())
    name = str(data.get("role") or "")
    if name in BUILTIN_ROLES:
        return name, BUILTIN_ROLES[name]
    plain = name.removesuffix(CUSTOM_MARK)
    role = session.scalar(select(Role).where(Role.name == plain, Role.organization_id == event.organization_id))
    return (name, frozenset(role.permissions or ())) if role is not None else None


def admin_grants(session: Session, events: Iterable[AuditEvent], names: Names) -> list[Finding]:
    out = []
    for event in events:
        if event.action != Action.GRANT_CREATED or event.target_type != "user":
            continue
        granted = _granted_role(session, event)
        if granted is None or not granted[1] & ADMINISTRATIVE_PERMISSIONS:
            continue
        role, _ = granted
        data = event.data or {}
        person = names(event.target_id)
        by = names(event.actor_id) if event.actor_id is not None else (
            "the company sign-in's group rules" if data.get("source") == "sso" else "set-up (no signed-in person)")
        scope = "the whole system" if data.get("scope_type") == "system" else \
            f"{data.get('scope_type', 'a')} #{data.get('scope_id', '?')}"
        out.append(Finding(
            event.organization_id, "admin_grant", f"user:{event.target_id}", str(event.id),
            f"{person} was made {role}",
            f"Granted by {by} at {clock(event.created_at)}, at {scope}. Administrators decide who may see and "
            "change what; if nobody expected this, revoke the grant on the Access page.",
            aware(event.created_at), event.id, int(event.target_id), {"email": person}))
    return out


def resets(events: Iterable[AuditEvent], names: Names) -> list[Finding]:
    out = []
    for event in events:
        if event.action not in RESETS or event.target_type != "user":
            continue
        person, by = names(event.target_id), names(event.actor_id)
        out.append(Finding(
            event.organization_id, "mfa_reset", f"user:{event.target_id}", str(event.id),
            f"{RESETS[event.action]} for {person}",
            f"By {by} at {clock(event.created_at)}. {person} sets up a new second factor at their next sign-in, and "
            "so would whoever holds their password: make sure the reset was asked for by them.",
            aware(event.created_at), event.id, int(event.target_id), {"email": person}))
    return out


def network_of(ip: Any) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) an address lies in; None when it is not an address."""
    try:
        address = ipaddress.ip_address(str(ip).strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def sign_in_networks(events: Iterable[AuditEvent]) -> Iterable[tuple[AuditEvent, str, str]]:
    """(event, address, network) of each sign-in that kept the address it came from."""
    for event in events:
        if event.action in SIGN_INS and event.actor_id is not None:
            ip = (event.personal or {}).get("ip")
            if (network := network_of(ip)) is not None:
                yield event, str(ip), network


def learn_networks(session: Session, user_id: int, known: dict[str, SecurityKnownNetwork], network: str,
                   moment: datetime) -> None:
    row = known.get(network)
    if row is None:
        known[network] = row = SecurityKnownNetwork(user_id=user_id, network=network, first_seen_at=moment,
                                                    last_seen_at=moment)
        session.add(row)
    elif aware(row.last_seen_at) < moment:
        row.last_seen_at = moment


def new_networks(session: Session, events: Iterable[AuditEvent], names: Names) -> list[Finding]:
    """Sign-ins from a network the person never used; every network seen is learned (the first sign-in's too)."""
    out = []
    cache: dict[int, dict[str, SecurityKnownNetwork]] = {}
    for event, ip, network in sign_in_networks(events):
        user_id = int(event.actor_id)
        if user_id not in cache:
            cache[user_id] = {r.network: r for r in session.scalars(
                select(SecurityKnownNetwork).where(SecurityKnownNetwork.user_id == user_id))}
        known = cache[user_id]
        if known and network not in known:
            person = names(user_id)
            before = sorted(known, key=lambda n: aware(known[n].last_seen_at), reverse=True)
            shown = ", ".join(before[:3]) + (f" and {len(before) - 3} more" if len(before) > 3 else "")
            how = {Action.SSO_SIGN_IN: "company sign-in"}.get(event.action) or \
                {"passkey": "passkey"}.get((event.data or {}).get("factor"), "password")
            pending = " The password was right; the second step was still to come." \
                if (event.data or {}).get("mfa_pending") else ""
            out.append(Finding(
                event.organization_id, "new_network", f"user:{user_id}", str(event.id),
                f"{person} signed in from a new network ({network})",
                f"From {ip} at {clock(event.created_at)} by {how}; their earlier sign-ins came from {shown}.{pending} "
                "If it was not them, reset their password and sign them out everywhere on the Users page.",
                aware(event.created_at), event.id, user_id,
                {"email": person, "ip": ip, "network": network, "networks": before[:3]}))
        learn_networks(session, user_id, known, network, aware(event.created_at))
    return out


def detect(session: Session, events: list[AuditEvent], cursor: int, policies: Policies) -> list[Finding]:
    """Every detector over one batch of new events (ids > cursor, in id order)."""
    names = Names(session)
    return (lockout_bursts(session, events, cursor, policies, names)
            + denial_spikes(session, events, cursor, policies, names)
            + admin_grants(session, events, names) + resets(events, names) + new_networks(session, events, names))
