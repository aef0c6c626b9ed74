"""When a report subscription is due (core.subscriptions.schedule): the local hour in its IANA time zone,
across daylight-saving changes in both directions and hemispheres, once per local date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.subscriptions.schedule import next_run, period_of, zone


def _runs(cadence: str, hour: int, tz: str, start: datetime, n: int) -> list[datetime]:
    out, moment = [], start
    for _ in range(n):
        moment = next_run(cadence, hour, tz, moment)
        out.append(moment)
    return out


def test_daily_keeps_the_local_hour_across_the_spring_change_in_berlin():
    runs = _runs("daily", 8, "Europe/Berlin", datetime(2026, 3, 27, 12, tzinfo=UTC), 3)
    assert runs == [datetime(2026, 3, 28, 7, tzinfo=UTC),  # 08:00 CET (+1)
                    datetime(2026, 3, 29, 6, tzinfo=UTC),  # 08:00 CEST (+2): the UTC moment moved, the hour did not
                    datetime(2026, 3, 30, 6, tzinfo=UTC)]
    assert all(r.astimezone(zone("Europe/Berlin")).hour == 8 for r in runs)


def test_an_hour_skipped_by_the_clock_is_sent_once_an_hour_later_and_a_repeated_one_once():
    spring = _runs("daily", 2, "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert spring[0] == datetime(2026, 3, 29, 1, tzinfo=UTC)  # 02:00 does not exist: 03:00 CEST
    assert [period_of(r, "Europe/Berlin") for r in spring] == ["2026-03-29", "2026-03-30"]
    autumn = _runs("daily", 2, "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC), 3)
    assert autumn == [datetime(2026, 10, 25, 0, tzinfo=UTC),  # the first 02:00 (CEST), not the second
                      datetime(2026, 10, 26, 1, tzinfo=UTC), datetime(2026, 10, 27, 1, tzinfo=UTC)]
    assert len({period_of(r, "Europe/Berlin") for r in autumn}) == 3  # one delivery per local date


def test_new_york_and_the_southern_hemisphere():
    ny = _runs("daily", 9, "America/New_York", datetime(2026, 3, 7, 20, tzinfo=UTC), 2)
    assert ny == [datetime(2026, 3, 8, 13, tzinfo=UTC), datetime(2026, 3, 9, 13, tzinfo=UTC)]  # EDT from 8 March
    ny_before = next_run("daily", 9, "America/New_York", datetime(2026, 3, 6, 20, tzinfo=UTC))
    assert ny_before == datetime(2026, 3, 7, 14, tzinfo=UTC)  # EST
    sydney = _runs("daily", 9, "Australia/Sydney", datetime(2026, 4, 3, 12, tzinfo=UTC), 2)
    assert sydney == [datetime(2026, 4, 3, 22, tzinfo=UTC),  # 9:00 AEDT (+11) on Saturday 4 April
                      datetime(2026, 4, 4, 23, tzinfo=UTC)]  # 9:00 AEST (+10): clocks went back at 03:00 on the 5th
    assert [r.astimezone(zone("Australia/Sydney")).hour for r in sydney] == [9, 9]


def test_weekly_is_mondays_and_monthly_the_first_in_local_time():
    weekly = _runs("weekly", 0, "Pacific/Auckland", datetime(2026, 12, 7, 12, tzinfo=UTC), 2)
    assert [r.astimezone(zone("Pacific/Auckland")).strftime("%a %H:%M") for r in weekly] == ["Mon 00:00"] * 2
    assert weekly[1] - weekly[0] == timedelta(days=7)
    assert weekly[0] == datetime(2026, 12, 13, 11, tzinfo=UTC)  # Monday 00:00 NZDT is Sunday in UTC
    monthly = _runs("monthly", 9, "Asia/Kolkata", datetime(2026, 1, 31, 23, tzinfo=UTC), 3)
    assert monthly == [datetime(2026, 2, 1, 3, 30, tzinfo=UTC), datetime(2026, 3, 1, 3, 30, tzinfo=UTC),
                       datetime(2026, 4, 1, 3, 30, tzinfo=UTC)]


def test_the_next_run_is_strictly_after_the_given_moment():
    exactly = datetime(2026, 6, 1, 7, tzinfo=UTC)  # 09:00 in Berlin
    assert next_run("daily", 9, "Europe/Berlin", exactly) == exactly + timedelta(days=1)
    assert next_run("daily", 9, "Europe/Berlin", exactly - timedelta(seconds=1)) == exactly


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "CEST", "../etc/localtime", "/usr/share/zoneinfo/UTC", None])
def test_a_bad_time_zone_is_refused_in_words(bad):
    with pytest.raises(ValueError, match="not an IANA time zone name"):
        zone(bad)


def test_a_bad_hour_or_cadence_is_refused():
    with pytest.raises(ValueError, match="hour"):
        next_run("daily", 24, "UTC", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="cadence"):
        next_run("hourly", 1, "UTC", datetime(2026, 1, 1, tzinfo=UTC))
