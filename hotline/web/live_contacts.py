"""The wallboard's live contacts: each contact waiting in a queue or with an agent now,
by who the customer is (their name, else their number or chat), its queue, how long
it waited and how long it has been with the agent, for supervisors to act on (listen,
whisper, barge a call; read, whisper, take over a chat), with who monitors it now.

Folded from the same event log the board is (`LIVE_TYPES`); each contact and its
customer are read once from the store when the contact is first seen, in the background,
by one reader task that works through the contacts seen meanwhile (a wallboard is open
all day: one read and no task of its own per call). The read gives the name, and tells
`on_contact` (the board: is it an agent's outbound call?).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hotline.events import EventType
from hotline.store import Store
from hotline.store.records import Contact, LoggedEvent

log = logging.getLogger(__name__)

#: Ends of a contact's live part.
_ENDS = frozenset({EventType.CONTACT_LEAVE, EventType.CALL_ENDED, EventType.CHAT_CLOSED})
#: Starts of a live part: a contact whose live part ended shows again only on one of these.
_STARTS = frozenset(
    {
        EventType.CALL_ARRIVED,
        EventType.CHAT_STARTED,
        EventType.CHAT_REOPENED,
        EventType.CONTACT_JOIN,
    }
)
#: How many ended contacts are remembered, so that their late events (the agent's
#: finish and wrap-up after the caller hung up) neither show them again nor read them
#: again; such events follow the end within minutes.
ENDED_KEPT = 4096


@dataclass
class _Live:
    channel: str
    who: str
    queue: str | None = None
    joined: float | None = None
    answered: float | None = None
    agent: str | None = None
    #: Supervisors monitoring the contact now, and how (listen, whisper, barge, read).
    monitors: dict[str, str] = field(default_factory=dict)


#: The monitoring events the live contacts fold (besides the board's own).
MONITOR_TYPES = (EventType.MONITOR_STARTED, EventType.MONITOR_CHANGED, EventType.MONITOR_ENDED)


class LiveContacts:
    """Contacts in progress, as the wallboard lists them."""

    def __init__(
        self, store: Store | None = None, on_contact: Callable[[Contact], None] | None = None
    ) -> None:
        self.store = store
        #: Told each contact read (once a contact is seen live), e.g. to tell outbound calls.
        self.on_contact = on_contact
        self.contacts: dict[str, _Live] = {}
        self.last_id = 0
        self._named: set[str] = set()
        #: Contacts seen and not yet read, in the order seen (a dict as an ordered set).
        self._unread: dict[str, None] = {}
        self._reader: asyncio.Task[None] | None = None
        #: Contacts whose live part ended lately (a dict as an ordered set, oldest first).
        self._ended: dict[str, None] = {}

    def replay(self, events: Iterable[LoggedEvent]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, e: LoggedEvent) -> None:
        if e.id <= self.last_id or not e.contact_id:
            return
        self.last_id = e.id
        cid, data, t, kind = e.contact_id, e.data, e.ts.timestamp(), e.type
        if kind == EventType.CALL_ARRIVED:
            self.contacts[cid] = _Live("voice", str(data.get("caller") or "unknown caller"))
        elif kind in (EventType.CHAT_STARTED, EventType.CHAT_REOPENED):
            self.contacts[cid] = _Live("chat", f"{data.get('kind') or 'web'} chat")
        elif kind in _ENDS:
            self.contacts.pop(cid, None)
            self._named.discard(cid)
            self._ended[cid] = None
            if len(self._ended) > ENDED_KEPT:
                del self._ended[next(iter(self._ended))]
            return
        if cid in self._ended:
            if kind not in _STARTS:
                return  # a late event of an ended contact: not live again
            del self._ended[cid]
        live = self.contacts.get(cid)
        if live is None:  # a contact that started before what the log replayed
            channel = str(data.get("channel") or "voice")
            live = self.contacts[cid] = _Live(channel, "customer")
        if kind == EventType.CONTACT_JOIN:
            live.queue, live.joined, live.answered, live.agent = e.queue, t, None, None
            live.channel = str(data.get("channel") or live.channel)
        elif kind == EventType.CONTACT_ANSWERED:
            live.answered = t
        elif kind == EventType.AGENT_ACCEPT and e.agent:
            live.agent = e.agent
            live.answered = live.answered or t
        elif kind == EventType.AGENT_FINISH and live.agent == e.agent:
            live.agent = None
        elif kind in (EventType.MONITOR_STARTED, EventType.MONITOR_CHANGED):
            live.monitors[str(data.get("supervisor"))] = str(data.get("mode"))
        elif kind == EventType.MONITOR_ENDED:
            live.monitors.pop(str(data.get("supervisor")), None)
        self._name(cid)

    def view(self, now: float, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Live contacts, longest first; `names`: agents' display names."""
        names = names or {}
        rows = []
        for cid, live in self.contacts.items():
            if live.joined is None and live.agent is None:
                continue  # still in its flow: no queue yet
            waited_until = live.answered if live.answered is not None else now
            rows.append(
                {
                    "contact_id": cid,
                    "channel": live.channel,
                    "who": live.who,
                    "queue": live.queue,
                    "agent": live.agent,
                    "agent_name": names.get(live.agent or "", live.agent),
                    "state": "talking" if live.agent else "waiting",
                    "wait": None if live.joined is None else max(0.0, waited_until - live.joined),
                    "duration": None if live.answered is None else max(0.0, now - live.answered),
                    "monitors": [
                        {"supervisor": who, "mode": mode}
                        for who, mode in sorted(live.monitors.items())
                    ],
                }
            )
        return sorted(rows, key=_longest)

    def _name(self, cid: str) -> None:
        """Have the contact read once, in the background (the board never waits)."""
        if self.store is None or cid in self._named:
            return
        self._named.add(cid)
        self._unread[cid] = None
        if self._reader is None:
            with contextlib.suppress(RuntimeError):  # no running loop: names stay as logged
                self._reader = asyncio.get_running_loop().create_task(
                    self._read_all(), name="wallboard-contacts"
                )

    @property
    def reader(self) -> asyncio.Task[None] | None:
        """The reader task while contacts wait to be read (Wallboard.stop cancels it)."""
        return self._reader

    async def _read_all(self) -> None:
        try:
            while self._unread:
                cid = next(iter(self._unread))
                del self._unread[cid]
                if cid in self.contacts:  # ended meanwhile (a replayed day): nothing to show
                    await self._lookup(cid)
        finally:
            self._reader = None

    async def _lookup(self, cid: str) -> None:
        assert self.store is not None
        try:
            found = await self.store.contact_and_customer(cid)
        except Exception:
            log.exception("wallboard: contact %s and its customer not read", cid)
            return
        if found is None:
            return
        contact, customer = found
        if self.on_contact is not None:
            try:
                self.on_contact(contact)
            except Exception:  # the names go on
                log.exception("wallboard: contact %s not taken in", cid)
        live = self.contacts.get(cid)
        if live is None:
            return
        if customer is not None and customer.display_name:
            live.who = customer.display_name
        elif contact.channel == "voice" and contact.source:
            live.who = contact.source
        elif contact.channel == "outbound" and contact.destination:
            live.who = contact.destination  # an agent's call: the customer is the one dialed
        elif customer is not None and (customer.phone or customer.email):
            live.who = customer.phone or customer.email or live.who


def _longest(row: dict[str, Any]) -> tuple[int, float]:
    """With an agent first (longest first), then waiting (longest first)."""
    if row["state"] == "talking":
        return 0, -float(row["duration"] or 0.0)
    return 1, -float(row["wait"] or 0.0)
