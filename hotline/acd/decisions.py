"""What the router hands back: offers with their explanation, join and tick outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from hotline.acd.model import Channel, Contact, Outcome


@dataclass(frozen=True)
class Explanation:
    """Why this contact went to this agent, for the event log."""

    queue: str
    strategy: str
    #: Why this queue went first among queues with a possible match.
    queue_choice: str
    #: Why this contact: its place in the queue order and the class it was in.
    contact_choice: str
    #: The skill requirement in force for the contact (relaxation step included).
    requirement: str
    #: Free agents eligible for the contact (all penalties), and in the chosen tier
    #: (there, not counting agents passed over for having declined the contact).
    candidates: int
    tier_candidates: int
    penalty: int
    #: What separated the chosen agent from the runner-up.
    tie_break: str
    #: Free eligible agents passed over because they declined this contact (rejected
    #: it, let it ring out, or their offer of it failed), in the strategy's order.
    passed_over: tuple[str, ...] = ()
    #: Every free eligible agent had declined the contact: it went to a decliner again
    #: (the oldest decline first; ring-all rings them all again).
    offered_again: bool = False

    def summary(self) -> str:
        declines = ""
        if self.passed_over:
            declines = f"; passed over {', '.join(self.passed_over)} (declined this contact)"
        return (
            f"queue {self.queue} ({self.queue_choice}); contact: {self.contact_choice}; "
            f"skills {self.requirement}; strategy {self.strategy}: {self.tie_break}"
            f"{declines}; {self.tier_candidates} of {self.candidates} eligible free agents "
            f"at penalty {self.penalty}"
        )


@dataclass(frozen=True)
class Offer:
    """Offer `contact` to `agent` (already reserved). Ring-all offers share a contact and
    list every agent rung in `ring_group`; the first to accept gets it."""

    contact: Contact
    agent: str
    queue: str
    channel: Channel
    explanation: Explanation
    ring_timeout: float
    ring_group: tuple[str, ...] = ()
    #: The fencing epoch of the routing leader that made it (hotline/cluster); a worker
    #: refuses an offer older than the newest epoch it has seen. 0: one process.
    epoch: int = 0


@dataclass(frozen=True)
class JoinResult:
    """`outcome` is joined, full or closed; position and eta only when joined."""

    outcome: Outcome
    position: int | None = None
    eta: float | None = None


@dataclass(frozen=True)
class Removed:
    """A contact that left a queue, and agents whose offer for it was withdrawn."""

    contact: Contact
    outcome: Outcome
    withdrawn_from: tuple[str, ...] = ()


class RangOut(NamedTuple):
    """An offer that rang past the queue's ring timeout."""

    agent: str
    contact: str


@dataclass(frozen=True)
class TickReport:
    """What time alone changed: the adapter ends these contacts and stops these rings."""

    #: Contacts over their max wait: the flow's queue node takes outcome "timeout".
    timeouts: list[Removed] = field(default_factory=list)
    #: Contacts removed by the leave-when-empty rule: outcome "closed".
    closed: list[Removed] = field(default_factory=list)
    no_answers: list[RangOut] = field(default_factory=list)
    #: Agents whose wrap-up ended (available again).
    wrap_ups_ended: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QueueSnapshot:
    name: str
    waiting: int
    offered: int
    longest_wait: float
    #: Estimated wait for a contact joining now, per channel the queue is staffed or used on.
    eta_new: dict[str, float | None]
    average_handle_time: float
    agents_logged_in: int
    agents_free: int
    agents_paused: int
    outcomes: dict[str, int]


@dataclass(frozen=True)
class ChannelSnapshot:
    state: str
    load: int
    capacity: int
    reason: str | None
    since: float


@dataclass(frozen=True)
class AgentSnapshot:
    id: str
    channels: dict[str, ChannelSnapshot]
    handled: int


@dataclass(frozen=True)
class Snapshot:
    """Everything a wallboard shows, at one instant."""

    at: float
    queues: list[QueueSnapshot]
    agents: list[AgentSnapshot]
