"""Bad input: empty periods give empty results, unknown names and impossible times
clear errors; daylight-saving days have 23 and 25 hours. Nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from hotline.config import HotlineConfig
from hotline.reports import ReportError, ReportQuery, ReportSettings, build_report, make_period
from hotline.store import Store

BERLIN = ZoneInfo("Europe/Berlin")


async def count_events(store: Store) -> int:
    return len(await store.events_between(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)))


async def test_an_empty_day_gives_zeros_and_no_averages(golden: Store) -> None:
    r = await build_report(golden, ReportQuery("2026-11-20", "2026-11-20"), ReportSettings())
    rows = r.tables["intervals"].rows
    assert len(rows) == 24
    assert all(x["offered"] == 0 and x["answered"] == 0 and x["handled"] == 0 for x in rows)
    assert all(x["sl_answered"] is None and x["asa"] is None and x["aht"] is None for x in rows)
    assert r.tables["queues"].rows == [] and r.tables["channels"].rows == []
    assert r.tables["ivr"].rows == []
    assert "(no data in this period)" in r.tables["queues"].text()
    assert r.tables["intervals"].csv().splitlines()[1].startswith("2026-11-20 00:00,")


async def test_an_empty_store_reports_too(store: Store) -> None:
    r = await build_report(store, ReportQuery("2026-11-20", "2026-11-21", "day"), ReportSettings())
    assert [x["interval"] for x in r.tables["intervals"].rows] == ["2026-11-20", "2026-11-21"]
    assert r.tables["agents"].rows == []


async def test_unknown_queue_agent_and_channel_are_named(golden: Store) -> None:
    before = await count_events(golden)
    settings = ReportSettings()
    with pytest.raises(ReportError) as error:
        await build_report(golden, ReportQuery("2026-11-23", "2026-11-23", queue="sale"), settings)
    assert str(error.value) == "unknown queue 'sale': known queues are sales, support"
    with pytest.raises(ReportError) as error:
        await build_report(
            golden, ReportQuery("2026-11-23", "2026-11-23", agent="a9"), settings, agents=["a3"]
        )
    assert str(error.value) == "unknown agent 'a9': known agents are a1, a2, a3"
    with pytest.raises(ReportError) as error:
        await build_report(golden, ReportQuery("2026-11-23", "2026-11-23", channel="fax"), settings)
    assert str(error.value) == "unknown channel 'fax': channels are voice, chat, callback"
    assert await count_events(golden) == before


async def test_a_configured_queue_without_events_is_known(store: Store) -> None:
    query = ReportQuery("2026-11-23", "2026-11-23", queue="billing")
    with pytest.raises(ReportError, match="none configured or in the event log"):
        await build_report(store, query, ReportSettings())
    r = await build_report(store, query, ReportSettings(), queues=["billing"])
    assert r.tables["queues"].rows == []


def test_bad_periods() -> None:
    with pytest.raises(ReportError) as error:
        make_period("2026-11-24", "2026-11-23", BERLIN, "day")
    assert str(error.value) == (
        "empty period: to (2026-11-24T00:00:00+01:00) must be after from "
        "(2026-11-24T00:00:00+01:00)"
    )
    with pytest.raises(ReportError, match="interval must be one of 15min, hour, day; got 'week'"):
        make_period("2026-11-23", "2026-11-23", BERLIN, "week")
    with pytest.raises(ReportError, match=r"from: 'monday' is not a date \(2026-03-29\)"):
        make_period("monday", "2026-11-23", BERLIN, "day")
    with pytest.raises(ReportError, match="period too long: at most 400 days per report"):
        make_period("2024-01-01", "2026-01-01", BERLIN, "day")


def test_times_the_clocks_skip_or_repeat_need_an_offset() -> None:
    with pytest.raises(ReportError) as error:
        make_period("2026-03-29T02:30", "2026-03-29T04:00", BERLIN, "hour")
    assert str(error.value) == (
        "from: 2026-03-29T02:30 does not exist in Europe/Berlin (the clocks go forward "
        "then); give another time or an explicit UTC offset"
    )
    with pytest.raises(ReportError) as error:
        make_period("2026-10-25T02:30", "2026-10-25T04:00", BERLIN, "hour")
    assert str(error.value) == (
        "from: 2026-10-25T02:30 happens twice in Europe/Berlin (the clocks go back then); "
        "add the UTC offset you mean, e.g. 2026-10-25T02:30+02:00 or 2026-10-25T02:30+01:00"
    )
    p = make_period("2026-10-25T02:30+01:00", "2026-10-25T04:00", BERLIN, "hour")
    assert p.start.isoformat() == "2026-10-25T02:30:00+01:00"
    assert [b.label for b in p.buckets] == ["2026-10-25 02:30", "2026-10-25 03:00"]


def test_unknown_time_zone() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        ReportSettings(timezone="Mars/Olympus")


def test_daylight_saving_days_have_23_and_25_hours() -> None:
    spring = make_period("2026-03-29", "2026-03-29", BERLIN, "hour")
    assert len(spring.buckets) == 23
    assert "2026-03-29 02:00" not in [b.label for b in spring.buckets]
    assert spring.t1 - spring.t0 == 23 * 3600  # (aware datetimes subtract wall clocks)
    autumn = make_period("2026-10-25", "2026-10-25", BERLIN, "hour")
    labels = [b.label for b in autumn.buckets]
    assert len(labels) == 25
    assert labels[2:4] == ["2026-10-25 02:00 (+02:00)", "2026-10-25 02:00 (+01:00)"]
    assert len(make_period("2026-10-25", "2026-10-25", BERLIN, "15min").buckets) == 100
    week = make_period("2026-10-19", "2026-10-25", BERLIN, "day")
    assert [round((b.end.timestamp() - b.start.timestamp()) / 3600) for b in week.buckets] == [
        24,
        24,
        24,
        24,
        24,
        24,
        25,
    ]


async def test_events_on_the_repeated_hour_land_in_their_own_interval(store: Store) -> None:
    settings = ReportSettings(timezone="Europe/Berlin")
    for when, wait in (
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 10),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), 40),
    ):
        cid = await store.open_contact("voice", "inbound", "100", "200")
        await store.append(cid, "contact.join", {"channel": "voice"}, queue="q", ts=when)
        await store.append(
            cid,
            "contact.answered",
            {"channel": "voice"},
            queue="q",
            agent="a",
            ts=when.replace(second=wait),
        )
    r = await build_report(store, ReportQuery("2026-10-25", "2026-10-25"), settings)
    first = r.tables["intervals"].rows[2]
    second = r.tables["intervals"].rows[3]
    assert (first["interval"], first["answered"], first["sl_answered"]) == (
        "2026-10-25 02:00 (+02:00)",
        1,
        100.0,
    )
    assert (second["interval"], second["answered"], second["sl_answered"]) == (
        "2026-10-25 02:00 (+01:00)",
        1,
        0.0,
    )
    day = await build_report(store, ReportQuery("2026-10-25", "2026-10-25", "day"), settings)
    assert day.tables["intervals"].rows[0]["answered"] == 2


def test_the_config_section_names_unknown_queues() -> None:
    base = {"numbers": {"100": "main"}}
    config = HotlineConfig.model_validate({**base, "reports": {"timezone": "Europe/Berlin"}})
    assert config.reports.zone.key == "Europe/Berlin"
    with pytest.raises(ValidationError, match=r"reports\.queues: no queue named billing"):
        HotlineConfig.model_validate({**base, "reports": {"queues": {"billing": {}}}})
    with pytest.raises(ValidationError, match="unknown time zone 'Berlin'"):
        HotlineConfig.model_validate({**base, "reports": {"timezone": "Berlin"}})
