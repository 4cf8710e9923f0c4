"""The router's timers: what time alone changes, in a heap ordered by when it is due.

Every timer starts with (`at`, `seq`): the unique sequence settles ties, so timers of
different kinds share one heap and their other fields are never compared. A timer
names the version of the state it was set for (a contact's deadline, an offer's
reservation time, a wrap-up's start); one whose state has changed since is stale and
skipped by the router.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Generic, NamedTuple, TypeVar

from hotline.acd.model import Channel


class StepDue(NamedTuple):
    """A waiting contact's next skill-relaxation step is due."""

    at: float
    seq: int
    contact_id: str
    #: The contact's `step_version` when the step was scheduled.
    version: int


class Deadline(NamedTuple):
    """A contact's max wait ends."""

    at: float
    seq: int
    contact_id: str
    #: The contact's deadline when set (a later one replaces it).
    deadline: float


class RingTimeout(NamedTuple):
    """An offer rang for the queue's ring timeout."""

    at: float
    seq: int
    agent_id: str
    contact_id: str
    reserved_at: float


class WrapUpEnd(NamedTuple):
    """A channel's wrap-up time is over."""

    at: float
    seq: int
    agent_id: str
    channel: Channel
    started_at: float


Timer = Deadline | RingTimeout | WrapUpEnd
T = TypeVar("T", StepDue, Timer)


class TimerHeap(Generic[T]):
    """Timers by the time they are due."""

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        self._heap: list[T] = []

    def push(self, timer: T) -> None:
        heapq.heappush(self._heap, timer)

    def due(self, now: float) -> Iterator[T]:
        """Pop the timers due by `now`, earliest first (push back only after the loop)."""
        heap = self._heap
        while heap and heap[0].at <= now:
            yield heapq.heappop(heap)
