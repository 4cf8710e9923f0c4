"""The golden call-handling log: holds, transfers, consultations, a conference and
outbound calls, written by hand (issue 16). Day 2026-11-23, period 09:00-11:00 UTC.
Queues sales and support; agents a1 and a2 (voice). Every expected value in
test_report_handling.py is worked out from this log in that file's comments.

    H1 sales    a1 answers 09:00:10; holds 09:01:00-09:01:30 (30 s) and 09:02:00-09:02:50
                (50 s); finishes 09:05:10 (talk 300 s), wraps until 09:06:10 (60 s)
    H2 support  a2 answers 09:10:20; holds 09:11:00-09:11:40 (40 s); blind transfer to
                agent:a1 09:12:00 (a2 talk 100 s, wrap 60 s); a1 answers 09:12:10,
                consults queue:sales 09:13-09:14 (cancelled, 60 s), then number:5551234
                09:15-09:16 (completed, 60 s: a consult transfer), finishes 09:16:00
                (talk 230 s, no wrap)
    H8 support  a2 answers 09:20:10, blind transfer to queue:sales 09:21:10 (talk 60 s)
    H9 sales    a1 answers 09:30:10, REFER: blind transfer to number:5550000 09:32:10
                (talk 120 s)
    H3 sales    a2 answers 10:00:05; consults agent:a1 10:01-10:02 (conference, 60 s),
                conference 10:02-10:05 (180 s); consults number:5559999 10:06:00-10:06:30
                (unanswered, 30 s), number:5559998 10:07:00-10:07:01 (failed, 1 s),
                agent:a1 10:08:00-10:08:20 (hung_up, 20 s); holds 10:09:00 until the
                caller hangs up on hold 10:09:30 (30 s); a2 finishes 10:09:30 (talk 565 s)
    H4 sales    a1 calls out 10:20:00 (through sales for a1 only: joins, a1's phone rings,
                a1 answers it 10:20:05), the customer answers 10:20:20, the call ends
                10:25:20 (outbound talk 300 s; a1's handling 315 s): no queue visit
    H5 sales    a1 calls out 10:30:00, fails 10:30:30 (no answer)
    H6 support  a2 calls out 10:50:00, answered 10:50:10, ends 11:02:10 (after the period:
                talk 720 s, counted at the answer)
    H7 sales    a1 calls out 10:59:00, answered 10:59:30, still talking (no end yet)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from hotline.store.models import ContactRow
from tests.unit.reports.golden import agent, at, event, visit

#: Agents' outbound calls (contact channel outbound); the others are voice.
OUTBOUND = ("H4", "H5", "H6", "H7")
#: contact: (queue, start)
CALLS = {
    "H1": ("sales", "09:00:00"),
    "H2": ("support", "09:10:00"),
    "H8": ("support", "09:20:00"),
    "H9": ("sales", "09:30:00"),
    "H3": ("sales", "10:00:00"),
    "H4": ("sales", "10:20:00"),
    "H5": ("sales", "10:30:00"),
    "H6": ("support", "10:50:00"),
    "H7": ("sales", "10:59:00"),
}


def answered(clock: str, contact: str, queue: str, who: str, joined: str) -> list[tuple[Any, ...]]:
    """The contact joins `queue` at `joined`, `who` takes it at `clock`."""
    return [
        visit(joined, "join", contact, queue),
        agent(joined, "reserve", who, "voice", "available", "reserved", contact, queue),
        agent(joined, "ring", who, "voice", "reserved", "ringing", contact, queue),
        agent(clock, "accept", who, "voice", "ringing", "busy", contact, queue),
        visit(clock, "answered", contact, queue, who=who),
    ]


def finish(clock: str, contact: str, queue: str, who: str, wrap: bool) -> tuple[Any, ...]:
    dst = "wrap_up" if wrap else "available"
    return agent(clock, "finish", who, "voice", "busy", dst, contact, queue)


def held(clock: str, contact: str, who: str) -> tuple[Any, ...]:
    return event(clock, contact, "call.held", {"agent": who, "by": who})


def resumed(
    clock: str, contact: str, who: str, seconds: float, total: float, ended: bool = False
) -> tuple[Any, ...]:
    data = {
        "agent": who,
        "by": "caller" if ended else who,
        "hold_seconds": seconds,
        "total_hold_seconds": total,
        "ended": ended,
    }
    return event(clock, contact, "call.resumed", data)


def transferred(clock: str, contact: str, who: str, to: str, kind: str) -> tuple[Any, ...]:
    data = {"agent": who, "to": to, "kind": kind, "note": "", "by": who}
    return event(clock, contact, "call.transferred", data)


def consult(
    start: str, end: str, contact: str, who: str, to: str, outcome: str, seconds: float
) -> list[tuple[Any, ...]]:
    return [
        event(
            start, contact, "call.consult_started", {"agent": who, "to": to, "by": who, "note": ""}
        ),
        event(
            end,
            contact,
            "call.consult_ended",
            {"agent": who, "to": to, "outcome": outcome, "by": who, "seconds": seconds},
        ),
    ]


def outbound(clock: str, contact: str, who: str, queue: str) -> tuple[Any, ...]:
    data = {"agent": who, "to": "5550100", "queue": queue, "by": who}
    return event(clock, contact, "outbound.started", data)


ENDED = {"status": "completed", "reason": "hangup", "hung_up_by": "caller"}

EVENTS: list[tuple[Any, ...]] = [
    agent("08:50:00", "login", "a1", "voice", "offline", "available"),
    agent("08:50:00", "login", "a2", "voice", "offline", "available"),
    # H1
    *answered("09:00:10", "H1", "sales", "a1", "09:00:00"),
    held("09:01:00", "H1", "a1"),
    resumed("09:01:30", "H1", "a1", 30.0, 30.0),
    held("09:02:00", "H1", "a1"),
    resumed("09:02:50", "H1", "a1", 50.0, 80.0),
    finish("09:05:10", "H1", "sales", "a1", wrap=True),
    event(
        "09:05:10",
        "H1",
        "queue.call_ended",
        {"agent": "a1", "ended_by": "caller", "talk_seconds": 300.0, "hold_seconds": 80.0},
    ),
    agent("09:06:10", "wrap_end", "a1", "voice", "wrap_up", "available"),
    # H2
    *answered("09:10:20", "H2", "support", "a2", "09:10:00"),
    held("09:11:00", "H2", "a2"),
    resumed("09:11:40", "H2", "a2", 40.0, 40.0),
    transferred("09:12:00", "H2", "a2", "agent:a1", "blind"),
    finish("09:12:00", "H2", "support", "a2", wrap=True),
    agent("09:13:00", "wrap_end", "a2", "voice", "wrap_up", "available"),
    *answered("09:12:10", "H2", "support", "a1", "09:12:00")[1:],  # no second join
    *consult("09:13:00", "09:14:00", "H2", "a1", "queue:sales", "cancelled", 60.0),
    *consult("09:15:00", "09:16:00", "H2", "a1", "number:5551234", "completed", 60.0),
    transferred("09:16:00", "H2", "a1", "number:5551234", "consult"),
    finish("09:16:00", "H2", "support", "a1", wrap=False),
    # H8
    *answered("09:20:10", "H8", "support", "a2", "09:20:00"),
    transferred("09:21:10", "H8", "a2", "queue:sales", "blind"),
    finish("09:21:10", "H8", "support", "a2", wrap=False),
    # H9
    *answered("09:30:10", "H9", "sales", "a1", "09:30:00"),
    event("09:32:10", "H9", "call.refer", {"agent": "a1", "to": "5550000"}),
    transferred("09:32:10", "H9", "a1", "number:5550000", "blind"),
    finish("09:32:10", "H9", "sales", "a1", wrap=False),
    # H3
    *answered("10:00:05", "H3", "sales", "a2", "10:00:00"),
    *consult("10:01:00", "10:02:00", "H3", "a2", "agent:a1", "conference", 60.0),
    event(
        "10:02:00",
        "H3",
        "call.conference_started",
        {"agent": "a2", "to": "agent:a1", "party": "a1", "by": "a2"},
    ),
    event(
        "10:05:00", "H3", "call.conference_ended", {"agent": "a2", "by": "caller", "seconds": 180.0}
    ),
    *consult("10:06:00", "10:06:30", "H3", "a2", "number:5559999", "unanswered", 30.0),
    *consult("10:07:00", "10:07:01", "H3", "a2", "number:5559998", "failed", 1.0),
    *consult("10:08:00", "10:08:20", "H3", "a2", "agent:a1", "hung_up", 20.0),
    held("10:09:00", "H3", "a2"),
    resumed("10:09:30", "H3", "a2", 30.0, 30.0, ended=True),
    finish("10:09:30", "H3", "sales", "a2", wrap=False),
    event("10:09:30", "H3", "call.ended", ENDED),
    # outbound calls
    *answered("10:20:05", "H4", "sales", "a1", "10:20:00"),
    outbound("10:20:00", "H4", "a1", "sales"),
    event("10:20:20", "H4", "outbound.answered", {"agent": "a1", "to": "5550100"}),
    finish("10:25:20", "H4", "sales", "a1", wrap=False),
    event("10:25:20", "H4", "call.ended", ENDED),
    outbound("10:30:00", "H5", "a1", "sales"),
    event(
        "10:30:30", "H5", "outbound.failed", {"agent": "a1", "to": "5550100", "reason": "no answer"}
    ),
    outbound("10:50:00", "H6", "a2", "support"),
    event("10:50:10", "H6", "outbound.answered", {"agent": "a2", "to": "5550100"}),
    event("11:02:10", "H6", "call.ended", ENDED),
    outbound("10:59:00", "H7", "a1", "sales"),
    event("10:59:30", "H7", "outbound.answered", {"agent": "a1", "to": "5550100"}),
]


async def write_handling_log(store: Any) -> dict[str, str]:
    """Write the calls and EVENTS; returns golden name -> contact id."""
    ids: dict[str, str] = {}
    for name, (_queue, start) in CALLS.items():
        channel, direction = ("outbound", "outbound") if name in OUTBOUND else ("voice", "inbound")
        ids[name] = await store.open_contact(channel, direction, "+15550000001", "100", None)
        stmt = update(ContactRow).where(ContactRow.id == ids[name]).values(started_at=at(start))

        async def op(conn: Any, stmt: Any = stmt) -> None:
            await conn.execute(stmt)

        await store.write(op, "golden contact")
    for clock, contact, kind, data, queue, who in sorted(EVENTS, key=lambda e: at(e[0])):
        await store.append(
            ids[contact] if contact else None, kind, data, queue=queue, agent=who, ts=at(clock)
        )
    return ids
