"""Check a string table against a mapping and the organization's catalogue, vectorized.

Produces long frames ready for the database (one per target table) and a frame of errors with the row as
the person sees it (header = row 1), the column and the reason. Pure: `service.py` loads `Catalog` and writes.

Periods: monthly periods become the first day of their month; weekly periods keep the date the
file gives (the week's own date, whatever weekday the source uses — Robyn and Meridian both use
Mondays), with any time of day dropped. Blank spend, control and metric cells in wide files mean
"no observation" and are skipped; a blank value in a long file, or a blank revenue cell, is an error.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.imports.mapping import ImportSpec
from core.imports.report import SAMPLE_ROWS, RowErrors

AMBIGUOUS = -1
BRAND_NAME_MAX = 200  # Brand.name
CONTROL_NAME_MAX = 100  # ControlValue.name
TABLES = ("metric_values", "spend", "outcomes", "control_values")
NO_FRAMEWORK = ("this organization has no metric framework yet: start one from the template (Metric framework "
                "page, or python -m core.setup framework-from-template) before importing metric values")


@dataclass
class Catalog:
    """What names may refer to: one organization's brands, channels and metrics (its framework)."""

    brands: dict[str, int] = field(default_factory=dict)  # exact name → id
    metrics: dict[int, tuple[str, str, float | None, float | None]] = field(default_factory=dict)
    channels: dict[str, tuple[int, str]] = field(default_factory=dict)  # casefold name → (id, name)
    # When the importer may create brands (it holds portfolio:manage and will be asked to confirm):
    # names the file gives that match no brand get a provisional id below AMBIGUOUS instead of an error.
    allow_new_brands: bool = False
    new_brands: dict[str, tuple[int, str]] = field(default_factory=dict)  # name key → (provisional id, name)

    def brand_names(self) -> dict[int, str]:
        return {v: k for k, v in self.brands.items()} | {i: n for i, n in self.new_brands.values()}

    def provisional(self, names: pd.Series, errors: RowErrors, column: str | None) -> pd.Series:
        """Provisional (negative) ids for brand names to create; names no brand may have are errors."""
        cleaned = names.map(lambda v: " ".join(unicodedata.normalize("NFKC", str(v)).split()))
        bad = cleaned.map(lambda v: len(v) > BRAND_NAME_MAX or any(unicodedata.category(c)[0] == "C" for c in v))
        errors.rows(names.index[bad], column or "brand", "unknown_brand",
                    _show(names[bad]) + " is not in this organization and cannot be a brand name "
                    f"(at most {BRAND_NAME_MAX} characters, nothing invisible)")
        for name in cleaned[~bad].unique():
            self.new_brands.setdefault(name.casefold(), (AMBIGUOUS - 1 - len(self.new_brands), name))
        ids = cleaned.map(lambda v: self.new_brands.get(v.casefold(), (np.nan,))[0]).astype("float64")
        return ids.where(~bad)

    def brand_tiers(self) -> list[tuple[Callable[[pd.Series], pd.Series], dict[str, int]]]:
        return [(_same, self.brands), (_fold, _folded(self.brands.items()))]

    def metric_tiers(self) -> list[tuple[Callable[[pd.Series], pd.Series], dict[str, int]]]:
        codes = {code: mid for mid, (code, _n, _lo, _hi) in self.metrics.items()}
        names = _folded((name, mid) for mid, (_c, name, _lo, _hi) in self.metrics.items())
        return [(_same, codes), (_fold, _folded(codes.items())), (_fold, names)]


def _same(s: pd.Series) -> pd.Series:
    return s


def _fold(s: pd.Series) -> pd.Series:
    return s.str.casefold()


def _folded(pairs) -> dict[str, int]:
    """Case-insensitive lookup; a folded name shared by two different ids is AMBIGUOUS."""
    out: dict[str, int] = {}
    for name, ident in pairs:
        key = name.casefold()
        out[key] = ident if out.get(key, ident) == ident else AMBIGUOUS
    return out


def resolve(values: pd.Series, tiers) -> pd.Series:
    """Map names to ids trying each (transform, lookup) tier in turn; NaN where none matches."""
    result = pd.Series(np.nan, index=values.index, dtype="float64")
    for transform, lookup in tiers:
        todo = result.isna()
        if not todo.any():
            break
        result[todo] = transform(values[todo]).map(lookup).astype("float64")
    return result


@dataclass
class Parsed:
    """Validated rows per target table (with the file row they came from) plus every error."""

    frames: dict[str, pd.DataFrame]
    errors: pd.DataFrame
    total_rows: int
    new_channels: list[str] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)
    new_brands: dict[int, str] = field(default_factory=dict)  # provisional id → name, to create at commit


def _num(values: pd.Series) -> pd.Series:
    """Format numbers for a message (str dtype even when empty, so string concatenation works)."""
    return values.map("{:g}".format).astype(str)


def _show(values: pd.Series) -> pd.Series:
    """Quote a cell for a message, cut to a readable length."""
    return "'" + values.astype(str).str.slice(0, 40) + "'"


def parse_periods(text: pd.Series, spec: ImportSpec, column: str, errors: RowErrors) -> pd.Series:
    """Dates → normalized periods (datetime64, NaT where bad, with the error recorded)."""
    fmt = spec.date_format or "ISO8601"
    try:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    except (ValueError, TypeError):  # e.g. mixed time zones: fall back to one cell at a time
        parsed = text.map(lambda v: pd.to_datetime(v, format=fmt, errors="coerce"))
        parsed = pd.to_datetime(parsed, errors="coerce", utc=True)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    parsed = parsed.astype("datetime64[us]")
    bad = parsed.isna() | (parsed.dt.year < 1900) | (parsed.dt.year > 2200)
    blank = text == ""
    errors.rows(text.index[bad & blank], column, "missing_date", "the date is empty")
    expected = spec.date_format or "YYYY-MM-DD"
    errors.rows(text.index[bad & ~blank], column, "bad_date",
                _show(text[bad & ~blank]) + f" is not a date (expected {expected})")
    parsed = parsed.where(~bad)
    if spec.granularity == "month":
        return parsed.dt.to_period("M").dt.start_time.astype("datetime64[us]")
    return parsed.dt.normalize()


def parse_numbers(text: pd.Series, column: str, errors: RowErrors, *, required: bool | str,
                  nonnegative: bool = False, what: str = "value") -> pd.Series:
    """Text → float; NaN for blanks (an error only when `required`, whose text, if any, is the
    reason) and for bad cells (an error)."""
    blank = text == ""
    numbers = pd.to_numeric(text.where(~blank), errors="coerce").astype("float64")
    bad = ~blank & ~np.isfinite(numbers.fillna(np.inf))
    if required:
        errors.rows(text.index[blank], column, "missing_value",
                    required if isinstance(required, str) else f"the {what} is empty")
    errors.rows(text.index[bad], column, "non_numeric", f"the {what} " + _show(text[bad]) + " is not a number")
    numbers = numbers.where(~bad)
    if nonnegative:
        neg = numbers < 0
        errors.rows(text.index[neg], column, "negative_value",
                    f"{what} must not be negative (got " + _num(numbers[neg]) + ")")
        numbers = numbers.where(~neg)
    return numbers


def _brands(frame: pd.DataFrame, spec: ImportSpec, catalog: Catalog, errors: RowErrors,
            column: str | None) -> pd.Series:
    """Brand id per file row; a brand from another organization is simply not in the catalogue."""
    if spec.brand:
        ids = resolve(pd.Series([spec.brand]), catalog.brand_tiers())
        if ids.isna().iloc[0] and catalog.allow_new_brands:
            ids = catalog.provisional(pd.Series([spec.brand]), errors, None)
            if ids.isna().iloc[0]:
                return pd.Series(np.nan, index=frame.index)
        if ids.isna().iloc[0] or ids.iloc[0] == AMBIGUOUS:
            errors.file("unknown_brand", f"unknown brand '{spec.brand}' in this organization")
            return pd.Series(np.nan, index=frame.index)
        return pd.Series(float(ids.iloc[0]), index=frame.index)
    if column is None:
        errors.file("missing_brand", "the mapping gives no brand: set 'brand' (or --brand) or 'brand_column'")
        return pd.Series(np.nan, index=frame.index)
    names = frame[column]
    ids = resolve(names, catalog.brand_tiers())
    blank = names == ""
    errors.rows(names.index[blank], column, "missing_brand", "the brand is empty")
    amb = ids == AMBIGUOUS
    errors.rows(names.index[amb], column, "unknown_brand",
                _show(names[amb]) + " matches several brands that differ only in case; use the exact name")
    unknown = ids.isna() & ~blank
    if catalog.allow_new_brands and unknown.any():
        ids[unknown] = catalog.provisional(names[unknown], errors, column)
        return ids.where(~amb)
    errors.rows(names.index[unknown], column, "unknown_brand",
                "unknown brand " + _show(names[unknown]) + " in this organization")
    return ids.where(~amb)


def _duplicates(keys: pd.DataFrame, column: str, errors: RowErrors, what: str) -> pd.Series:
    """Flag every repeat of a key after its first row, naming that first row."""
    valid = keys.notna().all(axis=1)
    k = keys[valid]
    dup = k.duplicated(keep="first")
    if dup.any():
        first = k.index.to_series().groupby([k[c] for c in k.columns], sort=False).transform("first")
        errors.rows(k.index[dup], column, "duplicate",
                    f"duplicate {what}: same as row " + first[dup].astype(str))
    out = pd.Series(False, index=keys.index)
    out[k.index[dup]] = True
    return out


def _check_columns(frame: pd.DataFrame, spec: ImportSpec, errors: RowErrors) -> dict[str, str]:
    """Match required headers exactly, then ignoring case; report the rest as missing columns."""
    present = {c.casefold(): c for c in frame.columns}
    found: dict[str, str] = {}
    for col in spec.required_columns():
        actual = col if col in frame.columns else present.get(col.casefold())
        if actual is None:
            hint = ("the mapping names column" if spec.layout == "wide" else "required column")
            errors.file("missing_column", f"{hint} '{col}' is not in the file "
                        f"(columns: {', '.join(frame.columns[:30])})", column=col)
        else:
            found[col] = actual
    return found


def validate(frame: pd.DataFrame, spec: ImportSpec, catalog: Catalog) -> Parsed:
    """Validate and reshape; nothing here touches the database."""
    errors = RowErrors()
    cols = _check_columns(frame, spec, errors)
    empty: dict[str, pd.DataFrame] = {}
    if len(cols) < len(spec.required_columns()):
        return Parsed(empty, errors.frame(), len(frame))
    frame = frame.rename(columns={v: k for k, v in cols.items()})
    if spec.kind == "metrics":
        if not catalog.metrics:  # a new organization: every row would say "unknown metric"
            errors.file("no_framework", NO_FRAMEWORK)
            return Parsed(empty, errors.frame(), len(frame))
        frames, new_channels = (_long_metrics if spec.layout == "long" else _wide_metrics)(
            frame, spec, catalog, errors), []
    else:
        frames, new_channels = (_long_marketing if spec.layout == "long" else _wide_marketing)(
            frame, spec, catalog, errors)
    parsed = Parsed(frames, errors.frame(), len(frame), new_channels)
    parsed.sample = _sample(frames, catalog)
    return parsed


def _long_metrics(frame: pd.DataFrame, spec: ImportSpec, catalog: Catalog, errors: RowErrors) -> dict:
    b, m, p, v = (spec.column(r) for r in ("brand", "metric", "period", "value"))
    brand = _brands(frame, spec, catalog, errors, None if spec.brand else b)
    refs = frame[m]
    metric = resolve(refs, catalog.metric_tiers())
    errors.rows(refs.index[refs == ""], m, "missing_metric", "the metric is empty")
    amb = metric == AMBIGUOUS
    errors.rows(refs.index[amb], m, "unknown_metric", _show(refs[amb]) + " names several metrics; use the code")
    unknown = metric.isna() & (refs != "")
    errors.rows(refs.index[unknown], m, "unknown_metric", "unknown metric " + _show(refs[unknown]) + " (code or name)")
    metric = metric.where(~amb)
    period = parse_periods(frame[p], spec, p, errors)
    value = parse_numbers(frame[v], v, errors, required=True)
    value = _range_check(value, metric, catalog, v, errors)
    keys = pd.DataFrame({"brand_id": brand, "metric_id": metric, "period": period})
    dup = _duplicates(keys, p, errors, "brand, metric and period")
    out = keys.assign(raw_value=value, row=frame.index)
    out = out[out.notna().all(axis=1) & ~dup]
    return {"metric_values": _ints(out, "brand_id", "metric_id")}


def _range_check(value: pd.Series, metric: pd.Series, catalog: Catalog, column: str, errors: RowErrors) -> pd.Series:
    """Reject values outside the metric's plausible [min, max]; None means unbounded."""
    lo = metric.map({k: v[2] for k, v in catalog.metrics.items()}).astype("float64")
    hi = metric.map({k: v[3] for k, v in catalog.metrics.items()}).astype("float64")
    out = (value < lo) | (value > hi)
    if out.any():
        code = metric[out].map({k: v[0] for k, v in catalog.metrics.items()})
        rng = "[" + lo[out].map(lambda x: "-inf" if pd.isna(x) else f"{x:g}").astype(str) + ", " + hi[out].map(
            lambda x: "inf" if pd.isna(x) else f"{x:g}").astype(str) + "]"
        errors.rows(value.index[out], column, "out_of_range",
                    _num(value[out]) + " is outside the range " + rng + " of metric " + code)
    return value.where(~out)


def _ints(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    return frame.astype({c: "int64" for c in (*cols, "row")}).reset_index(drop=True)


def _wide_base(frame: pd.DataFrame, spec: ImportSpec, catalog: Catalog, errors: RowErrors) -> pd.DataFrame:
    """Brand and period per file row, with duplicate (brand, period) rows flagged."""
    assert spec.date_column
    brand = _brands(frame, spec, catalog, errors, spec.brand_column)
    period = parse_periods(frame[spec.date_column], spec, spec.date_column, errors)
    keys = pd.DataFrame({"brand_id": brand, "period": period})
    what = "brand and period" if spec.brand_column else "period"
    dup = _duplicates(keys, spec.date_column, errors, what)
    keys["ok"] = keys.notna().all(axis=1) & ~dup
    keys["row"] = frame.index
    return keys


def _stack(base: pd.DataFrame, values: pd.Series, **extra: Any) -> pd.DataFrame:
    ok = base["ok"] & values.notna()
    return base.loc[ok, ["brand_id", "period", "row"]].assign(value=values[ok], **extra)


def _wide_metrics(frame: pd.DataFrame, spec: ImportSpec, catalog: Catalog, errors: RowErrors) -> dict:
    base = _wide_base(frame, spec, catalog, errors)
    parts = []
    for column, ref in spec.metrics.items():
        ids = resolve(pd.Series([ref]), catalog.metric_tiers())
        if ids.isna().iloc[0] or ids.iloc[0] == AMBIGUOUS:
            errors.file("unknown_metric", f"the mapping names unknown metric '{ref}' (code or name)", column)
            continue
        metric = pd.Series(ids.iloc[0], index=frame.index)
        value = parse_numbers(frame[column], column, errors, required=False)
        value = _range_check(value, metric, catalog, column, errors)
        parts.append(_stack(base, value, metric_id=int(ids.iloc[0])))
    out = _concat(parts, ["brand_id", "period", "row", "value", "metric_id"]).rename(columns={"value": "raw_value"})
    return {"metric_values": _ints(out[["brand_id", "metric_id", "period", "raw_value", "row"]], "brand_id",
                                   "metric_id")}


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _channel_names(names: list[str], catalog: Catalog) -> tuple[dict[str, str], list[str]]:
    """Canonical spelling per name (the stored one if the channel exists) and the new ones."""
    canon, new = {}, []
    for name in names:
        known = catalog.channels.get(name.casefold())
        canon[name] = known[1] if known else name
        if not known and name.casefold() not in {n.casefold() for n in new}:
            new.append(name)
    return canon, new


def _long_marketing(frame: pd.DataFrame, spec: ImportSpec, catalog: Catalog, errors: RowErrors):
    b, c, p, a = (spec.column(r) for r in ("brand", "channel", "period", "amount"))
    brand = _brands(frame, spec, catalog, errors, None if spec.brand else b)
    listed, new = _channel_names(list(spec.channels), catalog)
    allowed = {n.casefold(): n for n in listed.values()} | {k: v[1] for k, v in catalog.channels.items()}
    names = frame[c]
    channel = names.str.casefold().map(allowed)
    errors.rows(names.index[names == ""], c, "missing_channel", "the channel is empty")
    unknown = channel.isna() & (names != "")
    errors.rows(names.index[unknown], c, "unknown_channel", "unknown channel " + _show(names[unknown]) +
                " (add it to the mapping's 'channels' to create it)")
    period = parse_periods(frame[p], spec, p, errors)
    amount = parse_numbers(frame[a], a, errors, required=True, nonnegative=True, what="spend")
    keys = pd.DataFrame({"brand_id": brand, "channel": channel.str.casefold(), "period": period})
    dup = _duplicates(keys, p, errors, "brand, channel and period")
    out = keys.assign(channel=channel, amount=amount, row=frame.index)
    out = out[out.notna().all(axis=1) & ~dup]
    used = set(out["channel"].str.casefold())
    new = [n for n in new if n.casefold() in used]
    return {"spend": _ints(out, "brand_id")}, new


def _wide_marketing(frame: pd.DataFrame, spec: ImportSpec, catalog: Catalog, errors: RowErrors):
    base = _wide_base(frame, spec, catalog, errors)
    canon, new = _channel_names(list(spec.spend.values()), catalog)
    spend = [
        _stack(base, parse_numbers(frame[col], col, errors, required=False, nonnegative=True, what="spend"),
               channel=canon[ch])
        for col, ch in spec.spend.items()
    ]
    spend_df = _concat(spend, ["brand_id", "period", "row", "value", "channel"]).rename(columns={"value": "amount"})

    controls = [
        _stack(base, parse_numbers(frame[col], col, errors, required=False), name=name)
        for col, name in spec.controls.items()
    ]
    controls += [
        _stack(base, parse_numbers(frame[col], col, errors, required=False, nonnegative=True, what="exposure"),
               name=f"exposure:{canon[ch]}")
        for col, ch in spec.exposures.items()
    ]
    for col, cat in spec.categorical_controls.items():
        text = frame[col]
        folded = text.str.casefold()
        levels = folded[~folded.isin(cat.none)]
        spelled = text[levels.index].groupby(levels.to_numpy(), sort=True).first()
        for key, label in spelled.items():
            name = f"{cat.name}:{label}"
            if len(name) > CONTROL_NAME_MAX:
                errors.rows(text.index[folded == key], col, "too_long",
                            f"value makes a control name longer than {CONTROL_NAME_MAX} characters")
                continue
            indicator = (folded == key).astype("float64")
            controls.append(_stack(base, indicator, name=name))
    controls_df = _concat(controls, ["brand_id", "period", "row", "value", "name"])

    frames = {
        "spend": _ints(spend_df[["brand_id", "channel", "period", "amount", "row"]], "brand_id"),
        "outcomes": _ints(_outcomes(frame, spec, base, errors), "brand_id"),
        "control_values": _ints(controls_df[["brand_id", "name", "period", "value", "row"]], "brand_id"),
    }
    used = set(frames["spend"]["channel"].str.casefold())
    return frames, [n for n in new if n.casefold() in used]


def _outcomes(frame: pd.DataFrame, spec: ImportSpec, base: pd.DataFrame, errors: RowErrors) -> pd.DataFrame:
    """Revenue (one column, or the product of several) and units per period; a blank revenue cell is
    a row problem, since the period would otherwise drop out of the fit without anyone knowing."""
    columns = ["brand_id", "period", "revenue", "units", "row"]
    if not spec.revenue:
        return pd.DataFrame(columns=columns)
    empty = f"the revenue is empty: fill in the {spec.granularity}'s revenue (0 if there was none)"
    revenue = pd.Series(1.0, index=frame.index)
    for col in spec.revenue:
        revenue = revenue * parse_numbers(frame[col], col, errors, required=empty, what="revenue")
    units = (parse_numbers(frame[spec.units], spec.units, errors, required=False, nonnegative=True,
                           what="units") if spec.units else pd.Series(np.nan, index=frame.index))
    ok = base["ok"] & revenue.notna()
    return base.loc[ok, ["brand_id", "period", "row"]].assign(revenue=revenue[ok], units=units[ok])[columns]


def _sample(frames: dict[str, pd.DataFrame], catalog: Catalog) -> list[dict[str, Any]]:
    """A few parsed rows in one uniform shape (row, table, brand, item, period, value) for previews."""
    names = catalog.brand_names()
    codes = {k: v[0] for k, v in catalog.metrics.items()}
    out: list[dict[str, Any]] = []
    for table, df in frames.items():
        head = df.head(SAMPLE_ROWS)
        for rec in head.to_dict("records"):
            item = {"metric_values": lambda r: codes.get(r["metric_id"], ""),
                    "spend": lambda r: r["channel"], "outcomes": lambda r: "revenue",
                    "control_values": lambda r: r["name"]}[table](rec)
            value = rec.get("raw_value", rec.get("amount", rec.get("revenue", rec.get("value"))))
            entry = {"row": int(rec["row"]), "table": table, "brand": names.get(int(rec["brand_id"]), ""),
                     "item": item, "period": rec["period"].date().isoformat(), "value": float(value)}
            if table == "outcomes" and pd.notna(rec["units"]):
                entry["units"] = float(rec["units"])
            out.append(entry)
    return sorted(out, key=lambda e: e["row"])[:SAMPLE_ROWS]
