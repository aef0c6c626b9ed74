"""Import metric values and spend/outcome/control series from CSV or XLSX files.

Use `preview` for a dry run and `commit` to write; both take a path, bytes or a file-like
object (plus `filename`) and a mapping (dict or `ImportSpec`), and return an `ImportReport`;
a file over the import limits raises `FileRefused` instead (nothing read past the limit, nothing
written).
Pure of Flask and Dash so the dashboard, the REST API, jobs and the CLI share it.
"""

from core.imports.mapping import CategoricalControl, ImportSpec, MappingError, load_spec, parse_spec
from core.imports.readers import FileError, FileRefused
from core.imports.report import MAX_REPORTED_ERRORS, ImportReport, RowError, TableCounts
from core.imports.service import commit, preview

__all__ = [
    "MAX_REPORTED_ERRORS", "CategoricalControl", "FileError", "FileRefused", "ImportReport", "ImportSpec",
    "MappingError", "RowError", "TableCounts", "commit", "load_spec", "parse_spec", "preview",
]
