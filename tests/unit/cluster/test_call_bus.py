"""Call control across processes over a real nats-server: a web process's
`RemoteCallControl` asks the worker named by the contact's node; the worker's
`CallControlServer` acts with its `CallControl` (a fake standing in for Asterisk's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from hotline.calls import (
    BadCommand,
    CallState,
    Command,
    Conflict,
    NotFound,
    NotYours,
    check_owner,
    parse_command,
)
from hotline.calls.monitor import Mode, MonitorState
from hotline.calls.outbound import OutboundRules
from hotline.calls.outbound_service import OutboundCalls
from hotline.cluster.bus import connect, settle
from hotline.cluster.call_bus import (
    CallControlServer,
    NoWorker,
    RemoteCallControl,
    RemoteMonitoring,
    RemoteOutbound,
)
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
    await settle(worker_nc)
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


class FakeOutbound:
    """A worker's `OutboundCalls`: places what it is asked, refuses as the real one."""

    def __init__(self, name: str, delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.placed: list[tuple[str, object, str | None, str]] = []

    async def call(self, body: object, *, asker: str | None, by: str) -> str:
        await asyncio.sleep(self.delay)
        if isinstance(body, dict) and body.get("agent") == "bob" and asker == "alice":
            raise NotYours("an agent calls as themselves, not as bob")
        if isinstance(body, dict) and body.get("to") == "number:busy":
            raise Conflict("alice cannot place a call now: on a call")
        self.placed.append(("call", body, asker, by))
        return f"{self.name}-{len(self.placed)}"

    async def call_callback(
        self, contact_id: str, body: object, *, asker: str | None, by: str
    ) -> str:
        if contact_id == "closed":
            raise Conflict("callback closed is completed, not open")
        self.placed.append((f"callback {contact_id}", body, asker, by))
        return contact_id


RULES = OutboundRules({"support": "5550100", "sales": ""}, {"alice": ["support"]}, None)


async def outbound_worker(nc: Any, name: str, placer: FakeOutbound) -> CallControlServer:
    server = CallControlServer(nc, "sales", name, FakeControl(), cast(OutboundCalls, placer))
    await server.start()
    await settle(nc)
    return server


async def test_an_outbound_call_is_placed_by_exactly_one_live_worker(
    bus: tuple[Any, Any], nats_server: NatsServer
) -> None:
    worker_nc, web_nc = bus
    other_nc = await connect([nats_server.url], "worker 2")
    first, second = FakeOutbound("w1"), FakeOutbound("w2")
    servers = [
        await outbound_worker(worker_nc, "host-a/node1", first),
        await outbound_worker(other_nc, "host-b/node2", second),
    ]
    remote = RemoteOutbound(web_nc, "sales", RULES, timeout=2.0)
    try:
        placed = [
            await remote.call({"to": f"number:55501{i:02}"}, asker="alice", by="alice")
            for i in range(10)
        ]
        assert len(first.placed) + len(second.placed) == 10  # each once, by one worker
        assert len(set(placed)) == 10
        bodies = sorted(str(p[1]) for p in first.placed + second.placed)
        assert bodies == sorted(str({"to": f"number:55501{i:02}"}) for i in range(10))
        said = await remote.call_callback("cb1", None, asker=None, by="api")
        assert said == "cb1"
        assert ("callback cb1", None, None, "api") in first.placed + second.placed
        # The desk's choice of queues: from the config, here.
        assert remote.options("alice") == {"agent": "alice", "queues": ["support"]}
        assert remote.options(None) == {"agent": None, "queues": ["sales", "support"]}
    finally:
        for server in servers:
            await server.stop()
        await other_nc.close()


async def test_a_workers_refusal_comes_back_with_its_status_and_words(
    bus: tuple[Any, Any],
) -> None:
    worker_nc, web_nc = bus
    placer = FakeOutbound("w1")
    server = await outbound_worker(worker_nc, "host-a/node1", placer)
    remote = RemoteOutbound(web_nc, "sales", RULES, timeout=2.0)
    try:
        with pytest.raises(NotYours, match="calls as themselves") as refused:
            await remote.call({"to": "number:5550123", "agent": "bob"}, asker="alice", by="a")
        assert refused.value.status == 403
        with pytest.raises(Conflict, match="on a call") as busy:
            await remote.call({"to": "number:busy"}, asker="alice", by="alice")
        assert busy.value.status == 409
        with pytest.raises(Conflict, match="not open"):
            await remote.call_callback("closed", None, asker="alice", by="alice")
        assert placer.placed == []  # nothing placed
    finally:
        await server.stop()


async def test_no_worker_is_a_503_and_places_nothing(bus: tuple[Any, Any]) -> None:
    worker_nc, web_nc = bus
    # A worker without outbound calls does not take them.
    server = CallControlServer(worker_nc, "sales", "host-a/node1", FakeControl())
    await server.start()
    await settle(worker_nc)
    remote = RemoteOutbound(web_nc, "sales", RULES, timeout=1.0)
    try:
        with pytest.raises(NoWorker, match="no call worker is up") as none:
            await remote.call({"to": "number:5550123"}, asker="alice", by="alice")
        assert none.value.status == 503
    finally:
        await server.stop()


async def test_a_worker_too_slow_to_answer_is_a_503_saying_it_may_ring(
    bus: tuple[Any, Any],
) -> None:
    worker_nc, web_nc = bus
    slow = FakeOutbound("w1", delay=1.0)
    server = await outbound_worker(worker_nc, "host-a/node1", slow)
    remote = RemoteOutbound(web_nc, "sales", RULES, timeout=0.3)
    try:
        with pytest.raises(NoWorker, match="may still be placed"):
            await remote.call({"to": "number:5550123"}, asker="alice", by="alice")
    finally:
        await server.stop()


class FakeMonitors:
    """A worker's `CallMonitors`: c1 alice's call; one supervisor at a time."""

    def __init__(self) -> None:
        self.going: dict[str, MonitorState] = {}

    def of_contact(self, contact_id: str) -> MonitorState | None:
        return self.going.get(contact_id)

    def all(self) -> list[MonitorState]:
        return list(self.going.values())

    async def monitor(self, contact_id: str, supervisor: str, mode: Mode) -> MonitorState:
        if contact_id != "c1":
            raise NotFound(f"contact {contact_id} has no live call with an agent")
        now = self.going.get(contact_id)
        if now is not None and now.supervisor != supervisor:
            raise Conflict(f"contact {contact_id} is monitored by {now.supervisor}")
        state = MonitorState(contact_id, supervisor, "alice", mode, "ringing", 0.0)
        self.going[contact_id] = state
        return state

    async def stop(self, contact_id: str, by: str) -> MonitorState:
        now = self.going.pop(contact_id, None)
        if now is None:
            raise NotFound(f"contact {contact_id} is not being monitored")
        return MonitorState(contact_id, now.supervisor, now.agent, now.mode, "ended", 4.0)


async def test_monitoring_asked_of_a_web_process_is_done_by_the_worker_holding_the_call(
    bus: tuple[Any, Any], nats_server: NatsServer
) -> None:
    worker_nc, web_nc = bus
    other_nc = await connect([nats_server.url], "worker 2")
    here, there = FakeMonitors(), FakeMonitors()
    servers = [
        CallControlServer(worker_nc, "sales", "host-a/node1", FakeControl(), monitors=here),
        CallControlServer(other_nc, "sales", "host-b/node2", FakeControl(), monitors=there),
    ]
    for server in servers:
        await server.start()
    await settle(worker_nc)
    await settle(other_nc)
    nodes = {"c1": "host-a/node1", "c9": "host-c/gone"}

    async def node_of(contact_id: str) -> str | None:
        return nodes.get(contact_id)

    remote = RemoteMonitoring(web_nc, "sales", node_of, timeout=1.0, gather=0.3)
    try:
        state = await remote.monitor("c1", "sue", "whisper")
        assert (state.supervisor, state.agent, state.mode, state.state) == (
            "sue",
            "alice",
            "whisper",
            "ringing",
        )
        assert here.of_contact("c1") == state and there.all() == []  # the holder only
        assert remote.of_contact("c1") == state
        # Refused by the worker, with its status and words; nothing changed there.
        with pytest.raises(Conflict, match="monitored by sue") as taken:
            await remote.monitor("c1", "tom", "barge")
        assert taken.value.status == 409 and here.of_contact("c1") == state
        with pytest.raises(NotFound, match="has no call on any call worker"):
            await remote.monitor("c2", "sue", "listen")
        with pytest.raises(NotFound, match=r"host-c/gone .* does not answer"):
            await remote.monitor("c9", "sue", "listen")
        # What goes on, from every worker (one started on the worker's own desk too).
        there.going["c5"] = MonitorState("c5", "tom", "bob", "listen", "connected", 2.0)
        remote.known.clear()
        await remote.poll()
        assert {m.contact_id: m.supervisor for m in remote.all()} == {"c1": "sue", "c5": "tom"}
        ended = await remote.stop("c1", "sue")
        assert ended.state == "ended" and here.all() == []
        assert remote.of_contact("c1") is None
        with pytest.raises(NotFound, match="not being monitored"):
            await remote.stop("c1", "sue")
    finally:
        for server in servers:
            await server.stop()
        await other_nc.close()


async def test_a_bad_mode_is_refused_and_nothing_starts(bus: tuple[Any, Any]) -> None:
    worker_nc, web_nc = bus
    monitors = FakeMonitors()
    server = CallControlServer(worker_nc, "sales", "host-a/node1", FakeControl(), monitors=monitors)
    await server.start()
    await settle(worker_nc)

    async def node_of(contact_id: str) -> str | None:
        return "host-a/node1"

    remote = RemoteMonitoring(web_nc, "sales", node_of, timeout=1.0)
    try:
        with pytest.raises(BadCommand):
            await remote.monitor("c1", "sue", cast(Mode, "shout"))
        assert monitors.all() == []
    finally:
        await server.stop()
