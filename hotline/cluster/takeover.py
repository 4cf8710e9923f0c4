"""What a new routing leader takes over: the routing state, read from the event log.

The same reading as a restarted controller's (hotline/acd/restore.py): every contact
still active in the store whose events put it in a queue goes back to its place (its
original entry time), every answered one goes back to its agent. The workers hold the
calls and chats themselves; the leader only needs to know who waits and who talks.

Agents' pauses are carried over too: each agent channel's last state event (agent.*,
with its `to` state) says whether it was paused, and why, under the old leader. An
agent who went to lunch is not offered calls because the leader changed. The system's
own pause ("unreachable") is not carried: the workers say again which phones are
reachable once they see the new leader.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from hotline.acd.model import AgentState, Channel, Contact
from hotline.acd.reachability import UNREACHABLE_REASON
from hotline.acd.restore import Logged, Talking, clock_of, place_of
from hotline.acd.service import RoutingService
from hotline.acd.states import IllegalTransition
from hotline.store import Store
from hotline.store.active import active_contacts
from hotline.store.records import LoggedEvent
from hotline.store.store import EVENTS, _all

log = logging.getLogger(__name__)

#: The store's channels whose contacts wait in routing queues.
ROUTED_CHANNELS = ("voice", "chat", "callback")
#: Agent events read at a time, newest first, looking for each channel's last state.
PAGE = 200


@dataclass(frozen=True)
class RoutingState:
    """Who waits (with their place), who talks, and which agents' channels were paused
    (agent -> channel -> reason), when the log was read."""

    waiting: list[Contact]
    talking: list[Talking]
    paused: dict[str, dict[str, str]] = field(default_factory=dict)


def pauses_of(events: Iterable[Logged]) -> dict[str, str]:
    """An agent's paused channels (channel -> reason) from their state events in log
    order: the last event with a `to` state of each channel decides."""
    last: dict[str, tuple[str, str | None]] = {}
    for event in events:
        data = event.data or {}
        channel, to = data.get("channel"), data.get("to")
        if channel and to:  # agent.reachable/unreachable carry no state: skipped
            last[str(channel)] = (str(to), data.get("reason"))
    return {
        channel: str(reason)
        for channel, (state, reason) in last.items()
        if state == AgentState.PAUSED.value and reason and reason != UNREACHABLE_REASON
    }


async def agent_state_events(
    store: Store, agent: str, channels: Iterable[str], page: int = PAGE
) -> list[LoggedEvent]:
    """The agent's latest state events (agent.*), oldest first: read newest first until
    every one of `channels` has a state event, or the log ends."""
    wanted = set(channels)
    found: list[LoggedEvent] = []
    offset = 0
    while True:
        query = (
            select(EVENTS)
            .where(EVENTS.c.agent == agent, EVENTS.c.type.like("agent.%"))
            .order_by(EVENTS.c.ts.desc(), EVENTS.c.id.desc())  # the (agent, ts) index
            .offset(offset)
            .limit(page)
        )
        rows = await store.read(functools.partial(_all, query=query), "agent state events")
        batch = [LoggedEvent(**row._mapping) for row in rows]
        found.extend(batch)
        for event in batch:
            data = event.data or {}
            if data.get("to"):
                wanted.discard(str(data.get("channel")))
        if not wanted or len(batch) < page:
            return list(reversed(found))
        offset += page


async def read_routing_state(
    store: Store,
    clock: float | None = None,
    agents: Mapping[str, Iterable[str]] | None = None,
) -> RoutingState:
    """The routing state the event log holds, on the routing clock (`clock`: now on it,
    default time.monotonic()); `agents` (agent -> channels): whose pauses to read."""
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
    paused: dict[str, dict[str, str]] = {}
    for agent, channels in (agents or {}).items():
        found = pauses_of(await agent_state_events(store, agent, channels))
        if found:
            paused[agent] = found
    return RoutingState(waiting, talking, paused)


async def carry_pauses(routing: RoutingService, paused: Mapping[str, Mapping[str, str]]) -> int:
    """Pause again, with their reasons, the channels paused under the old leader that are
    logged in here (a channel logged out here stays so: its desk logs it in again);
    the number of channels paused. What cannot be applied is logged, not raised: the
    takeover goes on."""
    done = 0
    for agent, channels in sorted(paused.items()):
        for channel, reason in sorted(channels.items()):
            try:
                status = routing.agent_status(agent).get(Channel(channel))
                if status is None or status.state is AgentState.OFFLINE:
                    continue
                if status.state is AgentState.PAUSED and status.reason == reason:
                    continue
                await routing.pause(agent, reason, [channel])
            except (ValueError, IllegalTransition) as error:  # RoutingError is a ValueError
                log.warning("routing takeover: %s's %s pause not kept: %s", agent, channel, error)
                continue
            done += 1
    return done
