"""hotline/service_health.py: the problems desks show, and the two watchers."""

from __future__ import annotations

import asyncio

import pytest

from hotline.service_health import (
    DATABASE,
    ROUTING,
    ServiceHealth,
    watch_database,
    watch_leader,
)


def test_listeners_hear_each_change_once_and_problems_are_ordered() -> None:
    health = ServiceHealth()
    heard: list[list[str]] = []
    stop = health.listen(heard.append)
    health.set("routing", "r")
    health.set("routing", "r")  # no change: not said again
    health.set("database", "d")
    health.set("routing", None)
    health.set("routing", None)
    stop()
    health.set("database", None)  # no longer listened to
    assert heard == [["r"], ["d", "r"], ["d"]]
    assert health.problems == []


async def test_database_unreachable_is_said_while_pings_fail_or_hang() -> None:
    health = ServiceHealth()
    answers = ["ok", "fail", "hang", "ok"]
    heard: list[list[str]] = []
    health.listen(heard.append)

    async def ping() -> None:
        answer = answers.pop(0) if answers else "ok"
        if answer == "fail":
            raise OSError("connection refused")
        if answer == "hang":
            pings.append(asyncio.current_task())
            await asyncio.sleep(0.2)  # four timeouts long: waited for, not asked again

    pings: list[object] = []
    task = asyncio.create_task(watch_database(health, ping, every=0.01, timeout=0.05))
    await asyncio.sleep(0.1)
    assert health.problems == [DATABASE]
    await asyncio.sleep(0.3)
    assert heard == [[DATABASE], []]
    assert health.problems == [] and len(pings) == 1 and answers == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_hanging_ping_is_cancelled_with_the_watch() -> None:
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.sleep(60)

    health = ServiceHealth()
    task = asyncio.create_task(watch_database(health, hang, every=0.01, timeout=0.02))
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if "<locals>.hang()" in repr(t)] == []


async def test_a_silent_leader_is_waiting_for_the_routing_engine() -> None:
    now = [0.0]
    beat: list[object | None] = [None]
    health = ServiceHealth()
    task = asyncio.create_task(
        watch_leader(health, lambda: beat[0], silent=2.0, every=0.001, clock=lambda: now[0])
    )

    async def at(t: float, snapshot: object | None = None) -> list[str]:
        now[0] = t
        if snapshot is not None:
            beat[0] = snapshot
        await asyncio.sleep(0.01)
        return health.problems

    assert await at(0.0) == [ROUTING]  # never heard
    first = object()
    assert await at(0.5, first) == []
    assert await at(2.4) == []  # 1.9 s since
    assert await at(2.6) == [ROUTING]  # the same snapshot: nothing new for 2.1 s
    assert await at(3.0, object()) == []  # a new heartbeat
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
