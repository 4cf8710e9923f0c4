"""Erlang C (M/M/N): the chance to wait, service level, ASA, and agents needed.

With traffic A = calls per second x average handle time (Erlangs) and N agents (N > A):

    B(0) = 1,  B(k) = A B(k-1) / (k + A B(k-1))      Erlang B, by recursion (stable)
    C(N, A) = N B(N) / (N - A (1 - B(N)))             chance a contact waits
    SL(T)   = 1 - C(N, A) exp(-(N - A) T / AHT)       answered within T seconds
    ASA     = C(N, A) AHT / (N - A)                   mean wait of all contacts

Agents needed is the smallest N > A whose SL(T) reaches the target; scheduled agents
add shrinkage (breaks, training, absence): ceil(N / (1 - shrinkage)). docs/metrics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: A bound on the search: no interval of a contact centre needs more agents.
MAX_AGENTS = 10_000


def erlang_b(agents: int, traffic: float) -> float:
    """Erlang B: the chance all `agents` are busy with `traffic` Erlangs (no queue)."""
    if agents < 0 or traffic < 0:
        raise ValueError("agents and traffic must not be negative")
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """The chance a contact waits; 1.0 when the agents cannot keep up (N <= A)."""
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1.0 - b))


def service_level(agents: int, traffic: float, aht: float, threshold: float) -> float:
    """The share of contacts answered within `threshold` seconds (0..1)."""
    if agents <= traffic:
        return 0.0
    return 1.0 - erlang_c(agents, traffic) * math.exp(-(agents - traffic) * threshold / aht)


def asa(agents: int, traffic: float, aht: float) -> float:
    """Average speed of answer in seconds (infinite when N <= A)."""
    if agents <= traffic:
        return math.inf
    return erlang_c(agents, traffic) * aht / (agents - traffic)


@dataclass(frozen=True)
class Requirement:
    """Agents one interval needs for a service-level target."""

    contacts: float
    traffic: float
    agents: int  # answering at the same time
    scheduled: int  # with shrinkage
    service_level: float  # predicted with `agents`
    asa: float
    occupancy: float


def agents_needed(
    contacts: float,
    interval: float,
    aht: float,
    target: float,
    threshold: float,
    shrinkage: float = 0.0,
) -> Requirement:
    """Agents for `contacts` arriving in `interval` seconds to reach `target` (0..1)."""
    if contacts < 0:
        raise ValueError(f"contacts must not be negative, got {contacts}")
    if interval <= 0 or aht <= 0:
        raise ValueError("interval and average handle time must be positive")
    if not 0 < target < 1:
        raise ValueError(f"the service-level target is a fraction between 0 and 1, got {target}")
    if threshold < 0:
        raise ValueError(f"the threshold must not be negative, got {threshold}")
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage is a fraction from 0 up to (not) 1, got {shrinkage}")
    traffic = contacts * aht / interval
    if contacts == 0:
        return Requirement(0.0, 0.0, 0, 0, 1.0, 0.0, 0.0)
    agents = max(1, math.floor(traffic) + 1)
    while service_level(agents, traffic, aht, threshold) < target:
        agents += 1
        if agents > MAX_AGENTS:
            raise ValueError(f"more than {MAX_AGENTS} agents needed ({traffic:.0f} Erlangs)")
    return Requirement(
        contacts=contacts,
        traffic=traffic,
        agents=agents,
        scheduled=math.ceil(agents / (1.0 - shrinkage) - 1e-9),
        service_level=service_level(agents, traffic, aht, threshold),
        asa=asa(agents, traffic, aht),
        occupancy=traffic / agents,
    )
