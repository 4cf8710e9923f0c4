"""How fast this box runs Python now: a fixed pure-Python workload, timed.

    python bench/box_speed.py [--runs 5]

Prints the workload's CPU time in milliseconds (the median of the runs; lower is
faster). The benchmarks print it beside their figures: on a shared machine the same
code's CPU per call moved by a factor of two between one day and the next
(docs/benchmarks.md, "Session 12"), and this line tells a slower box from a costlier
change. The work is what the controller's Python does most: small dicts, objects and
method calls, string formatting, sorting; no I/O, no C extension.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass


@dataclass
class _Leg:
    channel: str
    queue: str
    waited: float

    def key(self) -> tuple[str, float]:
        return (self.queue, -self.waited)


def reference_work() -> int:
    """The fixed workload (about 100 ms on a 2026 server core); returns a checksum."""
    total = 0
    for round_ in range(40):
        legs = [_Leg(f"PJSIP/agent-{i:04d}", f"q{i % 7}", (i * 37 % 101) / 10) for i in range(800)]
        events = [
            {"type": "agent.ring", "agent": leg.channel, "data": {"queue": leg.queue}}
            for leg in legs
        ]
        by_queue: dict[str, list[_Leg]] = {}
        for leg in legs:
            by_queue.setdefault(leg.queue, []).append(leg)
        for queue in by_queue.values():
            queue.sort(key=_Leg.key)
        total += sum(len(e["agent"]) for e in events if e["data"]["queue"] != "q3") + round_
    return total


def reference_ms(runs: int = 5) -> float:
    """The median CPU time of `runs` runs of the workload, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.process_time()
        reference_work()
        times.append(1000 * (time.process_time() - started))
    return statistics.median(times)


def line(runs: int = 5) -> str:
    """The sentence the benchmarks print."""
    return (
        f"Box speed: {reference_ms(runs):.0f} ms of CPU for bench/box_speed.py's fixed "
        f"Python work (median of {runs}; lower is faster; compare runs only at similar speed)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{reference_ms(args.runs):.1f} ms")


if __name__ == "__main__":
    main()
