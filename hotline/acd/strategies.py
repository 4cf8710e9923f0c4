"""Agent selection: per-strategy sort keys, the free-agent index, and the pick itself.

Each queue keeps, per eligibility class, an `AgentIndex` of the agents free for it,
sorted by penalty tier and then by the strategy's key, so a pick reads the front of
a sorted list (O(log n)) instead of scanning agents. Keys are computed when an agent's
state changes (time-varying values such as occupancy are sampled at that moment).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

from hotline.acd.model import Channel, Strategy
from hotline.acd.skills import Requirement, proficiency
from hotline.acd.sortedlist import SortedList

Entry = tuple[Any, ...]  # (strategy key..., member order, agent id)


class AgentFacts(Protocol):
    """What a key function may read about an agent."""

    @property
    def id(self) -> str: ...
    @property
    def skills(self) -> Any: ...
    @property
    def idle_since(self) -> float: ...
    @property
    def handled(self) -> int: ...
    def load(self, channel: Channel) -> int: ...
    def total_load(self) -> int: ...
    def load_ratio(self) -> float: ...
    def occupancy(self, now: float) -> float: ...


#: Names of the key components, for explanations (the last two are order and id).
LABELS: dict[Strategy, tuple[str, ...]] = {
    Strategy.LONGEST_IDLE: ("contacts in progress", "idle since"),
    Strategy.LEAST_BUSY: ("current load", "occupancy"),
    Strategy.FEWEST_CONTACTS: ("contacts handled (incl. in progress)",),
    Strategy.BEST_SKILLED: ("-proficiency", "contacts in progress", "idle since"),
    Strategy.RR_MEMORY: (),
    Strategy.RANDOM: (),
    Strategy.RING_ALL: (),
}


def effective(strategy: Strategy, channel: Channel) -> Strategy:
    """Ring-all is for voice only; other channels of a ring-all queue go longest idle."""
    if strategy is Strategy.RING_ALL and channel is not Channel.VOICE:
        return Strategy.LONGEST_IDLE
    return strategy


def entry(
    strategy: Strategy,
    agent: AgentFacts,
    channel: Channel,
    req: Requirement,
    order: int,
    now: float,
) -> Entry:
    """The agent's sort entry in an index: smaller sorts first."""
    if strategy is Strategy.LONGEST_IDLE:
        return (agent.load(channel), agent.idle_since, order, agent.id)
    if strategy is Strategy.LEAST_BUSY:
        return (round(agent.load_ratio(), 9), round(agent.occupancy(now), 9), order, agent.id)
    if strategy is Strategy.FEWEST_CONTACTS:
        return (agent.handled + agent.total_load(), order, agent.id)
    if strategy is Strategy.BEST_SKILLED:
        return (
            -proficiency(agent.skills, req),
            agent.load(channel),
            agent.idle_since,
            order,
            agent.id,
        )
    return (order, agent.id)


class AgentIndex:
    """Free agents eligible for one class of contacts, by penalty tier then entry."""

    __slots__ = ("_entries", "_penalties", "_tiers")

    def __init__(self) -> None:
        self._tiers: dict[int, SortedList] = {}
        self._penalties: list[int] = []
        self._entries: dict[str, tuple[int, Entry]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, agent_id: str) -> bool:
        return agent_id in self._entries

    def put(self, agent_id: str, penalty: int, item: Entry) -> bool:
        """Insert or re-key; True if the agent was not already there with this entry."""
        old = self._entries.get(agent_id)
        if old == (penalty, item):
            return False
        if old is not None:
            self._remove(agent_id, *old)
        tier = self._tiers.get(penalty)
        if tier is None:
            tier = self._tiers[penalty] = SortedList()
            self._penalties = sorted(self._tiers)
        tier.add(item)
        self._entries[agent_id] = (penalty, item)
        return True

    def discard(self, agent_id: str) -> None:
        old = self._entries.get(agent_id)
        if old is not None:
            self._remove(agent_id, *old)

    def _remove(self, agent_id: str, penalty: int, item: Entry) -> None:
        tier = self._tiers[penalty]
        tier.remove(item)
        del self._entries[agent_id]
        if not tier:
            del self._tiers[penalty]
            self._penalties = sorted(self._tiers)

    def top_tier(self) -> tuple[int, SortedList] | None:
        """The lowest penalty with free agents (higher penalties wait, as in Asterisk)."""
        if not self._penalties:
            return None
        penalty = self._penalties[0]
        return penalty, self._tiers[penalty]


@dataclass(frozen=True)
class Pick:
    """The agents chosen (several for ring-all) and why."""

    agents: tuple[str, ...]
    penalty: int
    tier_size: int
    eligible: int
    tie_break: str
    rr_order: int | None = None


def pick(strategy: Strategy, index: AgentIndex, rr_last: int, rng: random.Random) -> Pick | None:
    """Choose from the lowest-penalty tier of `index` by `strategy` (already effective)."""
    top = index.top_tier()
    if top is None:
        return None
    penalty, tier = top
    size, eligible = len(tier), len(index)
    if strategy is Strategy.RING_ALL:
        ids = tuple(e[-1] for e in tier)
        return Pick(ids, penalty, size, eligible, f"ring all {size} at penalty {penalty}")
    if strategy is Strategy.RANDOM:
        i = rng.randrange(size)
        chosen = tier[i]
        return Pick(
            (chosen[-1],), penalty, size, eligible, f"random draw {i + 1} of {size} (seeded)"
        )
    if strategy is Strategy.RR_MEMORY:
        chosen = tier.ceiling((rr_last + 1,))
        wrapped = chosen is None
        if wrapped:
            chosen = tier.first()
        note = "wrapped to the first member" if wrapped else f"first member after #{rr_last}"
        return Pick(
            (chosen[-1],),
            penalty,
            size,
            eligible,
            f"round robin: {note} (#{chosen[0]})",
            rr_order=chosen[0],
        )
    chosen = tier.first()
    return Pick((chosen[-1],), penalty, size, eligible, _tie_break(strategy, chosen, tier.second()))


def _tie_break(strategy: Strategy, chosen: Entry, runner: Entry | None) -> str:
    if runner is None:
        return "only free eligible agent in the tier"
    labels = (*LABELS[strategy], "member order")
    for i, label in enumerate(labels):
        if chosen[i] != runner[i]:
            mine, theirs = chosen[i], runner[i]
            if label.startswith("-"):
                label, mine, theirs = label[1:], -mine, -theirs
            how = "decided" if i < len(LABELS[strategy]) else "tie broken"
            return f"{how} by {label}: {mine} vs {theirs} for runner-up {runner[-1]}"
    return f"tie broken by agent id vs {runner[-1]}"  # pragma: no cover (orders are unique)
