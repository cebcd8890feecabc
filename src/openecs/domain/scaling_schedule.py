"""Schedules of scheduled scaling actions, written as Application Auto Scaling writes them:
`at(yyyy-mm-ddThh:mm:ss)`, `cron(minutes hours day-of-month month day-of-week year)` and
`rate(N minute|minutes|hour|hours|day|days)`, read in the action's IANA time zone (UTC
when none is given).

Daylight saving time: a local time that does not exist (the spring-forward gap) fires
at the instant the clock would show it had it not jumped (02:30 in New York on the
spring-forward day fires at 03:30 EDT); a local time that happens twice (fall back)
fires once, at its first occurrence.

LIMITATIONS: cron's `L`, `W` and `#` are refused with a readable reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Schedule", "next_fire", "parse_schedule", "zone"]

_AT = re.compile(r"^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    )
}
_DAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# How far ahead a cron expression is searched for its next firing (days).
_HORIZON_DAYS = 366 * 8


@dataclass(frozen=True, slots=True)
class Schedule:
    text: str
    kind: str  # "at" | "cron" | "rate"
    at: datetime | None = None  # naive, local to the action's time zone
    rate_seconds: int = 0
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days_of_month: frozenset[int] | None = None  # None: `?` or `*`
    months: frozenset[int] = frozenset()
    days_of_week: frozenset[int] | None = None  # 1 = Sunday ... 7 = Saturday; None: any
    years: frozenset[int] | None = None


def zone(name: str | None) -> ZoneInfo:
    """The time zone named `name` (UTC when None); ValueError when unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Time zone {name} is not a valid IANA time zone") from None


def parse_schedule(text: str) -> Schedule:
    """The schedule `text` names; ValueError with a reason a user can read when invalid."""
    text = text.strip()
    if m := _AT.match(text):
        try:
            y, mo, d, h, mi, sec = (int(g) for g in m.groups())
            at = datetime(y, mo, d, h, mi, sec)
        except ValueError:
            raise ValueError(f"Invalid date in schedule {text}") from None
        return Schedule(text, "at", at=at)
    if m := _RATE.match(text):
        amount = int(m.group(1))
        if amount < 1:
            raise ValueError("The rate value must be a positive integer")
        if (amount == 1) != (not m.group(2).endswith("s")):
            raise ValueError(f"Use the singular unit for a rate of 1 and plural otherwise: {text}")
        return Schedule(text, "rate", rate_seconds=amount * _UNIT_SECONDS[m.group(2).rstrip("s")])
    if m := _CRON.match(text):
        return _parse_cron(text, m.group(1).split())
    raise ValueError(
        f"Schedule {text} is not valid: use at(yyyy-mm-ddThh:mm:ss), "
        "cron(minutes hours day-of-month month day-of-week year) or rate(value unit)"
    )


def _parse_cron(text: str, fields: list[str]) -> Schedule:
    if len(fields) != 6:
        raise ValueError(f"A cron expression has 6 fields, {text} has {len(fields)}")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ValueError(f"In {text}, exactly one of day-of-month and day-of-week must be '?'")
    return Schedule(
        text,
        "cron",
        minutes=_field(minute, 0, 59, {}, text),
        hours=_field(hour, 0, 23, {}, text),
        days_of_month=None if dom in ("?", "*") else _field(dom, 1, 31, {}, text),
        months=_field(month, 1, 12, _MONTHS, text),
        days_of_week=None if dow in ("?", "*") else _field(dow, 1, 7, _DAYS, text),
        years=None if year in ("*", "?") else _field(year, 1970, 2199, {}, text),
    )


def _field(spec: str, low: int, high: int, names: dict[str, int], text: str) -> frozenset[int]:
    values: set[int] = set()

    def number(token: str) -> int:
        token = token.upper()
        if token in names:
            return names[token]
        if not token.isdigit() or not low <= int(token) <= high:
            raise ValueError(f"{token} is not valid in {text} (expected {low}-{high})")
        return int(token)

    for part in spec.split(","):
        bare = part.upper()
        for name in names:
            bare = bare.replace(name, "")
        if any(c in bare for c in "LW#"):
            raise ValueError(f"OpenECS does not support L, W or # in cron expressions: {text}")
        base, _, step_text = part.partition("/")
        step = number(step_text) if step_text else 1
        if step_text and step < 1:
            raise ValueError(f"Invalid increment in {text}")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = number(a), number(b)
        else:
            first = number(base)
            last = high if step_text else first
        if first > last:
            raise ValueError(f"Range {base} is not valid in {text}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def next_fire(schedule: Schedule, tz: str | None, after: float, *, anchor: float) -> float | None:
    """The first time (epoch seconds) strictly after `after` the schedule fires; None if
    never again. `anchor` is when a rate schedule starts counting (its start time or
    creation)."""
    zi = zone(tz)
    if schedule.kind == "at":
        assert schedule.at is not None
        when = schedule.at.replace(tzinfo=zi).timestamp()
        return when if when > after else None
    if schedule.kind == "rate":
        periods = max(int((after - anchor) // schedule.rate_seconds) + 1, 1)
        return anchor + periods * schedule.rate_seconds
    return _next_cron(schedule, zi, after)


def _next_cron(s: Schedule, zi: ZoneInfo, after: float) -> float | None:
    local = datetime.fromtimestamp(after, UTC).astimezone(zi).replace(tzinfo=None)
    start = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    hours, minutes = sorted(s.hours), sorted(s.minutes)
    for _ in range(_HORIZON_DAYS):
        if _day_matches(s, day):
            for hour in hours:
                for minute in minutes:
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate < start:
                        continue
                    when = candidate.replace(tzinfo=zi).timestamp()
                    # The second pass through a repeated (fall-back) hour maps before `after`.
                    if when > after:
                        return when
        day += timedelta(days=1)
    return None


def _day_matches(s: Schedule, day: datetime) -> bool:
    if s.years is not None and day.year not in s.years:
        return False
    if day.month not in s.months:
        return False
    if s.days_of_month is not None and day.day not in s.days_of_month:
        return False
    aws_weekday = (day.weekday() + 1) % 7 + 1  # Python: Monday 0; AWS: Sunday 1
    return s.days_of_week is None or aws_weekday in s.days_of_week
