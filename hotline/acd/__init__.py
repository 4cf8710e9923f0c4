"""Automatic contact distribution: one queue model and router for every channel.

Pure and deterministic: no I/O, no clock (time is passed in), seeded randomness.
Adapters build `Queue`/`Agent` definitions, feed `Contact`s to a `Router`, act on its
`Offer`s and write its `RoutingEvent`s (`Router.drain_events`) to the event log.
"""

from hotline.acd.decisions import (
    AgentSnapshot,
    ChannelSnapshot,
    Explanation,
    JoinResult,
    Offer,
    QueueSnapshot,
    Removed,
    Snapshot,
    TickReport,
)
from hotline.acd.events import RoutingEvent
from hotline.acd.model import (
    NO_ANSWER_REASON,
    Agent,
    AgentState,
    Channel,
    Contact,
    EmptyRule,
    NoAnswer,
    Outcome,
    Queue,
    SkillStep,
    Strategy,
)
from hotline.acd.router import Router, RoutingError
from hotline.acd.states import ALLOWED, TRANSITIONS, ChannelStatus, IllegalTransition

__all__ = [
    "ALLOWED",
    "NO_ANSWER_REASON",
    "TRANSITIONS",
    "Agent",
    "AgentSnapshot",
    "AgentState",
    "Channel",
    "ChannelSnapshot",
    "ChannelStatus",
    "Contact",
    "EmptyRule",
    "Explanation",
    "IllegalTransition",
    "JoinResult",
    "NoAnswer",
    "Offer",
    "Outcome",
    "Queue",
    "QueueSnapshot",
    "Removed",
    "Router",
    "RoutingError",
    "RoutingEvent",
    "SkillStep",
    "Snapshot",
    "Strategy",
    "TickReport",
]
