"""The staffing report on a hand-made history: four Mondays of 12 calls between 09:00
and 10:00 (180 s each), then the Monday to plan, half an hour in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hotline.reports.agents import Segment
from hotline.reports.errors import ReportError
from hotline.reports.settings import ReportSettings
from hotline.reports.staffing import StaffingQuery, logged_in, staffing_report
from hotline.staffing.settings import StaffingSettings
from hotline.store import Store

PLAN_DAY = date(2026, 11, 30)  # a Monday


async def day_of_calls(store: Store, day: date, calls: int, until: datetime | None = None) -> None:
    """a1 logs in at 08:00; a call joins sales every 5 minutes from 09:00, is answered
    5 s later and handled for 180 s (no wrap-up)."""
    t0 = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)

    async def agent(
        ts: datetime, action: str, src: str, dst: str, contact: str | None = None
    ) -> None:
        data = {"at": 0.0, "channel": "voice", "from": src, "to": dst}
        await store.append(
            contact, f"agent.{action}", data, queue="sales" if contact else None, agent="a1", ts=ts
        )

    await agent(t0, "login", "offline", "available")
    for k in range(calls):
        joined = t0 + timedelta(hours=1, minutes=5 * k)
        if until is not None and joined >= until:
            break
        contact = await store.open_contact("voice", "inbound", f"+1555{k:04d}", "100")
        await store.append(
            contact, "contact.join", {"at": 0.0, "channel": "voice"}, queue="sales", ts=joined
        )
        answered = joined + timedelta(seconds=5)
        await agent(answered - timedelta(seconds=3), "reserve", "available", "reserved", contact)
        await agent(answered, "accept", "reserved", "busy", contact)
        await store.append(
            contact,
            "contact.answered",
            {"at": 0.0, "channel": "voice"},
            queue="sales",
            agent="a1",
            ts=answered,
        )
        await agent(answered + timedelta(seconds=180), "finish", "busy", "available", contact)


async def test_forecast_agents_and_logged_in(store: Store) -> None:
    for weeks in range(1, 5):
        await day_of_calls(store, PLAN_DAY - timedelta(weeks=weeks), 12)
    now = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    await day_of_calls(store, PLAN_DAY, 12, until=now)
    report = await staffing_report(
        store,
        StaffingQuery(PLAN_DAY, 1, "hour", "sales"),
        ReportSettings(),
        StaffingSettings(shrinkage=0.3, history_weeks=4),
        now=now.timestamp(),
    )
    assert report.history == (date(2026, 11, 2), date(2026, 11, 29))
    rows = {r["interval"][11:16]: r for r in report.table.rows}
    assert len(report.table.rows) == 24
    nine = rows["09:00"]
    # 12 calls an hour of 180 s: 0.6 Erlangs. By hand, 1 agent: C = 0.6,
    # SL = 1 - 0.6 e^(-0.4*20/180) = 42.6 %; 2 agents: B = 0.1011, C = 0.1385,
    # SL = 1 - 0.1385 e^(-1.4*20/180) = 88.1 % >= 80: 2 agents, 3 with 30 % shrinkage.
    assert (nine["forecast"], nine["aht"], nine["erlangs"]) == (12.0, 180.0, 0.6)
    assert (nine["agents"], nine["scheduled"], nine["predicted_sl"]) == (2, 3, 88.1)
    # half an hour in: 6 calls offered, a1 logged in all along: 1 agent, 1 short
    assert (nine["offered"], nine["logged_in"], nine["short"]) == (6, 1.0, 1.0)
    # 08:00 had no contact in the history: nobody needed; a1 was logged in
    eight = rows["08:00"]
    assert (eight["forecast"], eight["agents"], eight["logged_in"], eight["short"]) == (
        0.0,
        0,
        1.0,
        0.0,
    )
    # later intervals have not begun: no actual figures
    assert (rows["10:00"]["offered"], rows["10:00"]["logged_in"]) == (None, None)
    csv = report.table.csv().splitlines()
    assert csv[0].startswith("interval,forecast,aht,erlangs,agents,scheduled,predicted_sl")


async def test_bad_queries_refused(store: Store) -> None:
    with pytest.raises(ReportError, match="interval must be one of 15min, hour for staffing"):
        StaffingQuery(PLAN_DAY, 1, "day")
    with pytest.raises(ReportError, match="days must be 1 to 14"):
        StaffingQuery(PLAN_DAY, 15)
    with pytest.raises(ReportError, match="unknown queue"):
        await staffing_report(
            store, StaffingQuery(PLAN_DAY, 1, "hour", "nope"), ReportSettings(), StaffingSettings()
        )


def test_logged_in_average() -> None:
    segments = [
        Segment("a1", "voice", "available", None, 0, 1800),
        Segment("a1", "voice", "offline", None, 1800, 3600),
        Segment("a2", "voice", "busy", None, 0, 3600),
        Segment("a3", "chat", "available", None, 0, 3600),
    ]
    assert logged_in(segments, 0, 3600, "voice") == 1.5
