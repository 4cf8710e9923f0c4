"""The router's mutable bookkeeping: agents at work, queues with their indexes, contacts.

Internal to the `Router`; nothing here emits events or decides anything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from hotline.acd.eta import HandleTimes, estimate
from hotline.acd.model import CALL_CHANNELS, Agent, AgentState, Channel, Contact, Queue, Strategy
from hotline.acd.occupancy import Occupancy
from hotline.acd.skills import Requirement
from hotline.acd.sortedlist import SortedList
from hotline.acd.states import ChannelStatus
from hotline.acd.strategies import AgentIndex


class ContactKey(NamedTuple):
    """A waiting contact's place in queue order: higher priority first, then the
    earlier entry. The unique sequence settles ties deterministically, so the id is
    never compared."""

    neg_priority: int
    entered_at: float
    seq: int
    contact_id: str


class Assignment(NamedTuple):
    """A contact an agent is offered (since it was reserved) or handles (since it was
    accepted), on a channel, from a queue."""

    channel: Channel
    queue: str
    since: float


class WrapUp(NamedTuple):
    """A channel's wrap-up in progress after a contact from `queue`."""

    ends_at: float
    queue: str
    #: The contact's handle time before wrap-up (wrap-up time is added when it ends).
    handle_time: float
    started_at: float


class Membership(NamedTuple):
    """An agent's place in a queue: its penalty tier and the order it joined in."""

    penalty: int
    order: int


#: Channel states in which the agent has (or is about to have) a contact on that channel.
ENGAGED = frozenset({AgentState.RESERVED, AgentState.RINGING, AgentState.BUSY, AgentState.WRAP_UP})


class AgentRT:
    """One agent's live state: per-channel status, offers, contacts, counters."""

    __slots__ = (
        "active",
        "handled",
        "last_end",
        "login_at",
        "occ",
        "offers",
        "profile",
        "status",
        "wrap",
    )

    def __init__(self, profile: Agent, window: float) -> None:
        self.profile = profile
        self.status: dict[Channel, ChannelStatus] = {
            ch: ChannelStatus() for ch, n in profile.capacity.items() if n > 0
        }
        self.last_end: float | None = None
        self.login_at = 0.0
        self.handled = 0
        self.occ = Occupancy(window)
        #: Contacts offered to the agent, by contact id (since: reserved at).
        self.offers: dict[str, Assignment] = {}
        #: Contacts the agent handles, by contact id (since: accepted at).
        self.active: dict[str, Assignment] = {}
        self.wrap: dict[Channel, WrapUp] = {}

    @property
    def id(self) -> str:
        return self.profile.id

    @property
    def skills(self) -> object:
        return self.profile.skills

    @property
    def idle_since(self) -> float:
        # An agent who has not had a contact yet counts as idle since logging in.
        return self.login_at if self.last_end is None else self.last_end

    def load(self, channel: Channel) -> int:
        st = self.status.get(channel)
        return st.load if st else 0

    def total_load(self) -> int:
        return sum(st.load for st in self.status.values())

    def load_ratio(self) -> float:
        return sum(st.load / self.profile.capacity[ch] for ch, st in self.status.items())

    def occupancy(self, now: float) -> float:
        return self.occ.ratio(now)

    def logged_in(self) -> bool:
        return any(st.state is not AgentState.OFFLINE for st in self.status.values())

    def handling(self) -> bool:
        return any(st.load > 0 or st.state is AgentState.WRAP_UP for st in self.status.values())

    def on_call(self, besides: Channel | None = None) -> bool:
        """Is a call (voice or callback) in progress, pending or in wrap-up?"""
        for ch in CALL_CHANNELS:
            st = self.status.get(ch)
            if ch is not besides and st is not None and (st.state in ENGAGED or st.load > 0):
                return True
        return False


@dataclass(eq=False)
class ContactClass:
    """Waiting contacts of one queue that need the same thing, and the agents free for it."""

    channel: Channel
    req: Requirement
    strategy: Strategy
    contacts: SortedList[ContactKey] = field(default_factory=SortedList)
    agents: AgentIndex = field(default_factory=AgentIndex)
    #: Members of the queue whose skills meet `req`, whatever they are doing.
    eligible: set[str] = field(default_factory=set)


class QueueRT:
    """One queue's live state."""

    def __init__(self, cfg: Queue, handle: HandleTimes) -> None:
        self.cfg = cfg
        self.waiting: SortedList[ContactKey] = SortedList()
        self.classes: dict[tuple[Channel, Requirement], ContactClass] = {}
        #: The same classes by channel (an agent only touches its own channels' classes).
        self.channel_classes: dict[Channel, list[ContactClass]] = {ch: [] for ch in Channel}
        self.members: dict[str, Membership] = {}
        self.next_order = 0
        self.rr_last = -1
        self.logged: dict[Channel, set[str]] = {ch: set() for ch in Channel}
        self.paused: dict[Channel, set[str]] = {ch: set() for ch in Channel}
        self.free: dict[Channel, set[str]] = {ch: set() for ch in Channel}
        self.slots: dict[Channel, dict[str, int]] = {ch: {} for ch in Channel}
        self.slot_total: Counter[Channel] = Counter()
        self.priorities: Counter[int] = Counter()
        self.by_channel: Counter[Channel] = Counter()
        self.offered = 0
        self.handle = handle
        self.outcomes: Counter[str] = Counter()

    def add_class(self, cls: ContactClass) -> None:
        self.classes[(cls.channel, cls.req)] = cls
        self.channel_classes[cls.channel].append(cls)

    def drop_class(self, cls: ContactClass) -> None:
        del self.classes[(cls.channel, cls.req)]
        self.channel_classes[cls.channel].remove(cls)

    def clear_classes(self) -> None:
        self.classes.clear()
        for classes in self.channel_classes.values():
            classes.clear()

    def eta(self, channel: Channel, position: int) -> float | None:
        """Estimated wait at `position` for a contact of `channel` (see `eta`)."""
        if position <= 0:
            return 0.0
        aht = self.handle.average(self.cfg.default_handle_time)
        return estimate(position, len(self.free[channel]), self.slot_total[channel], aht)

    def set_slots(self, channel: Channel, agent: str, n: int) -> None:
        old = self.slots[channel].get(agent, 0)
        if n:
            self.slots[channel][agent] = n
        else:
            self.slots[channel].pop(agent, None)
        self.slot_total[channel] += n - old


class ContactState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    CONNECTED = "connected"


class ContactRT:
    """One contact's live state in the router."""

    __slots__ = (
        "agent",
        "cls",
        "contact",
        "deadline",
        "declined",
        "joined_at",
        "key",
        "offered_to",
        "state",
        "step",
        "step_version",
    )

    def __init__(
        self, contact: Contact, key: ContactKey, joined_at: float, deadline: float | None
    ) -> None:
        self.contact = contact
        self.key = key
        self.joined_at = joined_at
        self.deadline = deadline
        self.state = ContactState.WAITING
        self.step = -1
        self.step_version = 0
        self.cls: ContactClass | None = None
        self.offered_to: set[str] = set()
        self.agent: str | None = None
        #: Agents who declined this contact -> sequence of their last decline (larger
        #: is newer); None until the first decline (most contacts never have one).
        self.declined: dict[str, int] | None = None
