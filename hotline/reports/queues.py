"""Queue metrics: each time a contact joins a queue is one queue visit, counted in
the interval it joined; its answer or departure (even after the period) settles it.

A visit that starts because an agent transferred the contact (blind, to a queue or a
colleague; `call.transferred` or `chat.transferred` before the join) is a
**transfer-in**: counted in its own columns, not in offered, answered, abandoned or
the service level, which stay one per customer arrival (as Amazon Connect's "contacts
transferred in" or Genesys' "transferred in" do): the same caller is never offered
twice for one call. Handling (handled, talk, AHT) counts every contact an agent
finished, transferred in or not."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hotline.events import EventType
from hotline.reports.settings import ReportSettings
from hotline.reports.tables import ratio

#: contact.leave outcomes that are the caller giving up (the rest: the flow's limits).
ABANDON = "left"


@dataclass
class QueueStats:
    """Counters and sums of one row (an interval, or a queue and channel)."""

    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0  # not counting short abandons
    short_abandoned: int = 0
    overflow: int = 0  # timeout or closed: the flow's queue node took another way
    refused: int = 0
    wait_answered: float = 0.0
    wait_abandoned: float = 0.0
    handled: int = 0
    talk: float = 0.0
    wrap: float = 0.0
    callbacks_requested: int = 0
    callbacks_completed: int = 0
    callbacks_failed: int = 0
    transfers: int = 0
    #: Transfers into the queue (one per transfer, however many joins it took), and
    #: how those visits were settled.
    transferred_in: int = 0
    transferred_in_answered: int = 0
    transferred_in_abandoned: int = 0
    #: Only one agent's contacts count: queue-wide counters mean nothing.
    agent_only: bool = False

    def count_visit(
        self, settings: ReportSettings, queue: str, wait: float, answered: bool, detail: Any
    ) -> None:
        """One settled queue visit: answered (within the service level or not),
        abandoned (short or not: `detail` "left"), or overflowed. The reports and the
        live wallboard both count with this."""
        self.offered += 1
        if answered:
            self.answered += 1
            self.wait_answered += wait
            if wait <= settings.threshold(queue):
                self.answered_in_sl += 1
        elif detail == ABANDON:
            if wait < settings.short_abandon:
                self.short_abandoned += 1
            else:
                self.abandoned += 1
                self.wait_abandoned += wait
        else:
            self.overflow += 1

    def count_transfer_in(self, first: bool, answered: bool, detail: Any) -> None:
        """One settled transfer-in visit (`first`: the transfer's first join; a later
        one, back to the queue after the colleague did not answer, is the same
        transfer). Abandoned: the caller left, however soon."""
        self.transferred_in += int(first)
        if answered:
            self.transferred_in_answered += 1
        elif detail == ABANDON:
            self.transferred_in_abandoned += 1

    def add(self, other: QueueStats) -> None:
        for name, value in vars(other).items():
            if name != "agent_only":
                setattr(self, name, getattr(self, name) + value)

    def row(self) -> dict[str, Any]:
        na = self.agent_only
        return {
            "offered": None if na else self.offered,
            "answered": self.answered,
            "abandoned": None if na else self.abandoned,
            "short_abandoned": None if na else self.short_abandoned,
            "overflow": None if na else self.overflow,
            "refused": None if na else self.refused,
            "sl_answered": ratio(self.answered_in_sl, self.answered),
            "sl_offered": None
            if na
            else ratio(self.answered_in_sl, self.answered + self.abandoned),
            "asa": ratio(self.wait_answered, self.answered, percent=False),
            "abandon_rate": None if na else ratio(self.abandoned, self.answered + self.abandoned),
            "avg_abandon_wait": None
            if na
            else ratio(self.wait_abandoned, self.abandoned, percent=False),
            "handled": self.handled,
            "aht": ratio(self.talk + self.wrap, self.handled, percent=False),
            "avg_talk": ratio(self.talk, self.handled, percent=False),
            "avg_wrap": ratio(self.wrap, self.handled, percent=False),
            "callbacks_requested": None if na else self.callbacks_requested,
            "callbacks_completed": None if na else self.callbacks_completed,
            "callbacks_failed": None if na else self.callbacks_failed,
            "transfers": None if na else self.transfers,
            "transferred_in": None if na else self.transferred_in,
            "transferred_in_answered": self.transferred_in_answered,
            "transferred_in_abandoned": None if na else self.transferred_in_abandoned,
        }


QUEUE_COLUMNS = [
    ("offered", "offered", "int"),
    ("answered", "answered", "int"),
    ("abandoned", "abandoned", "int"),
    ("short_abandoned", "short ab.", "int"),
    ("overflow", "overflow", "int"),
    ("refused", "refused", "int"),
    ("sl_answered", "SL (ans.)", "pct"),
    ("sl_offered", "SL (ans.+ab.)", "pct"),
    ("asa", "ASA", "sec"),
    ("abandon_rate", "abandon %", "pct"),
    ("avg_abandon_wait", "ab. wait", "sec"),
    ("handled", "handled", "int"),
    ("aht", "AHT", "sec"),
    ("avg_talk", "talk", "sec"),
    ("avg_wrap", "wrap", "sec"),
    ("callbacks_requested", "cb req.", "int"),
    ("callbacks_completed", "cb done", "int"),
    ("callbacks_failed", "cb failed", "int"),
    ("transfers", "transfers", "int"),
    ("transferred_in", "xfer in", "int"),
    ("transferred_in_answered", "xfer in ans.", "int"),
    ("transferred_in_abandoned", "xfer in ab.", "int"),
]

#: What an agent logs when they transfer a contact on (blind: it joins a queue again).
TRANSFER_MARKS = (EventType.CALL_TRANSFERRED, EventType.CHAT_TRANSFERRED)


class TransfersIn:
    """Which joins are transfers-in: a contact's joins after its agent transferred it
    (`TRANSFER_MARKS`), until an agent answers it again."""

    def __init__(self) -> None:
        #: contact -> whether the transfer's first join is still to come
        self.pending: dict[str, bool] = {}

    def transferred(self, contact: str) -> None:
        self.pending[contact] = True

    def joined(self, contact: str) -> tuple[bool, bool]:
        """(a transfer-in, the transfer's first join)."""
        first = self.pending.get(contact)
        if first is None:
            return False, False
        self.pending[contact] = False
        return True, first

    def answered(self, contact: str) -> None:
        self.pending.pop(contact, None)


@dataclass
class _Visit:
    queue: str
    channel: str
    joined: float
    bucket: int
    transfer: bool = False  # a transfer-in
    first: bool = False  # the transfer's first join


class QueueFold:
    """Folds contact.join/answered/leave/refused rows into per-interval and per-queue
    stats. `keep(queue, channel, agent)` says whether a settled visit counts (filters)."""

    def __init__(
        self,
        bucket: Callable[[float], int | None],
        settings: ReportSettings,
        keep: Callable[[str, str, str | None], bool],
        agent_only: bool,
    ) -> None:
        self.bucket = bucket
        self.settings = settings
        self.keep = keep
        self.agent_only = agent_only
        self.intervals: dict[int, QueueStats] = {}
        self.queues: dict[tuple[str, str], QueueStats] = {}
        self.open: dict[str, _Visit] = {}
        #: Contacts whose visits count under the filters.
        self.contacts: set[str] = set()
        self.transfers_in = TransfersIn()

    def stats(self, bucket: int, queue: str, channel: str) -> tuple[QueueStats, QueueStats]:
        per = self.intervals.get(bucket)
        if per is None:
            per = self.intervals[bucket] = QueueStats(agent_only=self.agent_only)
        q = self.queues.get((queue, channel))
        if q is None:
            q = self.queues[(queue, channel)] = QueueStats(agent_only=self.agent_only)
        return per, q

    def feed(self, rows: Iterable[tuple[Any, ...]], joins: bool = True) -> None:
        """Rows (t, type, contact, queue, agent, channel, detail) in log order; with
        joins=False (rows after the period) only open visits are settled."""
        for t, kind, cid, queue, agent, channel, detail in rows:
            if kind in TRANSFER_MARKS:
                self.transfers_in.transferred(cid)
            elif kind == EventType.CONTACT_JOIN:
                transfer, first = self.transfers_in.joined(cid)
                if not joins:
                    continue
                b = self.bucket(t)
                if b is not None and queue:
                    self.open[cid] = _Visit(queue, channel or "voice", t, b, transfer, first)
            elif kind == EventType.CONTACT_REFUSED:
                b = self.bucket(t) if joins else None
                if (
                    b is not None
                    and queue
                    and not self.agent_only
                    and self.keep(queue, channel or "voice", None)
                ):
                    for s in self.stats(b, queue, channel or "voice"):
                        s.refused += 1
            else:
                if kind == EventType.CONTACT_ANSWERED:
                    self.transfers_in.answered(cid)
                visit = self.open.pop(cid, None)
                if visit is not None:
                    self._settle(cid, visit, kind, t, agent, detail)

    def _settle(
        self, cid: str, v: _Visit, kind: str, t: float, agent: str | None, detail: str | None
    ) -> None:
        answered = kind == EventType.CONTACT_ANSWERED
        if not self.keep(v.queue, v.channel, agent if answered else None):
            return
        self.contacts.add(cid)
        wait = max(0.0, t - v.joined)
        for s in self.stats(v.bucket, v.queue, v.channel):
            if v.transfer:
                s.count_transfer_in(v.first, answered, detail)
            else:
                s.count_visit(self.settings, v.queue, wait, answered, detail)

    def finish(self) -> None:
        """Visits still waiting when the log ends count as offered only."""
        for cid, v in self.open.items():
            if self.keep(v.queue, v.channel, None) and not self.agent_only:
                self.contacts.add(cid)
                for s in self.stats(v.bucket, v.queue, v.channel):
                    if v.transfer:
                        s.transferred_in += int(v.first)
                    else:
                        s.offered += 1
        self.open.clear()
