"""`hotline web`'s loops on fakes: desks told the leader's presence when it changes, and
an agent with a desk here said reachable again when the leader holds them unreachable
(their desk on another process closed)."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace
from typing import Any, cast

from controller.web_node import follow_presence, web_problem
from hotline.acd.model import AgentState, Channel
from hotline.acd.states import ChannelStatus
from hotline.config import HotlineConfig
from hotline.web.desk import Desks


class FakeRouting:
    def __init__(self) -> None:
        self.chat = ChannelStatus(AgentState.PAUSED, 0, "unreachable", 0.0)
        self.said: list[tuple[str, Channel, bool]] = []

    def agent_status(self, agent: str) -> dict[Channel, ChannelStatus]:
        return {Channel.CHAT: self.chat}

    async def reachable(self, agent: str, channel: Channel, yes: bool) -> None:
        self.said.append((agent, channel, yes))
        self.chat = ChannelStatus(AgentState.AVAILABLE, 0, None, 0.0)


class FakeDesks:
    def __init__(self) -> None:
        self.routing = FakeRouting()
        self.sockets: dict[str, set[Any]] = {"alice": {object()}}
        self.pushed: list[dict[str, Any]] = []

    def presence(self, agent: str) -> dict[str, Any]:
        return {"type": "presence", "chat": str(self.routing.chat.state)}

    def push(self, agent: str, frame: dict[str, Any]) -> None:
        self.pushed.append(frame)


async def test_presence_followed_and_reachability_said_again() -> None:
    desks = FakeDesks()
    task = asyncio.create_task(follow_presence(cast(Desks, desks), every=0.01))
    try:
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(desks.pushed) >= 2:
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert desks.routing.said == [("alice", Channel.CHAT, True)]  # once, not every tick
    assert [f["chat"] for f in desks.pushed] == ["paused", "available"]  # each change once


def test_a_web_process_needs_postgresql() -> None:
    sqlite = cast(HotlineConfig, SimpleNamespace(database_url=None))
    assert "needs database_url on PostgreSQL" in (web_problem(sqlite) or "")
    pg = cast(HotlineConfig, SimpleNamespace(database_url="postgresql+asyncpg://h@db/h"))
    assert web_problem(pg) is None
