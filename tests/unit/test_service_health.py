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
            await asyncio.sleep(10)

    task = asyncio.create_task(watch_database(health, ping, every=0.01, timeout=0.05))
    await asyncio.sleep(0.3)
    task.cancel()
    assert heard == [[DATABASE], []]
    assert health.problems == []


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
