"""A chat's callback booked on a web process (hotline/cluster/web_callbacks.py): written
with the chat's place and queued at once at the routing leader at that place (ahead of
a caller who came after the chat), no ticket kept on the web process; the call worker
the leader hands it to attaches to it there and dials it. Over a real nats-server: a
leader's responder, a call worker and the web process's RemoteRouting."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.settings import CallbackConfig
from hotline.cluster.call_bus import CallbackServer, cancel_on_worker
from hotline.cluster.remote import RemoteRouting
from hotline.cluster.web_callbacks import BookedForWorkers
from hotline.store import Store, sqlite_url
from tests.nats import nats_server
from tests.unit.callbacks.test_callback_service import Lab, until
from tests.unit.cluster.test_callback_handover import (
    SETTINGS,
    Leader,
    Worker,
    book,
    bus,
    handed,
    store,
)

__all__ = ["bus", "nats_server", "store"]


@dataclass
class WebTier:
    """A routing leader (handing a callback only when told), a call worker serving
    callbacks with its cancel server, and a web process booking them."""

    leader: Leader
    worker: Worker
    server: CallbackServer
    web_routing: RemoteRouting
    web: BookedForWorkers

    @classmethod
    async def make(cls, store: Store, bus: Any, *, cancel_timeout: float = 0.5) -> WebTier:
        leader = Leader(await bus(), store, 1, grace=30.0)
        worker = Worker(await bus(), store, "host/a")
        server = CallbackServer(await bus(), "sales", worker.callbacks)
        web_nc = await bus()
        web_routing = RemoteRouting(web_nc, "sales", worker="web/b", try_timeout=0.5)
        web = BookedForWorkers(store, web_routing, CallbackConfig(), SETTINGS)
        web.cancel_where_served = functools.partial(
            cancel_on_worker, web_nc, "sales", timeout=cancel_timeout
        )
        return cls(leader, worker, server, web_routing, web)

    @property
    def parts(self) -> tuple[Leader, Worker, CallbackServer, RemoteRouting, BookedForWorkers]:
        return self.leader, self.worker, self.server, self.web_routing, self.web

    async def stop(self) -> None:
        await self.server.stop()
        await self.web_routing.stop()
        await self.worker.stop()
        await self.leader.stop()


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")), retry_for=2.0)
    await store.migrate()
    lab = Lab(store)
    await lab.start()
    try:
        yield lab
    finally:
        await lab.stop()
        await store.close()


async def test_a_number_refused_books_nothing_and_the_chat_keeps_its_place(lab: Lab) -> None:
    web = BookedForWorkers(lab.store, lab.routing, CallbackConfig(), {"support": lab.settings})
    chat = await lab.store.open_contact("chat", "inbound", "web:abc", "support")
    await lab.routing.enqueue(chat, "chat", "support")
    with pytest.raises(CallbackRefused) as refused:
        await web.book_from_queue(chat, "12", "support", channel="chat")
    assert refused.value.reason == "invalid"
    assert lab.routing.position(chat) == 1  # still waiting, at its place
    assert await web.rows.open_callbacks() == []


async def offers(store: Store) -> list[str]:
    """The contacts offered to an agent so far, in order."""
    end = datetime.now(UTC) + timedelta(minutes=1)
    events = await store.events_between(end - timedelta(hours=1), end, ["contact.offer"])
    return [e.contact_id or "" for e in events]


async def test_a_chats_callback_holds_its_place_at_the_leader_from_its_booking(
    store: Store, bus: Any
) -> None:
    """Issue #20: the callback was in no queue until the leader handed it to a worker
    (its grace, 2.5 s): an agent freed then was offered a caller who came later. Now it
    is queued at the leader at the chat's place when booked: ann, freed at once, is
    offered the callback first; the worker handed it dials it, once."""
    leader = Leader(await bus(), store, 1, grace=30.0)  # handed only because it is told
    worker = Worker(await bus(), store, "host/a")
    web_routing = RemoteRouting(await bus(), "sales", worker="web/b", try_timeout=0.5)
    web = BookedForWorkers(store, web_routing, CallbackConfig(), SETTINGS)
    await leader.start()
    await leader.routing.pause("ann", "lunch")
    await worker.start()
    assert await web_routing.start(wait=5.0)
    try:
        chat = await store.open_contact("chat", "inbound", "web:abc", "support")
        await web_routing.enqueue(chat, "chat", "support")
        await asyncio.sleep(0.05)
        later = await store.open_contact("voice", "inbound", "5550111", "100")
        await worker.remote.enqueue(later, "voice", "support")

        callback = await web.book_from_queue(chat, "5550199", "support", channel="chat")
        # At the leader, at the chat's place, at once; the chat left its queue.
        assert leader.routing.position(callback.contact_id) == 1
        assert leader.routing.position(later) == 2
        assert leader.routing.ticket(chat) is None
        assert web_routing.ticket(callback.contact_id) is None  # no ticket kept on the web
        assert web._tasks == {}  # nothing dialed or waited for on the web process

        await leader.routing.unpause("ann")  # freed well within the leader's grace
        first: list[str] = []
        for _ in range(250):
            first = await offers(store)
            if first:
                break
            await asyncio.sleep(0.02)
        assert first[0] == callback.contact_id, first  # not the later caller

        # The leader, told at once, hands it to the worker now (not after its grace).
        await until(lambda: bool(worker.dialer.dialed), timeout=10)
        await asyncio.sleep(0.5)  # time for a second dial, if there were one
        assert worker.dialer.dialed == [("5550199", "ann", 1)]  # by the worker, once
        said = await handed(store, callback.contact_id)
        assert [(h["worker"], h["why"]) for h in said] == [("host/a", "booked by web/b")], said
    finally:
        await web_routing.stop()
        await worker.stop()
        await leader.stop()


async def test_a_flows_callback_booked_on_the_web_is_queued_at_once(store: Store, bus: Any) -> None:
    """A callback booked outright on a web process (a flow's callback node): due now,
    it joins its queue at the leader at once, not after the leader's grace."""
    leader = Leader(await bus(), store, 1, grace=30.0)  # no hand-over in this test
    web_routing = RemoteRouting(await bus(), "sales", worker="web/b", try_timeout=0.5)
    web = BookedForWorkers(store, web_routing, CallbackConfig(), SETTINGS)
    await leader.start()
    await leader.routing.pause("ann", "lunch")
    assert await web_routing.start(wait=5.0)
    try:
        callback = await web.book("5550177", "support", source="chat")
        await until(lambda: leader.routing.position(callback.contact_id) == 1, timeout=3)
        assert web_routing.ticket(callback.contact_id) is None
    finally:
        await web_routing.stop()
        await leader.stop()


async def test_a_callback_cancelled_on_the_web_is_cancelled_by_the_worker_serving_it(
    store: Store, bus: Any
) -> None:
    """`DELETE /api/callbacks/{id}` on a web process: the worker serving the callback (its
    place at the leader, its dialer) cancels it; it then serves it no more and it leaves
    the leader's queue. Before any worker serves it the cancel is refused, nothing
    changed; once cancelled, a second cancel is a LookupError (not open)."""
    tier = await WebTier.make(store, bus)
    leader, worker, server, web_routing, web = tier.parts
    await leader.start()
    await leader.routing.pause("ann", "lunch")  # nobody dials it meanwhile
    assert await web_routing.start(wait=5.0)
    try:
        callback = await web.book("5550177", "support", source="api")
        await until(lambda: leader.routing.position(callback.contact_id) == 1, timeout=3)
        # No worker serves it yet (none is up): refused with why, nothing changed.
        with pytest.raises(CallbackRefused) as refused:
            await web.cancel(callback.contact_id, by="sue")
        assert refused.value.reason == "unserved"
        assert f"no call worker serves callback {callback.contact_id} now" in str(refused.value)
        still = await web.rows.get(callback.contact_id)
        assert still is not None and still.state == "pending"

        await worker.start()
        await server.start()
        await until(lambda: callback.contact_id in worker.callbacks.serving(), timeout=10)
        cancelled = await web.cancel(callback.contact_id, by="sue")
        assert cancelled.state == "cancelled"
        # Cancelled there: its wait ends when the leader's ticket says "left" (a bus round
        # trip: on a loaded machine, after the cancel has answered).
        await until(lambda: callback.contact_id not in worker.callbacks.serving(), timeout=5)
        await until(lambda: leader.routing.position(callback.contact_id) is None, timeout=3)
        events = [e.type for e in await store.events(callback.contact_id)]
        assert events.count("callback.cancelled") == 1, events
        with pytest.raises(LookupError):
            await web.cancel(callback.contact_id, by="sue")
        assert worker.dialer.dialed == []
        assert await web.pending("support") == []
    finally:
        await tier.stop()


async def test_the_web_lists_the_agent_being_called_for_a_callback_from_the_log(
    store: Store, bus: Any
) -> None:
    """The listing on a web process: the agent of the attempt under way is read from the
    log (the dialer is on a call worker); none for a callback waiting."""
    web_routing = RemoteRouting(await bus(), "sales", worker="web/b", try_timeout=0.5)
    web = BookedForWorkers(store, web_routing, CallbackConfig(), SETTINGS)
    later = datetime.now(UTC) + timedelta(hours=2)  # not queued: no leader needed here
    await web.book("5550101", "support", source="api", scheduled_for=later)
    dialing = await web.book("5550102", "support", source="api", scheduled_for=later)
    await web.rows.update(dialing.contact_id, state="dialing", attempts=1)
    await store.append(
        dialing.contact_id,
        "callback.attempt",
        {"number": "5550102", "queue": "support", "attempt": 1, "agent": "ann", "event": "dialing"},
    )
    await store.append(  # a later step of the same attempt, naming no agent
        dialing.contact_id,
        "callback.attempt",
        {"number": "5550102", "queue": "support", "attempt": 1, "event": "ringing"},
    )
    listed = {item["number"]: item["agent"] for item in await web.pending("support")}
    assert listed == {"5550101": None, "5550102": "ann"}, listed


async def test_a_callback_for_later_booked_on_the_web_is_handed_at_once(
    store: Store, bus: Any
) -> None:
    """A callback booked on a web process for later (the REST API's `scheduled_for`) is
    not queued yet, but the leader is told at once and hands it to a call worker now
    (not after its grace), which serves it from then on: cancelling it through the web
    process works at once; it is never dialed before its time."""
    tier = await WebTier.make(store, bus)
    leader, worker, server, web_routing, web = tier.parts
    await leader.start()
    await worker.start()
    await server.start()
    assert await web_routing.start(wait=5.0)
    try:
        later = datetime.now(UTC) + timedelta(hours=2)
        callback = await web.book("5550188", "support", source="api", scheduled_for=later)
        await until(lambda: callback.contact_id in worker.callbacks.serving(), timeout=5)
        said = await handed(store, callback.contact_id)
        assert [(h["worker"], h["why"]) for h in said] == [("host/a", "booked by web/b")], said
        assert leader.routing.position(callback.contact_id) is None  # not queued before its time
        cancelled = await web.cancel(callback.contact_id, by="api")
        assert cancelled.state == "cancelled"
        assert worker.dialer.dialed == []
    finally:
        await tier.stop()


async def test_a_cancel_asked_while_the_worker_is_taking_the_callback_is_done_by_it(
    store: Store, bus: Any
) -> None:
    """The leader logs a hand-over, then asks the worker to take the callback: a cancel
    asked on the web in between (the log already says it was handed) waits for the
    worker to have it, rather than finding no worker serving it."""
    tier = await WebTier.make(store, bus, cancel_timeout=2.0)
    leader, worker, server, _, web = tier.parts
    await leader.start()
    await leader.routing.pause("ann", "lunch")  # nobody dials it
    await worker.start()
    await server.start()
    callback = await web.rows.get(await book(store, "5550189"))
    assert callback is not None
    read, gate = worker.callbacks.rows.get, asyncio.Event()

    async def slow_read(contact_id: str) -> Any:
        await gate.wait()  # the worker's read of the handed callback, held back
        return await read(contact_id)

    worker.callbacks.rows.get = slow_read  # type: ignore[method-assign]
    try:
        adopting = asyncio.create_task(worker.callbacks.adopt([callback.contact_id]))
        await asyncio.sleep(0)  # the hand-over has begun
        assert worker.callbacks.serving() == []
        cancel = asyncio.create_task(web.cancel(callback.contact_id, by="api"))
        await asyncio.sleep(0.3)
        assert not cancel.done()  # waiting for the worker to have it
        gate.set()
        assert await adopting == 1
        cancelled = await cancel
        assert cancelled.state == "cancelled"
        events = [e.type for e in await store.events(callback.contact_id)]
        assert events.count("callback.cancelled") == 1, events
        assert worker.dialer.dialed == []
    finally:
        worker.callbacks.rows.get = read  # type: ignore[method-assign]
        await tier.stop()
