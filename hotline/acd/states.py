"""The per-channel agent state machine: which action may move which state where.

An agent has one `ChannelStatus` per channel they have capacity for. `load` counts
contacts in progress on that channel; on multi-contact channels (chat) the state
stays `available` while there is room, and becomes `busy` only when full.

    offline --login--> available | paused
    available --reserve--> reserved --ring--> ringing
    reserved/ringing --accept--> busy (full) | available (room left)
    reserved/ringing --reject/release--> available
    reserved/ringing --no_answer--> available | paused ("no answer")
    busy/available/paused --finish--> wrap_up | available | busy | paused
      (and reserved/ringing stay as they are when another chat ends meanwhile)
    wrap_up --wrap_end--> available
    available/busy/wrap_up --pause--> paused --unpause--> available | busy
    available/paused/wrap_up --logout--> offline (nothing in progress)
    available/paused --restore--> busy | available | paused (a contact taken over)

Every transition returns a `RoutingEvent`; anything else raises `IllegalTransition`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.acd.events import RoutingEvent
from hotline.acd.model import AgentState, Channel

S = AgentState

#: action -> {from state: states it may lead to}
TRANSITIONS: dict[str, dict[AgentState, frozenset[AgentState]]] = {
    "login": {S.OFFLINE: frozenset({S.AVAILABLE, S.PAUSED})},
    "logout": {s: frozenset({S.OFFLINE}) for s in (S.AVAILABLE, S.PAUSED, S.WRAP_UP)},
    "pause": {s: frozenset({S.PAUSED}) for s in (S.AVAILABLE, S.BUSY, S.WRAP_UP, S.PAUSED)},
    "unpause": {S.PAUSED: frozenset({S.AVAILABLE, S.BUSY})},
    "reserve": {S.AVAILABLE: frozenset({S.RESERVED})},
    "ring": {S.RESERVED: frozenset({S.RINGING})},
    "accept": {s: frozenset({S.BUSY, S.AVAILABLE}) for s in (S.RESERVED, S.RINGING)},
    "reject": {s: frozenset({S.AVAILABLE}) for s in (S.RESERVED, S.RINGING)},
    "release": {s: frozenset({S.AVAILABLE}) for s in (S.RESERVED, S.RINGING)},
    "no_answer": {s: frozenset({S.AVAILABLE, S.PAUSED}) for s in (S.RESERVED, S.RINGING)},
    "finish": {
        S.BUSY: frozenset({S.WRAP_UP, S.AVAILABLE, S.BUSY}),
        S.AVAILABLE: frozenset({S.WRAP_UP, S.AVAILABLE}),
        S.PAUSED: frozenset({S.PAUSED}),
        # Another contact on a multi-contact channel ends while an offer is pending.
        S.RESERVED: frozenset({S.RESERVED}),
        S.RINGING: frozenset({S.RINGING}),
    },
    "wrap_end": {S.WRAP_UP: frozenset({S.AVAILABLE})},
    # A contact in progress taken over after a controller restart (hotline/acd/restore.py).
    "restore": {
        S.AVAILABLE: frozenset({S.BUSY, S.AVAILABLE}),
        S.PAUSED: frozenset({S.PAUSED}),
    },
}

#: Every (from, to) pair some action allows: a quick reference for tests and docs.
ALLOWED: frozenset[tuple[AgentState, AgentState]] = frozenset(
    (src, dst) for table in TRANSITIONS.values() for src, dsts in table.items() for dst in dsts
)


class IllegalTransition(Exception):
    """An action that the agent's current state does not allow."""

    def __init__(
        self,
        agent: str,
        channel: Channel,
        action: str,
        state: AgentState,
        to: AgentState | None = None,
        busy_with: str | None = None,
    ) -> None:
        """`busy_with`: what keeps an action the state allows from being done (a
        contact in progress, an offer pending), said instead of the states."""
        target = f" to {to}" if to is not None else ""
        if busy_with is not None:
            why = f"with {busy_with}"
        else:
            allowed = sorted(TRANSITIONS.get(action, {}))
            why = f"(allowed from: {', '.join(allowed) or 'nothing'})"
        super().__init__(f"agent {agent} on {channel}: cannot {action}{target} while {state} {why}")
        self.agent = agent
        self.channel = channel
        self.action = action
        self.state = state


@dataclass
class ChannelStatus:
    """What an agent is doing on one channel."""

    state: AgentState = AgentState.OFFLINE
    load: int = 0
    reason: str | None = None
    since: float = 0.0


def transition(
    agent: str,
    channel: Channel,
    status: ChannelStatus,
    action: str,
    to: AgentState,
    at: float,
    *,
    reason: str | None = None,
    contact: str | None = None,
    queue: str | None = None,
) -> RoutingEvent:
    """Move `status` to `to` by `action` if the table allows it; return the event."""
    allowed = TRANSITIONS.get(action)
    if allowed is None:
        raise ValueError(f"unknown agent action {action!r}")
    src = status.state
    if to not in allowed.get(src, ()):
        raise IllegalTransition(agent, channel, action, src, to)
    status.state = to
    status.since = at
    status.reason = reason if to is AgentState.PAUSED else None
    return RoutingEvent(
        type=f"agent.{action}",
        at=at,
        agent=agent,
        channel=channel,
        from_state=src,
        to_state=to,
        reason=reason,
        contact=contact,
        queue=queue,
    )
