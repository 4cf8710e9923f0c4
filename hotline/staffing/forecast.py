"""A forecast by interval from history, and the agents each interval needs.

History is one row per past interval: its day, its time of day ("slot"), contacts
offered, contacts answered and their average handle time. For a day to forecast, each
slot's contacts are the mean of that weekday's same slot over the history's days of
that weekday (days with no contact count as 0); its handle time is the answered-weighted
mean of the same slot's handle times, else of that weekday's, else of the whole
history's, else the default. Erlang C then gives the agents (docs/metrics.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from hotline.staffing.erlang import Requirement, agents_needed


@dataclass(frozen=True)
class PastInterval:
    day: date
    slot: str  # local time of day, "HH:MM"
    offered: int
    answered: int
    aht: float | None


@dataclass(frozen=True)
class Forecast:
    day: date
    slot: str
    contacts: float
    aht: float
    weeks: int  # days of this weekday the mean is over


def _weighted(pairs: Iterable[tuple[int, float | None]]) -> float | None:
    total = weight = 0.0
    for answered, aht in pairs:
        if aht is not None and answered > 0:
            total += answered * aht
            weight += answered
    return total / weight if weight else None


def forecast(
    history: Sequence[PastInterval], days: Sequence[date], default_aht: float = 180.0
) -> list[Forecast]:
    """Each day's slots (those the history has for its weekday), in order."""
    by_weekday: dict[int, set[date]] = defaultdict(set)
    slots: dict[int, set[str]] = defaultdict(set)
    cells: dict[tuple[int, str], list[PastInterval]] = defaultdict(list)
    for row in history:
        wd = row.day.weekday()
        by_weekday[wd].add(row.day)
        slots[wd].add(row.slot)
        cells[(wd, row.slot)].append(row)
    overall = _weighted((r.answered, r.aht) for r in history)
    result = []
    for day in days:
        wd = day.weekday()
        n_days = len(by_weekday[wd])
        weekday_aht = _weighted(
            (r.answered, r.aht) for slot in slots[wd] for r in cells[(wd, slot)]
        )
        for slot in sorted(slots[wd]):
            rows = cells[(wd, slot)]
            contacts = sum(r.offered for r in rows) / n_days
            aht = _weighted((r.answered, r.aht) for r in rows)
            chosen = next(a for a in (aht, weekday_aht, overall, default_aht) if a is not None)
            result.append(Forecast(day, slot, round(contacts, 2), round(chosen, 1), n_days))
    return result


def staff(
    rows: Sequence[Forecast],
    interval_seconds: float,
    target: float,
    threshold: float,
    shrinkage: float,
) -> list[Requirement]:
    """Agents each forecast interval needs for `target` (0..1) within `threshold` s."""
    return [
        agents_needed(r.contacts, interval_seconds, r.aht, target, threshold, shrinkage)
        for r in rows
    ]
