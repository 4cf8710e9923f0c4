"""Golden call-handling metrics (holds, transfers, consultations, conferences, outbound
calls): every value computed by hand from the log in golden_handling.py.

Report: 2026-11-23 09:00-11:00 UTC by hour (interval 0 is 09:00, 1 is 10:00).
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.reports import Report, ReportQuery, ReportSettings, build_report, source
from hotline.reports.handling import CallQueues, target_kind
from hotline.store import Store
from tests.unit.reports.golden_handling import write_handling_log
from tests.unit.reports.test_report_web import GOLDEN, log_in, make_app

FROM, TO = "2026-11-23T09:00", "2026-11-23T11:00"
NOW = 2_000_000_000.0


@pytest.fixture
async def handling(store: Store) -> Store:
    await write_handling_log(store)
    return store


async def report(store: Store, **filters: Any) -> Report:
    query = ReportQuery(FROM, TO, filters.pop("interval", "hour"), **filters)
    return await build_report(store, query, ReportSettings(), now=NOW)


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


NOTHING = {
    "blind_agent": 0,
    "blind_queue": 0,
    "blind_external": 0,
    "consult_agent": 0,
    "consult_queue": 0,
    "consult_external": 0,
}


async def test_by_interval(handling: Store) -> None:
    r = await report(handling)
    first, second = r.tables["handling"].rows
    # 09:00: holds H1 30 + 50, H2 40 (ended in the hour) = 3 holds, 120 s.
    # Voice handle time of contacts finished in the hour: H1 300 + 60, H2/a2 100 + 60,
    # H2/a1 230, H8 60, H9 120 = 930 s. Transfers: H2 blind to an agent, H2 consult to a
    # number, H8 blind to a queue, H9 blind to a number (the REFER).
    check(
        first,
        interval="2026-11-23 09:00",
        holds=3,
        hold_time=120.0,
        avg_hold=40.0,
        hold_share=100 * 120 / 930,
        transfers=4,
        blind_agent=1,
        blind_queue=1,
        blind_external=1,
        consult_agent=0,
        consult_queue=0,
        consult_external=1,
        consults=2,  # H2: cancelled (back to the caller) and completed
        consult_completed=1,
        consult_cancelled=1,
        consult_conference=0,
        consult_unanswered=0,
        consult_hung_up=0,
        avg_consult=60.0,
        conferences=0,
        avg_conference=None,
        outbound=0,
        outbound_answer_rate=None,
        avg_outbound_talk=None,
    )
    # 10:00: H3's hold (30 s, ended with the call) over H3's 565 s and a1's 315 s of H4
    # (accept to finish: an outbound call is handled too); H3's four
    # consultations (conference, unanswered, failed = unanswered, hung up: 60 + 30 + 1 +
    # 20 = 111 s) and the conference (180 s). Outbound: H4, H5, H6, H7 started; H4, H6,
    # H7 answered, H5 failed; talk H4 300 + H6 720 (ended after the period) = 1020 s over
    # the 2 that ended (H7 is still talking).
    check(
        second,
        holds=1,
        hold_time=30.0,
        avg_hold=30.0,
        hold_share=100 * 30 / 880,
        transfers=0,
        **NOTHING,
        consults=4,
        consult_completed=0,
        consult_conference=1,
        consult_cancelled=0,
        consult_unanswered=2,
        consult_hung_up=1,
        avg_consult=111 / 4,
        conferences=1,
        avg_conference=180.0,
        outbound=4,
        outbound_answered=3,
        outbound_failed=1,
        outbound_answer_rate=75.0,
        outbound_talk=1020.0,
        avg_outbound_talk=510.0,
    )


async def test_by_queue(handling: Store) -> None:
    r = await report(handling)
    # sales: H1's holds (80 s) and H3's (30 s); handle H1 360 + H9 120 + H3 565 + H4 315;
    # H9 blind to a number; H3's consultations and conference; outbound H4, H5, H7.
    check(
        row(r, "handling_queues", queue="sales"),
        holds=3,
        hold_time=110.0,
        avg_hold=110 / 3,
        hold_share=100 * 110 / 1360,
        transfers=1,
        **{**NOTHING, "blind_external": 1},
        consults=4,
        conferences=1,
        outbound=3,
        outbound_answered=2,
        outbound_failed=1,
        outbound_answer_rate=100 * 2 / 3,
        outbound_talk=300.0,
        avg_outbound_talk=300.0,
    )
    # support: H2's hold; handle H2 160 + 230, H8 60 = 450; H2 blind to a1 then a1's
    # consultations (the queue whose agent answered: support) and consult transfer;
    # H8 blind to a queue; outbound H6 (720 s).
    check(
        row(r, "handling_queues", queue="support"),
        holds=1,
        hold_time=40.0,
        hold_share=100 * 40 / 450,
        transfers=3,
        **{**NOTHING, "blind_agent": 1, "blind_queue": 1, "consult_external": 1},
        consults=2,
        consult_completed=1,
        consult_cancelled=1,
        conferences=0,
        outbound=1,
        outbound_answered=1,
        outbound_answer_rate=100.0,
        outbound_talk=720.0,
        avg_outbound_talk=720.0,
    )
    check(
        row(r, "handling_queues", queue="all"),
        holds=4,
        hold_time=150.0,
        hold_share=100 * 150 / 1810,
        transfers=4,
        consults=6,
        conferences=1,
        outbound=4,
        outbound_talk=1020.0,
    )


async def test_by_agent(handling: Store) -> None:
    r = await report(handling)
    # a1: H1's holds; handle H1 360 + H2 230 + H9 120 + H4 315; H2 consult transfer, H9
    # blind (REFER); H2's two consultations; outbound H4, H5, H7.
    check(
        row(r, "handling_agents", agent="a1"),
        holds=2,
        hold_time=80.0,
        avg_hold=40.0,
        hold_share=100 * 80 / 1025,
        transfers=2,
        **{**NOTHING, "blind_external": 1, "consult_external": 1},
        consults=2,
        conferences=0,
        outbound=3,
        outbound_answered=2,
        outbound_failed=1,
        outbound_talk=300.0,
    )
    # a2: H2 40 s and H3 30 s on hold; handle H2 160 + H8 60 + H3 565 = 785; H2 blind to
    # an agent, H8 to a queue; H3's consultations and conference; outbound H6.
    check(
        row(r, "handling_agents", agent="a2"),
        holds=2,
        hold_time=70.0,
        avg_hold=35.0,
        hold_share=100 * 70 / 785,
        transfers=2,
        **{**NOTHING, "blind_agent": 1, "blind_queue": 1},
        consults=4,
        avg_consult=111 / 4,
        conferences=1,
        avg_conference=180.0,
        outbound=1,
        outbound_answered=1,
        outbound_talk=720.0,
        avg_outbound_talk=720.0,
    )


async def test_filtered_by_queue_and_agent(handling: Store) -> None:
    r = await report(handling, queue="support")
    assert [x["queue"] for x in r.tables["handling_queues"].rows] == ["support", "all"]
    # a1 in support: H2's consultations, the consult transfer, 230 s handled.
    check(
        row(r, "handling_agents", agent="a1"),
        holds=0,
        hold_share=0.0,
        transfers=1,
        consult_external=1,
        consults=2,
        outbound=0,
    )
    r = await report(handling, agent="a2")
    assert [x["agent"] for x in r.tables["handling_agents"].rows] == ["a2"]
    check(row(r, "handling_queues", queue="sales"), holds=1, consults=4, conferences=1, outbound=0)
    check(row(r, "handling_queues", queue="support"), holds=1, transfers=2, outbound=1)
    # calls only: a chat report has none of them
    r = await report(handling, channel="chat")
    assert r.tables["handling_queues"].rows == []
    assert r.tables["handling_agents"].rows == []
    assert all(x["holds"] == 0 for x in r.tables["handling"].rows)


async def test_csv_and_text(handling: Store) -> None:
    r = await report(handling)
    csv = r.tables["handling_agents"].csv().splitlines()
    assert csv[0].startswith("agent,holds,hold_time,avg_hold,hold_share,transfers,blind_agent")
    assert csv[1].startswith("a1,2,80,40,7.805,2,0,0,1,0,0,1,2,")
    text = r.tables["handling_queues"].text()
    assert "Call handling by queue" in text and "blind→agent" in text


async def test_an_outbound_call_is_no_queue_visit(handling: Store) -> None:
    # H4 joined sales for a1 only: the sales visits are H1, H9 and H3 (all answered);
    # a1 handled H1, H2, H9 and H4 (the outbound call keeps the agent busy).
    r = await report(handling)
    check(row(r, "queues", queue="sales", channel="voice"), offered=3, answered=3, handled=4)
    check(row(r, "agents", agent="a1", channel="voice"), handled=4, offers=4)


async def test_the_same_when_call_queues_are_read_in_one_scan(
    handling: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = await report(handling)
    monkeypatch.setattr(source, "SCAN_ABOVE", 0)  # a busy period's way
    scanned = await report(handling)
    for name in ("handling", "handling_queues", "handling_agents"):
        assert scanned.tables[name].rows == lookups.tables[name].rows


def test_target_kinds() -> None:
    assert target_kind("agent:bob") == "agent"
    assert target_kind("queue:sales") == "queue"
    assert target_kind("number:5551234") == "external"
    assert target_kind(None) == "external"


def test_call_queue_is_the_latest_answer_before() -> None:
    q = CallQueues([("c", 10.0, "support"), ("c", 20.0, "sales"), ("d", 5.0, None)])
    assert q.at("c", 15.0) == "support"
    assert q.at("c", 25.0) == "sales"
    assert q.at("c", 5.0) == "support"  # an event before any answer: the first queue
    assert q.at("d", 10.0) is None
    assert q.at(None, 10.0) is None


async def test_on_the_reports_page_api_and_as_csv(handling: Store, tmp_path: Any) -> None:
    """/api/reports has the three tables (with their columns' kinds for the page) and
    each downloads as CSV."""
    app, _ = make_app(handling, tmp_path)
    async with TestClient(TestServer(app)) as client:
        await log_in(client, "sue")
        data = await (await client.get(f"/api/reports?{GOLDEN}")).json()
        agents = data["tables"]["handling_agents"]
        assert agents["title"] == "Call handling by agent"
        kinds = {c["key"]: c["kind"] for c in agents["columns"]}
        assert (kinds["hold_share"], kinds["avg_hold"], kinds["consults"]) == ("pct", "sec", "int")
        assert [r["agent"] for r in agents["rows"]] == ["a1", "a2"]
        assert [r["queue"] for r in data["tables"]["handling_queues"]["rows"]] == [
            "sales",
            "support",
            "all",
        ]
        response = await client.get(f"/api/reports/handling.csv?{GOLDEN}")
        assert response.status == 200
        lines = (await response.text()).splitlines()
        assert lines[0].startswith("interval,holds,hold_time,avg_hold,hold_share,transfers")
        assert lines[1].startswith("2026-11-23 09:00,3,120,40,12.903,4,1,1,1,0,0,1,2,1,0,1,")
