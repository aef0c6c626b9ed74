"""Uploads for the dashboard's import page: kept on the server between the preview and the commit.

The file's bytes travel from the browser once, when it is uploaded; the browser then holds only
a random token. A preview binds the upload to an organization and a mapping; the commit writes
exactly those bytes with exactly that mapping, and only after a clean preview of them, so a
different file (or a mapping edited after the preview) is never committed unseen. Validation,
diff and the all-or-nothing write are `core.imports.service`'s; this module adds who may, the
staging and the audit event.

`metrics:import` is needed on the organization as a whole: an import writes any of its brands.

A file over the import limits (`ImportLimits`) is refused with the limit in the message: an .xlsx
bomb already when it is uploaded (its declared sizes say so), one with too many rows at the
preview, which then drops the staged file. Nothing is imported either way.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from core.alert_rules import evaluate_quietly
from core.config import PROJECT_ROOT, ImportLimits
from core.db import Database
from core.imports.mapping import MappingError, parse_spec
from core.imports.readers import EXTENSIONS, FileError, FileRefused, RawFile, check_size, read_table
from core.imports.report import ImportReport, RowError
from core.imports.service import commit, preview
from core.jobs.queue import Dispatcher
from core.jobs.refit import refit_after_import
from core.models import Brand, ImportUpload, Organization, Project, utcnow
from core.security.audit import Action, record
from core.security.authorizer import authorize, can, deny, scope_filter
from core.security.permissions import Permission
from core.security.principal import Principal

IMPORT = Permission.METRICS_IMPORT.value
# Creating the brands an import names but the organization lacks (after the preview lists them).
CREATE_BRANDS = Permission.PORTFOLIO_MANAGE.value
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_TTL = timedelta(minutes=30)


class UploadRejected(ValueError):
    """The upload or the step cannot go on; the message is meant for the person."""


@dataclass(frozen=True)
class StagedUpload:
    token: str
    filename: str
    size: int
    sha256: str


def _key(token: Any) -> str | None:
    return hashlib.sha256(token.encode()).hexdigest() if isinstance(token, str) and 20 <= len(token) <= 100 else None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _require_import(principal: Principal, organization_id: Any) -> int:
    """The organization id, if the principal may import into it (Forbidden, audited, otherwise)."""
    try:
        ident = int(organization_id)
    except (TypeError, ValueError):
        deny(principal, IMPORT, ("organization", organization_id), "not an organization id")
    authorize(principal, IMPORT, ("organization", ident))
    return ident


def import_organizations(db: Database, principal: Principal) -> list[dict]:
    """Organizations the principal may import into (a system administrator sees all of them)."""
    with db.session() as s:
        rows = s.execute(select(Organization.id, Organization.name)
                         .where(scope_filter(principal, IMPORT, Organization)).order_by(Organization.name)).all()
    return [{"id": r.id, "name": r.name} for r in rows]


def import_brands(db: Database, principal: Principal, organization_id: Any) -> list[str]:
    """Brands of the organization, for a mapping that fixes the brand of the whole file."""
    ident = _require_import(principal, organization_id)
    with db.session() as s:
        return list(s.scalars(select(Brand.name).where(Brand.organization_id == ident).order_by(Brand.name)))


def stage_upload(db: Database, principal: Principal, filename: str, data: bytes,
                 limits: ImportLimits | None = None) -> StagedUpload:
    """Keep an uploaded file for this person for `UPLOAD_TTL`; too large (also once unpacked) or of a
    wrong type is refused, and then nothing is stored."""
    if principal.user_id is None or principal.scopes(IMPORT).empty:
        deny(principal, IMPORT, ("system", None), "permission not held")
    name = Path(str(filename or "")).name[:300]
    if Path(name).suffix.lower() not in EXTENSIONS:
        raise UploadRejected(f"“{name or 'this file'}” is not a CSV or XLSX file: upload a .csv or .xlsx file.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRejected(f"“{name}” is {len(data) / 1048576:.1f} MB; the limit is "
                             f"{MAX_UPLOAD_BYTES // 1048576} MB. Split the file and import the parts.")
    if not data.strip():
        raise UploadRejected(f"“{name}” is empty.")
    try:
        check_size(RawFile(name, data), limits)
    except FileRefused as exc:
        raise UploadRejected(exc.reason) from exc
    except FileError:
        pass  # an unreadable file is explained, with the other problems, by the preview
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(data).hexdigest()
    now = utcnow()
    with db.session() as s:
        s.execute(delete(ImportUpload).where(ImportUpload.expires_at < now))
        s.add(ImportUpload(id=_key(token), user_id=principal.user_id, filename=name, sha256=digest, size=len(data),
                           data=data, created_at=now, expires_at=now + UPLOAD_TTL))
    return StagedUpload(token, name, len(data), digest)


def owns_upload(db: Database, principal: Principal, token: Any) -> bool:
    """Whether `token` names a live upload of this very person (a token posted by a browser is checked here)."""
    key = _key(token)
    if key is None or principal.user_id is None:
        return False
    with db.session() as s:
        row = s.execute(select(ImportUpload.user_id, ImportUpload.expires_at).where(ImportUpload.id == key)).first()
    return row is not None and row.user_id == principal.user_id and _aware(row.expires_at) > utcnow()


def _upload(session, principal: Principal, token: Any) -> ImportUpload:
    key = _key(token)
    row = session.get(ImportUpload, key) if key else None
    if row is None or row.user_id != principal.user_id or _aware(row.expires_at) <= utcnow():
        raise UploadRejected("This upload has expired or is not yours: upload the file again.")
    return row


@dataclass(frozen=True)
class UploadHead:
    """A staged file's header and first rows, for the column form and its preview table."""

    headers: list[str]
    rows: list[list[str]]


def upload_head(db: Database, principal: Principal, token: Any, limits: ImportLimits | None = None,
                rows: int = 5) -> UploadHead:
    """The header and the first `rows` rows of this person's staged file, read within the import limits;
    UploadRejected (in words for the person) when it cannot be read."""
    with db.session() as s:
        row = _upload(s, principal, token)
        raw = RawFile(row.filename, bytes(row.data))
    try:
        table = read_table(raw, limits)
    except FileError as exc:
        reason = exc.reason[:1].upper() + exc.reason[1:]
        raise UploadRejected(reason if reason.endswith(".") else reason + ".") from exc
    return UploadHead([str(c) for c in table.columns], table.head(rows).astype(str).to_numpy().tolist())


def _spec(mapping: Any, kind: str | None, brand: str | None):
    """The mapping with the chosen fixed brand applied (bad mappings pass through for the report)."""
    if not brand:
        return mapping
    try:
        return parse_spec(mapping, kind=kind).with_brand(brand)
    except MappingError:
        return mapping


def _refused(db: Database, token: Any, exc: FileRefused) -> UploadRejected:
    """The staged file can never be imported: drop it, and say which limit it passed."""
    with db.session() as s:
        s.execute(delete(ImportUpload).where(ImportUpload.id == _key(token)))
    return UploadRejected(f"{exc.reason} Nothing was imported; upload the parts as new files.")


def preview_upload(db: Database, principal: Principal, token: Any, organization_id: Any, mapping: Any,
                   kind: str | None, brand: str | None = None, limits: ImportLimits | None = None) -> ImportReport:
    """Dry run of the staged file; a clean one is remembered (organization, mapping) for the commit."""
    org = _require_import(principal, organization_id)
    with db.session() as s:
        row = _upload(s, principal, token)
        data, filename = bytes(row.data), row.filename
        row.preview_ok = False
    if not isinstance(mapping, Mapping):
        report = ImportReport(kind=kind or "", filename=filename)
        report.add_errors([RowError(None, None, "invalid_mapping", "the mapping must be a JSON object")])
        return report
    try:
        report = preview(db, org, data, _spec(dict(mapping), kind, brand), filename=filename, kind=kind,
                         limits=limits, new_brands=can(principal, CREATE_BRANDS, ("organization", org)))
    except FileRefused as exc:
        raise _refused(db, token, exc) from exc
    with db.session() as s:
        row = _upload(s, principal, token)
        if report.sha256 and row.sha256 != report.sha256:  # stored bytes that are not the upload: never commit
            raise UploadRejected("The stored upload does not match its checksum: upload the file again.")
        row.organization_id = org
        row.spec = {"mapping": dict(mapping), "kind": kind, "brand": brand or None, "new_brands": report.new_brands}
        row.preview_ok = report.ok
    return report


def _check_confirmation(principal: Principal, org: int, listed: list[str], create_brands: Any) -> list[str] | None:
    """The brands to create: exactly those the preview listed, confirmed by someone who may create brands."""
    if not listed and not create_brands:
        return None
    if not listed or not isinstance(create_brands, list | tuple):
        raise UploadRejected("This file names brands that are not in the organization: preview it again and "
                             "confirm the new brands it lists.")
    authorize(principal, CREATE_BRANDS, ("organization", org))
    if sorted(str(n).casefold() for n in create_brands) != sorted(n.casefold() for n in listed):
        raise UploadRejected("The brands confirmed are not the ones the preview listed: preview the file again.")
    return list(listed)


def commit_upload(db: Database, principal: Principal, token: Any, organization_id: Any,
                  limits: ImportLimits | None = None, create_brands: Any = None, *,
                  dispatcher: Dispatcher | None = None) -> ImportReport:
    """Write the previewed file, all rows or none, as previewed; an ImportBatch and an audit event record it.

    Brands whose spend, outcomes or controls changed get a fit job each (core.jobs.refit; the app's
    queue, or `dispatcher`); a refit that cannot be queued is a warning on the report, never a failure.

    `create_brands` confirms the new brands the preview listed (all of them, exactly); a file that
    names new brands is refused without it.
    """
    org = _require_import(principal, organization_id)
    with db.session() as s:
        row = _upload(s, principal, token)
        if not row.preview_ok or row.spec is None:
            raise UploadRejected("Preview this file first; only a preview without errors can be committed.")
        if row.organization_id != org:
            raise UploadRejected("This file was previewed for another organization: preview it again.")
        data, filename, digest, spec = bytes(row.data), row.filename, row.sha256, dict(row.spec)
    confirmed = _check_confirmation(principal, org, list(spec.get("new_brands") or []), create_brands)
    if hashlib.sha256(data).hexdigest() != digest:
        raise UploadRejected("The stored upload does not match the previewed file: upload it again.")
    try:
        report = commit(db, org, data, _spec(spec["mapping"], spec["kind"], spec["brand"]),
                        principal.user_id, filename=filename, kind=spec["kind"], limits=limits,
                        new_brands=confirmed is not None, create_brands=confirmed)
    except FileRefused as exc:  # the limits were lowered since the preview
        raise _refused(db, token, exc) from exc
    if not report.committed:
        return report
    with db.session() as s:
        s.execute(delete(ImportUpload).where(ImportUpload.id == _key(token)))
        record(s, Action.IMPORT_COMMITTED, actor=principal, organization_id=org,
               target=("import_batch", report.batch_id),
               data={"kind": report.kind, "filename": filename, "sha256": digest, "rows": report.total_rows,
                     "inserted": report.to_insert, "updated": report.to_update, "unchanged": report.unchanged,
                     "projects_recomputed": report.projects_recomputed, "brands_created": report.brands_created})
    refit_after_import(db, principal, report, dispatcher=dispatcher)
    evaluate_quietly(db, org)  # the alert rules see the new months (a refit's own follow-up runs them again)
    return report


# Long layouts need no file of their own: the column roles are the defaults.
_LONG_MAPPINGS = {
    "metrics": ("Long: brand, metric, period, value (monthly)", {"kind": "metrics", "layout": "long",
                                                                  "granularity": "month"}),
    "marketing": ("Long: brand, channel, period, amount (weekly spend)", {"kind": "marketing", "layout": "long",
                                                                          "granularity": "week"}),
}


def shipped_mappings(kind: str) -> dict[str, tuple[str, dict]]:
    """{name: (label, mapping)} for `kind`: the long layout and every example in docs/import-mappings/."""
    found: dict[str, tuple[str, dict]] = {}
    if kind in _LONG_MAPPINGS:
        found[f"{kind}-long"] = _LONG_MAPPINGS[kind]
    for path in sorted((PROJECT_ROOT / "docs" / "import-mappings").glob("*.json")):
        try:
            mapping = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(mapping, dict) and mapping.get("kind") == kind:
            found[path.stem] = (f"{path.name} ({mapping.get('layout', 'long')})", mapping)
    return found


def project_names(db: Database, project_ids: list[int]) -> list[str]:
    """Names of the projects a commit re-scored (ids from the commit's own report, not from a browser)."""
    if not project_ids:
        return []
    with db.session() as s:
        return list(s.scalars(select(Project.name).where(Project.id.in_(project_ids)).order_by(Project.name)))
