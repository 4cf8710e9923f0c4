"""What a call worker knows of its routing domain without asking: the queues and agents
in the leader's last heartbeat (at most half a second old), for the questions adapters
ask without awaiting (a flow's `queue_status`, the desk's transfer picker, call
control's "can this agent take a call now?"). The leader checks again when asked to act.
"""

from __future__ import annotations

from hotline.acd.decisions import AgentSnapshot, Snapshot
from hotline.acd.model import AgentState, Channel
from hotline.acd.queue_status import QueueStatus
from hotline.acd.router import RoutingError
from hotline.acd.states import ChannelStatus

#: Said when the worker has no answer (an unknown name, or no heartbeat heard yet).
NOT_HEARD = "or no routing leader heard yet"


class LeaderView:
    """The leader's last snapshot, on this host's clock."""

    def __init__(self) -> None:
        self.last: Snapshot | None = None

    def snapshot(self, now: float) -> Snapshot:
        """The last snapshot; an empty one at `now` before the first heartbeat."""
        return self.last if self.last is not None else Snapshot(at=now, queues=[], agents=[])

    def queue_status(self, queue: str, channel: Channel | str) -> QueueStatus:
        channel = Channel(channel)
        for snap in self.last.queues if self.last else []:
            if snap.name == queue:
                return QueueStatus.of(snap, channel, snap.eta_new.get(str(channel)))
        raise RoutingError(f"no queue {queue!r} ({NOT_HEARD})")

    def _agent(self, agent_id: str) -> AgentSnapshot:
        for agent in self.last.agents if self.last else []:
            if agent.id == agent_id:
                return agent
        raise RoutingError(f"no agent {agent_id!r} ({NOT_HEARD})")

    def agent_status(self, agent_id: str) -> dict[Channel, ChannelStatus]:
        return {
            Channel(c): ChannelStatus(AgentState(s.state), s.load, s.reason, s.since)
            for c, s in self._agent(agent_id).channels.items()
        }

    def unavailable(self, agent_id: str, channel: Channel | str) -> str | None:
        """Why the agent could not be offered a `channel` contact now, as the router
        says it (None: they could)."""
        channel = Channel(channel)
        try:
            agent = self._agent(agent_id)
        except RoutingError as error:
            return str(error)
        st = agent.channels.get(str(channel))
        if st is None:
            return f"agent {agent_id} takes no {channel} contacts"
        if st.state != AgentState.AVAILABLE:
            return f"agent {agent_id} is {st.state} on {channel}"
        if st.load >= st.capacity:
            return f"agent {agent_id} is busy"
        return None
