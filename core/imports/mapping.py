"""The import mapping: which file columns mean what. A small dict/JSON, validated up front.

Two layouts:

* **long** — one observation per row. Metrics: brand, metric, period, value. Marketing: brand,
  channel, period, amount (spend only). `columns` renames those roles to the file's headers.
* **wide** — one row per period (and brand): `date_column`, then `metrics` (metrics kind) or
  `spend`, `exposures`, `revenue`, `units`, `controls`, `categorical_controls` (marketing kind).

The brand is fixed for the whole file (`brand`) or read from a column (`brand_column`; in long
format the `brand` role). Every problem is reported at once in `MappingError.problems`, so a
person editing the JSON fixes it in one go.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

KINDS = ("metrics", "marketing")
LAYOUTS = ("long", "wide")
GRANULARITIES = ("week", "month")
LONG_ROLES = {
    "metrics": ("brand", "metric", "period", "value"),
    "marketing": ("brand", "channel", "period", "amount"),
}
_KNOWN_KEYS = {
    "kind", "layout", "granularity", "date_format", "brand", "brand_column", "source", "columns",
    "date_column", "metrics", "spend", "exposures", "revenue", "units", "controls",
    "categorical_controls", "channels", "description", "$schema",
}


class MappingError(ValueError):
    """The mapping itself is wrong (not the data). `problems` lists every issue found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid import mapping: " + "; ".join(problems))


@dataclass(frozen=True)
class CategoricalControl:
    """A text column turned into 0/1 indicator controls named `<name>:<value>`.

    Values in `none` (e.g. "na", "") mean "no event" and get no indicator of their own.
    """

    name: str
    none: tuple[str, ...] = ("", "na", "n/a", "none", "null")


@dataclass(frozen=True)
class ImportSpec:
    """A validated mapping. Build it with `parse_spec` (from a dict) or `load_spec` (from JSON)."""

    kind: str
    layout: str = "long"
    granularity: str = "month"
    date_format: str | None = None
    brand: str | None = None
    brand_column: str | None = None
    source: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    date_column: str | None = None
    metrics: dict[str, str] = field(default_factory=dict)
    spend: dict[str, str] = field(default_factory=dict)
    exposures: dict[str, str] = field(default_factory=dict)
    revenue: tuple[str, ...] = ()
    units: str | None = None
    controls: dict[str, str] = field(default_factory=dict)
    categorical_controls: dict[str, CategoricalControl] = field(default_factory=dict)
    channels: tuple[str, ...] = ()

    def column(self, role: str) -> str:
        """The file header holding a long-format role (defaults to the role's own name)."""
        return self.columns.get(role, role)

    def with_brand(self, brand: str) -> ImportSpec:
        """The same mapping with a fixed brand (the CLI's --brand, a dashboard brand picker)."""
        columns = {k: v for k, v in self.columns.items() if k != "brand"}
        return replace(self, brand=brand, brand_column=None, columns=columns)

    def required_columns(self) -> list[str]:
        """Every header the file must have; a missing one is a file-level error."""
        if self.layout == "long":
            roles = LONG_ROLES[self.kind]
            return [self.column(r) for r in roles if not (r == "brand" and self.brand)]
        cols = [self.date_column or ""]
        if self.brand_column:
            cols.append(self.brand_column)
        cols += [*self.metrics, *self.spend, *self.exposures, *self.revenue]
        cols += [self.units] if self.units else []
        cols += [*self.controls, *self.categorical_controls]
        return list(dict.fromkeys(cols))


def _str_map(raw: Any, key: str, problems: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, list):  # ["tv_S", ...] means "same name"
        raw = {str(v): str(v) for v in raw}
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in raw.items()
    ):
        problems.append(f"'{key}' must be an object of column name → non-empty name")
        return {}
    return {k.strip(): v.strip() for k, v in raw.items()}


def parse_spec(raw: Mapping[str, Any] | ImportSpec, *, kind: str | None = None) -> ImportSpec:
    """Validate a mapping dict. `kind` (from the caller) fills in or must agree with the mapping's."""
    if isinstance(raw, ImportSpec):
        if kind and raw.kind != kind:
            raise MappingError([f"mapping is for kind '{raw.kind}', not '{kind}'"])
        return raw
    if not isinstance(raw, Mapping):
        raise MappingError(["mapping must be a JSON object"])
    problems: list[str] = []
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        problems.append("unknown key(s): " + ", ".join(unknown))

    spec_kind = raw.get("kind") or kind
    if kind and raw.get("kind") and raw["kind"] != kind:
        problems.append(f"mapping is for kind '{raw['kind']}', not '{kind}'")
    if spec_kind not in KINDS:
        problems.append(f"'kind' must be one of {', '.join(KINDS)} (got {spec_kind!r})")
        raise MappingError(problems)
    layout = raw.get("layout", "long")
    if layout not in LAYOUTS:
        problems.append(f"'layout' must be one of {', '.join(LAYOUTS)} (got {layout!r})")
    granularity = raw.get("granularity", "month" if spec_kind == "metrics" else "week")
    if granularity not in GRANULARITIES:
        problems.append(f"'granularity' must be 'week' or 'month' (got {granularity!r})")
    elif spec_kind == "metrics" and granularity != "month":
        problems.append("metric values are monthly (first day of the month): use granularity 'month'")

    def opt_str(key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            problems.append(f"'{key}' must be a non-empty string")
            return None
        return value.strip()

    brand, brand_column = opt_str("brand"), opt_str("brand_column")
    date_format, source, date_column, units = (
        opt_str("date_format"), opt_str("source"), opt_str("date_column"), opt_str("units"))
    if source and len(source) > 80:
        problems.append("'source' is longer than 80 characters")
    columns = _str_map(raw.get("columns"), "columns", problems)
    metrics = _str_map(raw.get("metrics"), "metrics", problems)
    spend = _str_map(raw.get("spend"), "spend", problems)
    exposures = _str_map(raw.get("exposures"), "exposures", problems)
    controls = _str_map(raw.get("controls"), "controls", problems)

    revenue_raw = raw.get("revenue")
    revenue: tuple[str, ...] = ()
    if isinstance(revenue_raw, str) and revenue_raw.strip():
        revenue = (revenue_raw.strip(),)
    elif isinstance(revenue_raw, Mapping) and set(revenue_raw) == {"multiply"} and isinstance(
        revenue_raw["multiply"], list) and revenue_raw["multiply"] and all(
            isinstance(c, str) and c.strip() for c in revenue_raw["multiply"]):
        revenue = tuple(c.strip() for c in revenue_raw["multiply"])
    elif revenue_raw is not None:
        problems.append("'revenue' must be a column name or {\"multiply\": [column, column, ...]}")

    categorical: dict[str, CategoricalControl] = {}
    for col, conf in (raw.get("categorical_controls") or {}).items():
        if isinstance(conf, str) and conf.strip():
            categorical[col] = CategoricalControl(conf.strip())
        elif isinstance(conf, Mapping) and isinstance(conf.get("name"), str) and conf["name"].strip():
            none = conf.get("none", list(CategoricalControl.none))
            if not isinstance(none, list) or not all(isinstance(v, str) for v in none):
                problems.append(f"categorical_controls.{col}.none must be a list of strings")
                none = []
            categorical[col] = CategoricalControl(conf["name"].strip(), tuple(v.strip().lower() for v in none))
        else:
            problems.append(f"categorical_controls.{col} must be a name or {{\"name\": ..., \"none\": [...]}}")

    channels_raw = raw.get("channels") or []
    if not isinstance(channels_raw, list) or not all(isinstance(c, str) and c.strip() for c in channels_raw):
        problems.append("'channels' must be a list of channel names")
        channels_raw = []

    if brand and brand_column:
        problems.append("give either 'brand' (fixed) or 'brand_column', not both")
    if layout == "long":
        roles = LONG_ROLES[spec_kind]
        bad_roles = sorted(set(columns) - set(roles))
        if bad_roles:
            problems.append(f"'columns' roles for {spec_kind} are {', '.join(roles)} (got {', '.join(bad_roles)})")
        if brand_column:
            columns = {**columns, "brand": brand_column}
            brand_column = None
        wide_keys = [k for k in ("date_column", "metrics", "spend", "exposures", "revenue", "units",
                                 "controls", "categorical_controls") if raw.get(k)]
        if wide_keys:
            problems.append(f"{', '.join(wide_keys)} only apply to layout 'wide'")
        if spec_kind == "metrics" and channels_raw:
            problems.append("'channels' only applies to marketing imports")
    else:
        if not date_column:
            problems.append("wide layout needs 'date_column'")
        if columns:
            problems.append("'columns' only applies to layout 'long'; use date_column/brand_column")
        if spec_kind == "metrics":
            if not metrics:
                problems.append("wide metrics layout needs 'metrics': {column: metric code or name}")
            extra = [k for k in ("spend", "exposures", "revenue", "units", "controls", "categorical_controls")
                     if raw.get(k)]
            if extra:
                problems.append(f"{', '.join(extra)} only apply to marketing imports")
        else:
            if metrics:
                problems.append("'metrics' only applies to metrics imports")
            if not (spend or revenue or controls or categorical or exposures):
                problems.append("wide marketing layout maps no column: give spend, revenue, units or controls")
            if units and not revenue:
                problems.append("'units' needs 'revenue' too (an outcome row always has revenue)")
            missing = sorted(set(exposures.values()) - set(spend.values()))
            if missing:
                problems.append("exposures name channels with no spend column: " + ", ".join(missing))
        used = [c for c in [date_column, brand_column, *metrics, *spend, *exposures, *controls,
                            *categorical, units] if c]
        dupes = sorted({c for c in used if used.count(c) > 1})
        if dupes:
            problems.append("column(s) mapped twice: " + ", ".join(dupes))
        names = [*controls.values(), *(c.name for c in categorical.values())]
        long_names = sorted(n for n in names if len(n) > 90)
        if long_names:
            problems.append("control name(s) longer than 90 characters: " + ", ".join(long_names))
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            problems.append("control name(s) used twice: " + ", ".join(clash))
        spent = list(spend.values())
        if len(set(map(str.casefold, spent))) != len(spent):
            problems.append("two spend columns name the same channel")
    if problems:
        raise MappingError(problems)
    return ImportSpec(
        kind=spec_kind, layout=layout, granularity=granularity, date_format=date_format, brand=brand,
        brand_column=brand_column, source=source, columns=columns, date_column=date_column, metrics=metrics,
        spend=spend, exposures=exposures, revenue=revenue, units=units, controls=controls,
        categorical_controls=categorical, channels=tuple(c.strip() for c in channels_raw),
    )


def load_spec(path: str | Path, *, kind: str | None = None) -> ImportSpec:
    """Read and validate a mapping JSON file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MappingError([f"cannot read mapping {path}: {exc}"]) from exc
    return parse_spec(raw, kind=kind)
