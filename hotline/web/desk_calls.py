"""The calls an agent's desk shows live: offered (ringing), then in conversation.

Followed from the contact event log, so a desk opened or reloaded during a call, or a
controller restarted under one, finds it again: `seed` replays the log of the voice
and callback contacts still open, `apply` takes each new event. Which events count:

- `contact.offer` (channel voice or callback): the agent's phone rings for the contact;
- `contact.answered`: the agent took it, the conversation starts (its time);
- `queue.connected`: the caller and the agent are bridged (`waited`: the caller's wait);
  for a call not on a desk, a consulted colleague took the caller over (complete): the
  call is theirs, in place of their consult call;
- `agent.release`, `agent.no_answer`, `agent.reject`: the offer is over unanswered;
- `call.held`, `call.resumed`, `call.consult_*`, `call.conference_*`: the call control
  changed it (the desk shows it again, with its consultation);
- `call.transferred`: an agent passed the contact on (blind or after consulting); the
  agent who takes it next sees who transferred it, from where, and their note, until
  the contact ends or is transferred again;
- `agent.finish`, `queue.call_ended`, `call.ended`, `callback.completed`,
  `callback.failed`: the conversation (or the whole contact) is over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from hotline.store import LoggedEvent, Store
from hotline.store.active import active_contacts

#: Contacts on an agent's phone: calls in, callbacks, and agents' outbound calls (whose
#: offers are "voice"; the contact's channel "outbound" is what a reload seeds from).
VOICE_CHANNELS = frozenset({"voice", "callback", "outbound"})
_OFFER_ENDS = frozenset({"agent.release", "agent.no_answer", "agent.reject"})
_CALL_ENDS = frozenset({"agent.finish", "queue.call_ended"})
_CONTACT_ENDS = frozenset({"call.ended", "callback.completed", "callback.failed"})
#: Call control steps (hotline/calls): the call is shown again with its new state.
_CONTROL = frozenset(
    {
        "call.held",
        "call.resumed",
        "call.consult_started",
        "call.consult_answered",
        "call.consult_ended",
        "call.conference_started",
        "call.conference_ended",
    }
)
#: How many ended calls are remembered (against stale events of theirs).
_REMEMBERED = 1_000


@dataclasses.dataclass
class LiveCall:
    """One call on one agent's desk."""

    contact_id: str
    agent: str
    channel: str
    queue: str | None
    phase: str  # "ringing", then "talking"
    offered_at: datetime
    joined_at: datetime | None = None
    answered_at: datetime | None = None
    waited: float | None = None
    #: Who passed this contact on to the agent, and their note (None: nobody).
    transferred: dict[str, Any] | None = None

    def view(self, now: datetime) -> dict[str, Any]:
        """The call as the desk shows it; `seconds` in conversation as of `now`."""
        waited = self.waited
        if waited is None and self.joined_at is not None:
            end = self.answered_at or now
            waited = round(max(0.0, (end - self.joined_at).total_seconds()), 1)
        seconds = None
        if self.answered_at is not None:
            seconds = round(max(0.0, (now - self.answered_at).total_seconds()), 1)
        return {
            "contact_id": self.contact_id,
            "channel": self.channel,
            "queue": self.queue,
            "phase": self.phase,
            "offered_at": self.offered_at.isoformat(),
            "answered_at": None if self.answered_at is None else self.answered_at.isoformat(),
            "waited": waited,
            "seconds": seconds,
            "transferred": self.transferred,
        }


class LiveCalls:
    """Per agent, the calls offered to or held by them now."""

    def __init__(self) -> None:
        self._by_contact: dict[str, LiveCall] = {}
        self._joined: dict[str, datetime] = {}
        #: The last event applied, of each contact followed (a call, or one in a queue).
        self._last_id: dict[str, int] = {}
        #: Contacts whose call ended lately, with the ending event's id: an older event
        #: of theirs (the seed and the live stream overlap) does not bring them back.
        self._ended: dict[str, int] = {}
        #: The last transfer of each open contact (call.transferred), for its next agent.
        self._transfers: dict[str, dict[str, Any]] = {}

    def of_agent(self, agent: str) -> list[LiveCall]:
        return sorted(
            (c for c in self._by_contact.values() if c.agent == agent),
            key=lambda c: c.offered_at,
        )

    def get(self, contact_id: str) -> LiveCall | None:
        return self._by_contact.get(contact_id)

    async def seed(self, store: Store) -> None:
        """Replay the log of every voice and callback contact still open."""
        for channel in sorted(VOICE_CHANNELS):
            for contact in await active_contacts(store, channel):
                self.apply_all(await store.events(contact.id))

    def apply_all(self, events: Iterable[LoggedEvent]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: LoggedEvent) -> tuple[str, LiveCall] | None:
        """Take one event; what changed on a desk: ("call", the call) when a call is
        new or moved on, ("ended", the call) when it left the agent's desk."""
        contact_id = event.contact_id
        if contact_id is None:
            return None
        seen = self._last_id.get(contact_id) or self._ended.get(contact_id, 0)
        if event.id <= seen:
            return None  # seen already (the seed and the live stream overlap)
        changed = self._apply(event, contact_id)
        if contact_id in self._by_contact or contact_id in self._joined:
            self._last_id[contact_id] = event.id
        else:  # nothing followed: chats, calls in the IVR, ended calls leave no trace
            self._last_id.pop(contact_id, None)
        return changed

    def _apply(self, event: LoggedEvent, contact_id: str) -> tuple[str, LiveCall] | None:
        agent = event.agent or _text(event.data.get("agent"))
        channel = event.data.get("channel")
        call = self._by_contact.get(contact_id)
        kind = event.type
        if kind == "call.transferred":
            self._transferred(event, contact_id)
            return None
        if kind in _CONTACT_ENDS:
            self._transfers.pop(contact_id, None)
        if kind in ("contact.join", "contact.restore") and channel in VOICE_CHANNELS:
            self._joined.setdefault(contact_id, event.ts)
        elif kind == "contact.leave" and call is None:
            self._joined.pop(contact_id, None)
        elif kind == "contact.offer" and channel in VOICE_CHANNELS and agent:
            call = LiveCall(
                contact_id,
                agent,
                str(channel),
                event.queue,
                "ringing",
                event.ts,
                joined_at=self._joined.get(contact_id),
                transferred=self._transfers.get(contact_id),
            )
            self._by_contact[contact_id] = call
            return "call", call
        elif kind == "queue.connected" and call is None and agent:
            return "call", self._handed_over(event, contact_id, agent)
        elif call is None:
            if kind in _CONTACT_ENDS:
                self._joined.pop(contact_id, None)
            return None
        elif kind == "contact.answered" and agent == call.agent:
            if call.phase != "talking":
                call.phase, call.answered_at = "talking", event.ts
                return "call", call
        elif kind == "queue.connected" and agent == call.agent:
            waited = event.data.get("waited")
            call.waited = float(waited) if isinstance(waited, int | float) else call.waited
            if call.phase != "talking":
                call.phase, call.answered_at = "talking", event.ts
            return "call", call
        elif kind in _CONTROL and call.phase == "talking":
            return "call", call
        elif kind in _OFFER_ENDS and agent == call.agent and call.phase == "ringing":
            del self._by_contact[contact_id]
            return "ended", call
        elif (kind in _CALL_ENDS and agent in (None, call.agent)) or kind in _CONTACT_ENDS:
            self._forget(contact_id, event.id)
            return "ended", call
        return None

    def _handed_over(self, event: LoggedEvent, contact_id: str, agent: str) -> LiveCall:
        """A colleague consulted the agent and handed the caller over: the caller's
        call is the agent's live call now, in place of the consult call it was."""
        for consult in self.of_agent(agent):
            if consult.channel == "outbound" and consult.phase == "talking":
                del self._by_contact[consult.contact_id]
        call = LiveCall(
            contact_id,
            agent,
            "voice",
            event.queue or _text(event.data.get("queue")),
            "talking",
            event.ts,
            joined_at=self._joined.get(contact_id),
            answered_at=event.ts,
            waited=0.0,
            transferred=self._transfers.get(contact_id),
        )
        self._by_contact[contact_id] = call
        return call

    def _transferred(self, event: LoggedEvent, contact_id: str) -> None:
        data = event.data
        self._transfers[contact_id] = {
            "agent": _text(data.get("agent")) or event.agent,
            "by": _text(data.get("by")),
            "to": _text(data.get("to")),
            "kind": _text(data.get("kind")),
            "note": data.get("note") if isinstance(data.get("note"), str) else "",
            "at": event.ts.isoformat(),
        }
        while len(self._transfers) > _REMEMBERED:  # contacts whose end was never seen
            del self._transfers[next(iter(self._transfers))]

    def _forget(self, contact_id: str, event_id: int) -> None:
        self._by_contact.pop(contact_id, None)
        self._joined.pop(contact_id, None)
        self._ended[contact_id] = event_id
        while len(self._ended) > _REMEMBERED:  # the oldest first
            del self._ended[next(iter(self._ended))]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
