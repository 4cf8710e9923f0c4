"""`hotline` with timing probes, for finding what a call waits for under load (a bench
diagnostic: `python bench/bench_sipp_load.py --trace`; nothing of it is in the product).

    HOTLINE_TRACE_FILE=trace.jsonl python bench/controller_trace.py --config … run

Wraps, in this process only, before the controller starts:
- every ARI event the controller receives, by type;
- every ARI REST request (`AriClient.request`): method, path with ids taken out, round
  trip, and how many connections of the pool were busy and how many requests waited
  for one when it started;
- every store write (`GroupCommit.submit`): from the moment it is queued until it is
  committed, with the event type, and the writer's queue length when it was queued;
- every store transaction (`GroupCommit._write`): writes in it and its duration;
- every routing change's write-ahead (`Outbox.commit`): from commit to logged and acted;
- every SQL statement that goes through SQLAlchemy (the store's raw driver path does not),
  by its text;
- every caller's join to and leave from their holding bridge (`HoldingBridges.join`,
  `.leave` back to the flow, `.moved` once they talk: the bridge destroyed off the way
  to the conversation), whole, with their ARI requests;
- every garbage collection longer than 5 ms (`gc.callbacks`): generation, duration;
- every stall of the event loop longer than STALL seconds: a thread watches a heartbeat
  the loop beats every millisecond or so and, while it is late, samples the main
  thread's stack (`sys._current_frames`), so a stall names the code that held the loop.
Records are JSON lines {"k": kind, "t": wall-clock start, "d": seconds, ...}, flushed
every second by a thread.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

RECORDS: list[dict[str, Any]] = []


def shape(path: str) -> str:
    """An ARI path with its channel, bridge and playback ids taken out ({hold}: a queue's
    holding bridge, {talk}: a conversation's)."""
    path = path.lstrip("/")
    parts = path.split("/")
    if parts[0] in ("channels", "bridges", "playbacks") and len(parts) > 1:
        kind = parts[1].split("-")[0]  # a queue's holding bridge or a conversation's
        parts[1] = f"{{{kind}}}" if kind in ("hold", "talk") else "{id}"
    return "/".join(parts)


def install() -> None:
    from ari_app.client import AriClient
    from ari_app.holding import HoldingBridges
    from hotline.acd.outbox import Outbox
    from hotline.store.group_commit import GroupCommit, InsertRow

    request = AriClient.request

    async def timed_request(self: AriClient, method: str, path: str, **kwargs: Any) -> Any:
        pool = getattr(self, "_pool", None)
        if pool is not None:  # the lean pool (ari_app/http_pool.py)
            busy = len(pool._busy)
            waiting = len(getattr(pool._slots, "_waiters", None) or ())
        else:  # an older tree: aiohttp's connector
            connector = self.session.connector
            busy = len(getattr(connector, "_acquired", ()))
            waiting = sum(len(w) for w in getattr(connector, "_waiters", {}).values())
        started, wall = time.perf_counter(), time.time()
        try:
            return await request(self, method, path, **kwargs)
        finally:
            RECORDS.append(
                {
                    "k": "ari",
                    "t": wall,
                    "d": time.perf_counter() - started,
                    "what": f"{method} {shape(path)}",
                    "busy": busy,
                    "waiting": waiting,
                }
            )

    AriClient.request = timed_request  # type: ignore[method-assign]  # a probe, this run only

    events = AriClient.events

    async def counted_events(self: AriClient) -> Any:
        async for event in events(self):
            RECORDS.append({"k": "event", "t": time.time(), "d": 0.0, "what": event["type"]})
            yield event

    AriClient.events = counted_events  # type: ignore[method-assign]  # a probe, this run only

    submit = GroupCommit.submit

    def timed_submit(self: GroupCommit, op: Any, **kwargs: Any) -> asyncio.Future[Any]:
        queued = len(self._queue)
        started, wall = time.perf_counter(), time.time()
        done = submit(self, op, **kwargs)  # (`lazy=` in newer trees)
        what = op.values.get("type", "?") if isinstance(op, InsertRow) else "other"

        def finished(_: asyncio.Future[Any]) -> None:
            RECORDS.append(
                {
                    "k": "store",
                    "t": wall,
                    "d": time.perf_counter() - started,
                    "what": what,
                    "queued": queued,
                }
            )

        done.add_done_callback(finished)
        return done

    GroupCommit.submit = timed_submit  # type: ignore[method-assign]  # a probe, this run only

    write = GroupCommit._write

    async def timed_write(self: GroupCommit, batch: list[Any]) -> None:
        started, wall = time.perf_counter(), time.time()
        try:
            await write(self, batch)
        finally:
            RECORDS.append(
                {"k": "commit", "t": wall, "d": time.perf_counter() - started, "n": len(batch)}
            )

    GroupCommit._write = timed_write  # type: ignore[method-assign]  # a probe, this run only

    commit = Outbox.commit

    def timed_commit(self: Outbox, lazy: bool = False) -> asyncio.Future[None] | None:
        kinds = [record["type"] for record in self._records]
        started, wall = time.perf_counter(), time.time()
        done = commit(self, lazy)
        if done is None:  # logged lazily: nobody waits for it (hotline/acd/outbox.py)
            RECORDS.append({"k": "routing", "t": wall, "d": 0.0, "what": "lazy"})
            return None

        def finished(_: asyncio.Future[None]) -> None:
            RECORDS.append(
                {
                    "k": "routing",
                    "t": wall,
                    "d": time.perf_counter() - started,
                    "what": ",".join(sorted(set(kinds))) or "-",
                }
            )

        done.add_done_callback(finished)
        return done

    Outbox.commit = timed_commit  # type: ignore[method-assign]  # a probe, this run only

    from sqlalchemy import event as sa_event
    from sqlalchemy.engine import Engine

    @sa_event.listens_for(Engine, "before_cursor_execute")
    def sql(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Statements through SQLAlchemy (not the store's raw driver path), by their text.
        what = " ".join(statement.split())[:80]
        RECORDS.append({"k": "sql", "t": time.time(), "d": 0.0, "what": what})

    # Older trees (bisecting with `git worktree`) may lack a method: wrap what is there.
    join, leave = HoldingBridges.join, HoldingBridges.leave
    moved = getattr(HoldingBridges, "moved", None)

    async def timed_join(
        self: HoldingBridges, queue: str, music: str, channel: str, *more: Any
    ) -> str:
        started, wall = time.perf_counter(), time.time()
        try:  # (`more`: the class the channel has, in newer trees)
            return await join(self, queue, music, channel, *more)
        finally:
            RECORDS.append(
                {"k": "hold", "t": wall, "d": time.perf_counter() - started, "what": "join"}
            )

    async def timed_leave(self: HoldingBridges, bridge: str, channel: str, **kwargs: Any) -> None:
        started, wall = time.perf_counter(), time.time()
        try:
            await leave(self, bridge, channel, **kwargs)
        finally:
            RECORDS.append(
                {"k": "hold", "t": wall, "d": time.perf_counter() - started, "what": "leave"}
            )

    async def timed_moved(self: HoldingBridges, bridge: str, channel: str) -> None:
        assert moved is not None
        started, wall = time.perf_counter(), time.time()
        try:
            await moved(self, bridge, channel)
        finally:
            RECORDS.append(
                {"k": "hold", "t": wall, "d": time.perf_counter() - started, "what": "moved"}
            )

    HoldingBridges.join = timed_join  # type: ignore[method-assign,assignment]  # a probe
    HoldingBridges.leave = timed_leave  # type: ignore[method-assign]  # a probe, this run only
    if moved is not None:
        HoldingBridges.moved = timed_moved  # type: ignore[method-assign]  # a probe, this run only


#: A loop late by more than this (seconds) is a stall worth a stack sample.
STALL = 0.04


def watch_gc() -> None:
    """Record each collection that takes longer than 5 ms (it holds the loop), and once
    a second every collection's count and time by generation (the collector's share of
    the CPU)."""
    import gc

    started = [0.0]
    sums: dict[str, list[float]] = {}  # generation -> [count, seconds] since the last record
    last = [time.time()]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        gen = f"gen{info.get('generation')}"
        tally = sums.setdefault(gen, [0, 0.0])
        tally[0] += 1
        tally[1] += took
        now = time.time()
        if took > 0.005:
            RECORDS.append(
                {
                    "k": "gc",
                    "t": now - took,
                    "d": took,
                    "what": gen,
                    "collected": info.get("collected"),
                }
            )
        if now - last[0] >= 1.0:
            for what, (count, seconds) in sums.items():
                RECORDS.append({"k": "gcsum", "t": now, "d": seconds, "what": what, "n": count})
            sums.clear()
            last[0] = now

    gc.callbacks.append(callback)


BEAT = [time.monotonic()]


async def heartbeat() -> None:
    """The loop's heartbeat for the stall watcher (runs in the controller's loop)."""
    while True:
        BEAT[0] = time.monotonic()
        await asyncio.sleep(0.001)


def schedstat(tid: int) -> tuple[float, float]:
    """A thread's seconds on a CPU and waiting in the run queue for one (the kernel's
    /proc schedstat): what it did while the loop stalled."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            ran, queued, _ = f.read().split()
        return int(ran) / 1e9, int(queued) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0


def threads_ran(skip: int) -> float:
    """Seconds on a CPU of every thread of this process but `skip` (and the watcher)."""
    total = 0.0
    me = threading.get_native_id()
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/task"):
            tid = int(name)
            if tid not in (skip, me):
                total += schedstat(tid)[0]
    return total


def stall_watcher(main_thread: int) -> None:
    """While the loop's heartbeat is late by more than STALL, sample the main thread's
    stack every 10 ms; one record per stall with its length, the commonest stacks, and
    how the main thread spent it from the moment the stall was seen (`watched`: the
    first STALL seconds or so are before it): on a CPU (`ran`: the loop busy), waiting in the run
    queue for one (`queued`: the machine's other processes), or neither (blocked: a
    lock, the GIL while another thread of the process ran (`others`), a system call)."""
    import traceback
    from collections import Counter

    native = threading.get_native_id() if main_thread == threading.get_ident() else 0
    tid = [native]

    def watch() -> None:
        stacks: Counter[str] = Counter()
        began = seen = 0.0
        at_start = (0.0, 0.0, 0.0)
        while True:
            time.sleep(0.01)
            late = time.monotonic() - BEAT[0]
            if late > STALL:
                if not stacks:
                    began = BEAT[0]
                    seen = time.monotonic()  # the breakdown covers from here on
                    ran, queued = schedstat(tid[0])
                    at_start = (ran, queued, threads_ran(tid[0]))
                frame = sys._current_frames().get(main_thread)
                if frame is not None:
                    summary = traceback.extract_stack(frame)[-12:]
                    stacks[
                        " < ".join(
                            f"{Path(f.filename).name}:{f.lineno} {f.name}"
                            for f in reversed(summary)
                        )
                    ] += 1
            elif stacks:
                took = time.monotonic() - began
                ran, queued = schedstat(tid[0])
                others = threads_ran(tid[0])
                top = stacks.most_common(2)
                RECORDS.append(
                    {
                        "k": "stall",
                        "t": time.time() - took,
                        "d": took,
                        "what": top[0][0],
                        "samples": sum(stacks.values()),
                        "other": top[1][0] if len(top) > 1 else "",
                        "watched": time.monotonic() - seen,
                        "ran": ran - at_start[0],
                        "queued": queued - at_start[1],
                        "others": others - at_start[2],
                    }
                )
                stacks.clear()

    threading.Thread(target=watch, name="trace-stalls", daemon=True).start()


def start_heartbeat() -> None:
    """Start the heartbeat in the loop the controller runs, once it runs."""
    from controller import event_loop

    run = event_loop.run

    def run_with_heartbeat(main: Any, choice: str | None = None) -> Any:
        async def beating() -> Any:
            beat = asyncio.ensure_future(heartbeat())
            try:
                return await main
            finally:
                beat.cancel()

        return run(beating(), choice)

    event_loop.run = run_with_heartbeat  # a probe, this run only


def flusher(path: Path) -> None:
    def flush() -> None:
        taken = RECORDS[:]
        del RECORDS[: len(taken)]
        if taken:
            with path.open("a") as out:
                out.writelines(json.dumps(record) + "\n" for record in taken)

    def loop() -> None:
        while True:
            time.sleep(1.0)
            flush()

    threading.Thread(target=loop, name="trace-flush", daemon=True).start()
    atexit.register(flush)


def main() -> int:
    flusher(Path(os.environ["HOTLINE_TRACE_FILE"]))
    install()
    watch_gc()
    start_heartbeat()
    stall_watcher(threading.get_ident())
    from controller.cli import main as hotline

    return hotline(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
