"""Rebuilding routing state after a controller restart, from the event log.

The routing engine keeps its state in memory and writes every change to the event log
before acting on it (see `service.py`). When the controller dies, Asterisk keeps the
calls; the new controller finds each live contact's place from that log:

- `place_of(events)` reads one contact's events and says where it stood: waiting in a
  queue since a wall-clock time (its original entry, kept across any number of
  restarts), with its priority, skills and max wait; or answered by an agent; or no
  longer in a queue at all.
- `clock_of` turns a wall-clock time into the routing clock (monotonic seconds), which
  does not survive a restart.
- `RoutingService.restore` puts the waiting contacts back at their places (in one
  step, so the oldest is offered first) and gives the agents who are still talking
  their contact back, so that they stay busy until it ends and then wrap up.

Channel adapters decide which contacts are still alive (the voice side asks Asterisk,
`ari_app/recovery.py`); a callback or chat adapter restores its own contacts the same
way: `place_of` on the contact's events, then `RoutingService.restore`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from hotline.acd.model import Channel, Contact

#: Router events that put a contact in a queue (their data says how, see service.py).
ENTRY_EVENTS = frozenset({"contact.join", "contact.restore"})
#: The `timeout` logged for a contact that waits for ever (JSON has no infinity).
NEVER = "never"


class Logged(Protocol):
    """An event-log entry as the store returns it (read-only: the store's are frozen)."""

    @property
    def type(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def queue(self) -> str | None: ...
    @property
    def agent(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Place:
    """Where a contact stood in the routing engine when the log ends."""

    contact_id: str
    queue: str
    channel: Channel
    #: Wall-clock time the contact first entered the queue.
    entered: datetime
    priority: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)
    #: The contact's own max wait (seconds, `math.inf` for never); None: the queue's.
    timeout: float | None = None
    #: The agent who answered it, and when; None while it waits (or is offered).
    agent: str | None = None
    answered: datetime | None = None

    @property
    def waiting(self) -> bool:
        return self.agent is None

    def contact(self, entered_at: float) -> Contact:
        """The routing contact, entered at `entered_at` on the routing clock."""
        return Contact(
            self.contact_id,
            self.channel,
            self.queue,
            entered_at,
            self.priority,
            dict(self.skills),
            self.timeout,
        )


@dataclass(frozen=True)
class Talking:
    """An answered contact to give back to its agent (`RoutingService.restore`)."""

    agent: str
    contact: Contact
    #: When the agent answered, on the routing clock.
    since: float


def place_of(contact_id: str, events: Iterable[Logged]) -> Place | None:
    """The contact's place from its events in log order; None when it is in no queue
    (never queued, left, timed out, or its answered contact was finished)."""
    place: Place | None = None
    for event in events:
        if event.type in ENTRY_EVENTS and event.queue:
            place = _entry(contact_id, event)
        elif place is None:
            continue
        elif event.type == "contact.leave":
            place = None
        elif event.type == "contact.answered" and event.agent:
            place = Place(
                place.contact_id,
                place.queue,
                place.channel,
                place.entered,
                place.priority,
                place.skills,
                place.timeout,
                agent=event.agent,
                answered=event.ts,
            )
        elif event.type == "agent.finish" and place.agent and event.agent == place.agent:
            place = None
    return place


def _entry(contact_id: str, event: Logged) -> Place:
    data = event.data or {}
    waited = _number(data.get("waited"), 0.0)
    timeout = data.get("timeout")
    return Place(
        contact_id,
        event.queue or "",
        Channel(data.get("channel") or Channel.VOICE),
        event.ts - timedelta(seconds=max(0.0, waited)),
        int(_number(data.get("priority"), _priority_of(data.get("detail")))),
        {str(k): int(v) for k, v in (data.get("skills") or {}).items()},
        math.inf if timeout == NEVER else None if timeout is None else float(timeout),
    )


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else default


def _priority_of(detail: Any) -> int:
    """Older logs say the priority only in the detail text: "priority 3"."""
    if isinstance(detail, str) and detail.startswith("priority "):
        try:
            return int(detail.removeprefix("priority "))
        except ValueError:
            return 0
    return 0


def clock_of(wall: datetime, now_wall: datetime, now_clock: float) -> float:
    """`wall` on the routing clock, given the same instant on both clocks."""
    return now_clock - (now_wall - wall).total_seconds()


def logged_timeout(timeout: float | None) -> float | str | None:
    """A contact's max wait as the join event logs it."""
    if timeout is None:
        return None
    return NEVER if math.isinf(timeout) else timeout
