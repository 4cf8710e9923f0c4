"""Open callbacks in a cluster, over a real NATS (a private nats-server) and a real
store (SQLite): a leader's `RoutingResponder` in front of a real `RoutingService`, two
call workers (`RemoteRouting` with their own `CallbackService` and a scripted dialer).

- one open callback, two workers: exactly one dials it (the leader hands it once);
- the worker dialing it is lost mid-call: the other dials it again (attempt kept);
- a leader fails over before handing a callback: the new one hands it, dialed once;
- a hand-over from an older epoch is refused by the worker, nothing served.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hotline.acd import Agent, Channel, Queue, Router
from hotline.acd.service import RoutingService
from hotline.callbacks.service import CallbackService
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.cluster.bus import Subjects, connect, dumps, loads
from hotline.cluster.leader import Leadership
from hotline.cluster.node_loss import NodeLossHandler
from hotline.cluster.remote import RemoteRouting
from hotline.cluster.responder import RoutingResponder
from hotline.cluster.takeover import read_routing_state
from hotline.store import Store, sqlite_url
from tests.nats import NatsServer, nats_server
from tests.unit.callbacks.test_callback_service import ScriptedDialer, until

__all__ = ["nats_server"]

SETTINGS = {"support": QueueCallback(retry_delay=0)}


def router() -> Router:
    found = Router()
    found.add_queue(Queue("support", wrap_up=0))
    found.add_agent(
        Agent("ann", queues=["support"], capacity={Channel.VOICE: 1, Channel.CALLBACK: 1})
    )
    return found


class Leader:
    """A leader of `epoch`: routing on the shared store, its responder on the bus."""

    def __init__(self, nc: Any, store: Store, epoch: int, grace: float) -> None:
        routes = router()
        routes.epoch = epoch  # every offer carries it
        self.routing = RoutingService(routes, store.append, tick_interval=0.02)
        self.leadership = Leadership("sales", epoch, f"leader-{epoch}")
        callbacks = CallbackService(store, self.routing, CallbackConfig(), SETTINGS)
        self.responder = RoutingResponder(
            nc,
            self.routing,
            self.leadership,
            heartbeat=0.05,
            node_loss=NodeLossHandler(store, self.routing, callbacks),
            lost_after=1.0,
            callback_grace=grace,
        )
        self.store = store

    async def start(self) -> None:
        state = await read_routing_state(self.store)
        tickets, _ = await self.routing.restore(state.waiting, state.talking)
        await self.routing.login("ann")
        await self.routing.start()
        await self.responder.start(tickets.values(), state.talking)

    async def stop(self) -> None:
        self.leadership.lose("stopped by the test")
        await self.responder.stop()
        await self.routing.stop()


class Worker:
    """A call worker: its routing over the bus, its callback service and dialer."""

    def __init__(self, nc: Any, store: Store, name: str) -> None:
        self.remote = RemoteRouting(nc, "sales", worker=name, try_timeout=0.5)
        self.remote.beat_interval = 0.1
        self.callbacks = CallbackService(store, self.remote, CallbackConfig(), SETTINGS)  # type: ignore[arg-type]
        self.remote.adopt = self.callbacks.adopt
        self.remote.serving = self.callbacks.serving
        self.dialer = ScriptedDialer(self.remote)  # type: ignore[arg-type]

    async def start(self) -> None:
        await self.callbacks.start(self.dialer, restore=False)
        assert await self.remote.start(wait=5.0)

    async def stop(self) -> None:
        await self.callbacks.stop()
        await self.remote.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")), retry_for=2.0)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Any]:
    conns: list[Any] = []

    async def make() -> Any:
        conns.append(await connect([nats_server.url], "test"))
        return conns[-1]

    yield make
    for conn in conns:
        await conn.close()


async def book(store: Store, number: str) -> str:
    """An open callback in the store that no worker serves (booked by a service that
    dials nothing: a leader, or a worker gone since)."""
    booking = CallbackService(
        store, RoutingService(router(), store.append), CallbackConfig(), SETTINGS
    )
    return (await booking.book(number, "support", source="api")).contact_id


async def handed(store: Store, contact: str) -> list[dict[str, Any]]:
    end = datetime.now(UTC) + timedelta(minutes=1)
    events = await store.events_between(end - timedelta(hours=1), end, ["callback.handed"])
    return [e.data for e in events if e.contact_id == contact]


async def test_one_open_callback_two_workers_exactly_one_dials_it(store: Store, bus: Any) -> None:
    leader = Leader(await bus(), store, 1, grace=0.5)
    workers = [Worker(await bus(), store, name) for name in ("host/a", "host/b")]
    callback = await book(store, "5550123")
    await leader.start()
    for worker in workers:
        await worker.start()
    try:
        await until(lambda: any(w.dialer.dialed for w in workers), timeout=10)
        await asyncio.sleep(1.0)  # time for a second dial, if there were one
        dialed = [d for w in workers for d in w.dialer.dialed]
        assert dialed == [("5550123", "ann", 1)]
        said = await handed(store, callback)
        assert len(said) == 1 and said[0]["why"] == "served by no worker", said
        row = await workers[0].callbacks.rows.get(callback)
        assert row is not None and row.state == "completed"
    finally:
        for worker in workers:
            await worker.stop()
        await leader.stop()


async def test_the_worker_dialing_is_lost_the_other_dials_again_attempt_kept(
    store: Store, bus: Any
) -> None:
    leader = Leader(await bus(), store, 1, grace=0.5)
    workers = [Worker(await bus(), store, name) for name in ("host/a", "host/b")]
    for worker in workers:
        worker.dialer.hold.clear()  # the customer talks until the test says
    callback = await book(store, "5550124")
    await leader.start()
    for worker in workers:
        await worker.start()
    try:
        await until(lambda: any(w.dialer.dialed for w in workers), timeout=10)
        first = next(w for w in workers if w.dialer.dialed)
        other = next(w for w in workers if w is not first)
        row = await store.contact(callback)
        assert (await first.callbacks.rows.get(callback)).state == "dialing"  # type: ignore[union-attr]
        await asyncio.sleep(0.3)  # its beats say it serves it
        # The first worker dies mid-call: no more beats, nothing more said (its dialer
        # stays stuck in the call, as a dead process would).
        await first.remote.stop()
        other.dialer.hold.set()
        await until(lambda: bool(other.dialer.dialed), timeout=10)
        assert other.dialer.dialed == [("5550124", "ann", 2)]  # the interrupted attempt counts
        await until(lambda: other.callbacks.serving() == [], timeout=5)
        row = await store.contact(callback)
        assert row is not None and row.status == "completed"
        said = await handed(store, callback)
        assert [s["why"] for s in said] == [
            "served by no worker",
            f"its worker {first.remote.worker} is lost",
        ]
        assert said[1]["worker"] == other.remote.worker
        end = datetime.now(UTC) + timedelta(minutes=1)
        lost = await store.events_between(end - timedelta(hours=1), end, ["routing.node_lost"])
        assert [(e.contact_id, e.data["action"]) for e in lost] == [(callback, "redial")]
    finally:
        for worker in workers:
            worker.dialer.hold.set()
            await worker.stop()
        await leader.stop()


async def test_a_leader_failing_over_before_handing_the_new_one_hands_it_once(
    store: Store, bus: Any
) -> None:
    old = Leader(await bus(), store, 1, grace=60.0)  # it would hand it only after 60 s
    workers = [Worker(await bus(), store, name) for name in ("host/a", "host/b")]
    await old.start()
    for worker in workers:
        await worker.start()
    callback = await book(store, "5550125")
    try:
        await asyncio.sleep(0.5)
        assert await handed(store, callback) == []
        await old.stop()  # deposed before handing it
        new = Leader(await bus(), store, 2, grace=0.5)
        await new.start()
        try:
            await until(lambda: any(w.dialer.dialed for w in workers), timeout=10)
            await asyncio.sleep(1.0)
            assert [d for w in workers for d in w.dialer.dialed] == [("5550125", "ann", 1)]
            said = await handed(store, callback)
            assert len(said) == 1
            # The old leader's hand-over, late: refused by the worker, nothing served.
            nc = await bus()
            worker = next(w for w in workers if w.remote.worker != said[0]["worker"])
            late = dumps({"op": "adopt", "contacts": [callback], "epoch": 1})
            reply = await nc.request(Subjects("sales").worker(worker.remote.worker), late, 2)
            assert loads(reply.data) == {
                "error": "callbacks refused: handed under epoch 1 of routing domain 'sales', "
                "which is now at epoch 2"
            }
            assert worker.callbacks.serving() == [] and worker.dialer.dialed == []
        finally:
            await new.stop()
    finally:
        for worker in workers:
            await worker.stop()


async def test_callers_lost_with_a_crashed_asterisk_become_callbacks_dialed_once_it_is_back(
    store: Store, bus: Any
) -> None:
    """The worker's Asterisk crashes under two waiting callers (the worker lives): the
    leader books them callbacks at their places by the node-lost policy, and hands them
    to a worker only once one can dial: this one, when its Asterisk is back."""
    leader = Leader(await bus(), store, 1, grace=0.5)
    worker = Worker(await bus(), store, "host/a")
    await leader.start()
    await leader.routing.logout("ann")  # nobody to serve: they wait
    await worker.start()
    try:
        first = await store.open_contact(
            "voice", "inbound", "5550201", "100", asterisk_node="host/a"
        )
        anonymous = await store.open_contact(
            "voice", "inbound", "anonymous", "100", asterisk_node="host/a"
        )
        for contact in (first, anonymous):
            await worker.remote.enqueue(contact, "voice", "support")
            await asyncio.sleep(0.01)
        worker.remote.asterisk(False)  # ARI gone: Asterisk crashed
        booked = await worker.remote.asterisk_lost([first, anonymous])

        assert len(booked) == 1
        assert worker.remote.ticket(first) is None and worker.remote.ticket(anonymous) is None
        assert leader.routing.position(booked[0]) == 1  # the caller's own place
        row = await worker.callbacks.rows.get(booked[0])
        assert row is not None and (row.number, row.source) == ("5550201", "node_lost")
        end = datetime.now(UTC) + timedelta(minutes=1)
        lost = await store.events_between(end - timedelta(hours=1), end, ["routing.node_lost"])
        said = {e.contact_id: e.data for e in lost}
        assert said[first] == {
            "node": "host/a",
            "reason": "asterisk_lost",
            "queue": "support",
            "action": "callback",
            "callback": booked[0],
        }
        assert said[anonymous]["action"] == "lost"
        assert (await store.contact(first)).status == "lost"  # type: ignore[union-attr]
        await leader.routing.login("ann")
        await asyncio.sleep(1.0)  # its Asterisk is down: handed to nobody
        assert await handed(store, booked[0]) == [] and worker.dialer.dialed == []
        worker.remote.asterisk(True)  # back within asterisk_lost_after
        await until(lambda: bool(worker.dialer.dialed), timeout=10)
        assert worker.dialer.dialed == [("5550201", "ann", 1)]
        assert [h["why"] for h in await handed(store, booked[0])] == ["booked by the leader"]
    finally:
        await worker.stop()
        await leader.stop()


async def test_a_worker_cut_off_from_its_leader_releases_its_callbacks_and_refuses_more(
    store: Store, bus: Any
) -> None:
    """No leader heard for `cut_off_after` (half of node_lost_after in `hotline run`):
    the worker stops serving its callbacks (the leader hands them to a live worker once
    it declares this node lost) and refuses hand-overs until it hears a leader again."""
    leader = Leader(await bus(), store, 1, grace=0.3)
    worker = Worker(await bus(), store, "host/a")
    worker.remote.cut_off_after = 0.5

    async def release() -> list[str]:
        released = await worker.callbacks.release()
        for contact in released:
            worker.remote.forget(contact)
        return released

    worker.remote.release = release
    await leader.start()
    await leader.routing.logout("ann")  # the callback waits in its queue
    await worker.start()
    callback = await book(store, "5550126")
    try:
        await until(lambda: worker.callbacks.serving() == [callback], timeout=10)
        await until(lambda: worker.remote.ticket(callback) is not None, timeout=5)
        await leader.stop()  # the worker hears no leader from now on (cut off)
        await until(lambda: worker.remote.cut_off, timeout=5)
        await until(lambda: worker.callbacks.serving() == [], timeout=5)
        assert worker.remote.ticket(callback) is None  # not followed here any more
        row = await worker.callbacks.rows.get(callback)
        assert row is not None and row.open and row.state == "pending"  # still booked
        nc = await bus()
        ask = dumps({"op": "adopt", "contacts": [callback], "epoch": 2})
        reply = await nc.request(Subjects("sales").worker("host/a"), ask, 2)
        assert loads(reply.data) == {
            "error": "callbacks refused: this worker has been cut off from the bus"
        }
        assert worker.callbacks.serving() == [] and worker.dialer.dialed == []
    finally:
        await worker.stop()


async def test_a_worker_back_from_a_cut_off_learns_its_caller_was_rebooked(
    store: Store, bus: Any
) -> None:
    """The leader declared the node lost while the worker was cut off and booked its
    waiting caller a callback at its place; back on the bus (sync) the worker's ticket
    ends `left` and says what was done, for the call to tell the caller and end."""
    leader = Leader(await bus(), store, 1, grace=0.3)
    worker = Worker(await bus(), store, "host/a")
    await leader.start()
    await leader.routing.logout("ann")
    await worker.start()
    try:
        caller = await store.open_contact(
            "voice", "inbound", "5550202", "100", asterisk_node="host/a"
        )
        ticket = await worker.remote.enqueue(caller, "voice", "support")
        node_loss = leader.responder.node_loss
        assert node_loss is not None
        # Cut off: what the leader says of the caller meanwhile does not reach it.
        await worker.remote._subs[caller].unsubscribe()
        (booked,) = await node_loss.lost("host/a", [caller], {})  # as the watch would
        await asyncio.sleep(0.2)
        assert worker.remote.ticket(caller) is ticket  # it knows nothing yet
        await worker.remote.sync()  # NATS back: what happened meanwhile
        item = await asyncio.wait_for(ticket.next(), 2)
        assert getattr(item, "outcome", None) == "left"
        assert worker.remote.rebooked(caller) == {
            "node": "host/a",
            "reason": "node_lost",
            "queue": "support",
            "action": "callback",
            "callback": booked,
        }
        assert worker.remote.ticket(caller) is None
    finally:
        await worker.stop()
        await leader.stop()


async def test_the_end_of_a_rebooked_caller_says_what_was_done_when_heard_live(
    store: Store, bus: Any
) -> None:
    """A worker paused (frozen, its connection kept) hears the end of its caller's
    ticket when it resumes, not through `sync`: the end itself says what the leader did."""
    leader = Leader(await bus(), store, 1, grace=0.3)
    worker = Worker(await bus(), store, "host/a")
    await leader.start()
    await leader.routing.logout("ann")
    await worker.start()
    try:
        caller = await store.open_contact(
            "voice", "inbound", "5550203", "100", asterisk_node="host/a"
        )
        ticket = await worker.remote.enqueue(caller, "voice", "support")
        node_loss = leader.responder.node_loss
        assert node_loss is not None
        (booked,) = await node_loss.lost("host/a", [caller], {})
        item = await asyncio.wait_for(ticket.next(), 2)
        assert getattr(item, "outcome", None) == "left"
        said = worker.remote.rebooked(caller)
        assert said is not None and (said["action"], said["callback"]) == ("callback", booked)
    finally:
        await worker.stop()
        await leader.stop()
