"""An agent's outbound call over a fake ARI (ari_app/outbound.py), up to the customer's
answer (the conversation after it is the queued caller's, tested on a real Asterisk in
tests/e2e/test_click_to_call.py): refusals before anything is written, the agent's
phone first, and the ways the customer's side fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ari_app.client import AriError, AriEvent
from ari_app.holding import HoldingBridges
from ari_app.outbound import AriOutbound, close_lost
from ari_app.queueing import Queueing
from ari_app.recording import LiveRecordings
from hotline.acd.model import AgentState, Channel
from hotline.acd.settings import QueueSettings
from hotline.calls.errors import Conflict, NotFound
from hotline.calls.outbound import OutboundPlan, OutboundResult
from hotline.store import Store, sqlite_url
from tests.unit.voice.fake_ari import EventLog, FakeAri, channel_event, log_in, routing
from tests.unit.voice.test_callback_dialer import eventually

PLAN = OutboundPlan("a", "q", "5551234", "PJSIP/5551234@trunk", '"Sales" <5550100>')


class Log(EventLog):
    """The store's event log and contacts, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[tuple[str, ...]] = []
        self.nodes: list[str | None] = []
        self.closed: dict[str, str] = {}

    async def open_contact(
        self,
        channel: str,
        direction: str,
        source: str,
        destination: str,
        customer_id: int | None = None,
        asterisk_channel: str | None = None,
        *,
        asterisk_node: str | None = None,
    ) -> str:
        self.opened.append((channel, direction, source, destination))
        self.nodes.append(asterisk_node)
        return f"c{len(self.opened)}"

    async def close_contact(self, contact_id: str, status: str) -> None:
        self.closed[contact_id] = status


class Ports:
    def __init__(self) -> None:
        self.followed: dict[str, Callable[[AriEvent], None]] = {}

    def port_for(self, channel_id: str, emit: Any) -> Any:
        raise AssertionError("no conversation in these tests")


class Rig:
    def __init__(self) -> None:
        self.ari = FakeAri()
        self.routing, self.routing_log = routing("a", "b")
        self.log = Log()
        self.ports = Ports()
        queueing = Queueing(
            routing=self.routing,
            settings={"q": QueueSettings()},
            endpoints={"a": "1001", "b": "1002"},
            bridges=HoldingBridges(self.ari),
            recordings=LiveRecordings(self.ari),
        )
        self.outbound = AriOutbound(
            self.ari, queueing, self.ports, self.log, ring_seconds=5, node="host-a/node1"
        )
        self.results: list[OutboundResult] = []

    async def place(self, **kw: Any) -> str:
        async def ended(result: OutboundResult) -> None:
            self.results.append(result)

        kw.setdefault("on_end", ended)
        return await self.outbound.place(PLAN, to="number:5551234", by="a", **kw)

    async def leg(self, kind: str) -> str:
        def legs() -> list[str]:
            ids = [r.param("channelId") for r in self.ari.originated()]
            return [leg for leg in ids if f"-{kind}-" in leg]

        await eventually(legs)
        return legs()[0]

    async def send(self, event: AriEvent) -> None:
        channel = event["channel"]["id"]
        await eventually(lambda: channel in self.ports.followed)
        self.ports.followed[channel](event)

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.log.records]


async def test_an_agent_who_cannot_take_a_call_is_refused_before_anything_is_written() -> None:
    rig = Rig()  # nobody logged in
    with pytest.raises(Conflict, match="a cannot place a call now: agent a is offline on voice"):
        await rig.place()
    with pytest.raises(NotFound, match="agent zed has no phone on this Hotline"):
        await rig.outbound.place(
            OutboundPlan("zed", "q", "5551234", "PJSIP/x", ""), to="number:5551234", by="zed"
        )
    assert rig.log.opened == [] and rig.log.records == [] and rig.ari.requests == []


async def test_the_agents_phone_rings_first_showing_whom_they_call() -> None:
    rig = Rig()
    await log_in(rig.routing, "a", "b")
    contact = await rig.place(customer_name="Rita Dial")
    assert rig.log.opened == [("outbound", "outbound", '"Sales" <5550100>', "5551234")]
    # Kept on the contact: a desk on a web process sends the call's controls there.
    assert rig.log.nodes == ["host-a/node1"]
    agent = await rig.leg("agent")
    (ring,) = rig.ari.originated()
    assert ring.param("endpoint") == "PJSIP/1001"  # a's phone, not b's
    assert ring.param("callerId") == '"Rita Dial" <5551234>'
    assert rig.log.of("outbound.started") == [
        {"agent": "a", "to": "number:5551234", "queue": "q", "by": "a"}
    ]
    # Busy on voice meanwhile: a second call is refused with the reason.
    with pytest.raises(Conflict, match="agent a is"):
        await rig.place()
    # The agent answers: ringback, and the customer dialed with the queue's caller id.
    await rig.send(channel_event("StasisStart", agent))
    customer = await rig.leg("customer")
    dialed = rig.ari.originated()[-1]
    assert dialed.param("endpoint") == "PJSIP/5551234@trunk"
    assert dialed.param("callerId") == '"Sales" <5550100>'
    assert dialed.param("originator") == agent
    assert rig.ari.played(agent) == [["tone:ring"]]
    # The agent hangs up before the customer answers: nothing is left ringing.
    await rig.send(channel_event("ChannelDestroyed", agent, cause=16))
    await eventually(lambda: rig.results)
    assert rig.results == [OutboundResult("agent_hung_up", "a")]
    assert customer in rig.ari.hung_up()
    assert rig.log.of("outbound.failed") == [
        {"agent": "a", "to": "number:5551234", "reason": "agent_hung_up"}
    ]
    assert rig.outbound.calls == {} and rig.ports.followed == {}
    # The agent answered: their call is finished (queue q has no wrap-up: free again).
    assert rig.routing.agent_status("a")[Channel.VOICE].state == AgentState.AVAILABLE
    logged = [c for kind, c, _data in rig.log.records if kind.startswith("outbound.")]
    assert logged == [contact, contact]  # started, failed: the refused call logged nothing


async def test_a_contact_carried_on_here_moves_to_this_worker() -> None:
    """A callback called by hand on this worker, its contact first on another: its node
    is this worker from now on (before the agent's phone rings); a new contact is opened
    on it already, and a refused call moves nothing."""
    rig = Rig()
    moved: list[tuple[str, str]] = []

    async def move(contact_id: str, node: str) -> None:
        moved.append((contact_id, node))

    rig.outbound.move_to_node = move
    with pytest.raises(Conflict, match="a cannot place a call now"):
        await rig.place(contact_id="cb7")  # a is offline: refused, nothing moved
    assert moved == []
    await log_in(rig.routing, "a")
    assert await rig.place(contact_id="cb7") == "cb7"
    assert moved == [("cb7", "host-a/node1")]
    agent = await rig.leg("agent")
    assert rig.log.opened == []  # its own contact, no new one
    await rig.send(channel_event("ChannelDestroyed", agent, cause=21))
    await eventually(lambda: rig.results)
    assert moved == [("cb7", "host-a/node1")]  # once


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (lambda leg: channel_event("ChannelDestroyed", leg, cause=17), "busy"),
        (lambda leg: channel_event("ChannelDestroyed", leg, cause=19), "no_answer"),
        (lambda leg: channel_event("ChannelDestroyed", leg, cause=34), "failed"),
    ],
)
async def test_the_customer_not_answering_fails_the_call(event: Any, reason: str) -> None:
    rig = Rig()
    await log_in(rig.routing, "a")
    contact = await rig.place(on_end=None)  # closed here: "failed"
    await rig.send(channel_event("StasisStart", await rig.leg("agent")))
    await rig.send(event(await rig.leg("customer")))
    await eventually(lambda: contact in rig.log.closed)
    assert rig.log.closed == {contact: "failed"}
    (failed,) = rig.log.of("outbound.failed")
    assert failed["reason"] == reason
    assert "outbound.answered" not in rig.kinds()


async def test_a_customer_leg_asterisk_refuses_fails_the_call_with_its_error() -> None:
    rig = Rig()
    await log_in(rig.routing, "a")
    await rig.place()
    agent = await rig.leg("agent")
    rig.ari.failures[("POST", "channels")] = AriError(400, "Allocation failed")
    await rig.send(channel_event("StasisStart", agent))
    await eventually(lambda: rig.results)
    assert rig.results[0].outcome == "failed"
    (failed,) = rig.log.of("outbound.failed")
    assert failed["reason"] == "failed" and "Allocation failed" in failed["error"]
    assert agent in rig.ari.hung_up()


async def test_the_agent_declining_dials_nobody() -> None:
    rig = Rig()
    await log_in(rig.routing, "a")
    await rig.place()
    agent = await rig.leg("agent")
    await rig.send(channel_event("ChannelDestroyed", agent, cause=21))  # declined
    await eventually(lambda: rig.results)
    assert rig.results == [OutboundResult("agent_busy", "a")]
    assert not rig.results[0].dialed
    assert len(rig.ari.originated()) == 1  # the agent's phone only
    await asyncio.sleep(0)
    assert rig.log.of("outbound.failed")[0]["reason"] == "agent_busy"


async def test_calls_left_open_by_a_previous_controller_end_lost(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()
        left = await store.open_contact("outbound", "outbound", "5550100", "5551234")
        await store.append(
            left,
            "outbound.started",
            {"agent": "a", "to": "number:5551234", "queue": "q", "by": "a"},
            queue="q",
            agent="a",
        )
        done = await store.open_contact("outbound", "outbound", "5550100", "5551235")
        await store.close_contact(done, "completed")
        assert await close_lost(store) == 1
        assert (await store.contact(left)).status == "lost"  # type: ignore[union-attr]
        assert (await store.contact(done)).status == "completed"  # type: ignore[union-attr]
        (failed,) = [e for e in await store.events(left) if e.type == "outbound.failed"]
        assert failed.data == {"agent": "a", "to": "number:5551234", "reason": "controller_lost"}
        assert failed.agent == "a" and failed.queue == "q"
        assert await close_lost(store) == 0
    finally:
        await store.close()
