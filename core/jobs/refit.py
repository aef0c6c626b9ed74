"""After an import: one "fit" job per brand whose spend, outcomes or controls changed.

Called by the import's commit paths once the rows are committed (core.imports.uploads.commit_upload
for the page, the API's POST /imports). The import is already written, so nothing here may undo or
fail it: a brand the importer may not model (no scenario:run), a history that cannot be fitted yet
(too short, no revenue) or a queue that refuses is logged and noted in the report's warnings, and
the brand keeps its previous fit until someone fits it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.imports.report import ImportReport
from core.jobs.fit_kind import FIT, RUN
from core.jobs.kinds import JobInputError
from core.jobs.queue import Dispatcher, submit
from core.models import Brand
from core.security import Principal, can

log = logging.getLogger(__name__)


def refit_after_import(db: Database, principal: Principal, report: ImportReport, *,
                       dispatcher: Dispatcher | None = None) -> list[str]:
    """Submit a fit job (trigger "import") per brand in `report.refit_brands`; returns the job ids, also kept
    in `report.fit_jobs`. Never raises: each brand it could not queue becomes a warning on the report."""
    if not report.committed or not report.refit_brands:
        return []
    with db.session() as s:
        names = dict(s.execute(select(Brand.id, Brand.name).where(Brand.id.in_(report.refit_brands))).all())
    for brand_id in report.refit_brands:
        name = names.get(brand_id, f"brand {brand_id}")
        if not can(principal, RUN, ("brand", brand_id)):
            report.warnings.append(f"{name}: the model was not refitted (you may not run models for this brand); "
                                   "an analyst can fit it on the Model review page.")
            continue
        try:
            report.fit_jobs.append(submit(db, principal, FIT, {"brand_id": brand_id, "trigger": "import"},
                                          dispatcher=dispatcher))
        except JobInputError as exc:
            report.warnings.append(f"{name}: the model was not refitted: {exc.reason.removeprefix('this brand ')}")
        except Exception as exc:  # the queue is down or full: the data stays imported
            log.warning("import batch %s: could not queue a refit of brand %s: %s", report.batch_id, brand_id, exc)
            report.warnings.append(f"{name}: the model could not be queued for refitting ({_why(exc)}); "
                                   "fit it on the Model review page later.")
    return list(report.fit_jobs)


def _why(exc: Any) -> str:
    text = str(exc).strip()
    return text[:200] if text else type(exc).__name__
