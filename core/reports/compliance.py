"""Compliance report: one organization's access review, audit extract (with the hash chain's check),
retention status and data-subject requests, for an auditor, as PDF or XLSX.

params: {"organization_id": id} and optionally {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"} (the audit
and request period; default the 30 days to today) and {"today": "YYYY-MM-DD"} (the day the report is
as of; default the real today — tests pin it). Read through core.compliance with `compliance:read`,
never `report:export`: an auditor needs no right to the portfolio's figures.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd

from core import compliance as c
from core.db import Database
from core.reports.access import check_keys
from core.reports.document import Document, Kpi, Kpis, Table, Text
from core.security import Principal

PARAMS = {"organization_id", "start", "end", "today"}


def _today(params: dict[str, Any]) -> date:
    value = params.get("today")
    if value in (None, ""):
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"today must be a date like 2026-11-30, not {value!r}") from None


def _read(db: Database, principal: Principal, params: dict[str, Any]) -> tuple[int, str, c.Period, date]:
    check_keys(params, PARAMS)
    today = _today(params)
    period = c.read_period(params.get("start"), params.get("end"), today)
    if params.get("organization_id") in (None, ""):
        raise ValueError("organization_id is required")
    name = c.organization_name(db, principal, params["organization_id"])
    return int(params["organization_id"]), name, period, today


def check(db: Database, principal: Principal, params: dict[str, Any]) -> None:
    """The parameters and the organization's scope, building nothing (a job's submit check)."""
    _read(db, principal, params)


def _chain_words(extract: c.AuditExtract) -> str:
    chain = extract.chain
    if chain.ok:
        return f"The audit trail's hash chain verifies: {chain.checked:,} events checked, none changed or missing."
    return (f"The audit trail's hash chain does NOT verify: event #{chain.broken_id} is changed or missing "
            f"({chain.reason}). Treat every event from there on as unproven.")


def build(db: Database, principal: Principal, params: dict[str, Any]) -> Document:
    org, name, period, today = _read(db, principal, params)
    now = datetime.combine(today, time.max, tzinfo=UTC)
    people = c.access_review(db, org, now)
    extract = c.audit_extract(db, org, period)
    retention = c.retention_status(db, org, now)
    requests = c.subject_requests(db, org, period)
    counts = c.headline(people, requests)
    doc = Document(title="Compliance report", organization=name, period=period.label(),
                   subtitle=f"Access, audit trail, retention and data-subject requests · as of {today:%d %b %Y}",
                   filename_stem=f"compliance-{org}-{period.start:%Y%m%d}-{period.end:%Y%m%d}", created=today)
    doc.classification = "confidential"  # people's addresses and sign-ins, the trail: watermarked and audited
    doc.add(
        Kpis([Kpi("People with access", counts["active"], "int"),
              Kpi("Without a second factor", counts["without_second_factor"], "int", "active people"),
              Kpi(f"No sign-in for {c.STALE_DAYS} days", counts["stale"], "int", "active people: review their access"),
              Kpi("Audit events in the period", extract.total, "int"),
              Kpi("Open data-subject requests", counts["open_requests"], "int")]),
        Text(_chain_words(extract)),
        Text("Every person of the organization, each role with the scope it is granted at, the highest data "
             "classification they may read, the second factors they can use and their last sign-in.", muted=True),
        Table("Access review", pd.DataFrame(people).drop(columns=["days_since_sign_in"], errors="ignore"),
              sheet="Access review", headers={"second_factor": "Second factor", "last_sign_in": "Last sign-in"},
              pdf_columns=["person", "status", "roles", "clearance", "second_factor", "last_sign_in"]),
        Table("Data-subject requests", pd.DataFrame(requests, columns=["when", "request", "person", "by", "state"]),
              sheet="Subject requests", note="" if requests else "No requests in the period."),
        Text("What the organization keeps, and when the oldest rows kept now will be deleted (audit events "
             "move to the archive, where the chain still verifies).", muted=True),
        Table("Retention", pd.DataFrame(retention), sheet="Retention",
              headers={"kept_days": "Kept (days)", "older_than_goes": "Older than this goes",
                       "oldest_kept": "Oldest kept", "next_goes": "Oldest goes"}),
        Text(f"Audit extract: {extract.total:,} events in the period" + (
            f"; the first {len(extract.rows):,} are listed (the Audit page pages through all)." if extract.cut
            else "."), muted=True),
        Table("Events by action", pd.DataFrame(list(extract.by_action.items()), columns=["action", "events"]),
              formats={"events": "int"}),
        Table("Audit events", pd.DataFrame(extract.rows, columns=["event", "when", "action", "actor", "target",
                                                                  "details"]),
              sheet="Audit events", max_rows_pdf=200, formats={"event": "int"},
              pdf_columns=["when", "action", "actor", "target"]),
    )
    return doc
