"""One report: a period (with its intervals) and filters in, tables out.

    report = await build_report(store, ReportQuery("2026-03-29", "2026-03-29",
                                interval="hour", queue="support"), settings)
    print(report.text())

Every metric's formula is in docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hotline.events import EventType
from hotline.reports.agents import AGENT_COLUMNS, AgentFold, Handled, Segment
from hotline.reports.bot import bot_tables
from hotline.reports.contacts import (
    CHANNEL_COLUMNS,
    IVR_COLUMNS,
    WRAP_UP_COLUMNS,
    ContactFold,
    WrapUpFold,
    customer_starts,
    ivr_rows,
)
from hotline.reports.errors import ReportError
from hotline.reports.handling import (
    HANDLING_COLUMNS,
    HANDLING_EVENTS,
    OUTBOUND_ENDS,
    CallQueues,
    HandlingFold,
    HandlingStats,
)
from hotline.reports.periods import Bucketer, Period, make_period
from hotline.reports.queues import QUEUE_COLUMNS, QueueFold, QueueStats
from hotline.reports.settings import ReportSettings
from hotline.reports.source import CALLBACK_EVENTS, TRANSFER_EVENTS, EventSource
from hotline.reports.tables import Column, Table, columns
from hotline.store import Store

CHANNELS = ("voice", "chat", "callback")
TABLES = (
    "intervals",
    "queues",
    "agents",
    "channels",
    "ivr",
    "wrap_ups",
    "handling",
    "handling_queues",
    "handling_agents",
    "timeline",
    "bot",
    "bot_unanswered",
)


@dataclass(frozen=True)
class ReportQuery:
    """What to report: from/to (dates, datetimes or ISO text; a date `end` includes
    that day), the interval, and optional queue, agent and channel filters."""

    start: Any
    end: Any
    interval: str = "hour"
    queue: str | None = None
    agent: str | None = None
    channel: str | None = None
    #: Also list every agent state stretch (the timeline chart); large for long periods.
    timeline: bool = False


@dataclass
class Report:
    period: Period
    query: ReportQuery
    settings: ReportSettings
    tables: dict[str, Table] = field(default_factory=dict)
    timeline: list[Segment] = field(default_factory=list)

    def heading(self) -> str:
        q = self.query
        filters = [
            f"{k} {v}"
            for k, v in (("queue", q.queue), ("agent", q.agent), ("channel", q.channel))
            if v
        ]
        s = self.settings
        return "\n".join(
            [
                f"Hotline report: {self.period.describe()}",
                f"Filters: {', '.join(filters) or 'none'}",
                f"Service level threshold {s.sl_threshold:g}s"
                + "".join(
                    f", {n} {t.sl_threshold:g}s"
                    for n, t in sorted(s.queues.items())
                    if t.sl_threshold
                )
                + f"; short abandons under {s.short_abandon:g}s left out; repeat window "
                f"{s.repeat_window_hours:g}h; satisfied at score >= {s.csat_satisfied}",
            ]
        )

    def text(self, names: Iterable[str] | None = None) -> str:
        chosen = [n for n in (names or self.tables) if n in self.tables and n != "timeline"]
        return "\n\n".join([self.heading(), *(self.tables[n].text() for n in chosen)]) + "\n"


def _check(value: str | None, known: set[str], what: str) -> None:
    if value is not None and value not in known:
        listed = ", ".join(sorted(known)) if known else "none configured or in the event log"
        raise ReportError(f"unknown {what} {value!r}: known {what}s are {listed}")


async def build_report(
    store: Store,
    query: ReportQuery,
    settings: ReportSettings,
    *,
    queues: Iterable[str] = (),
    agents: Iterable[str] = (),
    now: float | None = None,
) -> Report:
    """The report of `query`. `queues`/`agents`: the configured ones (those in the log
    are known too). ReportError for a bad period, interval, queue, agent or channel."""
    period = make_period(query.start, query.end, settings.zone, query.interval)
    if query.channel is not None and query.channel not in CHANNELS:
        raise ReportError(f"unknown channel {query.channel!r}: channels are {', '.join(CHANNELS)}")
    source = EventSource(store)
    if query.queue is not None:
        _check(query.queue, set(queues) | await source.known_queues(), "queue")
    if query.agent is not None:
        _check(query.agent, set(agents) | await source.known_agents(), "agent")
    t0, t1 = period.t0, period.t1
    t_end = min(t1, time.time() if now is None else now)
    bucket = Bucketer(period)
    report = Report(period, query, settings)
    flows = query.queue is None and query.agent is None
    # The independent reads run side by side (own connections; SQLite in WAL mode
    # lets readers work at once), then everything is folded in memory.
    (
        queue_rows,
        agent_rows,
        states,
        loads,
        contact_rows,
        documents,
        nodes,
        exits,
        handling_rows,
    ) = await asyncio.gather(
        source.queue_events(t0, t1),
        source.agent_events(t0, t1),
        source.agent_states_at(t0),
        source.agent_loads_at(t0),
        source.contacts(t0, t1),
        source.documents(t0, t1, [*CALLBACK_EVENTS, *TRANSFER_EVENTS, *DOCUMENTS]),
        source.flow_nodes(t0, t1) if flows else _nothing(),
        source.flow_exits(t0, t1) if flows else _nothing(),
        source.documents(t0, t1, HANDLING_EVENTS),
    )
    outbound = await source.outbound_contacts(t0, t1)

    def keep(queue: str, channel: str, agent: str | None) -> bool:
        return (
            (query.queue is None or queue == query.queue)
            and (query.channel is None or channel == query.channel)
            and (query.agent is None or agent == query.agent)
        )

    # queue visits (an agent's outbound call goes through a queue for that agent only:
    # it is none of the queue's visits)
    visits = QueueFold(bucket, settings, keep, agent_only=query.agent is not None)
    visits.feed(r for r in queue_rows if r[2] not in outbound)
    if visits.open:
        ends = await source.queue_ends_after(list(visits.open), t1)
        visits.feed((r for r in ends if r[2] not in outbound), joins=False)
    visits.finish()

    # what agents did with their calls (holds, transfers, consultations, outbound)
    def keep_handling(queue: str | None, agent: str | None) -> bool:
        return (
            (query.queue is None or queue == query.queue)
            and (query.agent is None or agent == query.agent)
            and query.channel in (None, "voice")
        )

    on_calls = {r[2] for r in handling_rows if r[2]}
    handling = HandlingFold(
        bucket, keep_handling, CallQueues(await source.call_queues(on_calls, t0, t1))
    )
    handling.feed(handling_rows)
    if handling.answered:
        handling.outbound_ends(await source.first_after(handling.answered, OUTBOUND_ENDS, t0))

    # agents and handled contacts
    def handled(h: Handled) -> bool:
        b = bucket(h.finished)
        if b is None or (query.queue is not None and h.queue != query.queue):
            return False
        for s in visits.stats(b, h.queue or "-", h.channel):
            s.handled += 1
            s.talk += h.talk
            s.wrap += h.wrap
        if h.channel == "voice":
            handling.handled(b, h.queue, h.agent, h.talk + h.wrap)
        return True

    def keep_agent(agent: str, channel: str) -> bool:
        return (query.agent is None or agent == query.agent) and (
            query.channel is None or channel == query.channel
        )

    fold = AgentFold(t0, max(t0, t_end), keep_agent, handled, timeline=query.timeline)
    fold.start(states, loads)
    fold.feed(agent_rows)
    for agent, channel in list(fold.wrapping):
        ended = await source.next_transition(agent, channel, t1) if t1 <= t_end else None
        fold.close_wrap(agent, channel, ended)
    fold.finish()

    # contacts, callbacks, transfers, surveys
    only = visits.contacts if (query.queue or query.agent) else None
    contacts = ContactFold(settings.repeat_window_hours * 3600, settings.csat_satisfied, only)
    rows = contact_rows
    if query.channel is not None:
        rows = [r for r in rows if r[1] == query.channel]
    window = settings.repeat_window_hours * 3600
    known = {r[2] for r in rows if r[2] is not None}
    starts = customer_starts(await source.customer_starts(known, t0 - window, t1 + window))
    contacts.feed(rows, starts)
    wrap_ups = WrapUpFold()
    _documents(documents, bucket, query, visits, contacts, only, wrap_ups)

    _tables(report, visits, fold, contacts)
    report.tables["wrap_ups"] = Table(
        "wrap_ups",
        "Contacts by wrap-up code",
        [
            Column("channel", "channel", "text"),
            Column("code", "code", "text"),
            *columns(WRAP_UP_COLUMNS),
        ],
        wrap_ups.rows(),
        note="A contact counts in the period its code was given; the last code counts.",
    )
    _handling_tables(report, handling)
    if flows:
        ivr = ivr_rows(nodes, exits, query.channel)
        report.tables["ivr"] = Table(
            "ivr", "IVR paths (where contacts went and where they left)", columns(IVR_COLUMNS), ivr
        )
    if flows:  # the bot's measures (hotline/reports/bot.py)
        report.tables.update(await bot_tables(source, rows, documents, starts, t0, t1, window))
    if fold.timeline is not None:
        report.timeline = fold.timeline
        report.tables["timeline"] = _timeline(fold.timeline, period)
    return report


def _documents(
    rows: list[tuple[Any, ...]],
    bucket: Bucketer,
    query: ReportQuery,
    visits: QueueFold,
    contacts: ContactFold,
    only: set[str] | None,
    wrap_ups: WrapUpFold,
) -> None:
    """Callbacks (queue rows, channel callback), transfers, survey answers, wrap-up codes."""
    for t, kind, cid, queue, _agent, channel, data in rows:
        b = bucket(t)
        if b is None:
            continue
        data = data or {}
        if kind in (EventType.CONTACT_WRAPUP, EventType.CHAT_CLOSED):
            if (query.channel is None or channel == query.channel) and (
                only is None or cid in only
            ):
                wrap_ups.feed(cid, channel, data)
        elif kind in CALLBACK_EVENTS:
            name = queue or data.get("queue") or "-"
            if query.agent is None and visits.keep(name, "callback", None):
                counter = f"callbacks_{kind.split('.')[1]}"
                for s in visits.stats(b, name, "callback"):
                    setattr(s, counter, getattr(s, counter) + 1)
        elif kind in TRANSFER_EVENTS:
            ch = channel or ("chat" if kind == EventType.CHAT_TRANSFERRED else "voice")
            if (query.channel is None or ch == query.channel) and (only is None or cid in only):
                contacts.stats(ch).transfers += 1
                per = visits.intervals.get(b)
                if per is None:
                    per = visits.intervals[b] = QueueStats(agent_only=query.agent is not None)
                per.transfers += 1
        elif query.channel is None or channel == query.channel:
            contacts.survey(cid, channel, data)


#: The other rare events read whole: surveys and wrap-up codes.
DOCUMENTS = (EventType.SURVEY_ANSWERED, EventType.CONTACT_WRAPUP, EventType.CHAT_CLOSED)


async def _nothing() -> list[tuple[Any, ...]]:
    return []


def _tables(report: Report, visits: QueueFold, fold: AgentFold, contacts: ContactFold) -> None:
    period, agent_only = report.period, report.query.agent is not None
    queue_cols = columns(QUEUE_COLUMNS)
    # transfers belong to contacts, not queues: only the interval rows count them
    per_queue = [c for c in queue_cols if c.key != "transfers"]
    rows = []
    for i, b in enumerate(period.buckets):
        stats = visits.intervals.get(i) or QueueStats(agent_only=agent_only)
        rows.append({"interval": b.label, "start": b.start.isoformat(), **stats.row()})
    report.tables["intervals"] = Table(
        "intervals",
        f"By {period.interval}",
        [Column("interval", "interval", "text"), *queue_cols],
        rows,
    )
    total = QueueStats(agent_only=agent_only)
    rows = []
    for (queue, channel), stats in sorted(visits.queues.items()):
        total.add(stats)
        rows.append({"queue": queue, "channel": channel, **stats.row()})
    if rows:
        rows.append({"queue": "all", "channel": "all", **total.row()})
    report.tables["queues"] = Table(
        "queues",
        "By queue and channel",
        [Column("queue", "queue", "text"), Column("channel", "channel", "text"), *per_queue],
        rows,
        note="Queue visits count in the interval they joined; handled contacts in the "
        "interval they ended.",
    )
    agent_rows = [
        {"agent": agent, "channel": channel, **stats.row()}
        for (agent, channel), stats in sorted(fold.stats.items())
        if report.query.queue is None or stats.handled
    ]
    report.tables["agents"] = Table(
        "agents",
        "Agents",
        [
            Column("agent", "agent", "text"),
            Column("channel", "channel", "text"),
            *columns(AGENT_COLUMNS),
        ],
        agent_rows,
    )
    report.tables["channels"] = Table(
        "channels",
        "Contacts by channel (self-service, first-contact resolution, CSAT)",
        [Column("channel", "channel", "text"), *columns(CHANNEL_COLUMNS)],
        [{"channel": ch, **st.row()} for ch, st in sorted(contacts.channels.items())],
    )


def _handling_tables(report: Report, fold: HandlingFold) -> None:
    period = report.period
    cols = columns(HANDLING_COLUMNS)
    note = (
        "Voice calls only. Each hold, transfer, consultation, conference and outbound "
        "call counts in the interval it was logged (holds, consultations and conferences "
        "when they ended); an outbound call's talk in the interval it was answered."
    )
    rows = []
    for i, b in enumerate(period.buckets):
        stats = fold.intervals.get(i) or HandlingStats()
        rows.append({"interval": b.label, "start": b.start.isoformat(), **stats.row()})
    report.tables["handling"] = Table(
        "handling",
        f"Call handling by {period.interval} (holds, transfers, consultations, outbound)",
        [Column("interval", "interval", "text"), *cols],
        rows,
        note=note,
    )
    queue_rows = [{"queue": q, **s.row()} for q, s in sorted(fold.by_queue.items())]
    if queue_rows:
        total = HandlingStats()
        for s in fold.intervals.values():
            _add(total, s)
        queue_rows.append({"queue": "all", **total.row()})
    report.tables["handling_queues"] = Table(
        "handling_queues",
        "Call handling by queue",
        [Column("queue", "queue", "text"), *cols],
        queue_rows,
        note="A call's queue: the queue whose agent answered it (an outbound call's own "
        "queue); '-' when none.",
    )
    report.tables["handling_agents"] = Table(
        "handling_agents",
        "Call handling by agent",
        [Column("agent", "agent", "text"), *cols],
        [{"agent": a, **s.row()} for a, s in sorted(fold.by_agent.items())],
    )


def _add(total: HandlingStats, s: HandlingStats) -> None:
    for name, value in vars(s).items():
        mine = getattr(total, name)
        if isinstance(value, dict):
            for k, n in value.items():
                mine[k] = mine.get(k, 0) + n
        else:
            setattr(total, name, mine + value)


def _timeline(segments: list[Segment], period: Period) -> Table:
    zone = period.zone
    rows = [
        {
            "agent": s.agent,
            "channel": s.channel,
            "state": s.state,
            "reason": s.reason,
            "start": datetime.fromtimestamp(s.start, zone).isoformat(timespec="seconds"),
            "end": datetime.fromtimestamp(s.end, zone).isoformat(timespec="seconds"),
            "seconds": s.end - s.start,
        }
        for s in sorted(segments, key=lambda s: (s.agent, s.channel, s.start))
    ]
    return Table(
        "timeline",
        "Agent state timeline",
        columns(
            [
                ("agent", "agent", "text"),
                ("channel", "channel", "text"),
                ("state", "state", "text"),
                ("reason", "reason", "text"),
                ("start", "start", "text"),
                ("end", "end", "text"),
                ("seconds", "seconds", "sec"),
            ]
        ),
        rows,
    )
