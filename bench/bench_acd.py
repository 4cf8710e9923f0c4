"""Routing decision latency of the ACD core (hotline.acd.Router).

    python bench/bench_acd.py [--quick] [--decisions N] [--seed S]

For each size (agents x waiting contacts) it builds a contact centre of 10 queues
(a mix of strategies, two-step skill relaxation, penalties, voice agents plus chat
agents with 3 slots), logs every agent in, fills the queues so that every agent is
busy and the given number of contacts still waits, then repeats one decision cycle:

    an agent finishes a contact (untimed) -> tick(now) [timed apart] ->
    next_offers(now) [timed: one routing decision] -> the agent accepts (untimed) ->
    a new contact joins [enqueue, timed]

Time advances 10 ms per cycle, so skill-relaxation steps fall due along the way; `tick`
applies them (its cost grows with how many contacts change step per unit of time, not
with the size of the queues). The garbage collector stays on, as in production. Prints a
Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline.acd import Agent, Contact, Queue, Router, SkillStep

AGENTS = (100, 1_000, 10_000)
WAITING = (1_000, 10_000, 100_000)
STRATEGIES = (
    "longest_idle",
    "least_busy",
    "fewest_contacts",
    "rrmemory",
    "random",
    "best_skilled",
    "longest_idle",
    "least_busy",
    "rrmemory",
    "longest_idle",
)
N_QUEUES = 10
LANGS = ("en", "fr")


def build(n_agents: int, n_waiting: int, rng: random.Random) -> tuple[Router, list, int]:
    """A centre where every agent slot is busy and exactly `n_waiting` contacts wait."""
    router = Router(seed=1)
    for i in range(N_QUEUES):
        lang = LANGS[i % 2]
        router.add_queue(
            Queue(
                f"q{i}",
                strategy=STRATEGIES[i],
                weight=i % 3,
                skill_steps=(SkillStep(0, {lang: 60}), SkillStep(30, {lang: 20})),
                ring_timeout=1e9,
            )
        )
    homes = []
    for i in range(n_agents):
        home = rng.randrange(N_QUEUES)
        chat = i % 5 == 0
        homes.append((f"q{home}", "chat" if chat else "voice", 3 if chat else 1))
        router.add_agent(
            Agent(
                f"a{i}",
                skills={"en": rng.randint(20, 100), "fr": rng.randint(20, 100)},
                queues={f"q{home}": 0, f"q{(home + 1) % N_QUEUES}": 1},
                capacity={"chat": 3} if chat else {"voice": 1},
            )
        )
        router.login(f"a{i}", 0.0)
    seq = 0
    # One contact per agent slot, in the agent's home queue and channel, relaxed already.
    for queue, channel, slots in homes:
        for _ in range(slots):
            router.enqueue(Contact(f"c{seq}", channel, queue, -40.0), 0.0)
            seq += 1
    for _ in range(n_waiting):
        enqueue_random(router, rng, seq, now=0.0)
        seq += 1
    connected = []
    offers = router.next_offers(0.0)
    while offers:
        for o in offers:
            router.accept(o.agent, o.contact.id, 0.0)
            connected.append((o.agent, o.contact.id))
        offers = router.next_offers(0.0)
    # Trim the surplus (contacts whose agents took others) to exactly n_waiting.
    waiting = [f"c{i}" for i in range(seq) if router.contact_state(f"c{i}") == "waiting"]
    for cid in rng.sample(waiting, len(waiting) - n_waiting):
        router.dequeue(cid, 0.0)
    router.drain_events()
    return router, connected, seq


def enqueue_random(router: Router, rng: random.Random, seq: int, now: float) -> None:
    # The channel mix follows the slot mix: 1 agent in 5 has 3 chat slots (3 of 7 slots).
    channel = "chat" if rng.random() < 3 / 7 else "voice"
    router.enqueue(
        Contact(
            f"c{seq}",
            channel,
            f"q{rng.randrange(N_QUEUES)}",
            now - rng.uniform(0, 300),
            priority=rng.choice((0, 0, 0, 1, 5)),
        ),
        now,
    )


def pct(samples: list[int], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1000


def run(n_agents: int, n_waiting: int, decisions: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    started = time.perf_counter()
    router, connected, seq = build(n_agents, n_waiting, rng)
    setup = time.perf_counter() - started
    waiting_before = sum(q.waiting for q in router.snapshot(0.0).queues)
    gc.collect()
    decide: list[int] = []
    join: list[int] = []
    ticks: list[int] = []
    made = 0
    now = 0.0
    for _ in range(decisions):
        now += 0.01
        agent, contact = connected.pop(rng.randrange(len(connected)))
        router.finish(agent, contact, now)
        t0 = time.perf_counter_ns()
        router.tick(now)
        ticks.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        offers = router.next_offers(now)
        decide.append(
            (time.perf_counter_ns() - t0) // max(1, len(offers))
            if offers
            else time.perf_counter_ns() - t0
        )
        made += len(offers)
        for o in offers:
            router.accept(o.agent, o.contact.id, now)
            connected.append((o.agent, o.contact.id))
        t0 = time.perf_counter_ns()
        enqueue_random(router, rng, seq, now)
        join.append(time.perf_counter_ns() - t0)
        seq += 1
        router.drain_events()
    return {
        "setup": setup,
        "waiting": waiting_before,
        "made": made,
        "p50": pct(decide, 50),
        "p99": pct(decide, 99),
        "max": max(decide) / 1000,
        "mean": statistics.fmean(decide) / 1000,
        "join_p99": pct(join, 99),
        "tick_p99": pct(ticks, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 decisions per size")
    parser.add_argument("--decisions", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    decisions = args.decisions or (300 if args.quick else 3000)
    command = "python bench/bench_acd.py" + (" --quick" if args.quick else "")
    if args.decisions:
        command += f" --decisions {args.decisions}"
    print("## ACD routing decision latency\n")
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()}  "
    )
    print(
        f"{decisions} decisions per size; one decision = one `next_offers` call that "
        f"makes one offer (latency per offer).\n"
    )
    print(
        "| agents | waiting | offers made | decision p50 (µs) | decision p99 (µs) "
        "| decision max (µs) | enqueue p99 (µs) | tick p99 (µs) | setup (s) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n_agents in AGENTS:
        for n_waiting in WAITING:
            r = run(n_agents, n_waiting, decisions, args.seed)
            print(
                f"| {n_agents:,} | {r['waiting']:,} | {r['made']:,} | {r['p50']:.1f} | "
                f"{r['p99']:.1f} | {r['max']:.1f} | {r['join_p99']:.1f} | {r['tick_p99']:.1f} | "
                f"{r['setup']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
