"""The `hotline routing` node in one process, on a real PostgreSQL: the leader takes
over the routing state from the event log and routes with its epoch; when its session
ends it stops and nothing more of its epoch is written; the standby takes over the same
state, in the same order, and routes with the next epoch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.routing_node import EXIT_LOST, RoutingNode
from hotline.cluster.leader import LeaderElection, asyncpg_dsn
from hotline.config import HotlineConfig, load_config
from hotline.store import LoggedEvent, Store
from tests.unit.cluster.test_leader import terminate

pytestmark = pytest.mark.pg

CONFIG = """
numbers:
  "100": main
queues:
  support:
    ring_timeout: 1
agents:
  - id: alice
    name: Alice
    endpoint: "1001"
    queues: [support]
  - id: bob
    name: Bob
    endpoint: "1002"
    queues: [support]
"""


@pytest.fixture
def config(tmp_path: Path) -> HotlineConfig:
    path = tmp_path / "hotline.yaml"
    path.write_text(CONFIG)
    return load_config(path)


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[Store]:
    store = await Store.connect(pg_url, retry_for=2.0)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


async def seed(store: Store) -> tuple[list[str], str]:
    """Three callers waiting in support (oldest first) and one talking to alice, as a
    previous leader left them in the log."""
    waiting = []
    for n in range(3):
        contact = await store.open_contact("voice", "inbound", f"55500{n}", "100")
        await store.append(contact, "contact.join", {"channel": "voice"}, queue="support")
        waiting.append(contact)
        await asyncio.sleep(0.01)
    talking = await store.open_contact("voice", "inbound", "555999", "100")
    await store.append(talking, "contact.join", {"channel": "voice"}, queue="support")
    await store.append(talking, "contact.answered", {}, queue="support", agent="alice")
    return waiting, talking


async def all_events(store: Store, contacts: list[str]) -> list[LoggedEvent]:
    events = [e for c in contacts for e in await store.events(c)]
    return sorted(events, key=lambda e: e.id)


async def wait_for_offer(store: Store, contacts: list[str], epoch: int) -> LoggedEvent:
    for _ in range(100):
        offers = [
            e
            for e in await all_events(store, contacts)
            if e.type == "contact.offer" and e.data.get("epoch") == epoch
        ]
        if offers:
            return offers[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no offer with epoch {epoch}")


async def test_the_standby_takes_over_the_waiting_and_talking_contacts_in_order(
    pg_url: str, pg_store: Store, config: HotlineConfig
) -> None:
    waiting, talking = await seed(pg_store)
    dsn = asyncpg_dsn(pg_url)
    a = RoutingNode(config, pg_store, LeaderElection(dsn, "sales", name="a", lease=2))
    b = RoutingNode(config, pg_store, LeaderElection(dsn, "sales", name="b", lease=2))
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    run_a = asyncio.create_task(a.run(stop_a))
    first = await wait_for_offer(pg_store, waiting, 1)
    run_b = asyncio.create_task(b.run(stop_b))
    # The oldest caller first, to bob: alice is still talking (taken over from the log).
    assert (first.contact_id, first.agent) == (waiting[0], "bob")
    await asyncio.sleep(0.3)
    assert not run_b.done()

    await terminate(pg_store, "a")
    assert await asyncio.wait_for(run_a, 3) == EXIT_LOST
    assert a.routing is None  # stopped
    second = await wait_for_offer(pg_store, waiting, 2)
    assert (second.contact_id, second.agent) == (waiting[0], "bob")

    events = await all_events(pg_store, [*waiting, talking])
    old = [e.id for e in events if e.data.get("epoch") == 1]
    new = [e.id for e in events if e.data.get("epoch") == 2]
    assert old and new and max(old) < min(new)
    # Every waiting caller is back at its place; alice keeps her call.
    restored = [e.contact_id for e in events if e.type == "contact.restore"]
    assert restored == [*waiting, *waiting]  # once per leader, oldest first
    assert not [e for e in events if e.type == "contact.offer" and e.agent == "alice"]

    stop_b.set()
    assert await asyncio.wait_for(run_b, 5) == 0
    assert run_a.done()
    # Stopped, the leader resigned: its lock is free at once for the next candidate.
    c = LeaderElection(dsn, "sales", name="c", lease=2)
    try:
        assert (await asyncio.wait_for(c.campaign(), 1.0)).epoch == 3
    finally:
        await c.resign()


async def test_a_node_stopped_while_standby_exits_cleanly(
    pg_url: str, pg_store: Store, config: HotlineConfig
) -> None:
    dsn = asyncpg_dsn(pg_url)
    leader = LeaderElection(dsn, "sales", name="a", lease=2)
    await leader.campaign()
    try:
        node = RoutingNode(config, pg_store, LeaderElection(dsn, "sales", name="b", lease=2))
        stop = asyncio.Event()
        run = asyncio.create_task(node.run(stop))
        await asyncio.sleep(0.3)
        stop.set()
        assert await asyncio.wait_for(run, 3) == 0
        assert node.routing is None
    finally:
        await leader.resign()
