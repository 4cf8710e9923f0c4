"""What a new routing leader takes over: the routing state, read from the event log.

The same reading as a restarted controller's (hotline/acd/restore.py): every contact
still active in the store whose events put it in a queue goes back to its place (its
original entry time), every answered one goes back to its agent. The workers hold the
calls and chats themselves; the leader only needs to know who waits and who talks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from hotline.acd.model import Contact
from hotline.acd.restore import Talking, clock_of, place_of
from hotline.store import Store
from hotline.store.active import active_contacts

#: The store's channels whose contacts wait in routing queues.
ROUTED_CHANNELS = ("voice", "chat", "callback")


@dataclass(frozen=True)
class RoutingState:
    """Who waits (with their place) and who talks, when the log was read."""

    waiting: list[Contact]
    talking: list[Talking]


async def read_routing_state(store: Store, clock: float | None = None) -> RoutingState:
    """The routing state the event log holds, on the routing clock (`clock`: now on it,
    default time.monotonic())."""
    now_clock = time.monotonic() if clock is None else clock
    now_wall = datetime.now(UTC)
    waiting: list[Contact] = []
    talking: list[Talking] = []
    for channel in ROUTED_CHANNELS:
        for contact in await active_contacts(store, channel):
            place = place_of(contact.id, await store.events(contact.id))
            if place is None:
                continue
            routed = place.contact(clock_of(place.entered, now_wall, now_clock))
            if place.waiting:
                waiting.append(routed)
            elif place.agent is not None and place.answered is not None:
                since = clock_of(place.answered, now_wall, now_clock)
                talking.append(Talking(place.agent, routed, since))
    return RoutingState(waiting, talking)
