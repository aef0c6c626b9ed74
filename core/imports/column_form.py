"""The import page's column form: what each column of a spend and revenue file is, as a mapping.

A marketer picks a role per column (the date, the brand, the revenue, the units, a channel's spend,
a control, or nothing) instead of writing the mapping JSON; this module guesses those roles from
the headers, builds the one mapping dict the JSON path takes (`core.imports.mapping.parse_spec`
still validates it on the server, the form is never trusted) and reads a mapping back into roles,
so the form and the JSON editor stay in step. Pure: no database, no Dash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any

ROLES = {
    "date": "Date",
    "brand": "Brand",
    "revenue": "Revenue (outcome)",
    "units": "Units sold",
    "spend": "Channel spend",
    "control": "Control",
    "ignore": "Not imported",
}
NAMED = ("spend", "control")  # roles whose name (channel, control) the person may edit
ONCE = ("date", "brand", "revenue", "units")  # roles one column at most may have
_DATE_NAMES = {
    "date",
    "week",
    "month",
    "period",
    "dt",
    "day",
    "time",
    "week_start",
    "week_starting",
    "week_ending",
    "week_of",
    "week_beginning",
    "month_start",
}
_REVENUE_NAMES = {
    "revenue",
    "sales",
    "turnover",
    "net_sales",
    "gross_sales",
    "sales_value",
    "net_revenue",
    "gross_revenue",
    "total_revenue",
    "total_sales",
}
_UNITS_NAMES = {"units", "units_sold", "volume", "quantity", "qty", "orders", "conversions"}
_MONEY = {"inr", "usd", "eur", "gbp", "jpy", "aud", "cad", "sgd", "aed", "chf", "cny", "value", "amount"}
_SPEND = re.compile(r"^(?:spend_(?P<after>.+)|(?P<before>.+)_spend)$")
# Keys the form shows; a mapping with any other (exposures, a product of revenue columns…) stays JSON-only.
_FORM_KEYS = {
    "kind",
    "layout",
    "granularity",
    "date_column",
    "brand_column",
    "spend",
    "revenue",
    "units",
    "controls",
    "description",
    "$schema",
}


@dataclass(frozen=True)
class ColumnRole:
    """One file column, what it holds and (for spend and controls) the name it is stored under."""

    column: str
    role: str = "ignore"
    name: str = ""


def _key(header: str) -> str:
    """A header as words joined by "_": "TV Spend (INR)" → "tv_spend_inr"."""
    return "_".join(re.findall(r"[a-z0-9]+", header.casefold()))


def channel_name(words: str) -> str:
    """A readable channel name from a header's words: "tv" → "TV", "paid_social" → "Paid Social"."""
    parts = [w for w in re.split(r"[_\s]+", words.strip()) if w]
    return " ".join(w.upper() if len(w) <= 3 else w.capitalize() for w in parts) or words


def guess_role(header: str) -> ColumnRole:
    """The role a header most likely means; an unknown column is not imported until someone says so."""
    key = _key(header)
    spend = _SPEND.match(key)
    if spend:
        return ColumnRole(header, "spend", channel_name(spend.group("after") or spend.group("before")))
    words = key.split("_")
    if key in _DATE_NAMES or "date" in words:
        return ColumnRole(header, "date")
    if key in {"brand", "brand_name"}:
        return ColumnRole(header, "brand")
    if key in _UNITS_NAMES:
        return ColumnRole(header, "units")
    if key in _REVENUE_NAMES or (words[0] in {"revenue", "sales"} and words[1:] and set(words[1:]) <= _MONEY):
        return ColumnRole(header, "revenue")  # also "revenue_inr", "Sales (USD)"
    return ColumnRole(header)


def guess_roles(headers: Sequence[str]) -> list[ColumnRole]:
    """A role per header; a role only one column may have goes to the first that looks like it."""
    taken: set[str] = set()
    roles = []
    for header in headers:
        guess = guess_role(header)
        if guess.role in ONCE and guess.role in taken:
            guess = ColumnRole(header)
        taken.add(guess.role)
        roles.append(guess)
    return roles


def guess_granularity(dates: Sequence[str]) -> str:
    """ "month" when the first dates are about a month apart, else "week" (the default for spend)."""
    parsed = []
    for text in dates:
        try:
            parsed.append(date.fromisoformat(str(text).strip()[:10]))
        except ValueError:
            continue
    if len(parsed) < 2:
        return "week"
    gaps = sorted(abs((b - a).days) for a, b in pairwise(parsed))
    return "month" if gaps[len(gaps) // 2] >= 27 else "week"


def mapping_from_roles(roles: Sequence[ColumnRole], granularity: str) -> tuple[dict[str, Any], list[str]]:
    """The wide marketing mapping the roles describe, and what in the roles cannot be one mapping.

    The second part says, in words, what the person must change: a role given to two columns (the
    mapping keeps the first), no date column, nothing to import. The rest (a name used twice…) is
    `parse_spec`'s to say.
    """
    mapping: dict[str, Any] = {"kind": "marketing", "layout": "wide", "granularity": granularity}
    keys = {"date": "date_column", "brand": "brand_column", "revenue": "revenue", "units": "units"}
    spend: dict[str, str] = {}
    controls: dict[str, str] = {}
    problems = []
    for role in ONCE:
        marked = [r.column for r in roles if r.role == role]
        if marked:
            mapping[keys[role]] = marked[0]
        if len(marked) > 1:
            problems.append(
                f"Only one column can be the {ROLES[role].lower()}: "
                + " and ".join(f"“{c}”" for c in marked)
                + " are both marked."
            )
    for r in roles:
        if r.role == "spend":
            spend[r.column] = r.name.strip() or channel_name(r.column)
        elif r.role == "control":
            controls[r.column] = r.name.strip() or r.column
    if spend:
        mapping["spend"] = spend
    if controls:
        mapping["controls"] = controls
    if "date_column" not in mapping:
        problems.append("Mark the column that holds the week or month as the date.")
    if not (spend or controls or "revenue" in mapping):
        problems.append("Mark at least one column as spend, revenue or a control: nothing would be imported.")
    return _ordered(mapping), problems


def _ordered(mapping: dict[str, Any]) -> dict[str, Any]:
    """The keys in the order the shipped mappings use, so the JSON reads the same either way."""
    order = ["kind", "layout", "granularity", "date_column", "brand_column", "spend", "revenue", "units", "controls"]
    return {k: mapping[k] for k in order if k in mapping}


def roles_from_mapping(mapping: Any, headers: Sequence[str]) -> list[ColumnRole] | None:
    """The roles a mapping gives this file's columns, or None when the form cannot show it: not a
    wide marketing mapping, a key the form has no field for, or a column the file lacks."""
    if not isinstance(mapping, Mapping) or mapping.get("kind") != "marketing" or mapping.get("layout") != "wide":
        return None
    if set(mapping) - _FORM_KEYS or not isinstance(mapping.get("revenue", ""), str):
        return None
    found: dict[str, ColumnRole] = {}
    singles = {"date_column": "date", "brand_column": "brand", "revenue": "revenue", "units": "units"}
    for key, role in singles.items():
        if isinstance(mapping.get(key), str):
            found[mapping[key]] = ColumnRole(mapping[key], role)
    for key, role in (("spend", "spend"), ("controls", "control")):
        named = mapping.get(key) or {}
        if not isinstance(named, Mapping) or not all(isinstance(v, str) for v in named.values()):
            return None
        found.update({col: ColumnRole(col, role, name) for col, name in named.items()})
    if set(found) - set(headers):
        return None
    return [found.get(h, ColumnRole(h)) for h in headers]
