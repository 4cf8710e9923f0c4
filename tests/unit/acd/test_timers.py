"""The router's timer heap: timers of every kind in one heap, by the time they are due."""

from __future__ import annotations

from hotline.acd import Channel
from hotline.acd.timers import Deadline, RingTimeout, Timer, TimerHeap, WrapUpEnd


def test_timers_of_every_kind_come_due_in_time_order_then_sequence() -> None:
    heap: TimerHeap[Timer] = TimerHeap()
    wrap = WrapUpEnd(5.0, 1, "a", Channel.VOICE, 0.0)
    ring = RingTimeout(5.0, 0, "a", "c1", 0.0)
    deadline = Deadline(2.0, 2, "c2", 2.0)
    later = Deadline(9.0, 3, "c3", 9.0)
    for timer in (wrap, later, ring, deadline):
        heap.push(timer)
    assert list(heap.due(1.0)) == []
    assert list(heap.due(5.0)) == [deadline, ring, wrap]
    assert list(heap.due(100.0)) == [later]


def test_a_timer_pushed_back_after_the_loop_comes_due_again() -> None:
    heap: TimerHeap[Timer] = TimerHeap()
    heap.push(Deadline(1.0, 0, "c1", 1.0))
    deferred = list(heap.due(2.0))
    for timer in deferred:
        heap.push(timer)
    assert list(heap.due(3.0)) == deferred
