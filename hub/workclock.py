"""Working-time arithmetic for handling limits: daily working periods, weekends off, holidays and 调休.

`{hours: N}` is N working hours after the start; `{days: N}` is N x (working hours per day) after the start,
so that a limit of one working day set at 10:00 on Monday falls due at 10:00 on Tuesday. A start outside
working time counts from the next working period's start.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from citybot.catalogue import TimeLimit


class WorkClockError(ValueError):
    """Malformed working periods or holiday file."""


def parse_periods(text: str) -> tuple[tuple[dt.time, dt.time], ...]:
    """'08:30-12:00,14:00-18:00' -> ((08:30, 12:00), (14:00, 18:00)), sorted and non-overlapping."""
    periods = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            a, b = part.split("-")
            start, end = dt.time.fromisoformat(a.strip()), dt.time.fromisoformat(b.strip())
            if end <= start:
                raise WorkClockError(f"working period {part!r} ends before it starts")
            periods.append((start, end))
    except ValueError as exc:
        raise WorkClockError(f"bad working periods {text!r}: {exc}") from None
    periods.sort()
    for (_, e1), (s2, _) in zip(periods, periods[1:]):
        if s2 < e1:
            raise WorkClockError(f"working periods overlap in {text!r}")
    if not periods:
        raise WorkClockError("no working periods")
    return tuple(periods)


def _dates(entries) -> set[dt.date]:
    out: set[dt.date] = set()
    for item in entries or ():
        text = str(item)
        if ".." in text:
            a, b = (dt.date.fromisoformat(x.strip()) for x in text.split(".."))
            out.update(a + dt.timedelta(days=i) for i in range((b - a).days + 1))
        else:
            out.add(dt.date.fromisoformat(text.strip()))
    return out


def load_calendar(path: str | Path | None) -> tuple[set[dt.date], set[dt.date]]:
    """(holidays, make-up workdays) from a holidays YAML file; a missing file means no holidays."""
    if not path or not Path(path).exists():
        return set(), set()
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return _dates(doc.get("holidays")), _dates(doc.get("workdays"))
    except (ValueError, AttributeError, yaml.YAMLError) as exc:
        raise WorkClockError(f"bad holidays file {path}: {exc}") from None


@dataclass(frozen=True)
class WorkClock:
    tz: ZoneInfo
    periods: tuple[tuple[dt.time, dt.time], ...]
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    workdays: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings) -> WorkClock:
        holidays, workdays = load_calendar(settings.holidays_file)
        return cls(ZoneInfo(settings.timezone), parse_periods(settings.work_periods),
                   frozenset(holidays), frozenset(workdays))

    @property
    def hours_per_day(self) -> float:
        return sum(_seconds(s, e) for s, e in self.periods) / 3600

    def is_workday(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working(self, start: dt.datetime, seconds: float) -> dt.datetime:
        """The instant `seconds` of working time after `start` (aware); the result is in the clock's zone."""
        local = start.astimezone(self.tz)
        remaining = dt.timedelta(seconds=seconds)
        day = local.date()
        for _ in range(3660):  # ten years of days: a bound, never reached with sane limits
            if self.is_workday(day):
                for s, e in self.periods:
                    p_start = dt.datetime.combine(day, s, self.tz)
                    p_end = dt.datetime.combine(day, e, self.tz)
                    begin = max(p_start, local)
                    if begin >= p_end:
                        continue
                    if begin + remaining <= p_end:
                        return begin + remaining
                    remaining -= p_end - begin
            day += dt.timedelta(days=1)
            local = max(local, dt.datetime.combine(day, dt.time(0), self.tz))
        raise WorkClockError("no working time found within ten years")

    def due(self, start: dt.datetime, limit: TimeLimit) -> dt.datetime:
        hours = limit.hours if limit.hours else limit.days * self.hours_per_day
        return self.add_working(start, hours * 3600)

    def working_seconds_between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Working time between two instants (0 when b <= a)."""
        if b <= a:
            return 0.0
        total, day, end_day = 0.0, a.astimezone(self.tz).date(), b.astimezone(self.tz).date()
        while day <= end_day:
            if self.is_workday(day):
                for s, e in self.periods:
                    lo = max(dt.datetime.combine(day, s, self.tz), a)
                    hi = min(dt.datetime.combine(day, e, self.tz), b)
                    total += max((hi - lo).total_seconds(), 0.0)
            day += dt.timedelta(days=1)
        return total


def _seconds(a: dt.time, b: dt.time) -> float:
    return (dt.datetime.combine(dt.date.min, b) - dt.datetime.combine(dt.date.min, a)).total_seconds()
