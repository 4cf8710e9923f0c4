"""Keeps Python's full garbage collections off the event loop's critical path.

CPython's collector scans every tracked object of the oldest generation in one pause
each time that generation has grown by a quarter. A controller with 5,000 open chats
holds about a million tracked objects (sockets, tasks, chats), and one such pause took
0.3-1.1 s on the 2-core benchmark machine (bench/bench_chat.py, docs/benchmarks.md):
every message in flight waited for it.

Objects that have lived through a young collection are, in a server, almost all
long-lived (connections, chats, routing state). So every `every` seconds the young
generations are collected and whatever survives is frozen (`gc.freeze`: moved to a
generation the collector no longer scans; freed as usual when its last reference goes).
The collector's own full passes then only see the last second's survivors.

What freezing gives up: a reference cycle among frozen objects that becomes garbage is
not reclaimed until the next sweep. The sweep unfreezes and collects everything (one
full pause, as Python would have made anyway), and runs only when the process's peak
memory has grown by `growth` (1.0: doubled) since the previous sweep and at least
`sweep_after` seconds have passed: memory stays bounded, the pause is rare instead of
every few seconds. (Memory, not `gc.get_freeze_count()`: that walks the whole frozen
list, 17 % of the server's CPU when it was asked every second with 5,000 chats open.)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


def peak_memory() -> int:
    """The process's peak resident memory in KiB (Linux's unit for ru_maxrss)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


@dataclass(frozen=True)
class Sweep:
    """One full collection: objects collected, objects kept (frozen again), seconds."""

    collected: int
    kept: int
    seconds: float


class GcPauses:
    """The freezer (one per process; `start` it once the process is up)."""

    def __init__(
        self,
        *,
        every: float = 1.0,
        growth: float = 1.0,
        sweep_after: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        memory: Callable[[], int] = peak_memory,
    ) -> None:
        if every <= 0 or growth <= 0 or sweep_after < 0:
            raise ValueError("every and growth must be > 0, sweep_after >= 0")
        self.every = every
        self.growth = growth
        self.sweep_after = sweep_after
        self.clock = clock
        self.memory = memory
        self.swept_at = clock()
        #: Peak memory (KiB) at the last sweep (start-up counts as one).
        self.baseline = memory()
        #: Sweeps made, and the last one.
        self.swept = 0
        self.last: Sweep | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Freeze what start-up made (modules, config, flows), then every `every` s."""
        gc.collect()
        gc.freeze()
        self.baseline = self.memory()
        self.swept_at = self.clock()
        self._task = asyncio.create_task(self._run(), name="gc-freezer")

    async def stop(self) -> None:
        """Stop freezing and hand every object back to the collector."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        gc.unfreeze()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.step()

    def step(self) -> Sweep | None:
        """Collect the young generations, freeze the survivors; sweep if it is due."""
        gc.collect(1)
        gc.freeze()
        if not self.sweep_due():
            return None
        return self.sweep()

    def sweep_due(self) -> bool:
        grown = self.memory() > self.baseline * (1 + self.growth)
        return grown and self.clock() - self.swept_at >= self.sweep_after

    def sweep(self) -> Sweep:
        """One full collection of everything, then freeze what is left."""
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        done = Sweep(collected, gc.get_freeze_count(), time.perf_counter() - started)
        self.baseline = self.memory()
        self.swept_at = self.clock()
        self.swept += 1
        self.last = done
        log.info(
            "gc sweep: %d objects collected, %d kept, %.3f s",
            done.collected,
            done.kept,
            done.seconds,
        )
        return done
