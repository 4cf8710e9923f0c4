"""What a routing change's presence check costs with many unreachable channels.

    python bench/bench_presence.py [--agents 250] [--changes 10000]

Every routing change ends with `Reachability.enforce` (hotline/acd/reachability.py):
channels that cannot be reached are paused before offers are made. A centre whose
agents take calls on their phones with their desks closed has every chat channel
unreachable (paused as such): this times `enforce` at the end of a change there, with
`--agents` agents (voice 1, chat 3), each one's chat channel unreachable, and, in the
same run, the same centre with every channel reachable (the baseline). Each change is
timed on its own (the timer's own ~0.1 us included); prints microseconds a change for
each centre, p50 / p99 / max and the throughput (changes a second), and FAILS (exit 1)
if the unreachable centre's p99 is above BUDGET_US: every change waits for its check
before offers are made, so one slow check delays a caller's offer. A call makes about 9
changes, so that is at most 0.1 ms a call, 1 % of the controller's 10 ms target (before
fa6542f it was 984 us a change at 250 agents: 9 ms a call).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline.acd import Agent, Queue, Router
from hotline.acd.reachability import Reachability

#: The most a presence check may cost a routing change (microseconds).
BUDGET_US = 10.0


@dataclass(frozen=True)
class Timing:
    """A centre's presence checks, one timing a change (microseconds)."""

    p50: float
    p99: float
    max: float
    per_second: float

    def __str__(self) -> str:
        return (
            f"p50 {self.p50:.1f} / p99 {self.p99:.1f} / max {self.max:.1f} us a change, "
            f"{self.per_second:,.0f} changes/s"
        )


def per_change(agents: int, unreachable: bool, changes: int) -> Timing:
    """`enforce` timed `changes` times after a change, in a centre of `agents`."""
    router = Router()
    router.add_queue(Queue("q"))
    presence = Reachability(router, lambda *event: None)
    for n in range(agents):
        router.add_agent(Agent(f"a{n}", queues=("q",), capacity={"voice": 1, "chat": 3}))
        router.login(f"a{n}", 0.0)
        if unreachable:
            presence.reachable(f"a{n}", "chat", False, 0.0)
    presence.enforce(0.0)  # pauses them all: the state a change then finds
    took = []
    clock = time.perf_counter_ns
    for _ in range(changes):
        start = clock()
        presence.enforce(1.0)
        took.append((clock() - start) / 1000)
    cuts = statistics.quantiles(took, n=100)
    return Timing(cuts[49], cuts[98], max(took), changes / (sum(took) / 1e6))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=250)
    parser.add_argument("--changes", type=int, default=10000)
    args = parser.parse_args()
    closed = per_change(args.agents, True, args.changes)
    reachable = per_change(args.agents, False, args.changes)
    passed = closed.p99 <= BUDGET_US
    verdict = "PASS" if passed else f"FAIL (p99 > {BUDGET_US:g} us)"
    print(f"{args.agents} agents, presence check a routing change ({args.changes} changes):")
    print(f"  every chat channel unreachable: {closed}")
    print(f"  every channel reachable (the same run's baseline): {reachable}")
    print(f"  {verdict}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
