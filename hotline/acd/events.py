"""Events the router records for the caller to append to the contact event log."""

from __future__ import annotations

from dataclasses import dataclass

from hotline.acd.model import AgentState, Channel


@dataclass(frozen=True)
class RoutingEvent:
    """One fact: an agent state transition ("agent.*") or a contact step ("contact.*").

    Agent transitions carry `from_state`/`to_state`; contact events carry `queue` and,
    for offers and exits, the `detail` (an explanation or an outcome).
    """

    type: str
    at: float
    agent: str | None = None
    channel: Channel | None = None
    from_state: AgentState | None = None
    to_state: AgentState | None = None
    reason: str | None = None
    contact: str | None = None
    queue: str | None = None
    detail: str | None = None
