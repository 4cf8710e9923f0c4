"""The wallboard's time in state: counted from when the state is known, never the
machine's uptime."""

from __future__ import annotations

from typing import Any

from hotline.acd import Agent, Channel, Queue, Router
from hotline.acd.service import RoutingService
from hotline.reports import ReportSettings
from hotline.store import Store
from hotline.web.wallboard import Wallboard

#: The engine's monotonic clock at the controller's start: the machine's uptime.
UPTIME = 86_400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _no_log(*_: Any, **__: Any) -> None:
    return None


def _in_state(view: dict[str, Any], agent: str, channel: str) -> float:
    (row,) = [a for a in view["agents"] if a["agent"] == agent]
    (ch,) = [c for c in row["channels"] if c["channel"] == channel]
    return float(ch["in_state"])


async def test_time_in_state_counts_from_the_controller_start_not_uptime(store: Store) -> None:
    router = Router()
    router.add_queue(Queue("support"))
    router.add_agent(Agent("a1", queues=["support"], capacity={Channel.VOICE: 1, Channel.CHAT: 2}))
    clock = Clock(UPTIME)
    routing = RoutingService(router, _no_log, clock=clock)
    wallboard = Wallboard(store, routing, ReportSettings())

    clock.now += 30  # a1 logs in by voice 30 s after the start; chat stays offline
    await routing.login("a1", [Channel.VOICE])
    clock.now += 90
    view = wallboard.view()

    assert _in_state(view, "a1", "chat") == 120.0  # offline since the start, not since boot
    assert _in_state(view, "a1", "voice") == 90.0  # available since the login
