"""Organization settings: password, MFA and lockout policy, the default alert thresholds, the security
alerts' thresholds and contacts, and the currency and outcome unit every figure reads in.

The settings page only calls this module. Reading and saving need `settings:manage` on the
organization (checked here, not only in the page); every value is validated on the server with
a sentence per field, and a save is audited with the values before and after. The stored row is
`OrganizationSecurity`; a NULL column means "the system default", so changing a default in the
environment still reaches organizations that never chose their own value.

`alert_defaults` is the unprivileged read the portfolio alerts use (they are not a secret), and
`security_alert_policy` the one the security alert detectors use (core.security_alerts);
`organization_units`, `project_units` and `brand_units` the one the pages, runs and reports use to
write money (core.formatting.Units). The currency and outcome unit live on the organization's row
(NULL: not chosen), the rest on `OrganizationSecurity`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from core.classification import DEFAULT, KINDS, ClassificationError, parse
from core.currencies import CURRENCIES
from core.db import Database
from core.formatting import REVENUE, Units
from core.models.portfolio import Brand, Organization, Project
from core.models.security import MFA_POLICIES, OrganizationSecurity
from core.portfolio_alerts import ANOMALY_Z, DROP_THRESHOLD
from core.security.audit import Action, record
from core.security.authorizer import authorize, deny
from core.security.identity import IdentityRejected, normalize_email
from core.security.permissions import Permission
from core.security.principal import Principal
from core.security.settings import SecuritySettings, organization_policy
from core.subscriptions.sending import webhook_url

SETTINGS_MANAGE = Permission.SETTINGS_MANAGE.value

# Safe bounds. The password floor is the system's minimum (an organization may only be stricter);
# 64 characters is long enough for any passphrase rule and well under the 256 the hasher accepts.
PASSWORD_MIN_LENGTH_MAX = 64
LOCKOUT_THRESHOLD_BOUNDS = (3, 20)
LOCKOUT_MINUTES_BOUNDS = (5, 1440)
DROP_THRESHOLD_BOUNDS = (0.5, 50.0)  # the portfolio page's own input accepts the same range
ANOMALY_Z_BOUNDS = (2.0, 10.0)  # below 2 nearly every month alerts; above 10 nothing ever does
# The marginal-ROAS rule's floor T (core.alert_rules): 1.0 means "the next unit of money returns less than it costs".
ROAS_FLOOR_DEFAULT = 1.0
ROAS_FLOOR_BOUNDS = (0.1, 10.0)  # below 0.1 the rule is off in all but name; above 10 every channel alerts
# Security alerts (core.security_alerts): a lockout burst is this many accounts locked within so many minutes,
# a denial spike this many refusals of one person within so many minutes. A burst of 1 would be every lockout.
LOCKOUT_BURST_ACCOUNTS_BOUNDS, LOCKOUT_BURST_ACCOUNTS = (2, 1000), 5
LOCKOUT_BURST_MINUTES_BOUNDS, LOCKOUT_BURST_MINUTES = (1, 1440), 15
DENIAL_SPIKE_COUNT_BOUNDS, DENIAL_SPIKE_COUNT = (3, 10000), 20
DENIAL_SPIKE_MINUTES_BOUNDS, DENIAL_SPIKE_MINUTES = (1, 1440), 10
SECURITY_CONTACTS_MAX = 10

FIELDS = ("password_min_length", "password_composition", "mfa_policy", "lockout_threshold", "lockout_minutes",
          "alert_drop_threshold", "alert_anomaly_z", "currency", "outcome_unit")
# Added after the others: a caller that does not send it keeps the organization's current value.
# The data classification new metrics, scenarios and imported data sets get (issue 17, core.classification).
CLASSIFICATION_FIELDS = tuple(f"default_{kind}_classification" for kind in KINDS)
SECURITY_ALERT_FIELDS = ("lockout_burst_accounts", "lockout_burst_minutes", "denial_spike_count",
                         "denial_spike_minutes", "security_contacts", "security_webhook_url")
OPTIONAL_FIELDS = ("security_key_for_admins", *CLASSIFICATION_FIELDS, "alert_roas_floor", *SECURITY_ALERT_FIELDS)
FIELDS = (*FIELDS, *OPTIONAL_FIELDS)
# Stored on the organization's row, the rest on its security row.
ORGANIZATION_FIELDS = ("currency", "outcome_unit", *CLASSIFICATION_FIELDS)
# A count's name: a plural noun in words ("conversions", "units sold", "sign-ups"), never a number or markup.
_COUNT_NOUN = re.compile(r"[a-z][a-z \-]{1,29}")


@dataclass(frozen=True)
class OrganizationSettings:
    """The effective values for one organization (its own where set, else the system defaults)."""

    organization_id: int
    password_min_length: int
    password_composition: bool
    mfa_policy: str
    lockout_threshold: int
    lockout_minutes: int
    alert_drop_threshold: float
    alert_anomaly_z: float
    currency: str | None = None
    outcome_unit: str = REVENUE
    security_key_for_admins: bool = False
    default_metric_classification: str = DEFAULT.value
    default_scenario_classification: str = DEFAULT.value
    default_import_classification: str = DEFAULT.value
    alert_roas_floor: float = ROAS_FLOOR_DEFAULT
    lockout_burst_accounts: int = LOCKOUT_BURST_ACCOUNTS
    lockout_burst_minutes: int = LOCKOUT_BURST_MINUTES
    denial_spike_count: int = DENIAL_SPIKE_COUNT
    denial_spike_minutes: int = DENIAL_SPIKE_MINUTES
    security_contacts: tuple[str, ...] = ()
    security_webhook_url: str | None = None

    @property
    def units(self) -> Units:
        return Units(self.currency, self.outcome_unit)

    def values(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "organization_id"}


class SettingsInvalid(ValueError):
    """Some values are out of bounds; `problems` maps each field to a sentence for the person."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("invalid settings: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class SecurityAlertPolicy:
    """When the security alert detectors raise a burst or a spike for an organization, and whom they tell."""

    lockout_burst_accounts: int = LOCKOUT_BURST_ACCOUNTS
    lockout_burst_minutes: int = LOCKOUT_BURST_MINUTES
    denial_spike_count: int = DENIAL_SPIKE_COUNT
    denial_spike_minutes: int = DENIAL_SPIKE_MINUTES
    contacts: tuple[str, ...] = ()
    webhook_url: str | None = None


def security_alert_policy(conn: Connection | Session, organization_id: int | None) -> SecurityAlertPolicy:
    """The organization's thresholds and contacts (the defaults and nobody when it set none; None: the system's
    defaults, whose contacts come from the environment: core.config.AlertingSettings)."""
    row = None
    if organization_id is not None:
        row = conn.execute(select(OrganizationSecurity.lockout_burst_accounts,
                                  OrganizationSecurity.lockout_burst_minutes, OrganizationSecurity.denial_spike_count,
                                  OrganizationSecurity.denial_spike_minutes, OrganizationSecurity.security_contacts,
                                  OrganizationSecurity.security_webhook_url)
                           .where(OrganizationSecurity.organization_id == organization_id)).first()
    if row is None:
        return SecurityAlertPolicy()
    default = SecurityAlertPolicy()
    return SecurityAlertPolicy(
        lockout_burst_accounts=row[0] or default.lockout_burst_accounts,
        lockout_burst_minutes=row[1] or default.lockout_burst_minutes,
        denial_spike_count=row[2] or default.denial_spike_count,
        denial_spike_minutes=row[3] or default.denial_spike_minutes,
        contacts=tuple(row[4] or ()), webhook_url=row[5] or None)


def password_min_length_bounds(security: SecuritySettings) -> tuple[int, int]:
    return security.password_min_length, PASSWORD_MIN_LENGTH_MAX


def alert_defaults(conn: Connection | Session, organization_id: int | None) -> tuple[float, float]:
    """(score-drop threshold in points, anomaly robust-z threshold) for the organization's alerts."""
    row = None
    if organization_id is not None:
        row = conn.execute(select(OrganizationSecurity.alert_drop_threshold, OrganizationSecurity.alert_anomaly_z)
                           .where(OrganizationSecurity.organization_id == organization_id)).first()
    drop = row[0] if row is not None and row[0] is not None else DROP_THRESHOLD
    z = row[1] if row is not None and row[1] is not None else ANOMALY_Z
    return float(drop), float(z)


def alert_roas_floor(conn: Connection | Session, organization_id: int | None) -> float:
    """The floor T below which a channel's marginal ROAS raises an alert (the organization's, else 1.0)."""
    value = None
    if organization_id is not None:
        value = conn.execute(select(OrganizationSecurity.alert_roas_floor)
                             .where(OrganizationSecurity.organization_id == organization_id)).scalar()
    return float(value) if value is not None else ROAS_FLOOR_DEFAULT


def organization_units(conn: Connection | Session, organization_id: int | None) -> Units:
    """The currency and outcome the organization's figures read in (plain `Units()` when none is chosen)."""
    row = None
    if organization_id is not None:
        row = conn.execute(select(Organization.currency, Organization.outcome_unit)
                           .where(Organization.id == int(organization_id))).first()
    if row is None:
        return Units()
    return Units(row[0] if row[0] in CURRENCIES else None, row[1] or REVENUE)


def project_units(conn: Connection | Session, project_id: int) -> Units:
    """The units of the organization that owns the project (the caller checked the project)."""
    organization_id = conn.execute(select(Project.organization_id).where(Project.id == int(project_id))).scalar()
    return organization_units(conn, organization_id)


def brand_units(conn: Connection | Session, brand_ids: Iterable[int]) -> Units:
    """The units of the brands' organization; plain `Units()` when they span organizations that differ."""
    ids = sorted({int(b) for b in brand_ids})
    orgs = (conn.execute(select(Brand.organization_id).where(Brand.id.in_(ids)).distinct()).scalars().all()
            if ids else [])
    found = {organization_units(conn, o) for o in orgs}
    return found.pop() if len(found) == 1 else Units()


def _effective(session: Session, organization_id: int, security: SecuritySettings) -> OrganizationSettings:
    policy = organization_policy(session, organization_id, security)
    drop, z = alert_defaults(session, organization_id)
    units = organization_units(session, organization_id)
    alerting = security_alert_policy(session, organization_id)
    return OrganizationSettings(
        organization_id=organization_id, password_min_length=policy.password_min_length,
        password_composition=policy.password_composition,
        mfa_policy="everyone" if policy.mfa_everyone else "administrators",
        lockout_threshold=policy.lockout_threshold, lockout_minutes=policy.lockout_minutes,
        alert_drop_threshold=drop, alert_anomaly_z=z, currency=units.currency, outcome_unit=units.outcome,
        security_key_for_admins=policy.security_key_for_admins,
        alert_roas_floor=alert_roas_floor(session, organization_id),
        **{name: getattr(session.get(Organization, organization_id), name) or DEFAULT.value
           for name in CLASSIFICATION_FIELDS},
        lockout_burst_accounts=alerting.lockout_burst_accounts, lockout_burst_minutes=alerting.lockout_burst_minutes,
        denial_spike_count=alerting.denial_spike_count, denial_spike_minutes=alerting.denial_spike_minutes,
        security_contacts=alerting.contacts, security_webhook_url=alerting.webhook_url,
    )


def _organization(session: Session, principal: Principal, organization_id: Any) -> Organization:
    """The organization, if the principal manages its settings (else Forbidden, audited; unknown ids alike)."""
    try:
        ident = int(organization_id)
    except (TypeError, ValueError):
        ident = None
    if ident is None:
        deny(principal, SETTINGS_MANAGE, ("organization", organization_id), "not an organization id")
    authorize(principal, SETTINGS_MANAGE, ("organization", ident), session=session)
    org = session.get(Organization, ident)
    if org is None:  # only a system administrator gets here with an id that does not exist
        raise LookupError(f"no organization {ident}")
    return org


def read_settings(db: Database, principal: Principal, organization_id: int,
                  security: SecuritySettings) -> OrganizationSettings:
    """The organization's settings as the page shows them (settings:manage on it); `security`: the app's."""
    with db.session() as s:
        org = _organization(s, principal, organization_id)
        return _effective(s, org.id, security)


def _integer(value: Any, label: str, bounds: tuple[int, int], problems: dict[str, str], key: str) -> int | None:
    lo, hi = bounds
    try:
        number = float(value)
    except (TypeError, ValueError):
        problems[key] = f"{label} must be a whole number between {lo} and {hi}."
        return None
    if isinstance(value, bool) or not math.isfinite(number) or number != int(number) or not lo <= number <= hi:
        problems[key] = f"{label} must be a whole number between {lo} and {hi}."
        return None
    return int(number)


def _decimal(value: Any, label: str, bounds: tuple[float, float], problems: dict[str, str], key: str) -> float | None:
    lo, hi = bounds
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or not lo <= number <= hi:
        problems[key] = f"{label} must be a number between {lo:g} and {hi:g}."
        return None
    return round(number, 2)


def _currency(value: Any, problems: dict[str, str]) -> str | None:
    """An ISO 4217 code ("inr" is read as INR); empty means not chosen."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    code = value.strip().upper() if isinstance(value, str) else None
    if code not in CURRENCIES:
        shown = str(value)[:12]
        problems["currency"] = (f"Currency must be a three-letter ISO 4217 code such as INR, USD or EUR; "
                                f"“{shown}” is not one.")
        return None
    return code


def _outcome_unit(value: Any, problems: dict[str, str]) -> str:
    """"revenue", or the plural noun of what is counted ("conversions"); empty means revenue."""
    text = " ".join(value.split()).lower() if isinstance(value, str) else None
    if value is None or text == "" or text == REVENUE:
        return REVENUE
    if text is None or not _COUNT_NOUN.fullmatch(text) or text.upper() in CURRENCIES:
        problems["outcome_unit"] = ("The outcome is revenue, or what you count named in words (2–30 letters, spaces "
                                    "or hyphens), such as conversions or units sold.")
        return REVENUE
    return text


def _contacts(value: Any, problems: dict[str, str]) -> tuple[str, ...]:
    """E-mail addresses, as a list or one text separated by commas, semicolons or new lines; duplicates dropped."""
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.replace(";", ",").replace("\n", ",").split(",")
    elif isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        problems["security_contacts"] = "Security contacts are e-mail addresses, one per line."
        return ()
    found: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            address = normalize_email(item)
        except IdentityRejected:
            address = None
        if address is None or "." not in address.rpartition("@")[2]:
            problems["security_contacts"] = f"“{item[:80]}” is not an e-mail address (one address per line)."
            return ()
        if address not in found:
            found.append(address)
    if len(found) > SECURITY_CONTACTS_MAX:
        problems["security_contacts"] = (f"At most {SECURITY_CONTACTS_MAX} security contacts; a shared mailbox "
                                         "or the webhook reaches more people.")
        return ()
    return tuple(found)


def _webhook(value: Any, problems: dict[str, str]) -> str | None:
    try:
        return webhook_url(value)
    except ValueError as exc:
        problems["security_webhook_url"] = f"The security webhook {exc}."
        return None


def _security_alert_values(values: Mapping[str, Any], problems: dict[str, str]) -> dict[str, Any]:
    """The security alert fields that were sent, checked (each is optional: unsent ones stay as they are)."""
    clean: dict[str, Any] = {}
    for name, label, bounds in (
            ("lockout_burst_accounts", "Accounts locked in a burst", LOCKOUT_BURST_ACCOUNTS_BOUNDS),
            ("lockout_burst_minutes", "Burst window (minutes)", LOCKOUT_BURST_MINUTES_BOUNDS),
            ("denial_spike_count", "Refusals of one person in a spike", DENIAL_SPIKE_COUNT_BOUNDS),
            ("denial_spike_minutes", "Spike window (minutes)", DENIAL_SPIKE_MINUTES_BOUNDS)):
        if name in values:
            clean[name] = _integer(values[name], label, bounds, problems, name)
    if "security_contacts" in values:
        clean["security_contacts"] = _contacts(values["security_contacts"], problems)
    if "security_webhook_url" in values:
        clean["security_webhook_url"] = _webhook(values["security_webhook_url"], problems)
    return clean


def validate(values: Mapping[str, Any], security: SecuritySettings) -> dict[str, Any]:
    """Clean values for every field, or SettingsInvalid naming each bad one (nothing is half-applied)."""
    problems: dict[str, str] = {}
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        problems["_"] = "Unknown setting(s): " + ", ".join(unknown) + "."
    missing = [f for f in FIELDS if f not in values and f not in OPTIONAL_FIELDS]
    if missing:
        problems["_"] = "Missing setting(s): " + ", ".join(missing) + "."
    clean: dict[str, Any] = {
        "password_min_length": _integer(values.get("password_min_length"), "Minimum password length",
                                        password_min_length_bounds(security), problems, "password_min_length"),
        "lockout_threshold": _integer(values.get("lockout_threshold"), "Failed attempts before a lockout",
                                      LOCKOUT_THRESHOLD_BOUNDS, problems, "lockout_threshold"),
        "lockout_minutes": _integer(values.get("lockout_minutes"), "Lockout length (minutes)",
                                    LOCKOUT_MINUTES_BOUNDS, problems, "lockout_minutes"),
        "alert_drop_threshold": _decimal(values.get("alert_drop_threshold"), "Score-drop alert threshold",
                                         DROP_THRESHOLD_BOUNDS, problems, "alert_drop_threshold"),
        "alert_anomaly_z": _decimal(values.get("alert_anomaly_z"), "Anomaly threshold (robust z)",
                                    ANOMALY_Z_BOUNDS, problems, "alert_anomaly_z"),
    }
    if "alert_roas_floor" in values:
        clean["alert_roas_floor"] = _decimal(values["alert_roas_floor"], "Marginal-ROAS alert floor",
                                             ROAS_FLOOR_BOUNDS, problems, "alert_roas_floor")
    composition = values.get("password_composition")
    if not isinstance(composition, bool):
        problems["password_composition"] = "The composition rule is either on or off."
    clean["password_composition"] = composition
    policy = values.get("mfa_policy")
    if policy not in MFA_POLICIES:
        problems["mfa_policy"] = "Two-factor sign-in is required of the administrators or of everyone."
    clean["mfa_policy"] = policy
    if "security_key_for_admins" in values:
        if not isinstance(values["security_key_for_admins"], bool):
            problems["security_key_for_admins"] = "Requiring a security key of administrators is either on or off."
        clean["security_key_for_admins"] = values["security_key_for_admins"]
    for name in CLASSIFICATION_FIELDS:
        if name in values:
            try:
                clean[name] = parse(values[name]).value
            except ClassificationError as exc:
                problems[name] = f"The default {name.split('_')[1]} {exc}."
    clean |= _security_alert_values(values, problems)
    clean["currency"] = _currency(values.get("currency"), problems)
    clean["outcome_unit"] = _outcome_unit(values.get("outcome_unit"), problems)
    if problems:
        raise SettingsInvalid(problems)
    return clean


def save_settings(db: Database, principal: Principal, organization_id: int, values: Mapping[str, Any],
                  security: SecuritySettings) -> tuple[OrganizationSettings, dict[str, list]]:
    """Validate and store every value at once; returns the new settings and what changed {field: [before, after]}.

    Values equal to the system default are stored as they are (an explicit choice stays put if
    the default later moves). Nothing is written, and nothing audited, when nothing changed.
    """
    with db.session() as s:
        org = _organization(s, principal, organization_id)  # authorize before validating: no probing
        clean = validate(values, security)
        before = _effective(s, org.id, security)
        changes = {k: [getattr(before, k), v] for k, v in clean.items() if getattr(before, k) != v}
        if not changes:
            return before, {}
        security_changes = {k: v for k, v in changes.items() if k not in ORGANIZATION_FIELDS}
        row = s.get(OrganizationSecurity, org.id)
        if row is None and security_changes:
            row = OrganizationSecurity(organization_id=org.id)
            s.add(row)
        for key, (_old, new) in changes.items():
            setattr(org if key in ORGANIZATION_FIELDS else row, key, list(new) if isinstance(new, tuple) else new)
        s.flush()
        # Addresses name people and a webhook URL is a secret: the hashed record says how many and whether set,
        # `personal` (outside the hash, blanked at erasure) keeps the addresses.
        shown = {k: [_summary(k, old), _summary(k, new)] for k, (old, new) in changes.items()}
        contacts = changes.get("security_contacts")
        personal = {"security_contacts": {"before": list(contacts[0]), "after": list(contacts[1])}} if contacts else {}
        record(s, Action.SETTINGS_CHANGED, actor=principal, organization_id=org.id, target=("organization", org.id),
               data={"changes": {k: {"before": old, "after": new} for k, (old, new) in shown.items()}},
               personal=personal)
        return _effective(s, org.id, security), changes


def _summary(field: str, value: Any) -> Any:
    """How the audit trail's hashed content shows a value (contacts as a count, the webhook as set or not)."""
    if field == "security_contacts":
        return f"{len(value)} address{'es' if len(value) != 1 else ''}"
    if field == "security_webhook_url":
        return "set" if value else "not set"
    return value


def project_alert_defaults(conn: Connection, project_id: int) -> tuple[float, float]:
    """The alert defaults of the organization that owns the project (the caller checked the project)."""
    organization_id = conn.execute(select(Project.organization_id).where(Project.id == int(project_id))).scalar()
    return alert_defaults(conn, organization_id)
