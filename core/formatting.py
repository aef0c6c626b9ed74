"""How figures read in words: one place for every money, outcome and ratio figure the pages, charts,
reports, workbooks and comparisons show, and for reading the amounts people type.

Style (international compact, chosen once): three significant digits and K / M / B / T, the
currency's sign before the amount — "₹462 M", "−₹1.2 K", "CHF 3.5 B" (a currency without a widely
known sign is written with its ISO code). Lakh and crore are read when typed but never written, so a
figure reads the same to every reader of a shared PDF. A true minus sign (−) everywhere.

`Units` is an organization's choice (core.settings): its currency (ISO 4217) and its outcome —
revenue in that currency, or a count such as conversions. The ratios read in those units:
ROAS "₹2.63 per ₹1", or for a count "4.1 conversions per ₹1 K". `Units()` (no currency chosen)
writes plain numbers, as the app did before organizations chose a currency.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.currencies import CURRENCIES, SYMBOLS, sign

REVENUE = "revenue"
_STEPS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
MINUS = "−"


def _missing(value: Any) -> bool:
    return value is None or not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value)


def _magnitude(value: float, digits: int) -> str:
    """|value| in compact form: rounded to `digits` significant digits first, so 999,600 reads 1 M, not 1e+03 K."""
    size = abs(value)
    if size == 0:
        return "0"
    if size < 1:
        return f"{size:.2f}".rstrip("0").rstrip(".") or "0"
    rounded = float(f"{size:.{digits}g}")
    for limit, suffix in _STEPS:
        if rounded >= limit:
            return f"{float(f'{rounded / limit:.{digits}g}'):g} {suffix}"
    return f"{rounded:g}"


def compact(value: float | None, digits: int = 3) -> str:
    """1.23 B / 456 M / 7.8 K / −12: a count at a glance (money goes through `Units.money`)."""
    if _missing(value):
        return "n/a"
    return (MINUS if value < 0 and _magnitude(value, digits) != "0" else "") + _magnitude(value, digits)


def signed(value: float | None, digits: int = 1) -> str:
    """+1.2 / −0.4 / n/a, for changes (a true minus sign, as the pages print them)."""
    if _missing(value):
        return "n/a"
    return f"{value:+.{digits}f}".replace("-", MINUS)


def score(value: float | None, digits: int = 1) -> str:
    """61.4 / n/a: a DC score or a size of change in points, as the pages and reports print them."""
    if _missing(value):
        return "n/a"
    return f"{value:.{digits}f}".replace("-", MINUS)


# ------------------------------------------------------------------------------------------------ reading amounts

_MULTIPLIERS = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "mio": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "t": 1e12,
    "trillion": 1e12,
    "lakh": 1e5,
    "lakhs": 1e5,
    "lac": 1e5,
    "cr": 1e7,
    "crore": 1e7,
    "crores": 1e7,
}
_AMOUNT = re.compile(r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)(?P<scale>[a-z]*)", re.IGNORECASE)
_SIGNS = sorted({s.strip() for s in SYMBOLS.values()}, key=len, reverse=True)
_NOISE = re.compile(r"[\s\u00a0\u2009\u202f,_]")


def parse_amount(text: str) -> float | None:
    """A typed amount as a number, or None when it is not one.

    Read: thousands separators ("1,000", "1 000"), a currency sign or code before or after
    ("₹1.5M", "INR 2,000", "2000 USD"), and a scale: K, M (mn), B (bn), T, lakh, crore
    ("1.5M" = 1,500,000; "2 crore" = 20,000,000). A true minus sign counts as a minus.
    """
    if not isinstance(text, str):
        return None
    cleaned = _NOISE.sub("", text.replace(MINUS, "-"))
    upper = cleaned.upper()
    for code in (upper[:3], upper[-3:]):
        if code in CURRENCIES and len(cleaned) > 3:
            cleaned = cleaned[3:] if upper.startswith(code) else cleaned[:-3]
            break
    for symbol in _SIGNS:
        if symbol and symbol in cleaned:
            cleaned = cleaned.replace(symbol, "", 1)
            break
    match = _AMOUNT.fullmatch(cleaned)
    if not match:
        return None
    scale = match["scale"].lower()
    if scale and scale not in _MULTIPLIERS:
        return None
    number = float(match["number"]) * _MULTIPLIERS.get(scale, 1.0)
    return number if math.isfinite(number) else None


# ------------------------------------------------------------------------------------------------ units


@dataclass(frozen=True)
class Units:
    """An organization's currency (ISO 4217 code, None: not chosen) and outcome ("revenue" or a plural count noun)."""

    currency: str | None = None
    outcome: str = REVENUE

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> Units:
        """Units from a stored dict ({"currency", "outcome"}, as a run's result keeps them); plain when absent."""
        data = data or {}
        currency = data.get("currency")
        return cls(currency if currency in CURRENCIES else None, str(data.get("outcome") or REVENUE))

    def as_dict(self) -> dict[str, str | None]:
        return {"currency": self.currency, "outcome": self.outcome}

    @property
    def revenue(self) -> bool:
        """True when the outcome is revenue in the currency (money), False for a count."""
        return self.outcome == REVENUE

    @property
    def sign(self) -> str:
        return sign(self.currency)

    @property
    def code(self) -> str:
        """The ISO code, or "" when none is chosen (for axis titles and headers)."""
        return self.currency or ""

    def money(self, value: float | None, digits: int = 3) -> str:
        """₹462 M / −₹1.2 K / n/a."""
        if _missing(value):
            return "n/a"
        text = _magnitude(value, digits)
        return (MINUS if value < 0 and text != "0" else "") + self.sign + text

    def money_change(self, value: float | None, digits: int = 3) -> str:
        """+₹12.3 M / −₹4 K: a change of money, always signed."""
        if _missing(value):
            return "n/a"
        return ("+" if value >= 0 else "") + self.money(value, digits)

    def whole(self, value: float | None) -> str:
        """462,458,700: a full amount for a form field (the sign sits beside the field); text as typed stays."""
        if isinstance(value, str):
            return value
        return "" if _missing(value) else f"{value:,.0f}".replace("-", MINUS)

    @property
    def outcome_name(self) -> str:
        """ "revenue" or the count's noun ("conversions")."""
        return self.outcome

    def outcome_value(self, value: float | None, digits: int = 3) -> str:
        """₹1.22 B of revenue, or "48.2 K conversions"."""
        if self.revenue:
            return self.money(value, digits)
        return "n/a" if _missing(value) else f"{compact(value, digits)} {self.outcome}"

    def outcome_change(self, value: float | None, digits: int = 3) -> str:
        """+₹12 M or +1.2 K conversions."""
        if self.revenue:
            return self.money_change(value, digits)
        return "n/a" if _missing(value) else ("+" if value >= 0 else "") + self.outcome_value(value, digits)

    def _per(self, value: float) -> tuple[float, str]:
        """For a count outcome, scale the spend unit so the figure reads ≥ 1 (per ₹1, ₹1 K or ₹1 M)."""
        if self.revenue:
            return value, f"{self.sign}1"
        for factor, label in ((1.0, "1"), (1e3, "1 K"), (1e6, "1 M")):
            if abs(value) * factor >= 1 or factor == 1e6:
                return value * factor, f"{self.sign}{label}"
        return value, f"{self.sign}1"  # pragma: no cover - the loop always returns

    def roas(self, value: float | None) -> str:
        """ROAS or marginal ROAS in words: "₹2.63 per ₹1", "4.1 conversions per ₹1 K", "2.63 per 1"."""
        if _missing(value):
            return "n/a"
        scaled, per = self._per(value)
        figure = f"{abs(scaled):.2f}" if abs(scaled) < 100 else f"{abs(scaled):,.0f}"
        lead = MINUS if scaled < 0 and float(figure.replace(",", "")) != 0 else ""
        amount = f"{lead}{self.sign}{figure}" if self.revenue else f"{lead}{figure} {self.outcome}"
        return f"{amount} per {per}"

    def label(self, text: str) -> str:
        """A header or axis title with the currency: "Spend, 12 months (INR)"."""
        return f"{text} ({self.currency})" if self.currency else text

    def outcome_label(self, text: str) -> str:
        """An outcome header: "Predicted revenue (INR)" or "Predicted conversions"."""
        return self.label(text) if self.revenue else text

    # ---------------------------------------------------------------------------------- file and browser formats

    def xlsx_money(self) -> str:
        """The XLSX number format of an amount: "₹"#,##0 (negatives with a minus before the sign)."""
        sign_ = self.sign.replace('"', "")
        return f'"{sign_}"#,##0;-"{sign_}"#,##0' if sign_ else "#,##0"

    def xlsx_outcome(self) -> str:
        if self.revenue:
            return self.xlsx_money()
        return f'#,##0" {self.outcome.replace(chr(34), "")}"'

    def xlsx_roas(self) -> str:
        per = f"{self.sign}1".replace('"', "")
        return f'0.00" per {per}"' if self.revenue else f'0.00####" {self.outcome.replace(chr(34), "")} per {per}"'

    def grid_money(self, compact: bool = False) -> dict[str, Any]:
        """An AG Grid column's right-aligned, currency-signed amounts (the sign after a minus): whole
        ("₹462,458,700") or, where the column is narrow, compact as the cards write it ("₹462 M")."""
        prefix = json.dumps(self.sign, ensure_ascii=False)
        whole = "d3.format(',.0f')(Math.abs(params.value))"
        number = (
            f"(Math.abs(params.value) < 1000 ? {whole} : d3.format('.3~s')(Math.abs(params.value))"
            ".replace('k', ' K').replace('M', ' M').replace('G', ' B').replace('T', ' T'))"
            if compact
            else whole
        )
        return {
            "type": "rightAligned",
            "cellDataType": "number",
            "valueFormatter": {
                "function": (
                    "params.value == null ? '' : (params.value < 0 ? '\u2212' : '') + " + prefix + " + " + number
                )
            },
        }

    def grid_roas(self) -> dict[str, Any]:
        """An AG Grid column of ROAS figures: two decimals with the currency sign when the outcome is revenue."""
        prefix = json.dumps(self.sign if self.revenue else "", ensure_ascii=False)
        fmt = "'.2f'" if self.revenue else "'.3~g'"
        return {
            "type": "rightAligned",
            "valueFormatter": {
                "function": (
                    "params.value == null ? '' : (params.value < 0 ? '\u2212' : '') + "
                    + prefix
                    + f" + d3.format({fmt})(Math.abs(params.value))"
                )
            },
        }

    def axis_money(self, title: str) -> dict[str, Any]:
        """A Plotly axis of amounts: the currency in the title and before every tick (1.2B, not 1.2G)."""
        return {
            "title": {"text": self.label(title)},
            "tickprefix": self.sign.strip() if self.sign.strip() else "",
            "exponentformat": "B",
        }

    def axis_outcome(self, title: str) -> dict[str, Any]:
        if self.revenue:
            return self.axis_money(title)
        return {"title": {"text": f"{title} ({self.outcome})"}, "exponentformat": "B"}

    def hover_money(self, field: str = "y") -> str:
        """A Plotly hover template fragment for an amount: ₹%{y:,.0f}."""
        return f"{self.sign}%{{{field}:,.0f}}"
