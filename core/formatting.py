"""How figures read in words: one place for the compact number style the pages, reports and comparisons share."""

from __future__ import annotations


def compact(value: float | None, digits: int = 3) -> str:
    """1.23 B / 456 M / 7.8 K, as the dashboard shows money and counts (the data carries no currency)."""
    if value is None or value != value:
        return "n/a"
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{value / limit:.{digits}g} {suffix}".replace("-", "−")
    return f"{value:.{digits}g}".replace("-", "−")


def signed(value: float | None, digits: int = 1) -> str:
    """+1.2 / −0.4 / n/a, for changes (a true minus sign, as the pages print them)."""
    if value is None or value != value:
        return "n/a"
    return f"{value:+.{digits}f}".replace("-", "−")


def score(value: float | None, digits: int = 1) -> str:
    """61.4 / n/a: a DC score or a size of change in points, as the pages and reports print them."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}".replace("-", "−")
