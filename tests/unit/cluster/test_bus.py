"""The routing engine over a real NATS (a private nats-server): a worker's
`RemoteRouting` against the leader's `RoutingResponder` in front of a real
`RoutingService`; a new leader's epoch, a deposed leader, no leader, retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controller.routing import build_router
from hotline.acd.decisions import Offer
from hotline.acd.model import Channel, Contact, Outcome
from hotline.acd.restore import Talking
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.acd.tickets import Finished, OfferWithdrawn, Ticket, TicketItem, Withdrawn
from hotline.cluster.bus import BusError, Subjects, connect, dumps, loads, settle
from hotline.cluster.leader import Leadership
from hotline.cluster.remote import LeaderUnavailable, RemoteRouting
from hotline.cluster.responder import RoutingResponder
from hotline.config import HotlineConfig
from tests.nats import NatsServer, nats_server

__all__ = ["nats_server"]

CONFIG: dict[str, Any] = {
    "numbers": {"100": "main"},
    "queues": {"support": {"ring_timeout": 5, "wrap_up": 0}},
    "agents": [
        {"id": "alice", "name": "Alice", "endpoint": "1001", "queues": ["support"]},
        {"id": "bob", "name": "Bob", "endpoint": "1002", "queues": ["support"]},
    ],
}


class Leader:
    """A leader of epoch `epoch` in this process: routing, its log, its responder."""

    def __init__(
        self, nc: Any, epoch: int, agents: tuple[str, ...] = ("alice",), ring: float = 5
    ) -> None:
        self.log: list[dict[str, Any]] = []
        config = {**CONFIG, "queues": {"support": {"ring_timeout": ring, "wrap_up": 0}}}
        router = build_router(HotlineConfig.model_validate(config))
        router.epoch = epoch

        async def write(**event: Any) -> int:
            self.log.append(event)
            return len(self.log)

        self.routing = RoutingService(router, write, tick_interval=0.05)
        self.leadership = Leadership("sales", epoch, f"leader-{epoch}")
        self.responder = RoutingResponder(nc, self.routing, self.leadership, heartbeat=0.05)
        self.agents = agents

    async def start(
        self, waiting: list[Contact] | None = None, talking: list[Talking] | None = None
    ) -> None:
        for agent in ("alice", "bob"):
            await self.routing.login(agent, [Channel.VOICE])
            if agent not in self.agents:
                await self.routing.pause(agent, "lunch")
        tickets, _ = await self.routing.restore(waiting or [], talking or [])
        await self.routing.start()
        await self.responder.start(tickets.values(), talking or [])

    async def stop(self) -> None:
        await self.responder.stop()
        await self.routing.stop()

    def types(self, contact: str) -> list[str]:
        return [e["type"] for e in self.log if e["contact_id"] == contact]


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Any]:
    conns: list[Any] = []

    async def make() -> Any:
        conns.append(await connect([nats_server.url], "test"))
        return conns[-1]

    yield make
    for conn in conns:
        await conn.close()


async def item(ticket: Ticket, timeout: float = 5.0) -> TicketItem:
    return await asyncio.wait_for(ticket.next(), timeout)


async def remote_of(nc: Any, **kw: Any) -> RemoteRouting:
    remote = RemoteRouting(await nc(), "sales", **kw)
    assert await remote.start(wait=5.0)
    return remote


async def test_a_call_served_through_the_bus(nc: Any) -> None:
    leader = Leader(await nc(), 1)
    await leader.start()
    remote = await remote_of(nc)
    assert remote.leader == "leader-1" and remote.fence.epoch == 1

    ticket = await remote.enqueue("c1", "voice", "support")
    assert ticket.joined and ticket.contact.queue == "support"
    offer = await item(ticket)
    assert isinstance(offer, Offer)
    assert (offer.agent, offer.contact.id, offer.epoch) == ("alice", "c1", 1)
    assert await remote.ringing(offer)
    assert await remote.accepted(offer) == ()
    assert await item(ticket) == Finished(Outcome.ANSWERED)
    assert remote.ticket("c1") is None
    await remote.finished("alice", "c1")
    assert leader.routing.agent_status("alice")[Channel.VOICE].state == "available"
    assert leader.types("c1") == [
        "contact.join",
        "agent.reserve",
        "contact.offer",
        "agent.ring",
        "agent.accept",
        "contact.answered",
        "agent.finish",
    ]
    await remote.stop()
    await leader.stop()


async def test_place_wait_and_the_queues_come_from_the_leader(nc: Any) -> None:
    leader = Leader(await nc(), 1, agents=())  # nobody free: the callers wait
    await leader.start()
    remote = await remote_of(nc)
    first = await remote.enqueue("c1", "voice", "support")
    await remote.enqueue("c2", "voice", "support")
    assert first.join.position == 1
    assert remote.position("c2") == 2
    await asyncio.sleep(0.3)  # a heartbeat or two
    status = remote.queue_status("support")
    assert (status.waiting, status.agents_logged_in, status.agents_paused) == (2, 2, 2)
    assert remote.agent_status("bob")[Channel.VOICE].reason == "lunch"
    assert remote.unavailable("bob", "voice") == "agent bob is paused on voice"
    assert remote.unavailable("zed", "voice") == "no agent 'zed' (or no routing leader heard yet)"
    await remote.leave("c1")
    assert await item(first) == Finished(Outcome.LEFT)
    await asyncio.sleep(0.3)
    assert remote.position("c2") == 1  # moved up, said by the leader
    with pytest.raises(RoutingError, match="no queue 'nope'"):
        remote.queue_status("nope")
    await remote.stop()
    await leader.stop()


async def test_refusals_come_back_as_the_engine_says_them_and_nothing_is_logged(
    nc: Any,
) -> None:
    leader = Leader(await nc(), 1)
    await leader.start()
    remote = await remote_of(nc)
    with pytest.raises(RoutingError, match="unknown queue 'nope'"):
        await remote.enqueue("c1", "voice", "nope")
    with pytest.raises(RoutingError, match="agent bob is paused on voice"):
        await remote.enqueue("c2", "voice", "support", agent="bob")
    with pytest.raises(ValueError, match="leave outcome must be"):
        await remote.leave("c3", "answered")
    assert leader.log == [e for e in leader.log if e["contact_id"] is None]  # presence only
    assert remote.ticket("c1") is None and not remote._subs
    await remote.stop()
    await leader.stop()


async def test_an_offer_withdrawn_cannot_be_accepted(nc: Any) -> None:
    leader = Leader(await nc(), 1)
    await leader.start()
    remote = await remote_of(nc)
    ticket = await remote.enqueue("c1", "voice", "support")
    offer = await item(ticket)
    assert isinstance(offer, Offer)
    await remote.leave("c1")
    assert isinstance(await item(ticket), Withdrawn)
    with pytest.raises(OfferWithdrawn):
        await remote.accepted(offer)
    assert not await remote.ringing(offer)
    await remote.stop()
    await leader.stop()


async def test_a_new_leader_withdraws_the_old_offers_and_makes_its_own(nc: Any) -> None:
    old = Leader(await nc(), 1)
    await old.start()
    remote = await remote_of(nc)
    ticket = await remote.enqueue("c1", "voice", "support")
    first = await item(ticket)
    assert isinstance(first, Offer) and first.epoch == 1
    await old.responder.stop()  # the old leader is gone (its routing with it)

    # The standby takes the caller over from the log, at its place, with epoch 2.
    new = Leader(await nc(), 2)
    await new.start(waiting=[Contact("c1", Channel.VOICE, "support", ticket.contact.entered_at)])
    withdrawn = await item(ticket)
    assert isinstance(withdrawn, Withdrawn) and withdrawn.offer is first
    assert "routing leader changed (epoch 2)" in withdrawn.reason
    again = await item(ticket)
    assert isinstance(again, Offer) and (again.agent, again.epoch) == ("alice", 2)
    with pytest.raises(OfferWithdrawn):
        await remote.accepted(first)  # the new leader never made that offer

    # The deposed leader, not knowing it, publishes an item of epoch 1: refused.
    stale = {"epoch": 1, "clock": 0.0, "kind": "withdrawn", "key": "1.1", "reason": "x"}
    await old.responder.nc.publish(Subjects("sales").ticket("c1"), dumps(stale))
    await settle(old.responder.nc)
    await asyncio.sleep(0.2)
    assert remote.stale_refused == 1
    assert await remote.accepted(again) == ()
    assert await item(ticket) == Finished(Outcome.ANSWERED)
    assert "agent.accept" in new.types("c1") and "agent.accept" not in old.types("c1")
    await remote.stop()
    await old.stop()
    await new.stop()


async def test_a_deposed_leader_does_not_answer_a_worker_that_knows_a_newer_epoch(
    nc: Any,
) -> None:
    old = Leader(await nc(), 1)
    await old.start()
    conn = await nc()
    call = {"op": "reachable", "args": {}, "rid": "r1", "epoch": 2}
    with pytest.raises(Exception, match=r"[Nn]o responders|[Tt]imeout"):
        await conn.request(Subjects("sales").call, dumps(call), timeout=0.5)
    assert old.leadership.lost.is_set()
    assert "a worker has seen epoch 2" in old.leadership.reason
    await old.stop()


async def test_a_retried_request_is_answered_once(nc: Any) -> None:
    leader = Leader(await nc(), 1, agents=())
    await leader.start()
    conn = await nc()
    args = {"contact_id": "c1", "channel": "voice", "queue": "support"}
    call = dumps({"op": "enqueue", "args": args, "rid": "same", "epoch": 1})
    one = loads((await conn.request(Subjects("sales").call, call, timeout=2)).data)
    two = loads((await conn.request(Subjects("sales").call, call, timeout=2)).data)
    assert one["ok"] == two["ok"] and one["ok"]["join"]["outcome"] == "joined"
    assert leader.types("c1") == ["contact.join"]
    bad = loads((await conn.request(Subjects("sales").call, b"[1]", timeout=2)).data)
    assert bad == {"error": "bad request: a bus message must be a JSON object", "kind": "value"}
    unknown = dumps({"op": "explode", "rid": "r2", "epoch": 1})
    answer = loads((await conn.request(Subjects("sales").call, unknown, timeout=2)).data)
    assert answer == {"error": "unknown request 'explode'", "kind": "value"}
    await leader.stop()


async def test_a_worker_attaches_to_a_contact_the_leader_already_has(nc: Any) -> None:
    leader = Leader(await nc(), 1, agents=())
    await leader.start()
    first = await remote_of(nc)
    await first.enqueue("c1", "voice", "support")
    await first.stop()
    # A restarted worker (recovery) asks for the same contact: the same ticket, no
    # second join.
    again = await remote_of(nc)
    tickets, refused = await again.restore([Contact("c1", Channel.VOICE, "support", 0.0)])
    assert list(tickets) == ["c1"] and refused == {}
    assert tickets["c1"].joined and leader.types("c1") == ["contact.join"]
    await leader.routing.unpause("alice")
    offer = await item(tickets["c1"])
    assert isinstance(offer, Offer) and offer.agent == "alice"
    await again.stop()
    await leader.stop()


async def test_no_leader_a_request_fails_after_its_timeout_with_the_reason(nc: Any) -> None:
    remote = RemoteRouting(await nc(), "sales", timeout=1.0)
    assert not await remote.start(wait=0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(LeaderUnavailable, match="no routing leader answered"):
        await remote.enqueue("c1", "voice", "support")
    assert 0.9 < asyncio.get_running_loop().time() - started < 3
    assert remote.ticket("c1") is None and not remote._subs
    await remote.stop()


async def test_a_request_waits_through_a_failover(nc: Any) -> None:
    remote = RemoteRouting(await nc(), "sales", timeout=5.0)
    await remote.start()
    leader = Leader(await nc(), 3)

    async def elected_later() -> None:
        await asyncio.sleep(0.5)
        await leader.start()

    later = asyncio.create_task(elected_later())
    ticket = await remote.enqueue("c1", "voice", "support")
    await later
    offer = await item(ticket)
    assert isinstance(offer, Offer) and offer.epoch == 3
    await remote.stop()
    await leader.stop()


async def test_nats_down_at_start_is_a_clear_error(nats_server: NatsServer) -> None:
    nats_server.stop()
    with pytest.raises(BusError, match=rf"cannot reach NATS at {nats_server.url} within 1 s"):
        await connect([nats_server.url], "test", timeout=1.0)


async def test_offers_made_while_a_worker_restarted_are_said_again_when_it_attaches(
    nc: Any,
) -> None:
    leader = Leader(await nc(), 1, agents=())
    await leader.start()
    first = await remote_of(nc)
    await first.enqueue("c1", "voice", "support")
    await first.stop()  # the worker is gone ...
    await leader.routing.unpause("alice")  # ... when the leader offers the caller
    await asyncio.sleep(0.2)
    again = await remote_of(nc)
    tickets, _ = await again.restore([Contact("c1", Channel.VOICE, "support", 0.0)])
    offer = await item(tickets["c1"], timeout=2.0)  # not the next offer, 5 s later
    assert isinstance(offer, Offer) and offer.agent == "alice"
    # Asked once more (a retry): the same offer is not handed over twice.
    await again._request("enqueue", contact_id="c1", channel="voice", queue="support")
    await asyncio.sleep(0.2)
    assert tickets["c1"].offers.empty()
    assert await again.ringing(offer)
    await again.stop()
    await leader.stop()


async def test_a_restarted_worker_has_the_calls_it_lost_taken_out_of_the_queues(
    nc: Any,
) -> None:
    leader = Leader(await nc(), 1, agents=())
    await leader.start()
    before = await remote_of(nc, worker="box-1/main")
    other = await remote_of(nc, worker="box-2/main")
    await before.enqueue("c1", "voice", "support")
    await before.enqueue("c2", "voice", "support")
    await other.enqueue("c3", "voice", "support")
    await before.stop()  # box-1's worker restarts: its Asterisk kept c1, lost c2
    after = await remote_of(nc, worker="box-1/main")
    await after.restore([Contact("c1", Channel.VOICE, "support", 0.0)])
    assert await after.claim(purge=True) == ["c2"]
    assert leader.routing.ticket("c2") is None
    assert leader.routing.ticket("c1") is not None and leader.routing.ticket("c3") is not None
    assert leader.types("c2")[-1] == "contact.leave"
    assert await after.claim(purge=True) == []  # said once
    for remote in (after, other):
        await remote.stop()
    await leader.stop()


async def test_a_new_leader_learns_whose_contacts_are_whose(nc: Any) -> None:
    old = Leader(await nc(), 1, agents=())
    await old.start()
    worker = await remote_of(nc, worker="box-1/main")
    ticket = await worker.enqueue("c1", "voice", "support")
    await worker.enqueue("c2", "voice", "support")
    await old.stop()
    new = Leader(await nc(), 2, agents=())
    taken = [Contact(c, Channel.VOICE, "support", ticket.contact.entered_at) for c in ("c1", "c2")]
    await new.start(waiting=taken)
    await asyncio.sleep(0.3)  # the heartbeat: the worker claims c1 and c2
    assert new.responder._owners == {"c1": "box-1/main", "c2": "box-1/main"}
    await worker.stop()
    await new.stop()


@pytest.mark.parametrize("answered_by", ["this leader", "the leader before"])
async def test_a_restarted_worker_reports_a_conversation_the_leader_knows(
    nc: Any, answered_by: str
) -> None:
    """The worker's recovery hands back the call carol talks on: the leader keeps it as
    it is (not refused, so the worker reports its end), and her hang-up frees her."""
    contact = Contact("c1", Channel.VOICE, "support", 0.0)
    leader = Leader(await nc(), 1)
    if answered_by == "this leader":
        await leader.start()
        first = await remote_of(nc)
        offer = await item(await first.enqueue("c1", "voice", "support"))
        assert isinstance(offer, Offer)
        await first.accepted(offer)
        await first.stop()
    else:
        await leader.start(talking=[Talking("alice", contact, 0.0)])
    again = await remote_of(nc)
    tickets, refused = await again.restore([], [Talking("alice", contact, 0.0)])
    assert (tickets, refused) == ({}, {})
    assert leader.routing.agent_status("alice")[Channel.VOICE].load == 1
    await again.finished("alice", "c1")
    assert leader.routing.agent_status("alice")[Channel.VOICE].load == 0
    await again.stop()
    await leader.stop()


async def test_a_conversation_that_ended_while_its_worker_was_down_is_finished(
    nc: Any,
) -> None:
    leader = Leader(await nc(), 1)
    await leader.start()
    before = await remote_of(nc, worker="box-1/main")
    offer = await item(await before.enqueue("c1", "voice", "support"))
    assert isinstance(offer, Offer)
    await before.accepted(offer)
    await before.stop()  # carol hangs up while the worker is down: nobody says so
    after = await remote_of(nc, worker="box-1/main")
    await after.restore([], [])  # its recovery found no such call
    assert leader.routing.agent_status("alice")[Channel.VOICE].load == 1
    assert await after.claim(purge=True) == ["c1"]
    assert leader.routing.agent_status("alice")[Channel.VOICE].load == 0
    assert leader.types("c1")[-1] == "agent.finish"
    await after.stop()
    await leader.stop()


async def test_what_was_missed_while_the_bus_was_down_is_caught_up(nc: Any) -> None:
    leader = Leader(await nc(), 1, agents=())
    await leader.start()
    remote = await remote_of(nc)
    waits = await remote.enqueue("c1", "voice", "support")
    ends = await remote.enqueue("c2", "voice", "support")
    # The worker hears nothing for a while (its subscriptions gone, as in an outage).
    for contact in ("c1", "c2"):
        await remote._subs[contact].unsubscribe()
    await leader.routing.leave("c2", "timeout")  # its end is published to nobody
    await leader.routing.unpause("alice")  # c1's offer too
    await asyncio.sleep(0.2)
    assert waits.offers.empty() and ends.offers.empty()
    for contact in ("c1", "c2"):
        await remote._unsubscribe(contact)
        await remote._subscribe(contact)
    await remote.sync()
    assert await item(ends) == Finished(Outcome.TIMEOUT)
    offer = await item(waits, timeout=2.0)
    assert isinstance(offer, Offer) and offer.agent == "alice"
    await remote.sync()  # once more: the same offer is not handed over again
    await asyncio.sleep(0.2)
    assert waits.offers.empty()
    await remote.stop()
    await leader.stop()


async def test_an_offer_withdrawn_while_the_bus_was_down_is_withdrawn_on_catching_up(
    nc: Any,
) -> None:
    leader = Leader(await nc(), 1, ring=1)
    await leader.start()
    remote = await remote_of(nc)
    ticket = await remote.enqueue("c1", "voice", "support")
    first = await item(ticket)
    assert isinstance(first, Offer)
    await remote._subs["c1"].unsubscribe()  # deaf for a while ...
    await asyncio.sleep(1.5)  # ... while the offer rings out there; alice is offered it again
    assert ticket.offers.empty()
    await remote._unsubscribe("c1")
    await remote._subscribe("c1")
    await remote.sync()
    withdrawn = await item(ticket)
    assert isinstance(withdrawn, Withdrawn) and withdrawn.offer is first
    assert withdrawn.reason == "withdrawn while the bus was down"
    again = await item(ticket, timeout=2.0)
    assert isinstance(again, Offer) and again is not first and again.agent == "alice"
    with pytest.raises(OfferWithdrawn):
        await remote.accepted(first)
    assert await remote.accepted(again) == ()
    await remote.stop()
    await leader.stop()


async def test_the_worker_catches_up_after_nats_restarts(nats_server: NatsServer) -> None:
    hooks: list[Any] = []
    leader_nc = await connect([nats_server.url], "leader")
    worker_nc = await connect([nats_server.url], "worker", on_reconnect=hooks)
    leader = Leader(leader_nc, 1, agents=())
    await leader.start()
    remote = RemoteRouting(worker_nc, "sales")
    hooks.append(remote.sync)
    assert await remote.start(wait=5)
    ticket = await remote.enqueue("c1", "voice", "support")
    nats_server.stop()
    await asyncio.sleep(0.5)
    nats_server.start()
    for _ in range(100):  # both reconnect (every 0.5 s)
        if worker_nc.is_connected and leader_nc.is_connected:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    await leader.routing.unpause("alice")
    offer = await item(ticket, timeout=5.0)
    assert isinstance(offer, Offer) and offer.agent == "alice"
    assert await remote.ringing(offer)
    await remote.stop()
    await leader.stop()
    await worker_nc.close()
    await leader_nc.close()
