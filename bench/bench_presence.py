"""What a routing change's presence check costs with many unreachable channels.

    python bench/bench_presence.py [--agents 250] [--changes 2000]

Every routing change ends with `Reachability.enforce` (hotline/acd/reachability.py):
channels that cannot be reached are paused before offers are made. A centre whose
agents take calls on their phones with their desks closed has every chat channel
unreachable (paused as such): this times `enforce` at the end of a change there, with
`--agents` agents (voice 1, chat 3), each one's chat channel unreachable. Prints
microseconds a change (the median of 5 rounds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline.acd import Agent, Queue, Router
from hotline.acd.reachability import Reachability


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=250)
    parser.add_argument("--changes", type=int, default=2000)
    args = parser.parse_args()
    router = Router()
    router.add_queue(Queue("q"))
    presence = Reachability(router, lambda *event: None)
    for n in range(args.agents):
        router.add_agent(Agent(f"a{n}", queues=("q",), capacity={"voice": 1, "chat": 3}))
        router.login(f"a{n}", 0.0)
        presence.reachable(f"a{n}", "chat", False, 0.0)
    presence.enforce(0.0)  # pauses them all: the state a change then finds
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(args.changes):
            presence.enforce(1.0)
        rounds.append((time.perf_counter() - start) / args.changes * 1e6)
    print(
        f"{args.agents} agents, every chat channel unreachable: "
        f"{statistics.median(rounds):.1f} us of presence check a routing change"
    )


if __name__ == "__main__":
    main()
