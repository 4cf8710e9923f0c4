"""A lost Asterisk node (hotline/cluster/node_loss.py): when a silent worker is declared
lost, what becomes of each waiting caller (the decision), and the leader's handling on
a real store (SQLite) and the real routing engine: callbacks at the callers' places,
the rest ended with the reason, agents to wrap-up, nothing done twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from hotline.acd import Agent, Channel, Offer, Queue, Router
from hotline.acd.service import RoutingService
from hotline.acd.states import AgentState
from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.service import CallbackService
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.cluster.bus import Subjects, connect, dumps, loads, settle
from hotline.cluster.node_loss import (
    Decision,
    Liveness,
    NodeLossHandler,
    NodeWatch,
    Waiting,
    decide,
)
from hotline.cluster.remote import RemoteRouting
from hotline.cluster.settings import RoutingConfig
from hotline.store import Store, sqlite_url
from hotline.store.callbacks import CallbackStore
from tests.nats import NatsServer, nats_server

__all__ = ["nats_server"]

# ---- who is lost -------------------------------------------------------------------------


def test_a_worker_silent_past_the_threshold_is_lost_once_and_back_when_heard() -> None:
    live = Liveness(15)
    live.beat("a", 0.0)
    live.beat("b", 0.0)
    live.beat("a", 10.0)
    assert live.due(15.0) == []  # exactly the threshold: not yet
    assert live.due(15.5) == ["b"]
    assert live.due(40.0) == ["a"]  # a stopped too, later
    assert live.due(50.0) == []  # declared once
    assert live.alive() == []
    assert live.beat("b", 51.0) is True  # back: judged again from now
    assert live.beat("b", 52.0) is False
    assert live.alive() == ["b"]
    assert live.due(66.0) == []
    assert live.due(67.1) == ["b"]


def test_a_lost_worker_beating_while_it_hears_no_leader_is_not_back_nor_handed_work() -> None:
    """A frozen worker resumed beats before it hears the leader again (it refuses
    callbacks until then): it stays lost, not able, until a beat says it hears one."""
    live = Liveness(4)
    live.beat("a", 0.0)
    live.beat("b", 0.0)
    live.beat("b", 4.0)
    assert live.due(4.5) == ["a"]
    assert live.beat("a", 5.0, cut_off=True) is False
    assert live.alive() == ["b"] and live.able() == ["b"]
    live.beat("b", 6.0)
    assert live.due(6.5) == []  # not declared twice
    assert live.beat("a", 6.0) is True
    assert live.able() == ["a", "b"]
    # Cut off without having been declared lost (the leader hears it, it hears no
    # leader): alive, but handed nothing.
    live.beat("b", 7.0, cut_off=True)
    assert live.alive() == ["a", "b"] and live.able() == ["a"]
    live.beat("b", 8.0)
    assert live.able() == ["a", "b"]


def test_a_restarted_worker_beating_within_the_threshold_is_never_lost() -> None:
    live = Liveness(15)
    live.beat("b", 0.0)
    # killed at 0.5, restarted by its supervisor, beating again 8 s later
    assert live.due(8.0) == []
    live.beat("b", 8.5)
    assert [live.due(t) for t in (9.0, 20.0, 23.0)] == [[], [], []]


def test_while_the_leader_itself_is_off_the_bus_nobody_is_judged() -> None:
    live = Liveness(5)
    live.beat("a", 0.0)
    live.pause(30.0)  # its own NATS was down until 30: a's silence is not a's fault
    assert live.due(34.0) == []
    assert live.due(35.5) == ["a"]


def test_a_node_named_by_taken_over_contacts_must_beat_like_the_others() -> None:
    live = Liveness(5)
    live.expect("b", 100.0)
    live.beat("a", 100.0)
    live.expect("a", 90.0)  # heard already: its last beat stands
    live.beat("a", 104.0)
    assert live.due(105.5) == ["b"]


def test_a_worker_whose_asterisk_is_gone_past_its_grace_is_lost_until_it_is_back() -> None:
    live = Liveness(15, asterisk_after=30)
    live.beat("b", 0.0, asterisk_down=2.0)  # a blip: ARI reconnecting
    live.beat("b", 1.0, asterisk_down=None)
    live.beat("b", 2.0, asterisk_down=29.5)
    assert live.due(2.1) == []
    live.beat("b", 3.0, asterisk_down=30.5)
    assert live.due(3.1) == ["b"]
    assert "its Asterisk has been gone (ARI down) for 30.5 s" in live.why("b")
    # Still beating, its Asterisk still gone: not back, not declared again.
    assert live.beat("b", 4.0, asterisk_down=31.5) is False
    assert live.due(4.1) == []
    assert live.beat("b", 60.0, asterisk_down=None) is True
    assert live.why("b") == "silent on the bus for more than 15 s"


def test_a_threshold_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="lost_after must be positive, got 0"):
        Liveness(0)
    with pytest.raises(ValueError, match="asterisk_after must be positive, got -1"):
        Liveness(15, asterisk_after=-1)


def test_node_lost_after_defaults_to_15_s_asterisk_lost_after_to_30_s() -> None:
    assert RoutingConfig().node_lost_after == 15.0
    with pytest.raises(ValidationError, match="greater than or equal to 2"):
        RoutingConfig(node_lost_after=1)
    assert RoutingConfig().asterisk_lost_after == 30.0
    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        RoutingConfig(asterisk_lost_after=4)


# ---- what becomes of each waiting caller ------------------------------------------------


def check(number: str, queue: str) -> str:
    if not number.isdigit():
        raise CallbackRefused("invalid", f"{number!r} is not a phone number")
    return number


def test_callers_are_booked_in_queue_order_where_the_policy_allows() -> None:
    policies = {"support": QueueCallback(), "sales": QueueCallback(node_lost="lost")}
    waiting = [
        Waiting("late", "support", "5550003", 30.0),
        Waiting("vip", "support", "5550009", 40.0, priority=5),
        Waiting("early", "support", "5550001", 10.0),
        Waiting("anonymous", "support", None, 20.0),
        Waiting("withheld", "support", "anonymous", 25.0),
        Waiting("sale", "sales", "5550004", 5.0),
        Waiting("nocb", "billing", "5550005", 6.0),
    ]
    assert decide(waiting, {**policies, "billing": None}, check) == [
        Decision("vip", "callback", "node_lost", "5550009"),
        Decision("sale", "lost", "queue sales's callback.node_lost is lost"),
        Decision("nocb", "lost", "queue billing takes no callbacks"),
        Decision("early", "callback", "node_lost", "5550001"),
        Decision("anonymous", "lost", "the caller's number is unknown"),
        Decision(
            "withheld", "lost", "the caller's number is refused: 'anonymous' is not a phone number"
        ),
        Decision("late", "callback", "node_lost", "5550003"),
    ]


# ---- the leader's handling, on a real store and routing engine --------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")), retry_for=2.0)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


class Leader:
    """A routing engine with ann in `support` (callbacks), and the node-loss handler."""

    def __init__(self, store: Store) -> None:
        self.store = store
        router = Router()
        router.add_queue(Queue("support", wrap_up=30))
        router.add_queue(Queue("sales"))
        router.add_agent(
            Agent(
                "ann",
                queues=["support", "sales"],
                capacity={Channel.VOICE: 1, Channel.CALLBACK: 1},
            )
        )
        self.routing = RoutingService(router, store.append, tick_interval=0.01)
        self.callbacks = CallbackService(
            store,
            self.routing,
            CallbackConfig(),
            {"support": QueueCallback(), "sales": None},
            own_numbers=["100"],
        )
        self.handler = NodeLossHandler(store, self.routing, self.callbacks)

    async def caller(self, number: str, node: str, queue: str = "support") -> str:
        contact = await self.store.open_contact(
            "voice", "inbound", number, "100", asterisk_node=node
        )
        await self.routing.enqueue(contact, "voice", queue)
        await asyncio.sleep(0.01)  # distinct entry times
        return contact

    async def events(self, kind: str) -> list:
        end = datetime.now(UTC) + timedelta(minutes=1)
        return await self.store.events_between(end - timedelta(hours=1), end, [kind])


@pytest.fixture
async def leader(store: Store) -> AsyncIterator[Leader]:
    leader = Leader(store)
    await leader.routing.start()
    try:
        yield leader
    finally:
        await leader.routing.stop()


async def test_a_lost_nodes_callers_become_callbacks_at_their_place_agent_to_wrap_up(
    leader: Leader,
) -> None:
    routing = leader.routing
    # ann talks to a caller on node b; then callers wait on a and b, interleaved.
    talker = await leader.caller("5550100", "b")
    await routing.login("ann")
    offer = None
    async for item in routing.ticket(talker):  # type: ignore[union-attr]
        if isinstance(item, Offer):
            offer = item
            break
    assert offer is not None
    await routing.ringing(offer)
    await routing.accepted(offer)
    b1 = await leader.caller("5550201", "b")
    a1 = await leader.caller("5550301", "a")
    b2 = await leader.caller("anonymous", "b")
    b3 = await leader.caller("5550203", "b")
    a2 = await leader.caller("5550302", "a")
    b4 = await leader.caller("5550204", "b", queue="sales")

    booked = await leader.handler.lost("b", [b1, b2, b3, b4], {talker: "ann"})

    rows = CallbackStore(leader.store)
    callbacks = [await rows.get(c) for c in booked]
    assert [(c.number, c.origin_contact_id, c.source) for c in callbacks if c] == [
        ("5550201", b1, "node_lost"),
        ("5550203", b3, "node_lost"),
    ]
    # At their original places among node a's callers, which wait on.
    order = [a1, a2, *booked]
    places = {c: routing.position(c) for c in order}
    assert places == {booked[0]: 1, a1: 2, booked[1]: 3, a2: 4}, places
    for contact in (b1, b2, b3, b4):
        assert routing.ticket(contact) is None
        row = await leader.store.contact(contact)
        assert row is not None and row.status == "lost" and row.ended_at is not None
    said = {e.contact_id: e.data for e in await leader.events("routing.node_lost")}
    assert said[b1] == {
        "node": "b",
        "reason": "node_lost",
        "queue": "support",
        "action": "callback",
        "callback": booked[0],
    }
    assert said[b2]["action"] == "lost" and "refused" in said[b2]["why"]
    assert said[b4]["why"] == "queue sales takes no callbacks"
    assert said[talker] == {"node": "b", "reason": "node_lost", "action": "ended", "agent": "ann"}
    requested = [e.contact_id for e in await leader.events("callback.requested")]
    assert requested == booked
    assert routing.agent_status("ann")[Channel.VOICE].state == AgentState.WRAP_UP
    for contact in (a1, a2):
        assert (await leader.store.contact(contact)).status == "active"  # type: ignore[union-attr]

    # A second signal for the same node (or a replay): nothing doubled.
    again = await leader.handler.lost("b", [b1, b2, b3, b4], {talker: "ann"})
    assert again == []
    assert len(await leader.events("routing.node_lost")) == 5
    assert len(await leader.events("callback.requested")) == 2


# ---- the leader's ear on the bus (a fake connection, a fake clock) ------------------------


class FakeBus:
    """Subscriptions by subject; `is_connected` as the test says."""

    def __init__(self) -> None:
        self.subs: dict[str, object] = {}
        self.is_connected = True

    async def subscribe(self, subject: str, cb: object) -> FakeBus:
        self.subs[subject] = cb
        return self

    async def unsubscribe(self) -> None:
        self.subs.clear()


class Msg:
    def __init__(self, data: bytes) -> None:
        self.data = data


async def test_the_watch_calls_on_lost_once_per_silent_worker_and_not_while_deaf() -> None:
    bus, now, lost = FakeBus(), [0.0], []

    async def on_lost(worker: str) -> None:
        lost.append((worker, now[0]))

    watch = NodeWatch(bus, "w", on_lost, lost_after=5, tick=0.001, clock=lambda: now[0])
    await watch.start(expected=["c"])
    beat = bus.subs["w"]
    for worker in ("a", "b"):
        await beat(Msg(f'{{"worker": "{worker}", "asterisk_down": null}}'.encode()))  # type: ignore[operator]
    await beat(Msg(b"not json"))  # type: ignore[operator]
    await beat(Msg(b'{"no": "worker"}'))  # type: ignore[operator]
    now[0] = 4.0
    await beat(Msg(b'{"worker": "a"}'))  # type: ignore[operator]
    bus.is_connected = False  # the leader's own bus is down from 4 to 20: nobody judged
    now[0] = 20.0
    await asyncio.sleep(0.02)
    assert lost == []
    bus.is_connected = True
    now[0] = 25.5
    await asyncio.sleep(0.02)
    await watch.stop()
    assert sorted(lost) == [("a", 25.5), ("b", 25.5), ("c", 25.5)]
    assert bus.subs == {}


# ---- the worker's side, over a real NATS ------------------------------------------------


async def test_a_worker_beats_with_its_asterisk_state_and_serves_the_leaders_adopt(
    nats_server: NatsServer,
) -> None:
    leader_nc = await connect([nats_server.url], "leader")
    worker_nc = await connect([nats_server.url], "worker")
    subjects = Subjects("sales")
    beats: list[dict[str, object]] = []

    async def heard(msg: object) -> None:
        beats.append(loads(msg.data))  # type: ignore[attr-defined]

    await leader_nc.subscribe(subjects.workers, cb=heard)
    await settle(leader_nc)  # subscribed at the server before the first beat
    remote = RemoteRouting(worker_nc, "sales", worker="host/b")
    remote.asterisk(False)
    await remote.start()
    await settle(worker_nc)  # its subscriptions are at the server
    adopted: list[list[str]] = []
    try:
        ask = dumps({"op": "adopt", "contacts": ["cb-1", "cb-2"]})
        reply = await leader_nc.request(subjects.worker("host/b"), ask, timeout=2)
        assert loads(reply.data) == {"error": "not served here: 'adopt'"}  # no callbacks yet

        async def adopt(contacts: list[str]) -> int:
            adopted.append(contacts)
            return len(contacts)

        remote.adopt = adopt
        reply = await leader_nc.request(subjects.worker("host/b"), ask, timeout=2)
        assert loads(reply.data) == {"ok": 2} and adopted == [["cb-1", "cb-2"]]
        bad = await leader_nc.request(subjects.worker("host/b"), b'{"op": "x"}', timeout=2)
        assert loads(bad.data) == {"error": "not served here: 'x'"}
        assert adopted == [["cb-1", "cb-2"]]  # nothing more
        async with asyncio.timeout(5):  # a beat saying Asterisk is down came first
            while not beats:
                await asyncio.sleep(0.05)
        remote.asterisk(True)
        async with asyncio.timeout(5):  # a beat every second
            while not beats or beats[-1]["asterisk_down"] is not None:
                await asyncio.sleep(0.05)
    finally:
        await remote.stop()
        await leader_nc.close()
        await worker_nc.close()
    assert beats[0]["worker"] == "host/b" and beats[0]["asterisk_down"] is not None
    assert beats[-1] == {
        "worker": "host/b",
        "asterisk_down": None,
        "callbacks": [],
        "cut_off": False,
    }


async def test_a_callback_waiting_on_a_lost_node_keeps_its_place_and_is_not_rebooked(
    leader: Leader,
) -> None:
    """A lost node's waiting callback is already a callback: it stays in its queue at
    its place (the leader hands it to another worker: callback_keeper.py)."""
    callback = await leader.callbacks.book("5550777", "support", source="api")
    await leader.routing.enqueue(callback.contact_id, "callback", "support")
    caller = await leader.caller("5550201", "b")

    booked = await leader.handler.lost("b", [callback.contact_id, caller], {})

    assert len(booked) == 1  # the caller's callback, not a callback of the callback
    assert leader.routing.ticket(callback.contact_id) is not None
    assert leader.routing.position(callback.contact_id) == 1
    row = await leader.store.contact(callback.contact_id)
    assert row is not None and row.status == "active"
    lost = {e.contact_id for e in await leader.events("routing.node_lost")}
    assert lost == {caller}


async def test_a_lost_nodes_other_open_calls_end_lost_callbacks_and_other_nodes_untouched(
    leader: Leader,
) -> None:
    """The steady-load run's conversations left open (README, "Under a steady load"):
    a caller whose agent hung up (`finished` told to the leader, so not talking there)
    while its flow went on at node b when b died; and a caller still in b's flow before
    its queue. Both end `lost` with the node; a callback dialed from b stays open (it is
    dialed again), node a's calls and b's closed contacts are untouched."""
    routing, store = leader.routing, leader.store
    after = await leader.caller("5550100", "host/b")
    await routing.login("ann")
    offer = None
    async for item in routing.ticket(after):  # type: ignore[union-attr]
        if isinstance(item, Offer):
            offer = item
            break
    assert offer is not None
    await routing.ringing(offer)
    await routing.accepted(offer)
    await routing.finished("ann", after)  # ann hung up; the caller's flow goes on
    before = await store.open_contact("voice", "inbound", "5550101", "100", asterisk_node="host/b")
    done = await store.open_contact("voice", "inbound", "5550102", "100", asterisk_node="host/b")
    await store.close_contact(done, "completed")
    on_a = await store.open_contact("voice", "inbound", "5550103", "100", asterisk_node="host/a")
    # (A callback's contact names no node today: one that did would still be kept.)
    callback = await store.open_contact(
        "callback", "outbound", "100", "5550777", asterisk_node="host/b"
    )

    assert await leader.handler.lost("host/b", [], {}) == []

    said = {e.contact_id: e.data for e in await leader.events("routing.node_lost")}
    assert set(said) == {after, before}
    why = "its call was on the node, neither waiting nor talking at the leader"
    for contact in (after, before):
        assert said[contact] == {
            "node": "host/b",
            "reason": "node_lost",
            "action": "ended",
            "why": why,
        }
        row = await store.contact(contact)
        assert row is not None and row.status == "lost" and row.ended_at is not None
        assert leader.handler.outcomes[contact]["action"] == "ended"  # told to b if back
    statuses = {c: (await store.contact(c)).status for c in (done, on_a, callback)}  # type: ignore[union-attr]
    assert statuses == {done: "completed", on_a: "active", callback: "active"}
    assert routing.agent_status("ann")[Channel.VOICE].state == AgentState.WRAP_UP  # as it was

    # The Asterisk alone lost under a live worker (asterisk_lost): the worker ends its
    # own calls; the leader ends only the waiting ones it names.
    flow = await store.open_contact("voice", "inbound", "5550104", "100", asterisk_node="host/c")
    await leader.handler.lost("host/c", [], {}, reason="asterisk_lost")
    assert (await store.contact(flow)).status == "active"  # type: ignore[union-attr]
    # Declared lost again (a replay): nothing doubled.
    await leader.handler.lost("host/b", [], {})
    assert len(await leader.events("routing.node_lost")) == 2


async def test_the_store_lists_a_nodes_open_contacts_oldest_first(store: Store) -> None:
    first = await store.open_contact("voice", "inbound", "5550101", "100", asterisk_node="h/b")
    await asyncio.sleep(0.01)
    second = await store.open_contact("voice", "inbound", "5550102", "100", asterisk_node="h/b")
    closed = await store.open_contact("voice", "inbound", "5550103", "100", asterisk_node="h/b")
    await store.close_contact(closed, "completed")
    await store.open_contact("voice", "inbound", "5550104", "100", asterisk_node="h/a")
    await store.open_contact("chat", "inbound", "web", "widget")
    assert [c.id for c in await store.open_contacts_on("h/b")] == [first, second]
    assert await store.open_contacts_on("h/z") == []
