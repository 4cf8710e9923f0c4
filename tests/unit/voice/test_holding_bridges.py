"""Queues' holding bridges (ari_app/holding.py) under many callers at once: each caller's
join and leave is its own request, none waits in line behind another's round trip, and
the bridge is still made once and destroyed only when the last caller is out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ari_app.client import AriError
from ari_app.holding import HoldingBridges
from tests.unit.voice.fake_ari import FakeAri

ROUND_TRIP = 0.02  # seconds each request takes


class SlowAri(FakeAri):
    """FakeAri whose requests take ROUND_TRIP each; counts how many run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | Sequence[tuple[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(ROUND_TRIP)
            return await super().request(method, path, params=params, body=body)
        finally:
            self.running -= 1


async def test_callers_join_and_leave_together_not_one_after_another() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari)
    callers = [f"c{n}" for n in range(20)]
    await bridges.join("q", "default", "first")  # makes the bridge
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(bridges.join("q", "default", c) for c in callers))
    await asyncio.gather(*(bridges.leave("hold-q", c) for c in callers))
    took = loop.time() - started
    assert ari.most >= len(callers)
    assert took < 10 * ROUND_TRIP, f"20 joins and 20 leaves took {took:.2f} s"
    assert [r.path for r in ari.made("POST", "bridges") if r.path == "bridges"] == ["bridges"]
    assert ari.made("DELETE", "bridges") == []  # "first" is still in it
    await bridges.leave("hold-q", "first")
    assert [r.path for r in ari.made("DELETE", "bridges")] == ["bridges/hold-q"]
    assert bridges.members == {}


async def test_a_caller_joining_while_the_last_one_leaves_gets_a_bridge() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari)
    await bridges.join("q", "default", "a")
    leaving = asyncio.ensure_future(bridges.leave("hold-q", "a"))
    await asyncio.sleep(ROUND_TRIP / 2)  # the bridge is being destroyed
    assert await bridges.join("q", "default", "b") == "hold-q"
    await leaving
    made = [r for r in ari.requests if r.path in ("bridges", "bridges/hold-q")]
    assert [r.method for r in made] == ["POST", "DELETE", "POST"]  # made again after
    assert bridges.members == {"hold-q": {"b"}}


async def test_a_caller_who_is_gone_before_joining_does_not_keep_the_bridge() -> None:
    ari = SlowAri()
    ari.failures[("POST", "bridges/hold-q/addChannel")] = AriError(404, "Channel not found")
    bridges = HoldingBridges(ari)
    try:
        await bridges.join("q", "default", "gone")
    except AriError:
        pass
    else:
        raise AssertionError("the join of a channel that is gone must fail")
    assert bridges.members == {}
    assert [r.path for r in ari.made("DELETE", "bridges")] == ["bridges/hold-q"]
    assert ari.made("POST", "bridges/hold-q/removeChannel") == []
