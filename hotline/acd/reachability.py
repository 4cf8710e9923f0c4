"""Agents' presence as the routing service changes it: log in, log out, pause, unpause,
kept in step with the channels that cannot be reached (phone unregistered, desk
disconnected). (`presence.py` is the door to it from the API and the phones.)

An unreachable channel is paused with the system reason "unreachable" (reserved:
agents cannot pause with it) rather than logged out: a pause keeps the agent's
session, occupancy and statistics, is allowed while a contact is in progress, and
counts for the queues' `all_paused` join/leave rules just as app_queue's "unavailable"
does. While unreachable, `unpause` keeps the channel paused as "unreachable", and
`login` logs it in paused. Becoming reachable lifts an "unreachable" pause only (a
pause the agent chose meanwhile stays). If the channel is reserved or ringing when it
becomes unreachable, the pause follows as soon as that offer is resolved (`enforce`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from hotline.acd.model import AgentState, Channel
from hotline.acd.router import Router, RoutingError
from hotline.acd.states import ChannelStatus, IllegalTransition

#: The pause reason of a channel whose phone (or desk) cannot be reached.
UNREACHABLE_REASON = "unreachable"

#: States from which an unreachable channel is paused at once.
_PAUSABLE = frozenset({AgentState.AVAILABLE, AgentState.BUSY, AgentState.WRAP_UP})

#: Logs a service event about an agent's channel: note(type, now, agent, channel).
Note = Callable[[str, float, str, Channel], None]


def check_pause_reason(reason: str | None) -> None:
    """Agents may not pause with the system's reason."""
    if reason == UNREACHABLE_REASON:
        raise ValueError(f"pause reason {UNREACHABLE_REASON!r} is reserved for the system")


class Reachability:
    """Presence changes on the router, made inside one routing-service change at `now`,
    and the channels that cannot be reached."""

    def __init__(self, router: Router, note: Note) -> None:
        self._router = router
        self._note = note
        self._unreachable: set[tuple[str, Channel]] = set()
        #: The unreachable channels `enforce` still looks at: not yet seen paused or
        #: logged out. One seen so stays so while it is unreachable (only `login` and
        #: `unpause` leave those states, and here they keep it paused), so a change
        #: looks at the few that just became unreachable, not at every one: with 250
        #: agents whose desks are closed (their chat channels unreachable), looking at
        #: them all took 0.97 ms a change, about 9 ms a call (docs/benchmarks.md
        #: "Session 14").
        self._unsettled: set[tuple[str, Channel]] = set()

    def is_reachable(self, agent_id: str, channel: Channel | str) -> bool:
        return (agent_id, Channel(channel)) not in self._unreachable

    def login(
        self,
        agent_id: str,
        now: float,
        channels: Iterable[Channel | str] | None,
        paused: str | None,
    ) -> None:
        """Log in the channels named (every logged-out one by default); unreachable
        ones are logged in paused."""
        statuses = self._router.agent_status(agent_id)
        chosen = _chosen(agent_id, statuses, channels, AgentState.OFFLINE)
        for ch in chosen:
            if statuses[ch].state is not AgentState.OFFLINE:
                raise IllegalTransition(agent_id, ch, "login", statuses[ch].state)
        cut = [ch for ch in chosen if (agent_id, ch) in self._unreachable]
        rest = [ch for ch in chosen if ch not in cut]
        if rest:
            self._router.login(agent_id, now, rest, paused)
        if cut:
            self._router.login(agent_id, now, cut, paused or UNREACHABLE_REASON)

    def logout(self, agent_id: str, now: float, channels: Iterable[Channel | str] | None) -> None:
        self._router.logout(agent_id, now, _channels(channels))

    def pause(
        self, agent_id: str, reason: str, now: float, channels: Iterable[Channel | str] | None
    ) -> None:
        self._router.pause(agent_id, reason, now, _channels(channels))

    def unpause(self, agent_id: str, now: float, channels: Iterable[Channel | str] | None) -> None:
        """Unpause the channels named (every paused one by default); unreachable ones
        stay paused, with the reason "unreachable"."""
        statuses = self._router.agent_status(agent_id)
        chosen = _chosen(agent_id, statuses, channels, AgentState.PAUSED)
        held = [ch for ch in chosen if (agent_id, ch) in self._unreachable]
        for ch in held:
            if statuses[ch].state is not AgentState.PAUSED:
                raise IllegalTransition(agent_id, ch, "unpause", statuses[ch].state)
        back = [ch for ch in chosen if ch not in held]
        if back:
            self._router.unpause(agent_id, now, back)
        for ch in held:
            if statuses[ch].reason != UNREACHABLE_REASON:
                self._router.pause(agent_id, UNREACHABLE_REASON, now, [ch])

    def reachable(
        self,
        agent_id: str,
        channels: Channel | str | Iterable[Channel | str],
        yes: bool,
        now: float,
    ) -> None:
        """Mark the agent's channel(s) reachable or not."""
        if isinstance(channels, str):
            chosen = [Channel(channels)]
        else:
            chosen = sorted({Channel(ch) for ch in channels})
        statuses = self._router.agent_status(agent_id)
        for ch in chosen:
            if ch not in statuses:
                raise RoutingError(f"agent {agent_id} has no capacity for {ch}")
        for ch in chosen:
            key = (agent_id, ch)
            if yes and key in self._unreachable:
                self._unreachable.discard(key)
                self._unsettled.discard(key)
                self._note("agent.reachable", now, agent_id, ch)
                st = statuses[ch]
                if st.state is AgentState.PAUSED and st.reason == UNREACHABLE_REASON:
                    self._router.unpause(agent_id, now, [ch])
            elif not yes and key not in self._unreachable:
                self._unreachable.add(key)
                self._unsettled.add(key)
                self._note("agent.unreachable", now, agent_id, ch)

    def enforce(self, now: float) -> None:
        """Pause unreachable channels that could take contacts (the end of every change)."""
        if not self._unsettled:
            return
        for key in sorted(self._unsettled):
            agent_id, ch = key
            try:
                state = self._router.channel_state(agent_id, ch)
            except RoutingError:  # the agent was removed
                self._unreachable.discard(key)
                self._unsettled.discard(key)
                continue
            if state in _PAUSABLE:
                self._router.pause(agent_id, UNREACHABLE_REASON, now, [ch])
                self._unsettled.discard(key)
            elif state is not AgentState.RESERVED and state is not AgentState.RINGING:
                self._unsettled.discard(key)  # paused, logged out, or no capacity for it


def _chosen(
    agent_id: str,
    statuses: Mapping[Channel, ChannelStatus],
    channels: Iterable[Channel | str] | None,
    default_state: AgentState,
) -> list[Channel]:
    if channels is None:
        return sorted(ch for ch, st in statuses.items() if st.state is default_state)
    chosen = sorted({Channel(ch) for ch in channels})
    for ch in chosen:
        if ch not in statuses:
            raise RoutingError(f"agent {agent_id} has no capacity for {ch}")
    return chosen


def _channels(channels: Iterable[Channel | str] | None) -> list[Channel] | None:
    return None if channels is None else [Channel(ch) for ch in channels]
