"""Single sign-on, the accounts half: which organization, which person, which roles, which factor.

`SingleSignOn.begin` resolves the organization from the typed e-mail domain (or its slug) and returns
the provider URL plus the `Flow` to keep server-side; `finish` checks the callback with
`core.security.oidc`, then decides in our words: the address must be verified and in one of the
organization's domains, the person a member of that organization (an invited or existing user is
linked by normalized e-mail; a new one only with just-in-time provisioning on), and at least one
mapping rule must give them a role, else the sign-in is refused with a plain reason. The mapped roles
are kept in step at every sign-in (only the role/scope pairs the rules name; other grants stay). An
id_token's nonce works once (`SSOUsedNonce`). MFA done at the provider counts when `amr` says so (or
`acr` is one the organization marked as multi-factor); otherwise our TOTP step follows, as after a
password. Every outcome is audited.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models.base import utcnow
from core.models.portfolio import Organization
from core.models.security import AccountToken, Role, RoleGrant, User
from core.models.sso import OrganizationSSO, SSOIdentity, SSOUsedNonce
from core.security import oidc, sso_settings
from core.security.accounts import Accounts
from core.security.audit import Action, record
from core.security.identity import IdentityRejected, normalize_display_name, normalize_email
from core.security.oidc import Client, Discovery, Flow, SSORefused
from core.security.permissions import SYSTEM_ADMINISTRATOR

MFA_AMR = frozenset({"mfa", "hwk", "otp"})

NOT_FOUND = ("We could not find company sign-in for that address. Sign in with your password, "
             "or ask your administrator.")
WRONG_ORGANIZATION = ("Your company account does not belong to this organization. Start again with your own "
                      "work e-mail address.")
NOT_INVITED = ("Your company account is not set up in Digi-Cadence yet. Ask your administrator to invite you, "
               "then sign in again.")
NO_ROLE = ("Your company account signed in, but none of your groups gives you access to Digi-Cadence. "
           "Ask your administrator to add you to a group that does.")
UNVERIFIED = "Your company account's e-mail address is not verified. Ask your IT team to verify it."
DISABLED = "Your Digi-Cadence account is switched off. Ask your administrator."
LINKED_ELSEWHERE = ("Another company account is already linked to the Digi-Cadence account with this e-mail "
                    "address. Ask your administrator.")


@dataclass(frozen=True)
class SSOResult:
    """A person the provider vouched for and we accept; sign them in only after `mfa_required` /
    `mfa_enrolment_required` steps, as after a password."""

    user_id: int
    organization_id: int
    id_token: str
    mfa_at_provider: bool
    mfa_required: bool = False
    mfa_enrolment_required: bool = False
    claims: dict[str, Any] = field(default_factory=dict, repr=False)


def _claim_values(claims: dict[str, Any], path: str) -> list[str]:
    """The claim's values as strings; `path` may reach into objects ("realm_access.roles")."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None else [str(value)]


def mapped_grants(rules: list[dict], claims: dict[str, Any]) -> set[tuple[str, str, int]]:
    """(role name, scope type, scope id) of every rule the claims satisfy."""
    return {(r["role"], r["scope_type"], int(r["scope_id"])) for r in rules
            if r["value"] in _claim_values(claims, r["claim"])}


class SingleSignOn:
    """One per app: the accounts service (for keys, settings and the MFA rules) and the discovery cache."""

    def __init__(self, accounts: Accounts, discovery: Discovery | None = None) -> None:
        self.accounts, self.db, self.box = accounts, accounts.db, accounts.box
        self.discovery = discovery or Discovery()

    # ---- starting ---------------------------------------------------------------------------------

    def organization_for(self, session: Session, typed: str) -> int:
        """The organization whose SSO serves this e-mail domain, or whose slug this is; else SSORefused."""
        text = (typed or "").strip()
        if "@" in text:
            try:
                domain = normalize_email(text).rsplit("@", 1)[1]
            except IdentityRejected as exc:
                raise SSORefused("bad_address", str(exc)) from exc
            for row in session.scalars(select(OrganizationSSO).where(OrganizationSSO.enabled.is_(True))):
                if domain in (row.allowed_domains or []):
                    return row.organization_id
        else:
            org_id = session.scalar(select(Organization.id).where(Organization.slug == text.lower(),
                                                                  Organization.archived_at.is_(None)))
            row = session.get(OrganizationSSO, org_id) if org_id is not None else None
            if row is not None and row.enabled:
                return row.organization_id
        raise SSORefused("no_sso", NOT_FOUND)

    def _client(self, session: Session, organization_id: int, redirect_uri: str) -> Client:
        settings = sso_settings.load(session, organization_id)
        if not settings.enabled:
            raise SSORefused("no_sso", NOT_FOUND, organization_id=organization_id)
        secret = sso_settings.client_secret(session, organization_id, self.box)
        return Client(settings.issuer, settings.client_id, secret, redirect_uri)

    def begin(self, typed: str, redirect_uri: str, next_url: str = "/") -> tuple[str, Flow]:
        """(provider URL to redirect to, the flow to keep in the server-side session)."""
        with self.db.session() as s:
            org_id = self.organization_for(s, typed)
            client = self._client(s, org_id, redirect_uri)
        flow = Flow.new(org_id, next_url)
        return oidc.authorization_url(self.discovery, client, flow), flow

    # ---- finishing --------------------------------------------------------------------------------

    def finish(self, flow: Flow | None, params: dict[str, str], redirect_uri: str, *,
               personal: dict | None = None, now: float | None = None) -> SSOResult:
        """Check the callback and the person; SSORefused (audited) when anything is wrong."""
        try:
            return self._finish(flow, params, redirect_uri, now, personal or {})
        except SSORefused as exc:
            org = exc.organization_id if exc.organization_id is not None else (flow.organization_id if flow else None)
            with self.db.session() as s:
                record(s, Action.SSO_REFUSED, organization_id=org, data={"reason": exc.reason},
                       personal={**({"email": exc.email} if exc.email else {}), **(personal or {})})
            raise

    def _finish(self, flow: Flow | None, params: dict[str, str], redirect_uri: str, now: float | None,
                personal: dict) -> SSOResult:
        with self.db.session() as s:
            client = self._client(s, flow.organization_id, redirect_uri) if flow is not None else None
        code = oidc.check_callback(flow, params, client.issuer if client else None, now)
        token = oidc.exchange_code(self.discovery, client, flow, code)
        try:
            claims = oidc.verified_claims(self.discovery, client, flow, token, now)
        except SSORefused as exc:
            exc.organization_id = flow.organization_id
            raise
        with self.db.session() as s:
            self._spend_nonce(s, flow)
        with self.db.session() as s:
            user = self._person(s, flow.organization_id, claims)
            result = self._accept(s, user, flow.organization_id, claims, token["id_token"], personal)
        return result

    def _spend_nonce(self, session: Session, flow: Flow) -> None:
        digest = hashlib.sha256(flow.nonce.encode()).hexdigest()
        session.execute(delete(SSOUsedNonce).where(SSOUsedNonce.expires_at < utcnow()))
        session.add(SSOUsedNonce(nonce_hash=digest, expires_at=utcnow() + timedelta(days=1)))
        try:
            session.flush()
        except IntegrityError as exc:
            raise SSORefused("replayed", oidc.TRY_AGAIN, organization_id=flow.organization_id) from exc

    def _person(self, session: Session, org_id: int, claims: dict[str, Any]) -> User:
        """The member the claims name (by their linked provider account; else linked by verified e-mail or,
        with JIT, created), with their mapped roles; else SSORefused."""
        settings = sso_settings.load(session, org_id)
        issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
        link = session.get(SSOIdentity, (issuer, subject)) if issuer and subject else None
        if link is not None:  # a known provider account: the link decides, whatever its e-mail says today
            user = session.get(User, link.user_id)
            email = user.email
            if user.organization_id != org_id:
                raise SSORefused("wrong_organization", WRONG_ORGANIZATION, organization_id=org_id, email=email)
        else:
            user, email = self._by_email(session, org_id, settings, claims)
        wanted = mapped_grants(settings.role_mapping, claims)
        if not wanted:
            raise SSORefused("unmapped", NO_ROLE, organization_id=org_id, email=email)
        if user is None:
            if not settings.jit_provisioning:
                raise SSORefused("not_invited", NOT_INVITED, organization_id=org_id, email=email)
            user = self._provision(session, org_id, email, claims)
        if not user.is_active or user.erased_at is not None:
            raise SSORefused("disabled", DISABLED, organization_id=org_id, email=email)
        if link is None:
            self._link(session, org_id, user, issuer, subject)
        else:
            link.last_seen_at = utcnow()
        self._sync_grants(session, user, org_id, settings.role_mapping, wanted)
        return user

    def _by_email(self, session: Session, org_id: int, settings: Any, claims: dict[str, Any]
                  ) -> tuple[User | None, str]:
        """First sign-in of a provider account: the member with its verified, allowed e-mail (None: nobody yet)."""
        raw = str(claims.get("email") or "")
        try:
            email = normalize_email(raw)
        except IdentityRejected as exc:
            raise SSORefused("bad_address", str(exc), organization_id=org_id, email=raw[:254]) from exc
        if claims.get("email_verified") is False:
            raise SSORefused("email_unverified", UNVERIFIED, organization_id=org_id, email=email)
        if email.rsplit("@", 1)[1] not in settings.allowed_domains:
            raise SSORefused("wrong_organization", WRONG_ORGANIZATION, organization_id=org_id, email=email)
        user = session.scalar(select(User).where(User.email == email))
        if user is not None and user.organization_id != org_id:
            raise SSORefused("wrong_organization", WRONG_ORGANIZATION, organization_id=org_id, email=email)
        return user, email

    def _link(self, session: Session, org_id: int, user: User, issuer: str, subject: str) -> None:
        """Tie the provider account to the member, once; a member already tied to another account of the same
        provider is refused (an address reused at the provider must not open someone else's account)."""
        if not (issuer and subject):
            raise SSORefused("no_subject", oidc.TRY_AGAIN, organization_id=org_id, email=user.email)
        other = session.scalar(select(SSOIdentity.subject).where(SSOIdentity.issuer == issuer,
                                                                SSOIdentity.user_id == user.id))
        if other is not None:
            raise SSORefused("linked_elsewhere", LINKED_ELSEWHERE, organization_id=org_id, email=user.email)
        session.add(SSOIdentity(issuer=issuer, subject=subject, user_id=user.id))
        session.flush()
        record(session, Action.SSO_LINKED, organization_id=org_id, target=("user", user.id),
               data={"issuer": issuer}, personal={"email": user.email})

    def _provision(self, session: Session, org_id: int, email: str, claims: dict[str, Any]) -> User:
        try:
            name = normalize_display_name(str(claims.get("name") or ""))
        except IdentityRejected:
            name = ""
        user = User(email=email, name=name, organization_id=org_id)
        session.add(user)
        session.flush()
        record(session, Action.USER_CREATED, organization_id=org_id, target=user, data={"source": "sso"},
               personal={"email": email, "name": name})
        return user

    def _sync_grants(self, session: Session, user: User, org_id: int, rules: list[dict],
                     wanted: set[tuple[str, str, int]]) -> None:
        """Grant what the rules give now and revoke what they gave before but no longer do."""
        roles = {r.name: r.id for r in session.scalars(select(Role).where(
            (Role.organization_id == org_id) | (Role.organization_id.is_(None) & Role.is_builtin.is_(True))))}
        managed = {(roles.get(r["role"]), r["scope_type"], int(r["scope_id"])) for r in rules}
        want = {(roles.get(n), t, i) for n, t, i in wanted if n in roles and n != SYSTEM_ADMINISTRATOR}
        want = {(role, t, org_id if t == "organization" else i) for role, t, i in want}
        managed = {(role, t, org_id if t == "organization" else i) for role, t, i in managed}
        held = {(g.role_id, g.scope_type, g.scope_id): g for g in
                session.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id))}
        for key in (managed - want) & held.keys():
            session.delete(held[key])
            record(session, Action.GRANT_REVOKED, organization_id=org_id, target=("user", user.id),
                   data={"source": "sso", "role_id": key[0], "scope_type": key[1], "scope_id": key[2]})
        for key in want - held.keys():
            session.add(RoleGrant(user_id=user.id, role_id=key[0], scope_type=key[1], scope_id=key[2]))
            record(session, Action.GRANT_CREATED, organization_id=org_id, target=("user", user.id),
                   data={"source": "sso", "role_id": key[0], "scope_type": key[1], "scope_id": key[2]})
        session.flush()

    def _accept(self, session: Session, user: User, org_id: int, claims: dict[str, Any], id_token: str,
                personal: dict) -> SSOResult:
        settings = sso_settings.load(session, org_id)
        amr = {str(a) for a in claims.get("amr") or [] if isinstance(claims.get("amr"), list)}
        at_provider = bool(amr & MFA_AMR) or (claims.get("acr") is not None
                                               and str(claims.get("acr")) in settings.mfa_acr_values)
        for invite in session.scalars(select(AccountToken).where(AccountToken.user_id == user.id,
                                                                 AccountToken.used_at.is_(None))):
            invite.used_at = utcnow()  # the invitation is answered: the person came in through SSO
        if user.must_change_password:
            # A temporary password from an administrator was only a way in; company sign-in replaces it
            # (else the forced change would ask this person for a password they never saw).
            user.password_hash, user.must_change_password = None, False
        enrol = not at_provider and not user.mfa_enabled and self.accounts._must_use_mfa(session, user)
        user.last_sign_in_at = utcnow()
        record(session, Action.SSO_SIGN_IN, actor=user.id, organization_id=org_id, target=user,
               data={"issuer": settings.issuer, "mfa_at_provider": at_provider,
                     "mfa_pending": not at_provider and user.mfa_enabled, "mfa_enrolment_required": enrol},
               personal={"email": user.email, **personal})  # the address: security alerts compare networks
        return SSOResult(user.id, org_id, id_token, at_provider, mfa_required=not at_provider and user.mfa_enabled,
                         mfa_enrolment_required=enrol, claims=claims)

    # ---- signing out ------------------------------------------------------------------------------

    def logout_url(self, organization_id: int, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """The provider's end-session URL for this sign-in (RP-initiated logout), or None."""
        with self.db.session() as s:
            settings = sso_settings.load(s, organization_id)
        if not settings.issuer:
            return None
        return oidc.logout_url(self.discovery, settings.issuer, settings.client_id, id_token, post_logout_redirect_uri)
