"""CPU per call of the store's write path alone: what one load-benchmark call writes.

    python bench/store_cpu.py [--rate 16] [--seconds 6] [--rounds 1] [--database URL]
                              [--commit-delay MS] [--lazy-delay MS]

No Asterisk, no controller: calls arrive at --rate a second; each makes its caller's
customer (every bench caller is a new number), opens its contact, appends the 21 events
a bench call logs (bench/bench_sipp_load.py's flow: call, flow, menu, queue, offer,
ring, answer, connected, ended), 200 ms apart as a call spreads them, updates its
summary twice and closes. The routing records are awaited (as the write-ahead awaits
them), the call's own events and summary updates are lazy; each round also runs the
baseline, nothing lazy (`--lazy-delay 0`: the baseline only). Beside the CPU, each
event's time from being asked to being committed (p50 / p95 / p99: what lazy writes
cost the wallboard); a run FAILS (exit 1) if an event is missing from the log
afterwards or one was committed later than the lazy delay plus COMMIT_BUDGET.
Prints the process's CPU-milliseconds per call (and of that, the event loop's thread:
the rest is the commits on aiosqlite's thread, mostly the kernel's work for the fsync)
and the store's transactions per call: the share of the controller's CPU a call's event
log costs (bench_sipp_load --profile shows the same share in the running controller).
`--rounds`: runs one after another, each printed (on a shared machine the lowest is the
least disturbed).

`--wallboard`: with the wallboard following the log as in the controller (its listeners,
the live contacts' read of each contact and customer), to see what it adds a call.

    python bench/store_cpu.py --batches 1,8 [--events 3000]

The cost apart from how writes happen to share commits (which moves with the
machine's load more than with the code): events appended in batches of a fixed size,
each batch one transaction, the event loop's thread's CPU per event for each size.
From two sizes: the cost of a transaction and of an event in it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

from hotline.reports import ReportSettings  # noqa: E402
from hotline.store import Store  # noqa: E402
from hotline.store.group_commit import LAZY_DELAY, GroupCommit  # noqa: E402
from hotline.web.wallboard import Wallboard  # noqa: E402

#: The events of one bench call, in order (a queued call answered by an agent).
KINDS = [
    "call.arrived",
    "call.answered",
    "flow.started",
    "flow.node",
    "prompt.played",
    "flow.input",
    "flow.outcome",
    "flow.node",
    "contact.join",
    "agent.reserve",
    "contact.offer",
    "agent.ring",
    "agent.accept",
    "contact.answered",
    "queue.connected",
    "agent.finish",
    "queue.call_ended",
    "flow.outcome",
    "flow.node",
    "flow.ended",
    "call.ended",
]
GAP = 0.2  # seconds between two events of a call
#: The routing write-ahead's records (hotline/acd/outbox.py): awaited before the agent
#: is rung or the caller bridged. The others are the call's own events: lazy unless
#: `--lazy-delay 0` (the writer of session 9).
ROUTING = frozenset(
    {
        "contact.join",
        "agent.reserve",
        "contact.offer",
        "agent.ring",
        "agent.accept",
        "contact.answered",
        "queue.connected",
        "agent.finish",
        "queue.call_ended",
    }
)


def timed(write: Any, delays: list[float]) -> asyncio.Future[Any]:
    """`write`, its time from being asked to being committed added to `delays`."""
    asked = time.perf_counter()
    future = asyncio.ensure_future(write)
    future.add_done_callback(lambda _: delays.append(time.perf_counter() - asked))
    return future


async def one_call(
    store: Store, n: int, lazy: bool = True, delays: list[float] | None = None
) -> None:
    """One bench call's writes; `delays`: each event's time to its commit."""
    delays = [] if delays is None else delays
    # Every bench caller is a new number: its customer is made as the call opens.
    customer = await store.customer_for_phone(f"7{n}")
    assert customer is not None
    contact = await store.open_contact("voice", "inbound", f"7{n}", "800", customer.id)
    written = []
    for i, kind in enumerate(KINDS):
        data = {"n": i, "queue": "bench"}
        if kind in ROUTING:
            await timed(store.append_soon(contact, kind, data), delays)
        else:
            written.append(timed(store.append_soon(contact, kind, data, lazy=lazy), delays))
        await asyncio.sleep(GAP)
    # The summary updates: lazy as the events (voice/contact.py), awaited when not.
    for fields in (
        {"flow": "bench_load", "flow_version": "1"},
        {"language": "en", "node": "end", "variables": {}},
    ):
        update = asyncio.ensure_future(store.update_contact(contact, lazy=lazy, **fields))
        written.append(update) if lazy else await update
    store.hurry()  # as the call's end waits for its events (voice/contact.py)
    await asyncio.gather(*written)
    await store.close_contact(contact, "completed")


async def run(
    rate: float,
    seconds: float,
    url: str | None,
    delay: float = 0.0,
    lazy_delay: float = 0.0,
    wallboard: bool = False,
) -> Run:
    """One run's figures. `lazy_delay` 0: the call's own events are not lazy;
    `wallboard`: one follows the log."""
    folder = tempfile.mkdtemp(prefix="store-cpu-")
    store = await Store.connect(
        url or f"sqlite+aiosqlite:///{folder}/hotline.db", lazy_delay=lazy_delay
    )
    await store.migrate()
    board = Wallboard(store, None, ReportSettings()) if wallboard else None
    if board is not None:
        await board.start()
    store._writer._commit_delay = delay  # the writer's commit delay, this run only
    transactions = 0
    write = GroupCommit._write

    async def counted(self: GroupCommit, batch: list) -> None:  # type: ignore[type-arg]
        nonlocal transactions
        transactions += 1
        await write(self, batch)

    GroupCommit._write = counted  # type: ignore[method-assign]  # counting, this run only
    calls = max(1, round(rate * seconds))
    delays: list[float] = []
    try:
        began = datetime.now(UTC)
        cpu, loop_cpu = time.process_time(), time.thread_time()
        running = []
        for n in range(calls):
            running.append(asyncio.create_task(one_call(store, n, lazy_delay > 0, delays)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*running)
        await asyncio.sleep(0.1)  # the wallboard's last reads
        cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
        stored = len(await store.events_between(began, datetime.now(UTC) + timedelta(1), KINDS))
    finally:
        GroupCommit._write = write  # type: ignore[method-assign]
        if board is not None:
            await board.stop()
        await store.close()
    return Run(
        1000 * cpu / calls, 1000 * loop_cpu / calls, transactions / calls, calls, delays, stored
    )


@dataclass
class Run:
    """What one run measured."""

    cpu_ms: float  # the process's CPU per call
    loop_ms: float  # of it, the event loop's thread
    transactions: float  # per call
    calls: int
    #: Each event's time from being asked to being committed (seconds).
    delays: list[float]
    #: The bench's events found in the log afterwards.
    stored: int

    def problems(self, lazy_delay: float) -> list[str]:
        """Why the run fails: an event not stored, or one committed later than the lazy
        delay promises (plus a commit's worth: COMMIT_BUDGET)."""
        said = []
        if self.stored != self.calls * len(KINDS):
            said.append(f"{self.stored} of {self.calls * len(KINDS)} events stored")
        late = max(self.delays, default=0.0)
        if late > lazy_delay + COMMIT_BUDGET:
            said.append(
                f"an event committed {1000 * late:.0f} ms after it was asked "
                f"(promised: {1000 * lazy_delay:.0f} ms + {1000 * COMMIT_BUDGET:.0f} ms)"
            )
        return said


#: A commit's time allowed on top of the lazy delay before an event counts as late.
COMMIT_BUDGET = 0.25


async def batches(size: int, events: int, url: str | None) -> float:
    """The event loop's thread's CPU-microseconds per event, appended `size` at a time."""
    folder = tempfile.mkdtemp(prefix="store-cpu-")
    store = await Store.connect(url or f"sqlite+aiosqlite:///{folder}/hotline.db")
    try:
        await store.migrate()
        customer = await store.customer_for_phone("71234")
        assert customer is not None
        contact = await store.open_contact("voice", "inbound", "71234", "800", customer.id)
        data = {"flow": "bench_load", "node": "menu", "type": "menu"}
        for _ in range(100):  # warm: plans, caches
            await store.append(contact, "flow.node", data)
        cpu = time.thread_time()
        for _ in range(events // size):
            await asyncio.gather(
                *(store.append_soon(contact, "flow.node", data) for _ in range(size))
            )
        return 1e6 * (time.thread_time() - cpu) / (events // size * size)
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=16.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--commit-delay", type=float, default=0.0, help="ms an idle writer waits (GroupCommit)"
    )
    parser.add_argument(
        "--lazy-delay",
        type=float,
        default=1000 * LAZY_DELAY,
        help="ms a call's own event may wait for an awaited write (0: not lazy)",
    )
    parser.add_argument("--batches", default=None, help="e.g. 1,8: the fixed-batch runs")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--database", default=None, help="a store URL (default: SQLite)")
    parser.add_argument(
        "--wallboard", action="store_true", help="a wallboard follows the log, as in the controller"
    )
    args = parser.parse_args()
    if args.batches:
        for _ in range(args.rounds):
            sizes = [int(size) for size in args.batches.split(",")]
            costs = [asyncio.run(batches(size, args.events, args.database)) for size in sizes]
            said = ", ".join(
                f"{c:.0f} us in batches of {n}" for n, c in zip(sizes, costs, strict=True)
            )
            print(f"loop thread CPU per event: {said}", flush=True)
        return 0
    # The baseline in the same run: the call's own events not lazy (session 9's writer).
    lazy_delays = [args.lazy_delay / 1000] + ([0.0] if args.lazy_delay > 0 else [])
    failed = False
    for _ in range(args.rounds):
        for lazy_delay in lazy_delays:
            done = asyncio.run(
                run(
                    args.rate,
                    args.seconds,
                    args.database,
                    args.commit_delay / 1000,
                    lazy_delay,
                    args.wallboard,
                )
            )
            p50, p95, p99 = (1000 * q for q in percentiles(done.delays))
            print(
                f"store write path, lazy delay {1000 * lazy_delay:g} ms: {done.cpu_ms:.2f} ms "
                f"CPU per call ({done.loop_ms:.2f} on the loop's thread), "
                f"{done.transactions:.1f} transactions per call ({done.calls} calls at "
                f"{args.rate:g}/s); an event asked -> committed p50 / p95 / p99 "
                f"{p50:.0f} / {p95:.0f} / {p99:.0f} ms",
                flush=True,
            )
            for problem in done.problems(lazy_delay):
                failed = True
                print(f"FAIL: {problem}", flush=True)
    return 1 if failed else 0


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 of `values` (0 for none)."""
    if len(values) < 2:
        return (values[0],) * 3 if values else (0.0, 0.0, 0.0)
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[94], cuts[98]


if __name__ == "__main__":
    raise SystemExit(main())
