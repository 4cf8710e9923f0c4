"""Golden transfers-in: a contact an agent transfers to a queue or a colleague joins a
queue again; that visit is a transfer-in, counted apart, and never a second offered,
answered or abandoned visit of the same caller (docs/metrics.md, queue metrics).

The log (day 2026-11-23, report 09:00-11:00 UTC, by hour; the golden contacts' names,
none of their golden events; sales threshold 20 s):

    C1  voice  joins sales 09:00:10, a1 answers 09:00:20 (10 s), transfers it blind to
               queue support 09:05:00: joins support 09:05:01, a2 answers 09:05:41 (40 s)
    C2  voice  joins sales 09:10:00, a1 answers 09:10:05 (5 s), transfers it blind to a2
               09:12:00: joins sales for a2 only 09:12:01, a2 does not answer (timeout
               09:12:06), back to sales 09:12:06, a1 answers 09:12:30 (24 s)
    C3  voice  joins sales 09:20:00, a1 answers 09:20:30 (30 s), transfers it blind to
               support 09:25:00: joins support 09:25:01, hangs up there 09:25:03 (2 s)
    C7  voice  joins support 10:00:00, a2 answers 10:00:05 (5 s), transfers it to sales
               10:10:00: joins 10:10:01, still waiting when the log ends
    C8  chat   joins support 10:20:00, a2 answers 10:20:04, chat.transferred to sales
               10:21:00: joins sales 10:21:01, a1 answers 10:21:11
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hotline.reports import ReportQuery, ReportSettings, build_report
from hotline.reports.live import LiveBoard
from hotline.store import Store
from hotline.store.records import LoggedEvent
from tests.unit.reports.golden import DAY, at, event, visit, write_golden_log

SETTINGS = ReportSettings.model_validate({"queues": {"support": {"sl_threshold": 30}}})


def moved(clock: str, contact: str, to: str) -> tuple[Any, ...]:
    return event(clock, contact, "call.transferred", {"agent": "a1", "to": to, "kind": "blind"})


EVENTS: list[tuple[Any, ...]] = [
    # C1: blind to queue support, answered there
    visit("09:00:10", "join", "C1", "sales"),
    visit("09:00:20", "answered", "C1", "sales", who="a1"),
    moved("09:05:00", "C1", "queue:support"),
    visit("09:05:01", "join", "C1", "support"),
    visit("09:05:41", "answered", "C1", "support", who="a2"),
    # C2: blind to colleague a2, who does not answer: back to sales, a1 takes it
    visit("09:10:00", "join", "C2", "sales"),
    visit("09:10:05", "answered", "C2", "sales", who="a1"),
    moved("09:12:00", "C2", "agent:a2"),
    visit("09:12:01", "join", "C2", "sales"),
    visit("09:12:06", "leave", "C2", "sales", detail="timeout"),
    visit("09:12:06", "join", "C2", "sales"),
    visit("09:12:30", "answered", "C2", "sales", who="a1"),
    # C3: blind to support, the caller hangs up there
    visit("09:20:00", "join", "C3", "sales"),
    visit("09:20:30", "answered", "C3", "sales", who="a1"),
    moved("09:25:00", "C3", "queue:support"),
    visit("09:25:01", "join", "C3", "support"),
    visit("09:25:03", "leave", "C3", "support", detail="left"),
    # C7: to sales, still waiting at the end of the log
    visit("10:00:00", "join", "C7", "support"),
    visit("10:00:05", "answered", "C7", "support", who="a2"),
    moved("10:10:00", "C7", "queue:sales"),
    visit("10:10:01", "join", "C7", "sales"),
    # C8: a chat transferred to sales
    visit("10:20:00", "join", "C8", "support", "chat"),
    visit("10:20:04", "answered", "C8", "support", "chat", who="a2"),
    event("10:21:00", "C8", "chat.transferred", {"from_agent": "a2", "queue": "sales"}),
    visit("10:21:01", "join", "C8", "sales", "chat"),
    visit("10:21:11", "answered", "C8", "sales", "chat", who="a1"),
]


def row(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    (found,) = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return found


async def test_transfers_in_are_counted_apart_from_first_arrivals(store: Store) -> None:
    await write_golden_log(store, EVENTS)
    query = ReportQuery("2026-11-23T09:00", "2026-11-23T11:00", "hour")
    report = await build_report(store, query, SETTINGS, now=2_000_000_000.0)
    queues = report.tables["queues"].rows
    # sales voice: arrivals C1 (10 s), C2 (5 s), C3 (30 s) answered: 2 in SL; the
    # transfers in: C2's (one transfer, two joins: answered once) and C7's (waiting).
    sales = row(queues, queue="sales", channel="voice")
    assert sales["offered"] == 3 and sales["answered"] == 3
    assert sales["abandoned"] == 0 and sales["overflow"] == 0  # C2's agent-only timeout
    assert sales["asa"] == 15.0  # (10 + 5 + 30) / 3: transfers-in waits left out
    assert sales["sl_answered"] == 100 * 2 / 3
    assert (sales["transferred_in"], sales["transferred_in_answered"]) == (2, 1)
    assert sales["transferred_in_abandoned"] == 0
    # support voice: no arrival of its own but C7; C1 answered and C3 left, transferred in
    support = row(queues, queue="support", channel="voice")
    assert (support["offered"], support["answered"], support["abandoned"]) == (1, 1, 0)
    assert support["short_abandoned"] == 0  # C3's 2 s are a transfer-in's, not a caller's
    assert support["asa"] == 5.0
    assert support["transferred_in"] == 2
    assert support["transferred_in_answered"] == 1
    assert support["transferred_in_abandoned"] == 1
    # chats: C8 offered once (support), transferred in once (sales)
    chat_support = row(queues, queue="support", channel="chat")
    chat_sales = row(queues, queue="sales", channel="chat")
    assert (chat_support["offered"], chat_support["transferred_in"]) == (1, 0)
    assert (chat_sales["offered"], chat_sales["answered"]) == (0, 0)
    assert (chat_sales["transferred_in"], chat_sales["transferred_in_answered"]) == (1, 1)
    # the intervals: 09:00 has the voice arrivals C1-C3 and their 3 transfers in
    nine = report.tables["intervals"].rows[0]
    assert (nine["offered"], nine["transferred_in"], nine["transferred_in_abandoned"]) == (3, 3, 1)
    ten = report.tables["intervals"].rows[1]
    assert (ten["offered"], ten["answered"], ten["transferred_in"]) == (2, 2, 2)


async def test_an_agents_report_counts_the_transfers_in_they_answered(store: Store) -> None:
    await write_golden_log(store, EVENTS)
    query = ReportQuery("2026-11-23T09:00", "2026-11-23T11:00", "hour", agent="a1")
    report = await build_report(store, query, SETTINGS, now=2_000_000_000.0)
    sales = row(report.tables["queues"].rows, queue="sales", channel="voice")
    assert sales["answered"] == 3 and sales["transferred_in_answered"] == 1
    assert sales["offered"] is None and sales["transferred_in"] is None


def test_the_wallboard_counts_transfers_in_apart() -> None:
    board = LiveBoard(SETTINGS)
    for n, (clock, contact, kind, data, queue, who) in enumerate(EVENTS, 1):
        ts = at(clock)
        board.apply(LoggedEvent(n, contact, ts, kind, queue, who, {"channel": "voice", **data}))
    view = board.view(None, (DAY + timedelta(hours=11)).timestamp())
    sales = row(view["queues"], queue="sales", channel="voice")
    # (the board counts a visit once settled, as for offered: C7 still waits)
    assert (sales["offered"], sales["answered"], sales["transferred_in"]) == (3, 3, 1)
    assert sales["waiting"] == 1  # C7, transferred in, waits all the same
    support = row(view["queues"], queue="support", channel="voice")
    assert (support["offered"], support["abandoned"], support["short_abandoned"]) == (1, 0, 0)
    assert support["transferred_in"] == 2
