"""Agent selection: per-strategy sort keys, the free-agent index, and the pick itself.

Each queue keeps, per eligibility class, an `AgentIndex` of the agents free for it,
sorted by penalty tier and then by the strategy's key, so a pick reads the front of
a sorted list (O(log n)) instead of scanning agents. Keys are computed when an agent's
state changes (time-varying values such as occupancy are sampled at that moment).

Declines. Rejecting an offer (or letting it ring out) does not change an agent's key,
so a plain `pick` would choose the same agent for the same contact again. For a
contact that some agents declined, `pick_avoiding` passes the free decliners over
while any other agent of the index is free (in any penalty tier: a decliner at
penalty 0 does not hold back a free agent at penalty 1), and once every free agent
has declined it, offers it again to the one whose last decline is the oldest (the
order the strategy first tried them in), or rings them all again for ring-all. It
looks at the decliners and the front of the index only: k look-ups for k decliners
(each O(log n); for random, O(n / 256) like its draw).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from hotline.acd.model import Channel, Strategy
from hotline.acd.skills import Requirement, proficiency
from hotline.acd.sortedlist import SortedList

#: An agent's sort key in an index: (strategy key..., member order, agent id). Its length
#: depends on the strategy (see `LABELS`), so it stays a plain tuple.
Entry = tuple[Any, ...]


class Ranked(NamedTuple):
    """Where an agent sits in an `AgentIndex`."""

    penalty: int
    entry: Entry


class Tier(NamedTuple):
    """The free agents of one penalty, by entry."""

    penalty: int
    entries: SortedList[Entry]


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
        self._tiers: dict[int, SortedList[Entry]] = {}
        self._penalties: list[int] = []
        self._entries: dict[str, Ranked] = {}

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
        self._entries[agent_id] = Ranked(penalty, item)
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

    def get(self, agent_id: str) -> Ranked | None:
        """Where the agent sits, or None if not free here."""
        return self._entries.get(agent_id)

    def tiers(self) -> Iterator[Tier]:
        """The tiers from the lowest penalty up."""
        for penalty in self._penalties:
            yield Tier(penalty, self._tiers[penalty])

    def top_tier(self) -> Tier | None:
        """The lowest penalty with free agents (higher penalties wait, as in Asterisk)."""
        if not self._penalties:
            return None
        penalty = self._penalties[0]
        return Tier(penalty, self._tiers[penalty])


@dataclass(frozen=True)
class Pick:
    """The agents chosen (several for ring-all) and why."""

    agents: tuple[str, ...]
    penalty: int
    tier_size: int
    eligible: int
    tie_break: str
    rr_order: int | None = None
    #: Free agents passed over because they declined this contact (strategy order).
    passed_over: tuple[str, ...] = ()
    #: Every free eligible agent had declined the contact: offered to a decliner again.
    offered_again: bool = False


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
        after = tier.ceiling((rr_last + 1,))
        chosen = tier.first() if after is None else after
        note = "wrapped to the first member" if after is None else f"first member after #{rr_last}"
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


def pick_avoiding(
    strategy: Strategy,
    index: AgentIndex,
    rr_last: int,
    rng: random.Random,
    declined: Mapping[str, int],
) -> Pick | None:
    """`pick`, for a contact that the agents in `declined` (id -> decline sequence,
    larger is newer) declined: they are passed over while another agent of `index` is
    free; when every free agent has declined, the one whose decline is the oldest is
    chosen (ring-all rings the lowest-penalty tier again)."""
    mine: dict[int, list[Entry]] = {}  # penalty -> free decliners' entries
    for aid in declined:
        found = index.get(aid)
        if found is not None:
            mine.setdefault(found[0], []).append(found[1])
    if not mine:
        return pick(strategy, index, rr_last, rng)
    if sum(map(len, mine.values())) == len(index):
        return _again(strategy, index, declined)
    passed: list[str] = []
    # The lowest tier with an agent who did not decline (there is one: not all did).
    for penalty, tier in index.tiers():
        skipped = sorted(mine.get(penalty, ()))
        if len(tier) > len(skipped):
            break
        passed.extend(e[-1] for e in skipped)  # the whole tier declined
    eligible = len(index)
    size = len(tier) - len(skipped)
    if strategy is Strategy.RING_ALL:
        ids = tuple(e[-1] for e in tier if e[-1] not in declined)
        passed.extend(e[-1] for e in skipped)
        return Pick(
            ids,
            penalty,
            size,
            eligible,
            f"ring all {size} at penalty {penalty}",
            passed_over=tuple(passed),
        )
    if strategy is Strategy.RANDOM:
        i = j = rng.randrange(size)
        for rank in sorted(tier.rank(e) for e in skipped):  # the i-th not skipped
            if rank > j:
                break
            j += 1
        chosen = tier[j]
        passed.extend(e[-1] for e in skipped)
        return Pick(
            (chosen[-1],),
            penalty,
            size,
            eligible,
            f"random draw {i + 1} of {size} (seeded)",
            passed_over=tuple(passed),
        )
    if strategy is Strategy.RR_MEMORY:
        walk: Iterator[Entry] = itertools.chain(
            tier.irange((rr_last + 1,), (math.inf,)), tier.irange((-1,), (rr_last + 1,))
        )
        for chosen in walk:
            if chosen[-1] not in declined:
                break
            passed.append(chosen[-1])
        note = (
            f"first member after #{rr_last}"
            if chosen[0] > rr_last
            else "wrapped around to the first member"
        )
        return Pick(
            (chosen[-1],),
            penalty,
            size,
            eligible,
            f"round robin: {note} who has not declined (#{chosen[0]})",
            rr_order=chosen[0],
            passed_over=tuple(passed),
        )
    walk = iter(tier)
    for chosen in walk:
        if chosen[-1] not in declined:
            break
        passed.append(chosen[-1])
    runner = next((e for e in walk if e[-1] not in declined), None)
    return Pick(
        (chosen[-1],),
        penalty,
        size,
        eligible,
        _tie_break(strategy, chosen, runner),
        passed_over=tuple(passed),
    )


def _again(strategy: Strategy, index: AgentIndex, declined: Mapping[str, int]) -> Pick:
    """Every free agent of `index` declined the contact: try the lowest tier again."""
    top = index.top_tier()
    assert top is not None
    penalty, tier = top
    size, eligible = len(tier), len(index)
    every = f"every free eligible agent ({eligible}) declined this contact"
    if strategy is Strategy.RING_ALL:
        ids = tuple(e[-1] for e in tier)
        return Pick(
            ids,
            penalty,
            size,
            eligible,
            f"{every}: ring all {size} at penalty {penalty} again",
            offered_again=True,
        )
    chosen = min(tier, key=lambda e: declined[e[-1]])
    return Pick(
        (chosen[-1],),
        penalty,
        size,
        eligible,
        f"{every}: offered again to the oldest decline at penalty {penalty}",
        rr_order=chosen[0] if strategy is Strategy.RR_MEMORY else None,
        offered_again=True,
    )


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
