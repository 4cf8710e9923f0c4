"""The staffing report: a forecast of the next days by interval from the event log's
history, the agents each interval needs by Erlang C, against what happened (contacts
offered and agents logged in) where the interval has begun.

Formulas in docs/metrics.md ("Staffing").
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hotline.reports.agents import OFFLINE, Segment
from hotline.reports.errors import ReportError
from hotline.reports.report import Report, ReportQuery, build_report
from hotline.reports.settings import ReportSettings
from hotline.reports.tables import Table, columns
from hotline.staffing.forecast import Forecast, PastInterval, forecast, staff
from hotline.staffing.settings import StaffingSettings
from hotline.store import Store

INTERVALS = {"15min": 900.0, "hour": 3600.0}
MAX_DAYS = 14

STAFFING_COLUMNS = [
    ("interval", "interval", "text"),
    ("forecast", "forecast", "num"),
    ("aht", "AHT", "sec"),
    ("erlangs", "Erlangs", "num"),
    ("agents", "agents needed", "int"),
    ("scheduled", "scheduled (shrinkage)", "int"),
    ("predicted_sl", "predicted SL", "pct"),
    ("offered", "offered", "int"),
    ("sl_offered", "SL", "pct"),
    ("logged_in", "logged in", "num"),
    ("short", "short by", "num"),
]


@dataclass(frozen=True)
class StaffingQuery:
    start: date
    days: int = 1
    interval: str = "hour"
    queue: str | None = None
    channel: str = "voice"

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise ReportError(f"interval must be one of {', '.join(INTERVALS)} for staffing")
        if not 1 <= self.days <= MAX_DAYS:
            raise ReportError(f"days must be 1 to {MAX_DAYS}")


@dataclass
class StaffingReport:
    query: StaffingQuery
    target: float  # percent
    threshold: float
    shrinkage: float
    history: tuple[date, date]
    table: Table


def _past(report: Report) -> list[PastInterval]:
    rows = report.tables["intervals"].rows
    found = []
    for bucket, row in zip(report.period.buckets, rows, strict=True):
        found.append(
            PastInterval(
                bucket.start.date(),
                bucket.start.strftime("%H:%M"),
                int(row.get("offered") or 0),
                int(row.get("handled") or 0),
                row.get("aht"),
            )
        )
    return found


def logged_in(segments: Iterable[Segment], start: float, end: float, channel: str) -> float:
    """Agents logged in on `channel` over [start, end), on average (agent-seconds / s)."""
    seconds = 0.0
    for s in segments:
        if s.channel == channel and s.state != OFFLINE:
            seconds += max(0.0, min(end, s.end) - max(start, s.start))
    return seconds / (end - start)


async def staffing_report(
    store: Store,
    query: StaffingQuery,
    settings: ReportSettings,
    staffing: StaffingSettings,
    *,
    queues: Iterable[str] = (),
    agents: Iterable[str] = (),
    now: float | None = None,
) -> StaffingReport:
    """The forecast and agents needed for `query`'s days (ReportError for bad input)."""
    weeks = staffing.history_weeks
    first, last = query.start - timedelta(weeks=weeks), query.start - timedelta(days=1)
    history = await build_report(
        store,
        ReportQuery(first, last, query.interval, query.queue, None, query.channel),
        settings,
        queues=queues,
        agents=agents,
        now=now,
    )
    days = [query.start + timedelta(days=i) for i in range(query.days)]
    predicted = forecast(_past(history), days, staffing.default_handle_time)
    seconds = INTERVALS[query.interval]
    q = settings.queues.get(query.queue or "")
    target = q.sl_target if q is not None and q.sl_target is not None else settings.sl_target
    threshold = settings.threshold(query.queue)
    needs = staff(predicted, seconds, target / 100.0, threshold, staffing.shrinkage)
    by_slot: dict[tuple[date, str], tuple[Forecast, Any]] = {
        (f.day, f.slot): (f, n) for f, n in zip(predicted, needs, strict=True)
    }
    actual = await build_report(
        store,
        ReportQuery(
            days[0], days[-1], query.interval, query.queue, None, query.channel, timeline=True
        ),
        settings,
        queues=queues,
        agents=agents,
        now=now,
    )
    clock = now if now is not None else time.time()
    table = Table("staffing", "Staffing: forecast and agents needed", columns(STAFFING_COLUMNS))
    for bucket, row in zip(actual.period.buckets, actual.tables["intervals"].rows, strict=True):
        f, need = by_slot.get((bucket.start.date(), bucket.start.strftime("%H:%M")), (None, None))
        t0, t1 = bucket.start.timestamp(), bucket.end.timestamp()
        begun = t0 < clock
        on = logged_in(actual.timeline, t0, min(t1, clock), query.channel) if begun else None
        agents_needed = need.agents if need is not None else 0
        table.rows.append(
            {
                "interval": bucket.label,
                "forecast": f.contacts if f is not None else 0.0,
                "aht": f.aht if f is not None else None,
                "erlangs": round(need.traffic, 2) if need is not None else 0.0,
                "agents": agents_needed,
                "scheduled": need.scheduled if need is not None else 0,
                "predicted_sl": round(100 * need.service_level, 1) if need is not None else None,
                "offered": row.get("offered") if begun else None,
                "sl_offered": row.get("sl_offered") if begun else None,
                "logged_in": round(on, 2) if on is not None else None,
                "short": round(max(0.0, agents_needed - on), 2) if on is not None else None,
            }
        )
    table.note = (
        f"Forecast from {first.isoformat()} to {last.isoformat()} ({weeks} weeks, same weekday "
        f"and interval); Erlang C for {target:g} % in {threshold:g} s; scheduled with "
        f"{100 * staffing.shrinkage:g} % shrinkage. Logged in: agents on {query.channel}, "
        "on average over the interval (so far)."
    )
    return StaffingReport(query, target, threshold, staffing.shrinkage, (first, last), table)
