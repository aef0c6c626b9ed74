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
    """Validate a mapping dict. `kind` (from the caller) fills in or must agree with the mapping's.

    Each part is read by its own helper that appends to one list of problems, then the layout's rules
    run on the assembled spec, so every problem is reported at once.
    """
    if isinstance(raw, ImportSpec):
        if kind and raw.kind != kind:
            raise MappingError([f"mapping is for kind '{raw.kind}', not '{kind}'"])
        return raw
    if not isinstance(raw, Mapping):
        raise MappingError(["mapping must be a JSON object"])
    problems: list[str] = []
    spec_kind, layout, granularity = _kind_and_shape(raw, kind, problems)
    text = {key: _opt_str(raw, key, problems)
            for key in ("brand", "brand_column", "date_format", "source", "date_column", "units")}
    if text["source"] and len(text["source"]) > 80:
        problems.append("'source' is longer than 80 characters")
    maps = {key: _str_map(raw.get(key), key, problems) for key in ("columns", "metrics", "spend", "exposures",
                                                                   "controls")}
    spec = ImportSpec(kind=spec_kind, layout=layout, granularity=granularity, **text, **maps,
                      revenue=_revenue(raw.get("revenue"), problems),
                      categorical_controls=_categorical(raw.get("categorical_controls"), problems),
                      channels=_channels(raw.get("channels"), problems))
    if spec.brand and spec.brand_column:
        problems.append("give either 'brand' (fixed) or 'brand_column', not both")
    if layout == "long":
        spec = _check_long(raw, spec, problems)
    else:
        _check_wide(raw, spec, problems)
    if problems:
        raise MappingError(problems)
    return spec


def _kind_and_shape(raw: Mapping[str, Any], kind: str | None, problems: list[str]) -> tuple[str, str, str]:
    """Kind (raises at once when unusable: every later rule depends on it), layout and granularity."""
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
    return spec_kind, layout, granularity


def _opt_str(raw: Mapping[str, Any], key: str, problems: list[str]) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"'{key}' must be a non-empty string")
        return None
    return value.strip()


def _revenue(value: Any, problems: list[str]) -> tuple[str, ...]:
    """One revenue column, or {"multiply": [price, quantity, ...]} for revenue as a product of columns."""
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    factors = value.get("multiply") if isinstance(value, Mapping) and set(value) == {"multiply"} else None
    if isinstance(factors, list) and factors and all(isinstance(c, str) and c.strip() for c in factors):
        return tuple(c.strip() for c in factors)
    if value is not None:
        problems.append("'revenue' must be a column name or {\"multiply\": [column, column, ...]}")
    return ()


def _categorical(value: Any, problems: list[str]) -> dict[str, CategoricalControl]:
    """Text columns read as indicator controls: a name, or {"name": ..., "none": [values meaning no event]}."""
    categorical: dict[str, CategoricalControl] = {}
    for col, conf in (value or {}).items():
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
    return categorical


def _channels(value: Any, problems: list[str]) -> tuple[str, ...]:
    channels = value or []
    if not isinstance(channels, list) or not all(isinstance(c, str) and c.strip() for c in channels):
        problems.append("'channels' must be a list of channel names")
        return ()
    return tuple(c.strip() for c in channels)


def _check_long(raw: Mapping[str, Any], spec: ImportSpec, problems: list[str]) -> ImportSpec:
    """Long layout: known roles only, no wide-only key; a `brand_column` becomes the `brand` role."""
    roles = LONG_ROLES[spec.kind]
    bad_roles = sorted(set(spec.columns) - set(roles))
    if bad_roles:
        problems.append(f"'columns' roles for {spec.kind} are {', '.join(roles)} (got {', '.join(bad_roles)})")
    if spec.brand_column:
        spec = replace(spec, columns={**spec.columns, "brand": spec.brand_column}, brand_column=None)
    wide_keys = [k for k in ("date_column", "metrics", "spend", "exposures", "revenue", "units",
                             "controls", "categorical_controls") if raw.get(k)]
    if wide_keys:
        problems.append(f"{', '.join(wide_keys)} only apply to layout 'wide'")
    if spec.kind == "metrics" and spec.channels:
        problems.append("'channels' only applies to marketing imports")
    return spec


def _check_wide(raw: Mapping[str, Any], spec: ImportSpec, problems: list[str]) -> None:
    """Wide layout: a date column, the kind's own keys only, and no column or control name used twice."""
    if not spec.date_column:
        problems.append("wide layout needs 'date_column'")
    if spec.columns:
        problems.append("'columns' only applies to layout 'long'; use date_column/brand_column")
    if spec.kind == "metrics":
        if not spec.metrics:
            problems.append("wide metrics layout needs 'metrics': {column: metric code or name}")
        extra = [k for k in ("spend", "exposures", "revenue", "units", "controls", "categorical_controls")
                 if raw.get(k)]
        if extra:
            problems.append(f"{', '.join(extra)} only apply to marketing imports")
    else:
        _check_wide_marketing(spec, problems)
    _check_wide_names(spec, problems)


def _check_wide_marketing(spec: ImportSpec, problems: list[str]) -> None:
    if spec.metrics:
        problems.append("'metrics' only applies to metrics imports")
    if not (spec.spend or spec.revenue or spec.controls or spec.categorical_controls or spec.exposures):
        problems.append("wide marketing layout maps no column: give spend, revenue, units or controls")
    if spec.units and not spec.revenue:
        problems.append("'units' needs 'revenue' too (an outcome row always has revenue)")
    missing = sorted(set(spec.exposures.values()) - set(spec.spend.values()))
    if missing:
        problems.append("exposures name channels with no spend column: " + ", ".join(missing))


def _check_wide_names(spec: ImportSpec, problems: list[str]) -> None:
    """Each file column mapped once; control names short and distinct; one spend column per channel."""
    used = [c for c in [spec.date_column, spec.brand_column, *spec.metrics, *spec.spend, *spec.exposures,
                        *spec.controls, *spec.categorical_controls, spec.units] if c]
    dupes = sorted({c for c in used if used.count(c) > 1})
    if dupes:
        problems.append("column(s) mapped twice: " + ", ".join(dupes))
    names = [*spec.controls.values(), *(c.name for c in spec.categorical_controls.values())]
    long_names = sorted(n for n in names if len(n) > 90)
    if long_names:
        problems.append("control name(s) longer than 90 characters: " + ", ".join(long_names))
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        problems.append("control name(s) used twice: " + ", ".join(clash))
    spent = list(spec.spend.values())
    if len(set(map(str.casefold, spent))) != len(spent):
        problems.append("two spend columns name the same channel")


def load_spec(path: str | Path, *, kind: str | None = None) -> ImportSpec:
    """Read and validate a mapping JSON file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MappingError([f"cannot read mapping {path}: {exc}"]) from exc
    return parse_spec(raw, kind=kind)
