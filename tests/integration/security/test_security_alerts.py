"""Security alerts (core.security_alerts): each detector fires at its threshold and not just below it, findings are
stored and sent once, thresholds and contacts come from the settings, organization A's contacts never hear of B,
sends reach a real SMTP server (aiosmtpd) and a real HTTP webhook, an outage is retried then reported, and
/metrics counts what was raised. Events are made by the real code paths (sign-ins, refusals, grants, resets);
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from core.config import AlertingSettings
from core.models import (
    AuditEvent,
    SecurityAlert,
    SecurityAlertDelivery,
    SecurityAlertState,
    SecurityKnownNetwork,
    User,
)
from core.models.base import utcnow
from core.observability import metrics
from core.security import Forbidden, load_principal
from core.security.authorizer import deny
from core.security.grants import create_custom_role, grant_role
from core.security.passwords import hash_password
from core.security.security_key_policy import reset_keys
from core.security_alerts.detectors import network_of
from core.security_alerts.listing import recent_alerts
from core.security_alerts.run import _take_lease, run_pass
from core.settings import SettingsInvalid, read_settings, save_settings
from tests.integration.security.conftest import FAST, add_user, tamper

PASSWORD = "correct horse battery staple 42"
ALERTING = AlertingSettings(system_contacts=("ops@dc.test",), chain_full_hours=6)


def run(db, **kwargs) -> dict[str, int]:
    return run_pass(db, alerting=kwargs.pop("alerting", ALERTING), **kwargs)


def alerts(db, kind: str | None = None) -> list[SecurityAlert]:
    with db.session() as s:
        query = select(SecurityAlert).order_by(SecurityAlert.id)
        rows = list(s.scalars(query.where(SecurityAlert.kind == kind) if kind else query))
        s.expunge_all()
        return rows


def sends(db) -> list[SecurityAlertDelivery]:
    with db.session() as s:
        rows = list(s.scalars(select(SecurityAlertDelivery).order_by(SecurityAlertDelivery.id)))
        s.expunge_all()
        return rows


def person(db, world, email: str, org: str = "A", grants=()) -> int:
    return add_user(db, world, email, org, grants, password_hash=hash_password(PASSWORD, rounds=4))


def configure(db, admin, organization_id: int, **values):
    current = read_settings(db, admin, organization_id, FAST).values()
    return save_settings(db, admin, organization_id, {**current, **values}, FAST)


def lock_out(accounts, email: str) -> None:
    for _ in range(FAST.lockout_threshold):
        accounts.authenticate(email, "wrong-password-x")


def admin_of(db, world, org: str):
    return load_principal(db, add_user(db, world, f"admin@{org.lower()}.example", org,
                                       [("Organization Administrator", "organization", org)]))


# ---- the detectors ---------------------------------------------------------------------------------------------


def test_lockout_burst_fires_at_the_threshold_once_per_burst_and_not_across_a_longer_window(db, world, accounts,
                                                                                           org_admin):
    configure(db, org_admin, world.orgs["A"], lockout_burst_accounts=3, lockout_burst_minutes=15)
    emails = [f"u{i}@a.example" for i in range(7)]
    for email in emails:
        person(db, world, email)
    run(db)  # starts watching: nothing before this is judged
    start = utcnow() + timedelta(days=1)
    with time_machine.travel(start, tick=False) as clock:
        lock_out(accounts, emails[0])
        clock.shift(timedelta(minutes=10))
        lock_out(accounts, emails[1])
        clock.shift(timedelta(minutes=10))  # the first lockout is now 20 minutes old: two in the window, not three
        lock_out(accounts, emails[2])
        assert run(db).get("lockout_burst") is None and alerts(db, "lockout_burst") == []
        clock.shift(timedelta(minutes=1))
        lock_out(accounts, emails[3])  # three accounts within 15 minutes
        assert run(db)["lockout_burst"] == 1
        lock_out(accounts, emails[4])  # the same burst goes on: no second alert
        assert run(db).get("lockout_burst") is None
        clock.shift(timedelta(minutes=20))  # a burst after the first one is over is a new one
        lock_out(accounts, emails[5])
        lock_out(accounts, emails[6])
        clock.shift(timedelta(minutes=1))
        lock_out(accounts, emails[0])
        assert run(db)["lockout_burst"] == 1
    first, second = alerts(db, "lockout_burst")
    assert first.organization_id == world.orgs["A"] and first.title == "3 accounts locked out within 15 minutes"
    assert {"u1@a.example", "u2@a.example", "u3@a.example"} <= set(re.findall(r"u\d@a\.example", first.detail))
    assert "u0@a.example" not in first.detail and second.title.startswith("3 accounts")


def test_denial_spike_counts_one_persons_refusals_in_the_window(db, world, org_admin):
    configure(db, org_admin, world.orgs["A"], denial_spike_count=5, denial_spike_minutes=10)
    viewer = load_principal(db, person(db, world, "vera@a.example", grants=[("Viewer", "organization", "A")]))
    other = load_principal(db, person(db, world, "otto@a.example", grants=[("Viewer", "organization", "A")]))
    run(db)

    def refuse(principal, times: int) -> None:
        for _ in range(times):
            with pytest.raises(Forbidden):
                deny(principal, "user:manage", ("organization", world.orgs["A"]))

    refuse(viewer, 4)
    refuse(other, 4)  # eight refusals in the organization, but four per person: below the threshold
    assert run(db).get("denial_spike") is None
    refuse(viewer, 1)
    assert run(db)["denial_spike"] == 1
    refuse(viewer, 5)  # still the same spike
    assert run(db).get("denial_spike") is None
    (spike,) = alerts(db, "denial_spike")
    assert spike.user_id == viewer.user_id and spike.organization_id == world.orgs["A"]
    assert spike.title == "vera@a.example was refused 5 times within 10 minutes" and "user:manage (5)" in spike.detail


def test_new_administrator_grant_of_built_in_and_custom_roles(db, world, org_admin):
    run(db)
    target = person(db, world, "nina@a.example")
    grant_role(db, org_admin, target, world.roles["Viewer"], "organization", world.orgs["A"])
    read_only = create_custom_role(db, org_admin, world.orgs["A"], "Readers", ["portfolio:read", "brand:read"])
    grant_role(db, org_admin, target, read_only, "organization", world.orgs["A"])
    assert run(db).get("admin_grant") is None  # neither role is administrative
    grant_role(db, org_admin, target, world.roles["Organization Administrator"], "organization", world.orgs["A"])
    helpdesk = create_custom_role(db, org_admin, world.orgs["A"], "Helpdesk", ["portfolio:read", "user:manage"])
    grant_role(db, org_admin, target, helpdesk, "project", world.projects["Ap1"])
    assert run(db)["admin_grant"] == 2
    built_in, custom = alerts(db, "admin_grant")
    assert built_in.title == "nina@a.example was made Organization Administrator"
    assert custom.title == "nina@a.example was made Helpdesk (custom)" and "olga@a.example" in custom.detail
    assert {built_in.user_id, custom.user_id} == {target} and built_in.organization_id == world.orgs["A"]


def test_mfa_and_security_key_resets(db, world, accounts, org_admin):
    target = person(db, world, "mira@a.example")
    run(db)
    accounts.reset_mfa(org_admin, target)
    reset_keys(accounts, org_admin, target)
    assert run(db)["mfa_reset"] == 2
    mfa, keys = alerts(db, "mfa_reset")
    assert mfa.title == "Two-factor sign-in was reset for mira@a.example"
    assert keys.title == "Security keys were removed for mira@a.example" and "By olga@a.example" in keys.detail


def test_sign_in_from_a_new_network_but_not_the_first_or_the_same_one(db, world, accounts):
    person(db, world, "lena@a.example")
    person(db, world, "ivan@a.example")
    run(db)

    def sign_in(email: str, ip: str) -> None:
        assert accounts.authenticate(email, PASSWORD, personal={"ip": ip}).ok

    sign_in("lena@a.example", "203.0.113.5")  # the very first sign-in: learned, not an alert
    sign_in("lena@a.example", "203.0.113.77")  # the same /24
    sign_in("ivan@a.example", "2001:db8:1::1")
    sign_in("ivan@a.example", "2001:db8:1:ffff::2")  # the same /48
    assert run(db).get("new_network") is None
    sign_in("lena@a.example", "198.51.100.4")
    sign_in("ivan@a.example", "2001:db8:2::1")
    sign_in("lena@a.example", "198.51.100.9")  # learned a moment ago: once is enough
    assert run(db)["new_network"] == 2
    lena, ivan = alerts(db, "new_network")
    assert lena.title == "lena@a.example signed in from a new network (198.51.100.0/24)"
    assert "203.0.113.0/24" in lena.detail and "198.51.100.4" in lena.detail
    assert ivan.title.endswith("(2001:db8:2::/48)")
    assert network_of("::ffff:192.0.2.7") == "192.0.2.0/24" and network_of("not an address") is None


def test_networks_signed_in_from_before_alerting_began_are_known(db, world, accounts):
    person(db, world, "lena@a.example")
    assert accounts.authenticate("lena@a.example", PASSWORD, personal={"ip": "203.0.113.5"}).ok
    run(db)  # the first pass learns the trail's sign-ins and raises nothing about them
    with db.session() as s:
        assert s.scalars(select(SecurityKnownNetwork.network)).all() == ["203.0.113.0/24"]
    assert accounts.authenticate("lena@a.example", PASSWORD, personal={"ip": "198.51.100.4"}).ok
    assert run(db)["new_network"] == 1


def test_a_tampered_new_event_is_found_at_the_next_pass_and_an_old_one_by_the_whole_walk(db, world, accounts,
                                                                                        org_admin):
    target = person(db, world, "mira@a.example")
    accounts.reset_mfa(org_admin, target)
    run(db)
    with db.session() as s:
        old = s.scalar(select(SecurityAlertState.verified_id))
    accounts.reset_mfa(org_admin, target)
    with db.session() as s:
        new = s.scalar(select(SecurityAlertState.verified_id)) + 1
    tamper(db, "UPDATE audit_events SET action = 'test.harmless' WHERE id = :id", {"id": new})
    assert run(db)["audit_chain"] == 1
    assert run(db).get("audit_chain") is None  # the same break is not raised again
    tamper(db, "UPDATE audit_events SET target_id = '999' WHERE id = :id", {"id": old})
    assert run(db).get("audit_chain") is None  # checked already: the incremental check does not look back
    with db.session() as s:  # ... but the whole walk does, within chain_full_hours
        s.execute(update(SecurityAlertState).values(full_verified_at=utcnow() - timedelta(hours=7)))
    assert run(db)["audit_chain"] == 1
    found = alerts(db, "audit_chain")
    assert [a.event_id for a in found] == [new, old] and all(a.organization_id is None for a in found)
    assert found[0].title == f"The audit trail's hash chain is broken at event #{new}"
    assert {d.target for d in sends(db)} >= {"ops@dc.test"}  # system-wide: the system's contacts


# ---- once, across passes and processes ---------------------------------------------------------------------------


def test_nothing_is_raised_twice_and_one_pass_runs_at_a_time(db, world, accounts, org_admin):
    target = person(db, world, "mira@a.example")
    run(db)
    accounts.reset_mfa(org_admin, target)
    assert _take_lease(db, utcnow())  # another process is in the middle of a pass
    assert run(db) == {"skipped": 1}
    with db.session() as s:
        s.execute(update(SecurityAlertState).values(lease_until=None))
    assert run(db)["mfa_reset"] == 1
    assert run(db).get("mfa_reset") is None
    with db.session() as s:  # a pass that died before moving the cursor reads the same events again
        s.execute(update(SecurityAlertState).values(cursor=0))
    assert run(db).get("mfa_reset") is None and len(alerts(db, "mfa_reset")) == 1


# ---- settings ----------------------------------------------------------------------------------------------------


def test_thresholds_and_contacts_are_validated_saved_and_audited_without_the_addresses(db, world, org_admin):
    org = world.orgs["A"]
    before = read_settings(db, org_admin, org, FAST)
    assert (before.lockout_burst_accounts, before.lockout_burst_minutes) == (5, 15)
    assert (before.denial_spike_count, before.denial_spike_minutes, before.security_contacts) == (20, 10, ())
    with pytest.raises(SettingsInvalid) as bad:
        configure(db, org_admin, org, lockout_burst_accounts=1, denial_spike_minutes="soon",
                  security_contacts="sec@a.example\nnot-an-address", security_webhook_url="ftp://hooks.example")
    assert bad.value.problems == {
        "lockout_burst_accounts": "Accounts locked in a burst must be a whole number between 2 and 1000.",
        "denial_spike_minutes": "Spike window (minutes) must be a whole number between 1 and 1440.",
        "security_contacts": "“not-an-address” is not an e-mail address (one address per line).",
        "security_webhook_url": "The security webhook expected an address starting with https:// (or http://) "
                                "and a host."}
    assert read_settings(db, org_admin, org, FAST) == before  # nothing half-applied
    saved, changes = configure(db, org_admin, org, lockout_burst_accounts=4, security_contacts=
                               "Sec@A.example, soc@a.example;sec@a.example", security_webhook_url="https://h.example/x")
    assert saved.security_contacts == ("sec@a.example", "soc@a.example") and saved.lockout_burst_accounts == 4
    assert set(changes) == {"lockout_burst_accounts", "security_contacts", "security_webhook_url"}
    with db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.changed")
                          .order_by(AuditEvent.id.desc())).first()
        assert event.data["changes"]["security_contacts"] == {"before": "0 addresses", "after": "2 addresses"}
        assert event.data["changes"]["security_webhook_url"] == {"before": "not set", "after": "set"}
        assert "sec@a.example" not in str(event.data) and "h.example" not in str(event.data)
        assert event.personal["security_contacts"]["after"] == ["sec@a.example", "soc@a.example"]


# ---- sending: real receivers ------------------------------------------------------------------------------------


def test_each_organization_hears_only_of_its_own_alerts(db, world, accounts, org_admin, mail, smtp, webhook):
    admin_b = admin_of(db, world, "B")
    configure(db, org_admin, world.orgs["A"], security_contacts="sec@a.example", security_webhook_url=webhook.url)
    configure(db, admin_b, world.orgs["B"], security_contacts="sec@b.example")
    in_a, in_b = person(db, world, "mira@a.example"), person(db, world, "bruno@b.example", org="B")
    run(db)
    accounts.reset_mfa(org_admin, in_a)
    accounts.reset_mfa(admin_b, in_b)
    result = run(db)
    assert result["mfa_reset"] == 2 and result["sent"] == 3
    (to_a,) = smtp.inbox.to("sec@a.example")
    (to_b,) = smtp.inbox.to("sec@b.example")
    assert " ".join(to_a["Subject"].split()) == \
        "[Digi-Cadence security] Two-factor sign-in was reset for mira@a.example"  # (a long subject is folded)
    assert "bruno" not in to_a.get_body(("plain",)).get_content() and "mira" not in to_b["Subject"]
    assert to_a["From"] == "reports@dc.test" and "Org A" in to_a.get_body(("plain",)).get_content()
    assert "http://dc.test/admin/audit" in to_a.get_body(("html",)).get_content()
    (hook,) = webhook.bodies
    assert hook["content_type"] == "application/json" and "mira@a.example" in hook["json"]["text"]
    assert "bruno" not in hook["json"]["text"] and "<http://dc.test/admin/audit|" in hook["json"]["text"]
    assert smtp.inbox.to("ops@dc.test") == []  # organizations' alerts are theirs, not the operators'
    listed = recent_alerts(db, org_admin)
    assert [a["title"] for a in listed] == ["Two-factor sign-in was reset for mira@a.example"]
    assert listed[0]["sent"] == "e-mail to sec@a.example: sent; webhook: sent"


def test_an_smtp_outage_is_retried_then_reported_and_nothing_is_lost(db, world, accounts, org_admin, mail, smtp):
    configure(db, org_admin, world.orgs["A"], security_contacts="sec@a.example")
    target = person(db, world, "mira@a.example")
    run(db)
    smtp.stop()
    accounts.reset_mfa(org_admin, target)
    assert run(db)["retrying"] == 1
    (row,) = sends(db)
    assert row.status == "retrying" and row.attempts == 1 and "could not reach the mail server" in row.last_error
    assert run(db).get("sent") is None  # not due yet (1 s backoff)
    smtp.start()
    time.sleep(1.1)
    assert run(db)["sent"] == 1
    assert len(smtp.inbox.to("sec@a.example")) == 1 and sends(db)[0].status == "sent"
    assert run(db).get("sent") is None and len(smtp.inbox.to("sec@a.example")) == 1  # once
    # An outage longer than the attempts: failed, with the reason, and the alert stays listed.
    smtp.stop()
    reset_keys(accounts, org_admin, target)
    failed_before = _metric("digicadence_security_alert_sends_total", channel="email", outcome="failed")
    run(db)
    for wait in (1.1, 2.1):
        time.sleep(wait)
        run(db)
    last = sends(db)[-1]
    assert last.status == "failed" and last.attempts == 3 and "gave up after 3 attempts" in last.last_error
    assert _metric("digicadence_security_alert_sends_total", channel="email", outcome="failed") == failed_before + 1
    listed = recent_alerts(db, org_admin)
    assert listed[0]["title"] == "Security keys were removed for mira@a.example" and listed[0]["problem"]
    assert "e-mail to sec@a.example: failed (could not reach the mail server" in listed[0]["sent"]
    assert len(alerts(db, "mfa_reset")) == 2


def test_no_contacts_means_stored_listed_and_said(db, world, accounts, org_admin, mail, smtp):
    target = person(db, world, "mira@a.example")
    run(db)
    accounts.reset_mfa(org_admin, target)
    assert run(db)["mfa_reset"] == 1 and sends(db) == [] and smtp.inbox.messages == []
    assert recent_alerts(db, org_admin)[0]["sent"] == "No security contacts were set: nobody was told."


# ---- who sees what, metrics, erasure -------------------------------------------------------------------------------


def test_the_list_is_scoped_and_system_alerts_are_for_system_administrators(db, world, accounts, org_admin,
                                                                           sysadmin):
    admin_b = admin_of(db, world, "B")
    in_a, in_b = person(db, world, "mira@a.example"), person(db, world, "bruno@b.example", org="B")
    run(db)
    accounts.reset_mfa(org_admin, in_a)
    accounts.reset_mfa(admin_b, in_b)
    accounts.authenticate("nobody@a.example", "wrong-password-x")  # the event that will be changed
    tamper(db, "UPDATE audit_events SET action = 'test.harmless' WHERE id = (SELECT max(id) FROM audit_events)", {})
    run(db)
    assert [a["title"] for a in recent_alerts(db, org_admin)] == ["Two-factor sign-in was reset for mira@a.example"]
    assert [a["title"] for a in recent_alerts(db, admin_b)] == ["Two-factor sign-in was reset for bruno@b.example"]
    everything = recent_alerts(db, sysadmin)
    assert len(everything) == 3 and {a["organization"] for a in everything} == {
        "Org A", "Org B", "System (all organizations)"}
    viewer = load_principal(db, person(db, world, "vera@a.example", grants=[("Viewer", "organization", "A")]))
    assert recent_alerts(db, viewer) == []


def _metric(name: str, **labels: str) -> float:
    """A series' value as /metrics shows it (0 before its first count)."""
    for line in metrics.render().decode().splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_alerts_by_kind(db, world, accounts, org_admin, tmp_path):
    from tests.support import make_app

    client = make_app(db, tmp_path).server.test_client()
    page = client.get("/metrics").get_data(as_text=True)
    for kind in ("lockout_burst", "denial_spike", "admin_grant", "mfa_reset", "new_network", "audit_chain"):
        assert f'digicadence_security_alerts_total{{kind="{kind}"}}' in page
    before = _metric("digicadence_security_alerts_total", kind="mfa_reset")
    target = person(db, world, "mira@a.example")
    run(db)
    accounts.reset_mfa(org_admin, target)
    accounts.reset_mfa(org_admin, target)
    run(db)
    run(db)
    page = client.get("/metrics").get_data(as_text=True)
    assert f'digicadence_security_alerts_total{{kind="mfa_reset"}} {before + 2}' in page


def test_erasing_a_person_takes_them_out_of_the_alerts(db, world, accounts, org_admin):
    target = person(db, world, "lena@a.example")
    assert accounts.authenticate("lena@a.example", PASSWORD, personal={"ip": "203.0.113.5"}).ok
    run(db)
    assert accounts.authenticate("lena@a.example", PASSWORD, personal={"ip": "198.51.100.4"}).ok
    accounts.reset_mfa(org_admin, target)
    run(db)
    accounts.erase_user(org_admin, target)
    for alert in alerts(db):
        assert "lena@a.example" not in alert.title + alert.detail and "198.51.100.4" not in alert.detail
    assert "an erased person" in alerts(db, "new_network")[0].title
    with db.session() as s:
        assert s.scalars(select(SecurityKnownNetwork).where(SecurityKnownNetwork.user_id == target)).all() == []
        assert s.get(User, target).erased_at is not None
