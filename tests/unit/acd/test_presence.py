"""Agents' presence from the API or a phone: each action, and clear refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hotline.acd import Offer
from hotline.acd.presence import PresenceError, agent_view, change_presence
from hotline.acd.service import RoutingService
from hotline.acd.settings import AgentRouting, QueueSettings, make_router


@pytest.fixture
def logged() -> list[dict[str, Any]]:
    """What the `routing` fixture's service logs."""
    return []


@pytest.fixture
async def routing(logged: list[dict[str, Any]]) -> AsyncIterator[RoutingService]:
    async def log(**record: Any) -> None:
        logged.append(record)

    router = make_router({"support": QueueSettings()}, {"alice": AgentRouting(queues=["support"])})
    service = RoutingService(router, log)
    yield service
    await service.stop()


async def test_login_pause_unpause_logout(
    routing: RoutingService, logged: list[dict[str, Any]]
) -> None:
    view = await change_presence(routing, "alice", "login")
    assert view["voice"]["state"] == "available"
    view = await change_presence(routing, "alice", "pause", reason=" lunch ")
    assert view["voice"] == {**view["voice"], "state": "paused", "reason": "lunch"}
    view = await change_presence(routing, "alice", "unpause")
    assert view["voice"]["state"] == "available" and view["voice"]["reason"] is None
    view = await change_presence(routing, "alice", "logout")
    assert view["voice"]["state"] == "offline"
    voice = [r["type"] for r in logged if r["data"].get("channel") == "voice"]
    assert voice == ["agent.login", "agent.pause", "agent.unpause", "agent.logout"]


async def test_refusals_say_why_and_change_nothing(
    routing: RoutingService, logged: list[dict[str, Any]]
) -> None:
    with pytest.raises(PresenceError, match="unknown action 'dance'"):
        await change_presence(routing, "alice", "dance")
    with pytest.raises(PresenceError, match="nobody"):
        await change_presence(routing, "nobody", "login")
    with pytest.raises(PresenceError, match="chat"):
        await change_presence(routing, "alice", "login", channels=["chat"])  # no chat capacity
    with pytest.raises(PresenceError, match="reserved for the system"):
        await change_presence(routing, "alice", "pause", reason="unreachable")
    assert agent_view(routing, "alice")["voice"]["state"] == "offline"
    assert logged == []


async def test_ready_ends_wrap_up_early() -> None:
    async def log(**record: Any) -> None:
        pass

    queues = {"support": QueueSettings(wrap_up=600)}
    router = make_router(queues, {"alice": AgentRouting(queues=["support"])})
    routing = RoutingService(router, log)
    await change_presence(routing, "alice", "login", channels=["voice"])
    ticket = await routing.enqueue("c1", "voice", "support")
    offer = await ticket.next()
    assert isinstance(offer, Offer)
    await routing.accepted(offer)
    await routing.finished("alice", "c1")
    assert agent_view(routing, "alice")["voice"]["state"] == "wrap_up"
    view = await change_presence(routing, "alice", "ready")
    assert view["voice"]["state"] == "available"
    await routing.stop()
