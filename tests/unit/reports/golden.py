"""The golden event log: two hours of a small contact centre, written by hand.

Every expected value in test_report_golden.py is computed by hand from this log (the
working is in the comments there). Day 2026-11-23, report period 09:00-11:00 UTC.
Queues: sales (service-level threshold 20 s), support (30 s). Agents: a1 (voice),
a2 (voice, and chat with 2 slots).

    C0  Z  voice  yesterday 20:00, no events                     (makes C5 a repeat)
    C1  X  voice  joins sales 09:00:10, a1 answers 09:00:25 (15 s), talks 300 s, wraps 60 s;
                  wrap-up code sale, corrected to no_sale (the last counts)
    C2  Y  voice  joins support 09:10:05, a2 answers 09:10:40 (35 s), talks 600 s, no wrap;
                  wrap-up code sale, and a note
    C3  -  voice  joins sales 09:15:04, hangs up 09:15:07 (3 s: a short abandon)
    C4  X  voice  joins sales 09:30:05, rings a2 (no answer), hangs up 09:31:05 (60 s)
    C5  Z  voice  hangs up in the menu
    C6  W  voice  self-service (balance), survey: 5 and 3
    C7  Y  voice  joins sales 10:05:05, a1 answers 10:05:15 (10 s), talks 120 s, wraps 60 s
                  until a1 pauses for lunch (10:08:15-10:38:15); a1 logs out 10:50;
                  wrap-up code sale
    C8  X  chat   joins support 10:10:02, a2 answers 10:10:13 (11 s), transferred at 10:15,
                  ends 10:20:13 (600 s), closed with wrap-up code resolved; survey score 4
    C9  V  voice  joins sales 10:30:05, times out 10:32:05, transferred by the flow
    C10 U  voice  joins sales 10:55:05, a2 answers 11:00:10 (305 s, after the period)
    C11 T  voice  refused by sales (full) at 10:58:05
    C12 Y  voice  tomorrow 09:00, no events                      (C7 not resolved)
    callbacks for sales: requested 10:40 and 10:45, completed 10:50, failed 10:55
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from hotline.store import Store
from hotline.store.models import ContactRow

DAY = datetime(2026, 11, 23, tzinfo=UTC)
CONTACTS = ContactRow.__table__

#: contact: (channel, customer phone or None, start, status)
PEOPLE = {
    "C0": ("voice", "+15550000026", "-1 20:00:00", "completed"),
    "C1": ("voice", "+15550000024", "09:00:00", "completed"),
    "C2": ("voice", "+15550000025", "09:10:00", "completed"),
    "C3": ("voice", None, "09:15:00", "abandoned"),
    "C4": ("voice", "+15550000024", "09:30:00", "abandoned"),
    "C5": ("voice", "+15550000026", "09:40:00", "abandoned"),
    "C6": ("voice", "+15550000023", "09:45:00", "completed"),
    "C7": ("voice", "+15550000025", "10:05:00", "completed"),
    "C8": ("chat", "+15550000024", "10:10:00", "completed"),
    "C9": ("voice", "+15550000022", "10:30:00", "transferred"),
    "C10": ("voice", "+15550000021", "10:55:00", "completed"),
    "C11": ("voice", "+15550000020", "10:58:00", "completed"),
    "C12": ("voice", "+15550000025", "+1 09:00:00", "completed"),
}


def at(clock: str) -> datetime:
    """'09:00:10' on DAY; '-1 20:00:00' / '+1 09:00:00' the day before / after."""
    days = 0
    if " " in clock:
        shift, clock = clock.split()
        days = int(shift)
    h, m, s = (int(x) for x in clock.split(":"))
    return DAY + timedelta(days=days, hours=h, minutes=m, seconds=s)


def agent(
    clock: str,
    action: str,
    who: str,
    channel: str,
    src: str,
    dst: str,
    contact: str | None = None,
    queue: str | None = None,
    reason: str | None = None,
) -> tuple[str, str | None, str, dict[str, Any], str | None, str]:
    data: dict[str, Any] = {"at": 0.0, "channel": channel, "from": src, "to": dst}
    if reason:
        data["reason"] = reason
    return (clock, contact, f"agent.{action}", data, queue, who)


def visit(
    clock: str,
    kind: str,
    contact: str,
    queue: str,
    channel: str = "voice",
    who: str | None = None,
    detail: str | None = None,
) -> tuple[Any, ...]:
    data: dict[str, Any] = {"at": 0.0, "channel": channel}
    if detail:
        data["detail"] = detail
    return (clock, contact, f"contact.{kind}", data, queue, who)


def event(
    clock: str, contact: str | None, kind: str, data: dict[str, Any], queue: str | None = None
) -> tuple[Any, ...]:
    return (clock, contact, kind, data, queue, None)


def wrap_up(clock: str, contact: str, code: str, queue: str) -> tuple[Any, ...]:
    data = {"code": code, "by": "agent", "channel": "voice", "required": False}
    return event(clock, contact, "contact.wrapup", data, queue)


def node(clock: str, contact: str, name: str) -> tuple[Any, ...]:
    return event(
        clock,
        contact,
        "flow.node",
        {
            "flow": "main",
            "node": name,
            "type": "menu" if name == "menu" else "queue" if name.startswith("to_") else "say",
        },
    )


def offer(clock: str, who: str, channel: str, contact: str, queue: str) -> list[tuple[Any, ...]]:
    return [
        agent(clock, "reserve", who, channel, "available", "reserved", contact, queue),
        visit(clock, "offer", contact, queue, channel, who),
        agent(clock, "ring", who, channel, "reserved", "ringing", contact, queue),
    ]


EVENTS: list[tuple[Any, ...]] = [
    agent("08:50:00", "login", "a1", "voice", "offline", "available"),
    agent("08:55:00", "login", "a2", "voice", "offline", "available"),
    agent("08:55:00", "login", "a2", "chat", "offline", "available"),
    # C1
    node("09:00:01", "C1", "menu"),
    node("09:00:10", "C1", "to_sales"),
    visit("09:00:10", "join", "C1", "sales"),
    *offer("09:00:12", "a1", "voice", "C1", "sales"),
    agent("09:00:25", "accept", "a1", "voice", "ringing", "busy", "C1", "sales"),
    visit("09:00:25", "answered", "C1", "sales", who="a1", detail="waited 15s"),
    agent("09:05:25", "finish", "a1", "voice", "busy", "wrap_up", "C1", "sales"),
    wrap_up("09:05:40", "C1", "sale", "sales"),
    wrap_up("09:05:50", "C1", "no_sale", "sales"),
    agent("09:06:25", "wrap_end", "a1", "voice", "wrap_up", "available"),
    # C2
    node("09:10:01", "C2", "menu"),
    node("09:10:05", "C2", "to_support"),
    visit("09:10:05", "join", "C2", "support"),
    *offer("09:10:30", "a2", "voice", "C2", "support"),
    agent("09:10:40", "accept", "a2", "voice", "ringing", "busy", "C2", "support"),
    visit("09:10:40", "answered", "C2", "support", who="a2"),
    agent("09:20:40", "finish", "a2", "voice", "busy", "available", "C2", "support"),
    wrap_up("09:20:45", "C2", "sale", "support"),
    event("09:20:46", "C2", "contact.note", {"text": "wants a quote", "by": "a2"}, "support"),
    # C3
    node("09:15:01", "C3", "menu"),
    node("09:15:04", "C3", "to_sales"),
    visit("09:15:04", "join", "C3", "sales"),
    visit("09:15:07", "leave", "C3", "sales", detail="left"),
    # C4
    node("09:30:01", "C4", "menu"),
    node("09:30:05", "C4", "to_sales"),
    visit("09:30:05", "join", "C4", "sales"),
    *offer("09:30:20", "a2", "voice", "C4", "sales"),
    agent(
        "09:30:35",
        "no_answer",
        "a2",
        "voice",
        "ringing",
        "available",
        "C4",
        "sales",
        reason="no answer",
    ),
    visit("09:30:35", "requeue", "C4", "sales"),
    visit("09:31:05", "leave", "C4", "sales", detail="left"),
    # C5, C6
    node("09:40:01", "C5", "menu"),
    node("09:45:01", "C6", "menu"),
    node("09:45:10", "C6", "balance"),
    event(
        "09:46:00",
        "C6",
        "survey.answered",
        {"survey": "csat", "answers": {"q1": 5, "q2": 3}, "node": "survey"},
    ),
    # C7
    node("10:05:01", "C7", "menu"),
    node("10:05:05", "C7", "to_sales"),
    visit("10:05:05", "join", "C7", "sales"),
    *offer("10:05:06", "a1", "voice", "C7", "sales"),
    agent("10:05:15", "accept", "a1", "voice", "ringing", "busy", "C7", "sales"),
    visit("10:05:15", "answered", "C7", "sales", who="a1"),
    agent("10:07:15", "finish", "a1", "voice", "busy", "wrap_up", "C7", "sales"),
    wrap_up("10:07:30", "C7", "sale", "sales"),
    agent("10:08:15", "pause", "a1", "voice", "wrap_up", "paused", reason="lunch"),
    agent("10:38:15", "unpause", "a1", "voice", "paused", "available"),
    agent("10:50:00", "logout", "a1", "voice", "available", "offline"),
    # C8 (chat)
    event("10:10:00", "C8", "chat.started", {"from": "customer"}),
    visit("10:10:02", "join", "C8", "support", "chat"),
    *offer("10:10:03", "a2", "chat", "C8", "support"),
    agent("10:10:13", "accept", "a2", "chat", "ringing", "available", "C8", "support"),
    visit("10:10:13", "answered", "C8", "support", "chat", who="a2"),
    event("10:15:00", "C8", "chat.transferred", {"to": "a2"}),
    agent("10:20:13", "finish", "a2", "chat", "available", "available", "C8", "support"),
    event("10:20:14", "C8", "chat.closed", {"by": "agent", "wrap_up": "resolved"}),
    event(
        "10:20:30", "C8", "survey.answered", {"survey": "csat", "node": "s", "answers": {"q": 4}}
    ),
    # C9
    node("10:30:01", "C9", "menu"),
    node("10:30:05", "C9", "to_sales"),
    visit("10:30:05", "join", "C9", "sales"),
    visit("10:32:05", "leave", "C9", "sales", detail="timeout"),
    event("10:32:06", "C9", "transfer.started", {"target": "sip:x@127.0.0.1"}),
    event("10:32:20", "C9", "transfer.answered", {"target": "sip:x@127.0.0.1"}),
    # callbacks
    event("10:40:00", "C4", "callback.requested", {"number": "+15550000024"}, "sales"),
    event("10:45:00", "C3", "callback.requested", {"number": "+15550000099", "queue": "sales"}),
    event("10:50:00", "C4", "callback.completed", {"attempt": 1}, "sales"),
    event("10:55:00", "C3", "callback.failed", {"attempt": 3, "reason": "no answer"}, "sales"),
    # C10, C11
    node("10:55:01", "C10", "menu"),
    node("10:55:05", "C10", "to_sales"),
    visit("10:55:05", "join", "C10", "sales"),
    node("10:58:01", "C11", "menu"),
    node("10:58:05", "C11", "to_sales"),
    visit("10:58:05", "refused", "C11", "sales", detail="full"),
    *offer("10:59:50", "a2", "voice", "C10", "sales"),
    agent("11:00:10", "accept", "a2", "voice", "ringing", "busy", "C10", "sales"),
    visit("11:00:10", "answered", "C10", "sales", who="a2"),
    agent("11:02:10", "finish", "a2", "voice", "busy", "available", "C10", "sales"),
]


#: C8's survey as chats logged it before migration 0006 (one event per question).
OLD_CHAT_SURVEY = event(
    "10:20:30",
    "C8",
    "survey.answered",
    {"question": "q", "score": 4, "channel": "chat", "survey": "csat", "node": "s"},
)


def with_old_chat_survey() -> list[tuple[Any, ...]]:
    """The golden log with C8's survey in the chat shape of before migration 0006."""
    return [OLD_CHAT_SURVEY if e[1:3] == ("C8", "survey.answered") else e for e in EVENTS]


async def write_golden_log(
    store: Store, events: list[tuple[Any, ...]] | None = None
) -> dict[str, str]:
    """Write the contacts and `events` (the golden EVENTS unless given); returns golden
    name -> contact id."""
    ids: dict[str, str] = {}
    for name, (channel, phone, start, status) in PEOPLE.items():
        customer = await store.customer_for_phone(phone) if phone else None
        cid = await store.open_contact(
            channel, "inbound", phone or "anonymous", "100", customer.id if customer else None
        )
        ids[name] = cid
        stmt = (
            update(CONTACTS)
            .where(CONTACTS.c.id == cid)
            .values(started_at=at(start), ended_at=at(start) + timedelta(minutes=5), status=status)
        )

        async def op(conn: Any, stmt: Any = stmt) -> None:
            await conn.execute(stmt)

        await store.write(op, "golden contact")
    for clock, contact, kind, data, queue, who in sorted(events or EVENTS, key=lambda e: at(e[0])):
        await store.append(
            ids[contact] if contact else None, kind, data, queue=queue, agent=who, ts=at(clock)
        )
    return ids
