"""Call handling metrics: what agents did with their calls — holds, transfers (blind or
consult, to an agent, a queue or a number), consultations and how they ended,
three-way conferences, and agents' outbound calls (click-to-call, callbacks by hand).

Each event counts in the interval it was logged, for the queue of its call (the
event's own queue, else the queue whose agent answered the call) and the agent named
in its data. The formulas are in docs/metrics.md ("Call handling").
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hotline.events import EventType
from hotline.reports.tables import ratio

#: The events read whole for these metrics (with their data).
HANDLING_EVENTS = (
    EventType.CALL_RESUMED,
    EventType.CALL_TRANSFERRED,
    EventType.CALL_CONSULT_ENDED,
    EventType.CALL_CONFERENCE_ENDED,
    EventType.OUTBOUND_STARTED,
    EventType.OUTBOUND_ANSWERED,
    EventType.OUTBOUND_FAILED,
)
#: What ends an answered outbound call's talk: the first of these after the answer.
OUTBOUND_ENDS = (EventType.CALL_ENDED, EventType.QUEUE_CALL_ENDED)
#: Transfer kinds and target kinds, as the columns name them.
TRANSFER_KINDS = ("blind", "consult")
TARGET_KINDS = ("agent", "queue", "external")
#: call.consult_ended outcomes, by the column that counts them.
CONSULT_OUTCOMES = {
    "completed": "consult_completed",
    "conference": "consult_conference",
    "cancelled": "consult_cancelled",
    "unanswered": "consult_unanswered",
    "failed": "consult_unanswered",
    "hung_up": "consult_hung_up",
}


def target_kind(to: Any) -> str:
    """agent:<id> -> agent, queue:<name> -> queue, anything else (number:<digits>) ->
    external."""
    text = str(to or "")
    kind = text.split(":", 1)[0]
    return kind if kind in ("agent", "queue") else "external"


@dataclass
class HandlingStats:
    """Counters and sums of one row (an interval, a queue or an agent)."""

    holds: int = 0
    hold_time: float = 0.0
    #: Handle time (talk + wrap-up) of the voice contacts handled in the row.
    handle_time: float = 0.0
    transfers: dict[str, int] = field(default_factory=dict)  # "blind_agent" -> n
    consults: int = 0
    consult_time: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)  # column -> n
    conferences: int = 0
    conference_time: float = 0.0
    outbound: int = 0
    outbound_answered: int = 0
    outbound_failed: int = 0
    outbound_ended: int = 0  # answered calls whose end is known
    outbound_talk: float = 0.0

    def row(self) -> dict[str, Any]:
        transfers = {
            f"{kind}_{to}": self.transfers.get(f"{kind}_{to}", 0)
            for kind in TRANSFER_KINDS
            for to in TARGET_KINDS
        }
        return {
            "holds": self.holds,
            "hold_time": self.hold_time,
            "avg_hold": ratio(self.hold_time, self.holds, percent=False),
            "hold_share": ratio(self.hold_time, self.handle_time),
            "transfers": sum(transfers.values()),
            **transfers,
            "consults": self.consults,
            **{column: self.outcomes.get(column, 0) for column in _OUTCOME_COLUMNS},
            "avg_consult": ratio(self.consult_time, self.consults, percent=False),
            "conferences": self.conferences,
            "avg_conference": ratio(self.conference_time, self.conferences, percent=False),
            "outbound": self.outbound,
            "outbound_answered": self.outbound_answered,
            "outbound_failed": self.outbound_failed,
            "outbound_answer_rate": ratio(
                self.outbound_answered, self.outbound_answered + self.outbound_failed
            ),
            "outbound_talk": self.outbound_talk,
            "avg_outbound_talk": ratio(self.outbound_talk, self.outbound_ended, percent=False),
        }


_OUTCOME_COLUMNS = list(dict.fromkeys(CONSULT_OUTCOMES.values()))

HANDLING_COLUMNS = [
    ("holds", "holds", "int"),
    ("hold_time", "hold time", "sec"),
    ("avg_hold", "avg hold", "sec"),
    ("hold_share", "hold % of handle", "pct"),
    ("transfers", "transfers", "int"),
    ("blind_agent", "blind→agent", "int"),
    ("blind_queue", "blind→queue", "int"),
    ("blind_external", "blind→ext.", "int"),
    ("consult_agent", "consult→agent", "int"),
    ("consult_queue", "consult→queue", "int"),
    ("consult_external", "consult→ext.", "int"),
    ("consults", "consults", "int"),
    ("consult_completed", "→transferred", "int"),
    ("consult_conference", "→conference", "int"),
    ("consult_cancelled", "→back", "int"),
    ("consult_unanswered", "unanswered", "int"),
    ("consult_hung_up", "hung up", "int"),
    ("avg_consult", "avg consult", "sec"),
    ("conferences", "conferences", "int"),
    ("avg_conference", "avg conf.", "sec"),
    ("outbound", "outbound", "int"),
    ("outbound_answered", "out. answered", "int"),
    ("outbound_failed", "out. failed", "int"),
    ("outbound_answer_rate", "out. answer %", "pct"),
    ("outbound_talk", "out. talk", "sec"),
    ("avg_outbound_talk", "avg out. talk", "sec"),
]


class CallQueues:
    """Which queue a call was in at a time: the queue of its latest `contact.answered`
    (or `outbound.started`) before then."""

    def __init__(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Rows (contact, t, queue), any order."""
        self._times: dict[str, list[float]] = {}
        self._queues: dict[str, list[str]] = {}
        for cid, t, queue in sorted(rows, key=lambda r: (str(r[0]), r[1])):
            if cid and queue:
                self._times.setdefault(cid, []).append(t)
                self._queues.setdefault(cid, []).append(queue)

    def at(self, contact: str | None, t: float) -> str | None:
        times = self._times.get(contact or "")
        if not times:
            return None
        i = bisect.bisect_right(times, t)
        return self._queues[contact or ""][max(0, i - 1)]


class HandlingFold:
    """Folds handling events into per-interval, per-queue and per-agent stats.
    `keep(queue, agent)` says whether an event counts (the report's filters)."""

    def __init__(
        self,
        bucket: Callable[[float], int | None],
        keep: Callable[[str | None, str | None], bool],
        queues: CallQueues,
    ) -> None:
        self.bucket = bucket
        self.keep = keep
        self.queues = queues
        self.intervals: dict[int, HandlingStats] = {}
        self.by_queue: dict[str, HandlingStats] = {}
        self.by_agent: dict[str, HandlingStats] = {}
        #: outbound contact -> (bucket, queue, agent, answered at): its talk is still open
        self.answered: dict[str, tuple[int, str | None, str | None, float]] = {}

    def _rows(self, b: int, queue: str | None, agent: str | None) -> list[HandlingStats]:
        rows = [self.intervals.setdefault(b, HandlingStats())]
        rows.append(self.by_queue.setdefault(queue or "-", HandlingStats()))
        if agent:
            rows.append(self.by_agent.setdefault(agent, HandlingStats()))
        return rows

    def feed(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Rows (t, type, contact, queue, agent, channel, data) in log order."""
        for t, kind, cid, queue, _agent, _channel, data in rows:
            b = self.bucket(t)
            if b is None:
                continue
            data = data or {}
            agent = data.get("agent") or _agent
            q = queue or data.get("queue") or self.queues.at(cid, t)
            if not self.keep(q, agent):
                continue
            for s in self._rows(b, q, agent):
                _count(s, kind, data)
            if kind == EventType.OUTBOUND_ANSWERED and cid:
                self.answered[cid] = (b, q, agent, t)

    def outbound_ends(self, ends: Iterable[tuple[Any, ...]]) -> None:
        """(contact, ended at) of answered outbound calls: their talk time, counted in
        the interval they were answered."""
        for cid, ended in ends:
            answered = self.answered.pop(cid, None)
            if answered is None or ended is None:
                continue
            b, q, agent, t = answered
            for s in self._rows(b, q, agent):
                s.outbound_ended += 1
                s.outbound_talk += max(0.0, ended - t)

    def handled(self, b: int, queue: str | None, agent: str, seconds: float) -> None:
        """A voice contact handled (talk + wrap-up `seconds`): the hold share's base."""
        if self.keep(queue, agent):
            for s in self._rows(b, queue, agent):
                s.handle_time += seconds


def _count(s: HandlingStats, kind: str, data: dict[str, Any]) -> None:
    if kind == EventType.CALL_RESUMED:
        s.holds += 1
        s.hold_time += float(data.get("hold_seconds") or 0.0)
    elif kind == EventType.CALL_TRANSFERRED:
        how = data.get("kind") if data.get("kind") in TRANSFER_KINDS else "blind"
        key = f"{how}_{target_kind(data.get('to'))}"
        s.transfers[key] = s.transfers.get(key, 0) + 1
    elif kind == EventType.CALL_CONSULT_ENDED:
        s.consults += 1
        s.consult_time += float(data.get("seconds") or 0.0)
        column = CONSULT_OUTCOMES.get(str(data.get("outcome")))
        if column is not None:
            s.outcomes[column] = s.outcomes.get(column, 0) + 1
    elif kind == EventType.CALL_CONFERENCE_ENDED:
        s.conferences += 1
        s.conference_time += float(data.get("seconds") or 0.0)
    elif kind == EventType.OUTBOUND_STARTED:
        s.outbound += 1
    elif kind == EventType.OUTBOUND_ANSWERED:
        s.outbound_answered += 1
    elif kind == EventType.OUTBOUND_FAILED:
        s.outbound_failed += 1
