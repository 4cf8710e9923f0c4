"""The live wallboard's numbers: today's counters folded from the event log as events
are appended, joined with the routing engine's live state.

`LiveBoard.apply(event)` takes every appended event (Store.listen); `rebuild`
replays today's log after a restart. Service level "today" uses the definitions of
the reports (docs/metrics.md): a queue visit counts once it is settled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hotline.acd.decisions import Snapshot
from hotline.events import EventType
from hotline.reports.live_calls import CALL_TYPES, LiveCalls
from hotline.reports.queues import TRANSFER_MARKS, QueueStats, TransfersIn
from hotline.reports.settings import ReportSettings
from hotline.reports.tables import ratio
from hotline.store.records import LoggedEvent

#: The event types the board folds (a rebuild reads only these).
LIVE_TYPES = (
    EventType.CONTACT_JOIN,
    EventType.CONTACT_ANSWERED,
    EventType.CONTACT_LEAVE,
    EventType.AGENT_ACCEPT,
    EventType.AGENT_FINISH,
    EventType.AGENT_LOGOUT,
    EventType.CALL_ARRIVED,
    EventType.CALL_ENDED,
    EventType.CHAT_STARTED,
    EventType.CHAT_CLOSED,
    EventType.CHAT_REOPENED,
    EventType.CALLBACK_REQUESTED,
    EventType.CALLBACK_COMPLETED,
    EventType.CALLBACK_FAILED,
    EventType.CALLBACK_CANCELLED,
    EventType.CHAT_TRANSFERRED,
    *(kind for kind in CALL_TYPES if kind not in (EventType.CALL_ENDED, EventType.AGENT_LOGOUT)),
)
#: The events of a queue visit.
QUEUE_VISIT = (EventType.CONTACT_JOIN, EventType.CONTACT_ANSWERED, EventType.CONTACT_LEAVE)
#: A callback is no longer pending once one of these is logged.
CALLBACK_ENDS = (
    EventType.CALLBACK_COMPLETED,
    EventType.CALLBACK_FAILED,
    EventType.CALLBACK_CANCELLED,
)
# The same as sets: `apply` asks of every event whether it is one of them.
_LIVE = frozenset(LIVE_TYPES)
_VISIT = frozenset(QUEUE_VISIT)
_ENDS = frozenset(CALLBACK_ENDS)
_CALLS = frozenset(CALL_TYPES)
_MARKS = frozenset(TRANSFER_MARKS)
#: How far back a rebuild looks for contacts still in progress at midnight.
CARRY = timedelta(hours=12)
CHANNELS = ("voice", "chat", "callback")


@dataclass
class LiveBoard:
    """Today's counters per (queue, channel), who waits, who talks to whom."""

    settings: ReportSettings
    day_start: float = 0.0
    queues: dict[tuple[str, str], QueueStats] = field(default_factory=dict)
    #: contact -> (queue, channel, joined at)
    waiting: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    #: (agent, channel) -> contacts in progress
    talking: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: contact -> channel, for calls and chats in progress
    active: dict[str, str] = field(default_factory=dict)
    #: queue -> callbacks (their contact ids) requested and not yet done
    callbacks: dict[str, set[str]] = field(default_factory=dict)
    #: holds, consultations, conferences and outbound calls: now and today
    calls: LiveCalls = field(default_factory=LiveCalls)
    #: agents' outbound calls (contact channel `outbound`: click-to-call, consultations'
    #: calls): they pass through a queue for their agent only, and are none of its
    #: visits (the wallboard learns them from the store: `not_a_visit`)
    outbound: set[str] = field(default_factory=set)
    outbound_before: set[str] = field(default_factory=set)
    #: transfers-in (queues.py): which joins are, and of the waiting ones, contact ->
    #: whether it is its transfer's first join
    transfers_in: TransfersIn = field(default_factory=TransfersIn)
    waiting_transfer: dict[str, bool] = field(default_factory=dict)
    last_id: int = 0
    #: The next local midnight after `day_start` (a timestamp): an event before it is
    #: of today or before, and needs no time-zone work (`_turn_day`).
    day_end: float = 0.0

    def _day(self, ts: datetime) -> float:
        local = ts.astimezone(self.settings.zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()

    def _turn_day(self, t: float) -> None:
        """A new day if `t` (a timestamp) is past today's end: today's counters start
        again. Local midnights are found in the settings' zone once a day, not per event."""
        if t < self.day_end:
            return
        zone = self.settings.zone
        day = self._day(datetime.fromtimestamp(t, zone))
        if day > self.day_start:
            self.day_start = day
            self.queues.clear()
            self.calls.new_day()
            # kept a day more (a call in progress at midnight), then forgotten
            self.outbound_before, self.outbound = self.outbound, set()
        following = datetime.fromtimestamp(self.day_start, zone).date() + timedelta(days=1)
        self.day_end = datetime(
            following.year, following.month, following.day, tzinfo=zone
        ).timestamp()

    def _today(self, queue: str, channel: str) -> QueueStats:
        q = self.queues.get((queue, channel))
        if q is None:
            q = self.queues[(queue, channel)] = QueueStats()
        return q

    def apply(self, e: LoggedEvent) -> bool:
        """Fold one event; False if the board does not use it (or saw it already)."""
        if e.type not in _LIVE or e.id <= self.last_id:
            return False
        self.last_id = e.id
        t = e.ts.timestamp()
        self._turn_day(t)
        today = t >= self.day_start
        cid, data = e.contact_id or "", e.data
        channel = str(data.get("channel") or "voice")
        kind = e.type
        if kind in _CALLS:
            self.calls.apply(kind, cid, e.agent, t, data, today)
        if kind in _VISIT and (cid in self.outbound or cid in self.outbound_before):
            return True  # an agent's outbound call: none of the queue's visits
        if kind in _MARKS:
            self.transfers_in.transferred(cid)
        if kind == EventType.CONTACT_JOIN and e.queue:
            self.waiting[cid] = (e.queue, channel, t)
            transfer, first = self.transfers_in.joined(cid)
            if transfer:
                self.waiting_transfer[cid] = first
        elif kind in (EventType.CONTACT_ANSWERED, EventType.CONTACT_LEAVE):
            answered = kind == EventType.CONTACT_ANSWERED
            if answered:
                self.transfers_in.answered(cid)
            visit = self.waiting.pop(cid, None)
            transfer_in = self.waiting_transfer.pop(cid, None)
            if visit is not None and visit[2] >= self.day_start and today:
                if transfer_in is not None:
                    stats = self._today(visit[0], visit[1])
                    stats.count_transfer_in(transfer_in, answered, data.get("detail"))
                else:
                    self._settle(visit, answered, t, data.get("detail"))
        elif kind == EventType.AGENT_ACCEPT and e.agent:
            self.talking.setdefault((e.agent, channel), []).append(cid)
        elif kind == EventType.AGENT_FINISH and e.agent:
            busy = self.talking.get((e.agent, channel), [])
            if cid in busy:
                busy.remove(cid)
        elif kind == EventType.AGENT_LOGOUT and e.agent:
            self.talking.pop((e.agent, channel), None)
        elif kind in (EventType.CALL_ARRIVED, EventType.CHAT_STARTED, EventType.CHAT_REOPENED):
            self.active[cid] = "voice" if kind == EventType.CALL_ARRIVED else "chat"
        elif kind in (EventType.CALL_ENDED, EventType.CHAT_CLOSED):
            self.active.pop(cid, None)
        elif kind == EventType.CALLBACK_REQUESTED:
            self.callbacks.setdefault(e.queue or str(data.get("queue")), set()).add(cid)
        elif kind in _ENDS:
            for pending in self.callbacks.values():
                pending.discard(cid)
        return True

    def not_a_visit(self, contact: str) -> None:
        """The contact is an agent's outbound call: its queue steps are no visit."""
        self.outbound.add(contact)
        self.waiting.pop(contact, None)
        self.waiting_transfer.pop(contact, None)

    def _settle(self, visit: tuple[str, str, float], answered: bool, t: float, detail: Any) -> None:
        queue, channel, joined = visit
        wait = max(0.0, t - joined)
        self._today(queue, channel).count_visit(self.settings, queue, wait, answered, detail)

    def replay(self, events: Iterable[LoggedEvent]) -> None:
        for e in events:
            self.apply(e)

    def active_count(self, channel: str) -> int:
        return sum(1 for ch in self.active.values() if ch == channel)

    def view(
        self,
        snapshot: Snapshot | None,
        now: float,
        *,
        live: set[str] | None = None,
        names: dict[str, str] | None = None,
        known_since: float | None = None,
    ) -> dict[str, Any]:
        """What the wallboard shows, as JSON. `snapshot`: the routing engine's state;
        `live`: contacts the engine still has queued (the log's waiting contacts that
        it does not know, e.g. from before a restart, are left out); `known_since`:
        when the engine began following agents (its clock), the start of the time in
        state of a channel that has not changed state since."""
        self._turn_day(now)  # midnight passed with no event since
        waiting: dict[tuple[str, str], list[float]] = {}
        for cid, (queue, channel, joined) in self.waiting.items():
            if live is None or cid in live:
                waiting.setdefault((queue, channel), []).append(joined)
        snap_queues = {q.name: q for q in snapshot.queues} if snapshot else {}
        keys = set(self.queues) | set(waiting)
        for name, snap_queue in snap_queues.items():
            keys |= {(name, ch) for ch in snap_queue.eta_new}
        for queue, pending in self.callbacks.items():
            if pending:
                keys.add((queue, "callback"))
        rows = []
        for queue, channel in sorted(keys):
            q = self.queues.get((queue, channel), QueueStats())
            waits = waiting.get((queue, channel), [])
            sl = ratio(q.answered_in_sl, q.answered + q.abandoned)
            snap = snap_queues.get(queue)
            rows.append(
                {
                    "queue": queue,
                    "channel": channel,
                    "waiting": len(waits),
                    "longest_wait": max(0.0, now - min(waits)) if waits else 0.0,
                    "service_level": sl,
                    "sl_colour": self.settings.colour(queue, sl),
                    "sl_threshold": self.settings.threshold(queue),
                    "offered": q.offered,
                    "answered": q.answered,
                    "abandoned": q.abandoned,
                    "short_abandoned": q.short_abandoned,
                    "asa": ratio(q.wait_answered, q.answered, percent=False),
                    "transferred_in": q.transferred_in,
                    "callbacks_pending": len(self.callbacks.get(queue, ()))
                    if channel in ("voice", "callback")
                    else 0,
                    "estimated_wait": snap.eta_new.get(channel) if snap else None,
                    "agents_free": snap.agents_free if snap else None,
                }
            )
        agents = []
        engine_now = snapshot.at if snapshot else now
        for a in snapshot.agents if snapshot else []:
            agents.append(
                {
                    "agent": a.id,
                    "name": (names or {}).get(a.id, a.id),
                    "handled": a.handled,
                    "channels": [
                        {
                            "channel": ch,
                            "state": st.state,
                            "reason": st.reason,
                            "load": st.load,
                            "capacity": st.capacity,
                            "in_state": _in_state(engine_now, st.since, known_since),
                            # (the log's list is stale for a channel the engine
                            # has idle, e.g. after a restart)
                            "contacts": list(self.talking.get((a.id, ch), [])) if st.load else [],
                            # on hold, consulting, in a conference or calling out
                            "activity": self.calls.activity(a.id, now)
                            if ch == "voice" and st.state != "offline"
                            else None,
                        }
                        for ch, st in sorted(a.channels.items())
                    ],
                }
            )
        return {
            "at": now,
            "day_start": self.day_start,
            "timezone": self.settings.timezone,
            "active": {ch: self.active_count(ch) for ch in ("voice", "chat")},
            "queues": rows,
            "agents": agents,
            "calls": self.calls.view(),
        }


def _in_state(now: float, since: float, known_since: float | None) -> float:
    """Seconds a channel has been in its state, as far as the engine knows: a channel
    that never changed state has its engine's zero as `since` (uptime, not a time in
    state), so it counts from `known_since`."""
    start = since if known_since is None else max(since, known_since)
    return max(0.0, now - start)


def rebuild_window(now: datetime, settings: ReportSettings) -> tuple[datetime, datetime]:
    """The log a rebuild replays: since local midnight, less CARRY for contacts that
    were already in progress then."""
    local = now.astimezone(settings.zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - CARRY, now + timedelta(seconds=1)
