"""The leader serves the workers' requests in their order of arrival without waiting
for each other's writes (hotline/cluster/responder.py): a fake bus delivers requests
one at a time as nats-py does, a real `RoutingService` logs through a gate the test
opens, or through the fenced store.

- a request does not wait for the earlier ones' writes, yet changes are made, written
  and answered in arrival order;
- each request is its asking worker's (owners kept apart while they are served
  together);
- a write that fails fails its request and every later one ("unavailable", the
  contact not queued), and a retry once the database is back is served;
- a retry of a request still being served gets the same answer, no second change;
- the fencing epoch is checked for every write of a batch: a deposed leader's batch is
  refused request by request, nothing written;
- a request served alone (claim) waits for the earlier ones to be answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from hotline.acd import Agent, Channel, Queue, Router
from hotline.acd.service import RoutingService
from hotline.cluster.bus import dumps, loads
from hotline.cluster.leader import Leadership
from hotline.cluster.responder import RoutingResponder
from hotline.store import Store, sqlite_url
from hotline.store.epochs import EPOCHS, EVENTS, Fence


class Msg:
    """A request as nats-py hands it: its data, and `respond`."""

    def __init__(self, data: bytes, answers: list[tuple[str, dict[str, Any]]], name: str) -> None:
        self.data = data
        self._answers = answers
        self._name = name

    async def respond(self, data: bytes) -> None:
        self._answers.append((self._name, loads(data)))


class Sub:
    async def unsubscribe(self) -> None:
        return None


class FakeNats:
    """Enough of a nats-py client for the responder: one subscription, publishes kept."""

    def __init__(self) -> None:
        self.cb: Callable[[Any], Awaitable[None]] | None = None
        self.published: list[tuple[str, bytes]] = []

    async def subscribe(self, subject: str, cb: Callable[[Any], Awaitable[None]]) -> Sub:
        self.cb = cb
        return Sub()

    async def publish(self, subject: str, data: bytes) -> None:
        self.published.append((subject, data))

    async def flush(self) -> None:
        return None


class GatedLog:
    """A routing log that holds every write until `gate` is open; `fail` makes it
    raise as a database that is down."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.written: list[tuple[str, str | None]] = []
        self.begun: list[str | None] = []
        self.fail = False

    async def __call__(self, **record: Any) -> None:
        self.begun.append(record["contact_id"])
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("database unreachable")
        self.written.append((record["type"], record["contact_id"]))


def router() -> Router:
    found = Router()
    found.add_queue(Queue("support", wrap_up=0))
    found.add_agent(Agent("ann", queues={"support": 0}, capacity={Channel.VOICE: 1}))
    return found


class Leader:
    """A responder in front of a real routing service, on a fake bus."""

    def __init__(self, log: Callable[..., Awaitable[Any]]) -> None:
        self.nc = FakeNats()
        self.routing = RoutingService(router(), log, tick_interval=60)
        self.leadership = Leadership("sales", 1, "leader-1")
        self.responder = RoutingResponder(self.nc, self.routing, self.leadership, heartbeat=60)
        self.answers: list[tuple[str, dict[str, Any]]] = []

    async def start(self) -> None:
        await self.responder.start()

    async def ask(self, op: str, rid: str, worker: str = "w1", **args: Any) -> None:
        """Deliver one request as nats-py does: the next only once this returns."""
        request = {"op": op, "rid": rid, "epoch": 1, "worker": worker, "args": args}
        assert self.nc.cb is not None
        # Bounded: a leader that waits for each write before the next request fails here.
        await asyncio.wait_for(self.nc.cb(Msg(dumps(request), self.answers, rid)), 2.0)

    async def enqueue(self, contact: str, rid: str | None = None, worker: str = "w1") -> None:
        args = {"contact_id": contact, "channel": "voice", "queue": "support"}
        await self.ask("enqueue", rid or f"r-{contact}", worker, **args)

    async def answered(self, count: int) -> None:
        for _ in range(500):
            if len(self.answers) >= count:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"{len(self.answers)} answers, not {count}: {self.answers}")

    async def stop(self) -> None:
        self.leadership.lose("stopped by the test")
        await self.responder.stop()
        await self.routing.stop()


@pytest.fixture
async def gated() -> AsyncIterator[tuple[Leader, GatedLog]]:
    log = GatedLog()
    log.gate.set()
    leader = Leader(log)
    await leader.routing.login("ann", paused="break")  # nobody takes the calls
    log.gate.clear()
    log.begun.clear()
    log.written.clear()
    await leader.start()
    try:
        yield leader, log
    finally:
        log.gate.set()
        await leader.stop()


async def test_requests_do_not_wait_for_earlier_writes_and_are_answered_in_order(
    gated: tuple[Leader, GatedLog],
) -> None:
    leader, log = gated
    for contact in ("c1", "c2", "c3"):
        await leader.enqueue(contact)  # returns although c1's write is held
    await asyncio.sleep(0.01)
    assert leader.answers == []  # nothing answered before it is written
    # The changes were made in order; c2 and c3 are written with c1 or queue behind it.
    assert log.begun in (["c1"], ["c1", "c2", "c3"])
    log.gate.set()
    await leader.answered(3)
    assert log.begun == ["c1", "c2", "c3"]
    assert [name for name, _ in leader.answers] == ["r-c1", "r-c2", "r-c3"]
    positions = [answer["ok"]["join"]["position"] for _, answer in leader.answers]
    assert positions == [1, 2, 3]
    joins = [contact for type, contact in log.written if type == "contact.join"]
    assert joins == ["c1", "c2", "c3"]
    assert [leader.routing.position(c) for c in ("c1", "c2", "c3")] == [1, 2, 3]


async def test_each_request_is_its_own_workers_while_served_together(
    gated: tuple[Leader, GatedLog],
) -> None:
    leader, log = gated
    await leader.enqueue("c1", worker="w1")
    await leader.enqueue("c2", worker="w2")
    await leader.enqueue("c3", worker="w1")
    log.gate.set()
    await leader.answered(3)
    assert leader.responder._owners == {"c1": "w1", "c2": "w2", "c3": "w1"}


async def test_a_failed_write_fails_its_request_and_every_later_one(
    gated: tuple[Leader, GatedLog],
) -> None:
    leader, log = gated
    log.fail = True
    for contact in ("c1", "c2", "c3"):
        await leader.enqueue(contact)
    log.gate.set()
    await leader.answered(3)
    assert [name for name, _ in leader.answers] == ["r-c1", "r-c2", "r-c3"]
    for _, answer in leader.answers:
        assert answer == {
            "error": "ConnectionError: database unreachable",
            "kind": "unavailable",
        }
    assert log.written == []
    assert [leader.routing.ticket(c) for c in ("c1", "c2", "c3")] == [None, None, None]
    # The database is back: the worker's retry (same request id) is served, not kept.
    log.fail = False
    await leader.enqueue("c2")
    await leader.answered(4)
    assert leader.answers[3][1]["ok"]["join"]["position"] == 1
    assert leader.routing.position("c2") == 1


async def test_a_retry_while_its_request_is_served_gets_the_same_answer(
    gated: tuple[Leader, GatedLog],
) -> None:
    leader, log = gated
    await leader.enqueue("c1", rid="same")
    await leader.enqueue("c1", rid="same")  # the worker's try timed out: asked again
    await asyncio.sleep(0.01)
    assert leader.answers == []
    log.gate.set()
    await leader.answered(2)
    (_, first), (_, second) = leader.answers
    assert "ok" in first and first == second
    assert [contact for type, contact in log.written if type == "contact.join"] == ["c1"]


async def test_a_request_served_alone_waits_for_the_earlier_ones(
    gated: tuple[Leader, GatedLog],
) -> None:
    leader, log = gated
    await leader.enqueue("c1", worker="w1")
    claiming = asyncio.create_task(leader.ask("claim", "r-claim", "w1", contacts=["c1"]))
    await asyncio.sleep(0.01)
    assert not claiming.done()  # the bus holds the next requests meanwhile
    log.gate.set()
    await claiming
    await leader.answered(2)
    assert [name for name, _ in leader.answers] == ["r-c1", "r-claim"]
    assert leader.answers[1][1]["ok"] == {"left": [], "ended": []}


# ---- the fencing epoch, on the real store ---------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")), retry_for=0.0)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


async def events(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(EVENTS))).scalar_one())


async def test_every_write_of_a_batch_is_checked_against_the_epoch(store: Store) -> None:
    async with store.engine.begin() as conn:
        row = {"domain": "sales", "epoch": 2, "leader": "newer", "since": datetime.now(UTC)}
        await conn.execute(insert(EPOCHS).values(**row))
    fence = Fence("sales", 1)  # this leader was deposed: epoch 2 leads

    async def log_fenced(
        *,
        type: str,
        data: dict[str, Any],
        contact_id: str | None,
        queue: str | None,
        agent: str | None,
    ) -> int:
        return await store.append_fenced(fence, contact_id, type, data, queue, agent)

    leader = Leader(log_fenced)
    await leader.start()
    try:
        for contact in ("c1", "c2", "c3"):
            await leader.enqueue(contact)
        await leader.answered(3)
    finally:
        await leader.stop()
    assert [name for name, _ in leader.answers] == ["r-c1", "r-c2", "r-c3"]
    for _, answer in leader.answers:
        assert answer["kind"] == "unavailable"
        assert answer["error"].startswith("StaleEpoch: routing write refused: contact.join")
        assert "epoch 1 of domain 'sales', whose epoch is now 2" in answer["error"]
    assert await events(store) == 0
    assert [leader.routing.ticket(c) for c in ("c1", "c2", "c3")] == [None, None, None]
