"""Golden metrics: every value computed by hand from the log in golden.py.

Report: 2026-11-23 09:00-11:00 UTC by hour; sales threshold 20 s (the default),
support 30 s; short abandons under 5 s; repeat window 24 h; satisfied at 4+.
"""

from __future__ import annotations

from typing import Any

import pytest

from hotline.reports import Report, ReportQuery, ReportSettings, build_report
from hotline.store import Store

SETTINGS = ReportSettings(queues={"support": {"sl_threshold": 30}})
FROM, TO = "2026-11-23T09:00", "2026-11-23T11:00"
NOW = 2_000_000_000.0  # long after the log: nothing is still running


async def report(store: Store, **filters: Any) -> Report:
    query = ReportQuery(FROM, TO, filters.pop("interval", "hour"), **filters)
    return await build_report(store, query, SETTINGS, now=NOW)


def row(report: Report, table: str, **match: Any) -> dict[str, Any]:
    rows = [r for r in report.tables[table].rows if all(r[k] == v for k, v in match.items())]
    assert len(rows) == 1, (table, match, report.tables[table].rows)
    return rows[0]


def check(actual: dict[str, Any], **expected: Any) -> None:
    for key, value in expected.items():
        if isinstance(value, float):
            assert actual[key] == pytest.approx(value, abs=1e-6), key
        else:
            assert actual[key] == value, key


async def test_queue_metrics_by_queue(golden: Store) -> None:
    r = await report(golden)
    # sales voice: C1 answered 15 s (in SL), C3 short abandon 3 s, C4 abandoned 60 s,
    # C7 answered 10 s (in SL), C9 timed out (overflow), C10 answered 305 s; C11 refused.
    check(
        row(r, "queues", queue="sales", channel="voice"),
        offered=6,
        answered=3,
        abandoned=1,
        short_abandoned=1,
        overflow=1,
        refused=1,
        sl_answered=100 * 2 / 3,  # 2 in SL of 3 answered
        sl_offered=50.0,  # 2 / (3 answered + 1 abandoned); the short abandon is left out
        asa=110.0,  # (15 + 10 + 305) / 3
        abandon_rate=25.0,  # 1 / (3 + 1)
        avg_abandon_wait=60.0,
        handled=2,  # C1 and C7 ended in the period; C10 ended after it
        aht=270.0,  # (300 + 60 + 120 + 60) / 2
        avg_talk=210.0,
        avg_wrap=60.0,
        callbacks_requested=0,
    )
    # support voice: C2 answered after 35 s, over support's 30 s threshold.
    check(
        row(r, "queues", queue="support", channel="voice"),
        offered=1,
        answered=1,
        sl_answered=0.0,
        sl_offered=0.0,
        asa=35.0,
        abandon_rate=0.0,
        avg_abandon_wait=None,
        handled=1,
        aht=600.0,
        avg_wrap=0.0,
    )
    check(
        row(r, "queues", queue="support", channel="chat"),
        offered=1,
        answered=1,
        sl_answered=100.0,
        asa=11.0,
        handled=1,
        aht=600.0,
    )
    # callbacks for sales: requested twice, completed once, failed once.
    check(
        row(r, "queues", queue="sales", channel="callback"),
        offered=0,
        answered=0,
        sl_answered=None,
        asa=None,
        aht=None,
        callbacks_requested=2,
        callbacks_completed=1,
        callbacks_failed=1,
    )
    check(
        row(r, "queues", queue="all"),
        offered=8,
        answered=5,
        abandoned=1,
        short_abandoned=1,
        overflow=1,
        refused=1,
        sl_answered=60.0,  # 3 / 5
        sl_offered=50.0,  # 3 / 6
        asa=75.2,  # (15 + 10 + 305 + 35 + 11) / 5
        abandon_rate=100 / 6,
        handled=4,
        aht=435.0,  # (300 + 60 + 120 + 60 + 600 + 600) / 4
        callbacks_requested=2,
        callbacks_completed=1,
        callbacks_failed=1,
    )
    assert "transfers" not in [c.key for c in r.tables["queues"].columns]


async def test_queue_metrics_by_interval(golden: Store) -> None:
    r = await report(golden)
    assert [b["interval"] for b in r.tables["intervals"].rows] == [
        "2026-11-23 09:00",
        "2026-11-23 10:00",
    ]
    # 09:00: C1 (in SL), C2 (not), C3 short, C4 abandoned; C1 and C2 handled.
    check(
        row(r, "intervals", interval="2026-11-23 09:00"),
        offered=4,
        answered=2,
        abandoned=1,
        short_abandoned=1,
        overflow=0,
        refused=0,
        sl_answered=50.0,
        sl_offered=100 / 3,
        asa=25.0,
        abandon_rate=100 / 3,
        handled=2,
        aht=480.0,  # (300 + 60 + 600) / 2
        transfers=0,
        callbacks_requested=0,
    )
    # 10:00: C7 (in SL), C8 (in SL), C9 overflow, C10 answered at 11:00:10 (not in
    # SL); C11 refused; C7 and C8 handled; C8 and C9 transferred; the callbacks.
    check(
        row(r, "intervals", interval="2026-11-23 10:00"),
        offered=4,
        answered=3,
        abandoned=0,
        overflow=1,
        refused=1,
        sl_answered=100 * 2 / 3,
        sl_offered=100 * 2 / 3,
        asa=326 / 3,  # (10 + 11 + 305) / 3
        abandon_rate=0.0,
        handled=2,
        aht=390.0,  # (120 + 60 + 600) / 2
        transfers=2,
        callbacks_requested=2,
        callbacks_completed=1,
        callbacks_failed=1,
    )


async def test_agent_metrics(golden: Store) -> None:
    r = await report(golden)
    # a1 voice, 09:00-10:50 logged in: idle 12+13+3521+9+705, handling 300+120, wrap
    # 60+60, lunch 1800.
    check(
        row(r, "agents", agent="a1", channel="voice"),
        logged_in=6600.0,
        handling=420.0,
        wrap=120.0,
        paused=1800.0,
        idle=4260.0,
        offers=2,
        declined=0,
        handled=2,
        aht=270.0,
        occupancy=100 * 540 / 4800,  # (handling + wrap) / (handling + wrap + idle)
        utilisation=100 * 540 / 6600,  # (handling + wrap) / logged in
        pause_reasons="lunch 1800s",
    )
    # a2 voice: C2 for 600 s; offers C2, C4 (rang out), C10 (answered after 11:00).
    check(
        row(r, "agents", agent="a2", channel="voice"),
        logged_in=7200.0,
        handling=600.0,
        wrap=0.0,
        paused=0.0,
        idle=6600.0,
        offers=3,
        declined=1,
        handled=1,
        aht=600.0,
        occupancy=100 * 600 / 7200,
        utilisation=100 * 600 / 7200,
    )
    check(
        row(r, "agents", agent="a2", channel="chat"),
        logged_in=7200.0,
        handling=600.0,
        idle=6600.0,
        offers=1,
        handled=1,
        aht=600.0,
    )


async def test_contact_metrics(golden: Store) -> None:
    check_contact_metrics(await report(golden))


async def test_contact_metrics_of_old_chat_survey_rows_migrated(golden_migrated: Store) -> None:
    check_contact_metrics(await report(golden_migrated))


def check_contact_metrics(r: Report) -> None:
    # voice: C1-C7, C9-C11. Self-served: C6 only (C11 was refused by a queue).
    # Identified: all but C3. Repeats: C4 (X after C1), C5 (Z after C0 yesterday),
    # C7 (Y after C2). Served by an agent: C1, C2, C7, C10; resolved first time:
    # only C10 (X came back as C4, Y as C7, Y again tomorrow as C12).
    check(
        row(r, "channels", channel="voice"),
        contacts=10,
        contained=1,
        containment=10.0,
        identified=9,
        repeats=3,
        repeat_rate=100 / 3,
        served=4,
        fcr=25.0,
        transfers=1,
        csat_responses=2,
        csat_average=4.0,
        csat=50.0,  # scores 5 and 3
    )
    # chat: C8 (X again, 40 minutes after C4: a repeat across channels), served and
    # resolved, transferred once, survey 4.
    check(
        row(r, "channels", channel="chat"),
        contacts=1,
        contained=0,
        containment=0.0,
        identified=1,
        repeats=1,
        repeat_rate=100.0,
        served=1,
        fcr=100.0,
        transfers=1,
        csat_responses=1,
        csat_average=4.0,
        csat=100.0,
    )


async def test_ivr_paths(golden: Store) -> None:
    r = await report(golden)
    # menu: all 10 voice contacts; C5 hung up there.
    check(
        row(r, "ivr", node="menu"),
        visits=10,
        contacts=10,
        last_node=1,
        hung_up=1,
        left_rate=10.0,
        completed=0,
    )
    # to_sales: C1 C3 C4 C7 C9 C10 C11; C3 and C4 hung up (waiting), C9 transferred.
    check(
        row(r, "ivr", node="to_sales"),
        visits=7,
        contacts=7,
        last_node=7,
        hung_up=2,
        left_rate=100 * 2 / 7,
        completed=4,
        other_end=1,
    )
    check(row(r, "ivr", node="balance"), visits=1, last_node=1, hung_up=0, completed=1)


async def test_filters(golden: Store) -> None:
    sales = await report(golden, queue="sales")
    assert {(x["queue"], x["channel"]) for x in sales.tables["queues"].rows} == {
        ("sales", "voice"),
        ("sales", "callback"),
        ("all", "all"),
    }
    # contacts that visited sales: C1 C3 C4 C7 C9 C10 (voice); C4 and C7 repeats.
    check(row(sales, "channels", channel="voice"), contacts=6, contained=None, repeats=2)
    assert "ivr" not in sales.tables
    # a1 answered C1 (15 s) and C7 (10 s): queue-wide counters are not the agent's.
    a1 = await report(golden, agent="a1")
    check(
        row(a1, "queues", queue="sales", channel="voice"),
        answered=2,
        offered=None,
        abandoned=None,
        sl_answered=100.0,
        sl_offered=None,
        asa=12.5,
        handled=2,
        aht=270.0,
        callbacks_requested=None,
    )
    assert [x["agent"] for x in a1.tables["agents"].rows] == ["a1"]
    chat = await report(golden, channel="chat")
    assert {x["channel"] for x in chat.tables["queues"].rows} == {"chat", "all"}
    assert [x["channel"] for x in chat.tables["agents"].rows] == ["chat"]
    assert [x["channel"] for x in chat.tables["channels"].rows] == ["chat"]


async def test_contacts_by_wrap_up_code(golden: Store) -> None:
    r = await report(golden)
    # Calls: C1 sale then no_sale (the last counts), C2 sale, C7 sale -> 3 coded calls;
    # the chat C8 closed with resolved. The note on C2 is not a code.
    assert r.tables["wrap_ups"].rows == [
        {"channel": "chat", "code": "resolved", "contacts": 1, "share": 100.0},
        {"channel": "voice", "code": "no_sale", "contacts": 1, "share": pytest.approx(100 / 3)},
        {"channel": "voice", "code": "sale", "contacts": 2, "share": pytest.approx(200 / 3)},
    ]
    # Contacts that visited sales: C1 (no_sale) and C7 (sale); C2 was support's.
    sales = await report(golden, queue="sales")
    assert [(x["code"], x["contacts"], x["share"]) for x in sales.tables["wrap_ups"].rows] == [
        ("no_sale", 1, 50.0),
        ("sale", 1, 50.0),
    ]
    chat = await report(golden, channel="chat")
    assert [(x["channel"], x["code"]) for x in chat.tables["wrap_ups"].rows] == [
        ("chat", "resolved")
    ]
    # a2 handled C2 (sale) and C8 (resolved).
    a2 = await report(golden, agent="a2")
    assert [(x["code"], x["contacts"]) for x in a2.tables["wrap_ups"].rows] == [
        ("resolved", 1),
        ("sale", 1),
    ]
    # The first hour holds C1's and C2's codes only.
    first = await build_report(
        golden, ReportQuery(FROM, "2026-11-23T10:00", "hour"), SETTINGS, now=NOW
    )
    assert [(x["code"], x["contacts"]) for x in first.tables["wrap_ups"].rows] == [
        ("no_sale", 1),
        ("sale", 1),
    ]
    shown = r.text(["wrap_ups"])
    assert "Contacts by wrap-up code" in shown and "no_sale" in shown


async def test_fifteen_minute_intervals_and_timeline(golden: Store) -> None:
    r = await report(golden, interval="15min", timeline=True)
    assert len(r.tables["intervals"].rows) == 8
    # 09:00-09:15: C1 and C2 joined, both answered; C1 ended then, C2 at 09:20:40.
    check(row(r, "intervals", interval="2026-11-23 09:00"), offered=2, answered=2, handled=1)
    check(row(r, "intervals", interval="2026-11-23 09:15"), offered=1, handled=1)
    # 10:45-11:00: C10 joined (answered after the period), C11 refused, callbacks.
    check(
        row(r, "intervals", interval="2026-11-23 10:45"),
        offered=1,
        answered=1,
        refused=1,
        callbacks_requested=1,
        callbacks_failed=1,
    )
    a1 = [s for s in r.timeline if s.agent == "a1"]
    assert [(s.state, s.reason, round(s.end - s.start)) for s in a1] == [
        ("idle", None, 25),
        ("handling", None, 300),
        ("wrap_up", None, 60),
        ("idle", None, 3530),
        ("handling", None, 120),
        ("wrap_up", None, 60),
        ("paused", "lunch", 1800),
        ("idle", None, 705),
    ]


async def test_text_and_csv(golden: Store) -> None:
    r = await report(golden)
    text = r.text()
    assert "By queue and channel" in text and "66.7%" in text and "lunch 1800s" in text
    csv = r.tables["queues"].csv().splitlines()
    assert csv[0].startswith("queue,channel,offered,answered,abandoned")
    sales = next(line for line in csv if line.startswith("sales,voice,"))
    assert sales.split(",")[2:5] == ["6", "3", "1"]
