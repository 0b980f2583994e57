"""The working-time clock: nights, lunch breaks, weekends, holidays and make-up workdays (调休)."""

import datetime as dt

import pytest

from citybot.catalogue import TimeLimit
from citybot.settings import Settings
from hub.workclock import WorkClock, WorkClockError, load_calendar, parse_periods
from hubtesting import TZ


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


@pytest.fixture(scope="module")
def wc() -> WorkClock:
    return WorkClock.from_settings(Settings(_env_file=None))  # 08:30-12:00,14:00-18:00 + data/holidays.yml


def test_hours_within_one_period(wc):
    assert wc.due(at(2026, 3, 2, 9, 0), TimeLimit(hours=2)) == at(2026, 3, 2, 11, 0)


def test_lunch_break_is_skipped(wc):
    assert wc.due(at(2026, 3, 2, 11, 0), TimeLimit(hours=2)) == at(2026, 3, 2, 15, 0)


def test_overnight(wc):
    # Monday 17:00 + 4 working hours: 1 h on Monday, 3 h from 08:30 on Tuesday (3.5 h morning) -> 11:30.
    assert wc.due(at(2026, 3, 2, 17, 0), TimeLimit(hours=4)) == at(2026, 3, 3, 11, 30)


def test_start_at_night_counts_from_next_morning(wc):
    assert wc.due(at(2026, 3, 2, 23, 30), TimeLimit(hours=1)) == at(2026, 3, 3, 9, 30)
    assert wc.due(at(2026, 3, 3, 6, 0), TimeLimit(hours=1)) == at(2026, 3, 3, 9, 30)


def test_weekend_is_skipped(wc):
    # Friday 2026-03-06 17:00 + 2 h -> Monday 09:30.
    assert wc.due(at(2026, 3, 6, 17, 0), TimeLimit(hours=2)) == at(2026, 3, 9, 9, 30)
    assert wc.due(at(2026, 3, 7, 10, 0), TimeLimit(hours=1)) == at(2026, 3, 9, 9, 30)


def test_public_holiday_is_skipped(wc):
    # 劳动节 2026-05-01..05 (Fri..Tue); Thursday 2026-04-30 17:00 + 2 h -> Wednesday 05-06 09:30.
    assert wc.due(at(2026, 4, 30, 17, 0), TimeLimit(hours=2)) == at(2026, 5, 6, 9, 30)


def test_make_up_workday_counts(wc):
    # 2026-02-14 (Saturday) is a make-up workday before 春节 (02-15..23): Friday 13th 17:00 + 2 h -> Sat 09:30.
    assert wc.due(at(2026, 2, 13, 17, 0), TimeLimit(hours=2)) == at(2026, 2, 14, 9, 30)
    # ... and after it the whole holiday is skipped: Saturday 14th 17:00 + 2 h -> Tuesday 24th 09:30.
    assert wc.due(at(2026, 2, 14, 17, 0), TimeLimit(hours=2)) == at(2026, 2, 24, 9, 30)
    assert wc.is_workday(dt.date(2026, 2, 28)) and not wc.is_workday(dt.date(2026, 2, 16))


def test_days_are_days_times_daily_hours(wc):
    assert wc.hours_per_day == 7.5
    assert wc.due(at(2026, 3, 2, 10, 0), TimeLimit(days=1)) == at(2026, 3, 3, 10, 0)
    # Friday 10:00 + 5 working days -> next Friday 10:00.
    assert wc.due(at(2026, 3, 6, 10, 0), TimeLimit(days=5)) == at(2026, 3, 13, 10, 0)


def test_working_seconds_between_is_inverse_of_add(wc):
    start = at(2026, 4, 30, 15, 17)
    end = wc.add_working(start, 12.25 * 3600)
    assert wc.working_seconds_between(start, end) == pytest.approx(12.25 * 3600)


def test_periods_parse_and_reject():
    assert parse_periods("14:00-18:00, 08:30-12:00")[0] == (dt.time(8, 30), dt.time(12, 0))
    for bad in ("", "9-5", "12:00-08:00", "08:00-12:00,11:00-13:00", "8:xx-9:00"):
        with pytest.raises(WorkClockError):
            parse_periods(bad)


def test_calendar_file_ranges(tmp_path):
    f = tmp_path / "h.yml"
    f.write_text("holidays: [2027-01-01..2027-01-03, 2027-02-10]\nworkdays: [2027-01-09]\n")
    holidays, workdays = load_calendar(f)
    assert len(holidays) == 4 and workdays == {dt.date(2027, 1, 9)}
    assert load_calendar(tmp_path / "missing.yml") == (set(), set())
    f.write_text("holidays: [not-a-date]\n")
    with pytest.raises(WorkClockError):
        load_calendar(f)
