"""When a subscription is due: at `hour`:00 wall-clock time in its IANA time zone, daily, on Mondays
(weekly) or on the 1st (monthly).

Computed on local dates, then converted to UTC, so a daylight-saving change moves the UTC moment and
never the local hour. An hour that does not exist that day (clocks jump forward over it) is sent at the
same offset as before the jump (02:00 becomes 03:00 local); an hour that happens twice is sent once, at
the first. The period key is the local date of the scheduled run: one delivery per period
(`subscription_deliveries` is unique on it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

CADENCES = ("daily", "weekly", "monthly")


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError in words for anything else (a path, a typo, an abbreviation)."""
    text = str(name or "").strip()
    if not text or len(text) > 64 or text not in _known():
        raise ValueError(f"time zone {name!r} is not an IANA time zone name like Europe/Berlin or Asia/Kolkata")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {name!r} is not known on this server") from None


_ZONES: frozenset[str] = frozenset()


def _known() -> frozenset[str]:
    global _ZONES
    if not _ZONES:
        _ZONES = frozenset(available_timezones() | {"UTC"})
    return _ZONES


# The hours a page offers for a send (the subscriptions, compliance and alert-delivery forms).
HOUR_OPTIONS: list[dict] = [{"label": f"{h:02d}:00", "value": h} for h in range(24)]


def time_zones() -> list[str]:
    """Every IANA zone name this server knows, sorted (the page's choices)."""
    return sorted(_known())


def _on_cadence(cadence: str, day: date) -> bool:
    if cadence == "daily":
        return True
    if cadence == "weekly":
        return day.weekday() == 0
    if cadence == "monthly":
        return day.day == 1
    raise ValueError(f"cadence {cadence!r}: expected one of {', '.join(CADENCES)}")


def next_run(cadence: str, hour: int, tz_name: str, after: datetime) -> datetime:
    """The first scheduled moment strictly after `after` (aware), in UTC."""
    tz = zone(tz_name)
    if not 0 <= int(hour) <= 23:
        raise ValueError(f"hour {hour!r}: expected 0 to 23")
    day = after.astimezone(tz).date() - timedelta(days=1)  # the day before: its hour may still be ahead in UTC
    for _ in range(70):
        if _on_cadence(cadence, day):
            moment = datetime(day.year, day.month, day.day, int(hour), tzinfo=tz).astimezone(UTC)
            if moment > after:
                return moment
        day += timedelta(days=1)
    raise AssertionError("no run within 70 days")  # a month has at most 31


def period_of(moment: datetime, tz_name: str) -> str:
    """The period a scheduled moment delivers: its local date (ISO)."""
    return moment.astimezone(zone(tz_name)).date().isoformat()
