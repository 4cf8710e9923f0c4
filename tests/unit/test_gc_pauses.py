"""The garbage-collector freezer: survivors frozen, full pauses only in rare sweeps that
still reclaim frozen garbage cycles."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from hotline.gc_pauses import GcPauses


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Node:
    """Something that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_step_freezes_what_survived_and_a_sweep_reclaims_frozen_cycles() -> None:
    pauses = GcPauses(clock=Clock())
    gone = cycle()  # garbage already: the young collection of the step reclaims it
    kept = Node()
    kept.other = Node()
    kept.other.other = kept
    assert pauses.step() is None
    assert gone() is None
    assert gc.get_freeze_count() > 0
    frozen = weakref.ref(kept)
    del kept  # a frozen cycle: no collection sees it...
    gc.collect()
    assert frozen() is not None
    sweep = pauses.sweep()  # ...until a sweep
    assert frozen() is None
    assert sweep.collected >= 2
    assert sweep.kept == gc.get_freeze_count()
    assert pauses.swept == 1 and pauses.last == sweep


def test_a_sweep_is_due_only_after_memory_grew_and_time_passed() -> None:
    clock, memory = Clock(), [100_000]
    pauses = GcPauses(growth=1.0, sweep_after=600, clock=clock, memory=lambda: memory[0])
    assert pauses.baseline == 100_000
    memory[0] = 200_001
    assert not pauses.sweep_due()  # doubled, too soon
    clock.now += 600
    assert pauses.sweep_due()
    assert pauses.step() is not None  # swept: the new baseline is today's memory
    assert pauses.baseline == 200_001 and pauses.swept_at == clock.now
    clock.now += 600
    assert not pauses.sweep_due()  # time enough, not grown since


async def test_started_it_freezes_every_period_and_stop_hands_all_back() -> None:
    pauses = GcPauses(every=0.01)
    pauses.start()
    assert gc.get_freeze_count() > 0
    await asyncio.sleep(0.05)
    await pauses.stop()
    assert gc.get_freeze_count() == 0
    await pauses.stop()  # twice is harmless


@pytest.mark.parametrize("kwargs", [{"every": 0}, {"growth": 0}, {"sweep_after": -1}])
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="every and growth must be > 0, sweep_after >= 0"):
        GcPauses(**kwargs)
