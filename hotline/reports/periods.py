"""Report periods and their intervals (15 min, hour, day) in a time zone.

Interval edges are local wall-clock boundaries turned into instants, so a day is 23
or 25 hours long across a daylight-saving change, and the repeated hour of an autumn
night is two hour-intervals (told apart by their UTC offset in the label).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hotline.reports.errors import ReportError

#: Interval name -> its length in minutes on a day without a clock change.
INTERVALS = {"15min": 15, "hour": 60, "day": 1440}
#: Longest period a report covers.
MAX_DAYS = 400
_GRID = 15 * 60  # every zone in use today has an offset that is a multiple of 15 minutes


@dataclass(frozen=True)
class Bucket:
    """One interval of a period: [start, end), local times with their offsets."""

    start: datetime
    end: datetime
    label: str


@dataclass(frozen=True)
class Period:
    """[start, end) in time zone `zone`, cut into `buckets` of `interval`."""

    start: datetime
    end: datetime
    zone: ZoneInfo
    interval: str
    buckets: tuple[Bucket, ...]

    @property
    def t0(self) -> float:
        return self.start.timestamp()

    @property
    def t1(self) -> float:
        return self.end.timestamp()

    def edges(self) -> list[float]:
        """Bucket start instants (epoch seconds), for `bisect`."""
        return [b.start.timestamp() for b in self.buckets]

    def describe(self) -> str:
        start, end = self.start.isoformat(), self.end.isoformat()
        return f"{start} to {end} ({self.zone.key}, by {self.interval})"


class Bucketer:
    """Which bucket an instant falls in (None outside the period)."""

    def __init__(self, period: Period) -> None:
        self._edges = period.edges()
        self._t0, self._t1 = period.t0, period.t1

    def __call__(self, t: float) -> int | None:
        if t < self._t0 or t >= self._t1:
            return None
        return bisect.bisect_right(self._edges, t) - 1


def local_instant(value: Any, zone: ZoneInfo, what: str) -> datetime:
    """`value` (a date, datetime or ISO text) as an aware local datetime.

    A date means its local midnight. Local times that a clock change skips or repeats
    are refused unless they carry an explicit UTC offset.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ReportError(
                f"{what}: {value!r} is not a date (2026-03-29) or a date and time "
                "(2026-03-29T08:00, optionally with an offset like +02:00)"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.astimezone(zone)
        return _wall(value, zone, what)
    if isinstance(value, date):
        return _wall(datetime.combine(value, time()), zone, what)
    raise ReportError(f"{what}: expected a date or datetime, got {type(value).__name__}")


def _wall(naive: datetime, zone: ZoneInfo, what: str) -> datetime:
    """A naive wall-clock time in `zone`; refused if the clocks skip or repeat it."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if back != naive:
            raise ReportError(
                f"{what}: {naive.isoformat(timespec='minutes')} does not exist in {zone.key} "
                "(the clocks go forward then); give another time or an explicit UTC offset"
            )
        raise ReportError(
            f"{what}: {naive.isoformat(timespec='minutes')} happens twice in {zone.key} "
            "(the clocks go back then); add the UTC offset you mean, e.g. "
            f"{first.isoformat(timespec='minutes')} or {second.isoformat(timespec='minutes')}"
        )
    return first


def make_period(start: Any, end: Any, zone: ZoneInfo, interval: str) -> Period:
    """A period [start, end) cut into intervals; `end` given as a date includes that day."""
    if interval not in INTERVALS:
        raise ReportError(f"interval must be one of {', '.join(INTERVALS)}; got {interval!r}")
    begin = local_instant(start, zone, "from")
    is_day = isinstance(end, date) and not isinstance(end, datetime)
    if isinstance(end, str) and len(end.strip()) == 10:
        is_day = True
    finish = local_instant(end, zone, "to")
    if is_day:  # "to 2026-03-29" means up to the end of that day
        finish = local_instant(finish.date() + timedelta(days=1), zone, "to")
    if finish <= begin:
        raise ReportError(
            f"empty period: to ({finish.isoformat()}) must be after from ({begin.isoformat()})"
        )
    if finish - begin > timedelta(days=MAX_DAYS):
        raise ReportError(f"period too long: at most {MAX_DAYS} days per report")
    return Period(begin, finish, zone, interval, _buckets(begin, finish, zone, interval))


def _key(t: datetime, interval: str) -> tuple[Any, ...]:
    if interval == "day":
        return (t.date(),)
    minute = t.minute - t.minute % INTERVALS[interval] if interval == "15min" else 0
    return (t.date(), t.hour, minute, t.utcoffset())


def _buckets(
    begin: datetime, finish: datetime, zone: ZoneInfo, interval: str
) -> tuple[Bucket, ...]:
    t0, t1 = begin.timestamp(), finish.timestamp()
    starts = [t0]
    key = _key(begin, interval)
    grid = (int(t0) // _GRID + 1) * _GRID
    for t in range(grid, int(t1) + (0 if t1 == int(t1) else 1), _GRID):
        if t >= t1:
            break
        k = _key(datetime.fromtimestamp(t, zone), interval)
        if k != key:
            starts.append(float(t))
            key = k
    starts.append(t1)
    local = [datetime.fromtimestamp(t, zone) for t in starts]
    labels = [_label(t, interval) for t in local[:-1]]
    repeated = {label for label in labels if labels.count(label) > 1}
    return tuple(
        Bucket(
            local[i],
            local[i + 1],
            f"{labels[i]} ({local[i].strftime('%z')[:3]}:{local[i].strftime('%z')[3:]})"
            if labels[i] in repeated
            else labels[i],
        )
        for i in range(len(labels))
    )


def _label(t: datetime, interval: str) -> str:
    return t.date().isoformat() if interval == "day" else t.strftime("%Y-%m-%d %H:%M")
