"""A simulated day through the routing engine itself, to check it against Erlang C.

Contacts arrive as a Poisson process into one queue, each is handled for an
exponentially distributed time, and the `Router` (hotline/acd) decides who takes what:
no Asterisk, no clock, only the engine's own offers, answered at once (Erlang C has no
ring time). Measured: the service level, the capacity violations (an agent holding
more contacts than their capacity, or reserved twice) and the overtakes (a contact
answered while one of equal priority that entered earlier still waits), and idle agents
left beside a waiting contact (the engine must not hold work back).
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field, replace

from hotline.acd import Agent, Channel, Contact, Queue, Router
from hotline.staffing.erlang import agents_needed, service_level

QUEUE = "sim"


@dataclass(frozen=True)
class DayPlan:
    """A day of constant load: `rate` contacts an hour for `hours`, handled in `aht` s."""

    rate: float
    hours: float
    aht: float
    target: float = 0.80
    threshold: float = 20.0
    seed: int = 1

    @property
    def agents(self) -> int:
        """Agents answering, by Erlang C, for the target."""
        return agents_needed(self.rate, 3600.0, self.aht, self.target, self.threshold).agents


@dataclass
class DayResult:
    agents: int
    predicted_sl: float
    contacts: int = 0
    answered: int = 0
    within: int = 0
    total_wait: float = 0.0
    capacity_violations: int = 0
    overtakes: int = 0
    idle_while_waiting: int = 0
    busy_seconds: float = 0.0
    #: Per contact in arrival order: arrival time, handle time, and (in answer order) wait.
    arrivals: list[float] = field(default_factory=list, repr=False)
    handles: list[float] = field(default_factory=list, repr=False)
    waits: list[float] = field(default_factory=list, repr=False)

    @property
    def measured_sl(self) -> float:
        return self.within / self.answered if self.answered else 1.0

    @property
    def asa(self) -> float:
        return self.total_wait / self.answered if self.answered else 0.0


_ARRIVE, _END = 0, 1


def simulate_day(plan: DayPlan, agents: int | None = None) -> DayResult:
    """Run the day with `agents` (default: Erlang C's for the plan's target)."""
    need = agents_needed(plan.rate, 3600.0, plan.aht, plan.target, plan.threshold)
    staff = need.agents if agents is None else agents
    result = DayResult(staff, service_level(staff, need.traffic, plan.aht, plan.threshold))
    rng = random.Random(plan.seed)
    router = Router(seed=plan.seed)
    # wrap_up 0: Erlang C's handle time is all the agent's time on the contact.
    router.add_queue(Queue(QUEUE, wrap_up=0.0, default_handle_time=plan.aht))
    names = [f"a{i:04d}" for i in range(staff)]
    for name in names:
        router.add_agent(Agent(name, queues={QUEUE: 0}))
        router.login(name, 0.0)
    end = plan.hours * 3600.0
    seq = itertools.count()
    events: list[tuple[float, int, int, str, str]] = []
    heapq.heappush(events, (rng.expovariate(plan.rate / 3600.0), next(seq), _ARRIVE, "", ""))
    waiting: dict[str, float] = {}  # contact -> entered, in arrival order
    holding: dict[str, int] = dict.fromkeys(names, 0)
    handles: dict[str, float] = {}
    while events:
        now, _, kind, contact_id, agent = heapq.heappop(events)
        if kind == _ARRIVE:
            contact_id = f"c{result.contacts}"
            result.contacts += 1
            # Drawn on arrival (not on answer) so that fcfs_waits can replay the same day.
            handles[contact_id] = rng.expovariate(1.0 / plan.aht)
            result.arrivals.append(now)
            result.handles.append(handles[contact_id])
            router.enqueue(Contact(contact_id, Channel.VOICE, QUEUE, now), now)
            waiting[contact_id] = now
            following = now + rng.expovariate(plan.rate / 3600.0)
            if following < end:
                heapq.heappush(events, (following, next(seq), _ARRIVE, "", ""))
        else:
            router.finish(agent, contact_id, now)
            holding[agent] -= 1
        router.tick(now)
        for offer in router.next_offers(now):
            cid, who = offer.contact.id, offer.agent
            entered = waiting.pop(cid)
            # Equal priority: anyone still waiting who entered earlier was overtaken.
            if waiting and next(iter(waiting.values())) < entered:
                result.overtakes += 1
            router.accept(who, cid, now)
            holding[who] += 1
            if holding[who] > 1:
                result.capacity_violations += 1
            wait = now - entered
            result.answered += 1
            result.total_wait += wait
            result.within += wait <= plan.threshold
            result.waits.append(wait)
            handle = handles.pop(cid)
            result.busy_seconds += handle
            heapq.heappush(events, (now + handle, next(seq), _END, cid, who))
        if waiting and any(n == 0 for n in holding.values()):
            result.idle_while_waiting += 1
        router.drain_events()  # the simulation keeps its own figures
    return result


def simulate_days(plan: DayPlan, days: int, agents: int | None = None) -> DayResult:
    """`days` independent days (seeds plan.seed, plan.seed + 1, ...), their figures pooled.

    One day's service level scatters around the prediction by about 3 points (sd, at 10
    to 50 Erlangs: queues are strongly correlated in time); the pooled figure of n days
    by about 3 / sqrt(n).
    """
    total: DayResult | None = None
    for day in range(days):
        one = simulate_day(replace(plan, seed=plan.seed + day), agents)
        if total is None:
            total = one
            continue
        total.contacts += one.contacts
        total.answered += one.answered
        total.within += one.within
        total.total_wait += one.total_wait
        total.capacity_violations += one.capacity_violations
        total.overtakes += one.overtakes
        total.idle_while_waiting += one.idle_while_waiting
        total.busy_seconds += one.busy_seconds
        total.waits += one.waits
        total.arrivals += one.arrivals
        total.handles += one.handles
    if total is None:
        raise ValueError("days must be at least 1")
    return total


def fcfs_waits(arrivals: list[float], handles: list[float], agents: int) -> list[float]:
    """The waits of an ideal M/M/N first-come-first-served queue on the same day.

    Each contact, in arrival order, takes the agent free soonest; with identical agents
    this is exactly what a correct engine does, so its waits must equal these.
    """
    free = [0.0] * agents
    waits = []
    for arrived, handle in zip(arrivals, handles, strict=True):
        start = max(arrived, heapq.heappop(free))
        waits.append(start - arrived)
        heapq.heappush(free, start + handle)
    return waits
