"""What an import found and did: counts, a sample for the preview table, and the errors.

One object serves the dry run and the commit, so the dashboard, the API and the CLI show the same
thing before and after the user confirms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Enough to fix a file by hand; past that the person needs the counts per reason, not more rows.
MAX_REPORTED_ERRORS = 200
SAMPLE_ROWS = 20
ERROR_COLUMNS = ("row", "column", "code", "reason")


class RowErrors:
    """Collects the validator's error frames; one frame per check keeps 100k bad rows cheap."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def file(self, code: str, reason: str, column: str | None = None) -> None:
        self.parts.append(pd.DataFrame([{"row": None, "column": column, "code": code, "reason": reason}]))

    def rows(self, rows: pd.Index | pd.Series, column: str, code: str, reasons: pd.Series | str) -> None:
        if len(rows) == 0:
            return
        rows = pd.Series(np.asarray(rows), dtype="Int64")
        reason = reasons.to_numpy() if isinstance(reasons, pd.Series) else reasons
        self.parts.append(pd.DataFrame({"row": rows, "column": column, "code": code, "reason": reason}))

    def frame(self) -> pd.DataFrame:
        parts = [p for p in self.parts if not p.empty]
        if not parts:
            return pd.DataFrame(columns=list(ERROR_COLUMNS))
        return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class RowError:
    """One problem. `row` is the row as seen in the file (header = 1); None for file-level errors."""

    row: int | None
    column: str | None
    code: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TableCounts:
    insert: int = 0
    update: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.insert + self.update + self.unchanged


@dataclass
class ImportReport:
    """Result of `preview` or `commit`. `committed` is True only after a successful commit."""

    kind: str
    filename: str
    sha256: str = ""
    total_rows: int = 0
    tables: dict[str, TableCounts] = field(default_factory=dict)
    sample: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    error_counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    channels_created: list[str] = field(default_factory=list)
    # Brands the file names that the organization lacks: to create once confirmed (preview), created (commit).
    new_brands: list[str] = field(default_factory=list)
    brands_created: list[str] = field(default_factory=list)
    committed: bool = False
    batch_id: int | None = None
    projects_recomputed: list[int] = field(default_factory=list)
    # Brands whose spend, outcomes or controls the commit changed (their models are out of date), and
    # the fit jobs submitted for them (core.jobs.refit.refit_after_import).
    refit_brands: list[int] = field(default_factory=list)
    fit_jobs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def to_insert(self) -> int:
        return sum(t.insert for t in self.tables.values())

    @property
    def to_update(self) -> int:
        return sum(t.update for t in self.tables.values())

    @property
    def unchanged(self) -> int:
        return sum(t.unchanged for t in self.tables.values())

    def add_errors(self, errors: list[RowError] | pd.DataFrame) -> None:
        """Keep the first MAX_REPORTED_ERRORS (by row) but count every one, per reason code too.

        Accepts a frame (row, column, code, reason) so 100k bad rows never become 100k objects.
        """
        frame = errors if isinstance(errors, pd.DataFrame) else pd.DataFrame(
            [e.to_dict() for e in errors], columns=list(ERROR_COLUMNS))
        if frame.empty:
            return
        for code, n in frame["code"].value_counts().items():
            self.error_counts[str(code)] = self.error_counts.get(str(code), 0) + int(n)
        self.error_count += len(frame)
        frame = frame.assign(_r=frame["row"].astype("Float64").fillna(0)).sort_values(["_r"], kind="stable")
        head = [
            RowError(None if pd.isna(r.row) else int(r.row), None if pd.isna(r.column) else str(r.column),
                     str(r.code), str(r.reason))
            for r in frame.head(MAX_REPORTED_ERRORS).itertuples(index=False)
        ]
        merged = sorted([*self.errors, *head], key=lambda e: e.row or 0)
        self.errors = merged[:MAX_REPORTED_ERRORS]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API and `--json`."""
        return {
            "kind": self.kind,
            "filename": self.filename,
            "sha256": self.sha256,
            "ok": self.ok,
            "committed": self.committed,
            "batch_id": self.batch_id,
            "total_rows": self.total_rows,
            "to_insert": self.to_insert,
            "to_update": self.to_update,
            "unchanged": self.unchanged,
            "tables": {name: {**asdict(c), "total": c.total} for name, c in self.tables.items()},
            "channels_created": self.channels_created,
            "new_brands": self.new_brands,
            "brands_created": self.brands_created,
            "projects_recomputed": self.projects_recomputed,
            "refit_brands": self.refit_brands,
            "fit_jobs": self.fit_jobs,
            "error_count": self.error_count,
            "error_counts": self.error_counts,
            "errors": [e.to_dict() for e in self.errors],
            "warnings": self.warnings,
            "sample": self.sample,
        }

    def format_text(self) -> str:
        """A plain-text report for terminals and logs: summary, per-table counts, errors as a table."""
        verb = "committed" if self.committed else (
            "preview, nothing written" if self.ok else "rejected, nothing written")
        lines = [f"{self.filename}: {self.kind} import, {verb}", f"rows in file: {self.total_rows}"]
        if self.batch_id is not None:
            lines.append(f"import batch: {self.batch_id}")
        if self.tables:
            width = max(len(n) for n in [*self.tables, "table"])
            lines.append(f"{'table':<{width}}  {'insert':>8}  {'update':>8}  {'unchanged':>9}")
            for name, c in self.tables.items():
                lines.append(f"{name:<{width}}  {c.insert:>8}  {c.update:>8}  {c.unchanged:>9}")
        if self.channels_created:
            lines.append(("new channels: " if self.committed else "channels to create: ")
                         + ", ".join(self.channels_created))
        if self.new_brands:
            lines.append(("new brands: " if self.committed else "brands to create (confirm them): ")
                         + ", ".join(self.new_brands))
        if self.projects_recomputed:
            lines.append("scores recomputed for projects: " + ", ".join(map(str, self.projects_recomputed)))
        if self.fit_jobs:
            lines.append(f"models refitted (jobs): {', '.join(self.fit_jobs)}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        if self.errors:
            shown = f" (first {len(self.errors)} shown)" if self.error_count > len(self.errors) else ""
            lines.append(f"errors: {self.error_count}{shown}")
            rows = [("row", "column", "reason")] + [
                ("-" if e.row is None else str(e.row), e.column or "-", e.reason) for e in self.errors
            ]
            w0 = max(len(r[0]) for r in rows)
            w1 = min(max(len(r[1]) for r in rows), 40)
            lines.extend(f"{r[0]:>{w0}}  {r[1]:<{w1}}  {r[2]}" for r in rows)
            if len(self.error_counts) > 1:
                lines.append("by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(self.error_counts.items())))
        return "\n".join(lines)
