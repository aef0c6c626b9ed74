"""The audit chain's check, cheap at every pass and whole every few hours.

Every pass: the event the previous pass ended on must still carry the hash it had then (else the trail was
rewritten from there on), and the events after it must link and hash correctly (`verify_chain` from that
event). At least every `AlertingSettings.chain_full_hours` the whole trail, archive included, is walked
again, so a changed old event is found within that time however far back it lies.

A break raises one system-wide finding per broken event and reason. The incremental check then goes on
from the broken event's stored hash, so a later break is still seen, and the same break is not raised again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import AuditArchive, AuditEvent, SecurityAlertState
from core.security.audit import GENESIS_HASH, VerifyResult, chain_head, verify_chain
from core.security_alerts.detectors import Finding, aware, clock

MAX_BREAKS = 20  # breaks reported by one pass (a trail rewritten wholesale raises one alert per break up to this)
_REASONS = {"prev_hash": "link", "hash does": "content"}


def _stored_hash(session: Session, event_id: int) -> str | None:
    for model in (AuditEvent, AuditArchive):
        found = session.scalar(select(model.hash).where(model.id == event_id))
        if found is not None:
            return found
    return None


def _moment(session: Session, event_id: int | None, now: datetime) -> datetime:
    found = session.scalar(select(AuditEvent.created_at).where(AuditEvent.id == event_id)) if event_id else None
    return aware(found) if found is not None else now


def _finding(session: Session, broken_id: int, code: str, reason: str, intact: str, now: datetime) -> Finding:
    moment = _moment(session, broken_id, now)
    return Finding(
        None, "audit_chain", "chain", f"{broken_id}:{code}",
        f"The audit trail's hash chain is broken at event #{broken_id}",
        f"{reason[0].upper()}{reason[1:]} (found {clock(now)}). {intact} An event was changed, removed or inserted "
        "outside the app: compare the trail with a verified backup (docs/OPERATIONS.md, \"Backups\") and find out "
        "who had write access to the database.", moment, broken_id)


def _from_result(session: Session, result: VerifyResult, now: datetime, whole: bool) -> Finding:
    code = next((c for prefix, c in _REASONS.items() if (result.reason or "").startswith(prefix)), "other")
    intact = (f"The {result.checked} events before it are intact." if whole else
              "The events checked before it are intact.")
    return _finding(session, int(result.broken_id), code, result.reason or "the chain does not match", intact, now)


def initial(session: Session) -> tuple[int, str]:
    """Where the incremental check starts on a trail first watched: its newest event."""
    last_id = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    return int(last_id or 0), chain_head(session) or GENESIS_HASH


def check(session: Session, state: SecurityAlertState, now: datetime, full_every: timedelta) -> list[Finding]:
    """Findings of this pass's chain check; moves `state.verified_*` (and `full_verified_at`) on."""
    findings: list[Finding] = []
    anchor_id, anchor_hash = state.verified_id, state.verified_hash or GENESIS_HASH
    if anchor_id:
        now_hash = _stored_hash(session, anchor_id)
        if now_hash is None:  # retention moved it and its copy is gone: only the whole walk can tell
            state.full_verified_at = None
        elif now_hash != anchor_hash:
            findings.append(_finding(session, anchor_id, "rewritten",
                                     f"event #{anchor_id} no longer carries the hash it had when it was checked",
                                     "The trail was rewritten from there on.", now))
            anchor_hash = now_hash
    while len(findings) < MAX_BREAKS:
        result = verify_chain(session, anchor=anchor_hash, after_id=anchor_id)
        if result.last_id is not None:
            anchor_id, anchor_hash = result.last_id, result.last_hash
        if result.ok:
            break
        findings.append(_from_result(session, result, now, whole=False))
        anchor_id = int(result.broken_id)  # go on from the broken event as it is stored now
        anchor_hash = _stored_hash(session, anchor_id) or anchor_hash
    state.verified_id, state.verified_hash = anchor_id, anchor_hash
    if state.full_verified_at is None or now - aware(state.full_verified_at) >= full_every:
        whole = verify_chain(session)
        state.full_verified_at = now
        if not whole.ok:
            findings.append(_from_result(session, whole, now, whole=True))
    return findings
