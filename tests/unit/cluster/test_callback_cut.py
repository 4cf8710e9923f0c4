"""A callback's conversation cut with its node, judged once whichever side judges it
first (issue 20; a CI run of test_cluster_callbacks found none judged): over a real
NATS and a real store, a leader's `RoutingResponder` and two call workers.

- the worker outlives its Asterisk and says the call was cut (`asterisk_lost` with the
  conversation): one `routing.node_lost` "redial" (reason asterisk_lost), the agent to
  wrap-up, the callback dialed again by the worker that can dial (attempt counted); the
  node declared lost later adds nothing;
- the node is declared lost first (its worker silent): one "redial" (reason node_lost);
  the worker's word coming late changes nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from hotline.acd.decisions import Offer
from hotline.acd.tickets import Finished, Ticket
from hotline.callbacks.service import AttemptResult
from hotline.cluster.remote import RemoteRouting
from hotline.store import LoggedEvent, Store
from hotline.store.callbacks import Callback
from tests.nats import nats_server
from tests.unit.callbacks.test_callback_service import ScriptedDialer, until
from tests.unit.cluster.test_callback_handover import Leader, Worker, book, bus, handed, store

__all__ = ["bus", "nats_server", "store"]


class CutDialer(ScriptedDialer):
    """The ARI dialer's part that matters here: once `cut` is set (its Asterisk went
    away mid-call), it tells the leader (`asterisk_lost` with the conversation) instead
    of `finished`, and stops serving the callback (ari_app/callback_dialer.py)."""

    def __init__(self, remote: RemoteRouting) -> None:
        super().__init__(remote)  # type: ignore[arg-type]
        self.remote = remote
        self.cut = asyncio.Event()

    async def attempt(
        self, callback: Callback, ticket: Ticket, settings: Any, dialing: Any
    ) -> AttemptResult:
        async for item in ticket:
            if isinstance(item, Finished) and item.outcome != "answered":
                return AttemptResult("cancelled" if item.outcome == "left" else "requeue")
            if not isinstance(item, Offer):
                continue
            await self.remote.ringing(item)
            await self.remote.accepted(item)
            self.dialed.append((callback.number, item.agent, await dialing(item.agent)))
            ended = [asyncio.ensure_future(e.wait()) for e in (self.hold, self.cut)]
            await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
            for waiter in ended:
                waiter.cancel()
            if self.cut.is_set():
                await self.remote.asterisk_lost([], {callback.contact_id: item.agent})
                return AttemptResult("cancelled", item.agent)
            await self.remote.finished(item.agent, callback.contact_id)
            return AttemptResult("completed", item.agent)
        return AttemptResult("requeue")


def cutter(worker: Worker) -> CutDialer:
    assert isinstance(worker.dialer, CutDialer)
    return worker.dialer


async def node_lost(store: Store, contact: str) -> list[LoggedEvent]:
    end = datetime.now(UTC) + timedelta(minutes=1)
    events = await store.events_between(end - timedelta(hours=1), end, ["routing.node_lost"])
    return [e for e in events if e.contact_id == contact]


async def two_workers(bus: Any, store: Store) -> tuple[Leader, list[Worker]]:
    leader = Leader(await bus(), store, 1, grace=0.5)
    workers = [Worker(await bus(), store, name) for name in ("host/a", "host/b")]
    for worker in workers:
        worker.dialer = CutDialer(worker.remote)
        worker.dialer.hold.clear()  # the customer talks until the test says
    await leader.start()
    for worker in workers:
        await worker.start()
    return leader, workers


async def test_a_worker_says_its_asterisk_cut_a_callback_call_judged_once(
    store: Store, bus: Any
) -> None:
    leader, workers = await two_workers(bus, store)
    callback = await book(store, "5550301")
    try:
        await until(lambda: any(w.dialer.dialed for w in workers), timeout=10)
        first = next(w for w in workers if w.dialer.dialed)
        other = next(w for w in workers if w is not first)
        first.remote.asterisk(False)  # its ARI WebSocket closed: it cannot dial
        cutter(first).cut.set()  # ... and the call's legs ended "lost"
        await until(lambda: bool(other.dialer.dialed), timeout=10)
        assert other.dialer.dialed == [("5550301", "ann", 2)]  # the cut attempt counts
        lost = await node_lost(store, callback)
        assert [e.data for e in lost] == [
            {
                "node": "host/a" if first is workers[0] else "host/b",
                "reason": "asterisk_lost",
                "action": "redial",
                "agent": "ann",
            }
        ]
        said = await handed(store, callback)
        assert [s["why"] for s in said] == ["served by no worker", "its worker cannot dial"]
        assert said[1]["worker"] == other.remote.worker
        # The whole node goes later (its worker silent past lost_after): nothing more.
        await first.remote.stop()
        await asyncio.sleep(1.6)
        other.dialer.hold.set()
        await until(lambda: other.callbacks.serving() == [], timeout=5)
        row = await store.contact(callback)
        assert row is not None and row.status == "completed"
        assert len(await node_lost(store, callback)) == 1
    finally:
        for worker in workers:
            worker.dialer.hold.set()
            await worker.stop()
        await leader.stop()


async def test_the_node_judged_lost_first_the_workers_late_word_changes_nothing(
    store: Store, bus: Any
) -> None:
    leader, workers = await two_workers(bus, store)
    callback = await book(store, "5550302")
    try:
        await until(lambda: any(w.dialer.dialed for w in workers), timeout=10)
        first = next(w for w in workers if w.dialer.dialed)
        other = next(w for w in workers if w is not first)
        first.remote.beat_interval = 3600.0  # frozen: silent on the bus from now on
        await until(lambda: bool(other.dialer.dialed), timeout=10)
        lost = await node_lost(store, callback)
        assert [(e.data["action"], e.data["reason"]) for e in lost] == [("redial", "node_lost")]
        # Its worker thaws and says its Asterisk cut the call: judged already.
        assert await first.remote.asterisk_lost([], {callback: "ann"}) == []
        assert len(await node_lost(store, callback)) == 1
        assert other.dialer.dialed == [("5550302", "ann", 2)]
        other.dialer.hold.set()
        await until(lambda: other.callbacks.serving() == [], timeout=5)
        row = await store.contact(callback)
        assert row is not None and row.status == "completed"
    finally:
        for worker in workers:
            worker.dialer.hold.set()
            cutter(worker).cut.set()
            await worker.stop()
        await leader.stop()
