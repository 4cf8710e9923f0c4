"""Call control across processes over a real nats-server: a web process's
`RemoteCallControl` asks the worker named by the contact's node; the worker's
`CallControlServer` acts with its `CallControl` (a fake standing in for Asterisk's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hotline.calls import (
    CallState,
    Command,
    Conflict,
    NotFound,
    NotYours,
    check_owner,
    parse_command,
)
from hotline.cluster.bus import connect
from hotline.cluster.call_bus import CallControlServer, RemoteCallControl
from tests.nats import NatsServer, nats_server

__all__ = ["nats_server"]


class FakeControl:
    """One live call, c1, alice's: hold and resume as the real control refuses them."""

    def __init__(self) -> None:
        self.call = CallState("c1", "alice", "support")
        self.done: list[tuple[str, str, str | None, str]] = []

    def state(self, contact_id: str) -> CallState | None:
        return self.call if contact_id == "c1" else None

    def live_of_agent(self, agent: str) -> str | None:
        return "c1" if agent == "alice" else None

    async def act(
        self, contact_id: str, command: Command, *, by_agent: str | None, by: str = ""
    ) -> CallState:
        if contact_id != "c1":
            raise NotFound(f"contact {contact_id} has no live call with an agent")
        check_owner(self.call, by_agent)
        if command.action == "hold":
            if self.call.held:
                raise Conflict("the call is on hold already")
            self.call = CallState("c1", "alice", "support", held=True)
        elif command.action == "resume":
            self.call = CallState("c1", "alice", "support", held=False, hold_seconds=2.0)
        self.done.append((command.action, str(command.target), by_agent, by))
        return self.call


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[tuple[Any, Any]]:
    worker = await connect([nats_server.url], "worker")
    web = await connect([nats_server.url], "web")
    try:
        yield worker, web
    finally:
        await worker.close()
        await web.close()


async def test_commands_reach_the_worker_holding_the_call(bus: tuple[Any, Any]) -> None:
    worker_nc, web_nc = bus
    control = FakeControl()
    server = CallControlServer(worker_nc, "sales", "host-a/node1", control)
    await server.start()
    await worker_nc.flush()
    nodes = {"c1": "host-a/node1", "c9": "host-b/gone"}

    async def node_of(contact_id: str) -> str | None:
        return nodes.get(contact_id)

    remote = RemoteCallControl(web_nc, "sales", node_of, timeout=1.0)
    try:
        assert remote.state("c1") is None  # nothing said yet
        held = await remote.act("c1", parse_command("hold", None), by_agent="alice", by="alice")
        assert held.held and remote.state("c1") == held and remote.live_of_agent("alice") == "c1"
        with pytest.raises(Conflict, match="on hold already"):  # refused there, same error
            await remote.act("c1", parse_command("hold", None), by_agent=None, by="sup")
        with pytest.raises(NotYours, match="alice's call"):
            await remote.act("c1", parse_command("resume", None), by_agent="bob", by="bob")
        transfer = parse_command("transfer", {"to": "queue:sales", "note": "VIP"})
        await remote.act("c1", transfer, by_agent=None, by="sup")
        assert control.done[-1] == ("transfer", "queue:sales", None, "sup")
        resumed = await remote.act("c1", parse_command("resume", None), by_agent=None)
        assert not resumed.held and resumed.hold_seconds == 2.0
        with pytest.raises(NotFound, match="no call on any call worker"):
            await remote.act("c2", parse_command("hold", None), by_agent=None)
        with pytest.raises(NotFound, match=r"host-b/gone .* does not answer"):
            await remote.act("c9", parse_command("hold", None), by_agent=None)
        assert (await remote.refresh("c1")) == resumed
        control.call = CallState("cX", "alice", "support")  # the call ended there
        control.state = lambda contact_id: None  # type: ignore[method-assign]
        assert await remote.refresh("c1") is None and remote.state("c1") is None
    finally:
        await server.stop()
