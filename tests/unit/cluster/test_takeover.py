"""A new routing leader keeps the agents' pauses of the old one (hotline/cluster/takeover.py):
each channel's last state event in the log decides; the system's "unreachable" is not
carried; a channel logged out at the new leader stays so; and, in one process on a real
PostgreSQL, the standby that takes over does not offer a paused agent a call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controller.routing import build_router
from controller.routing_node import EXIT_LOST, RoutingNode
from hotline.acd.model import AgentState, Channel
from hotline.acd.service import RoutingService
from hotline.cluster.leader import LeaderElection, asyncpg_dsn
from hotline.cluster.takeover import (
    agent_state_events,
    carry_pauses,
    pauses_of,
    read_routing_state,
)
from hotline.config import HotlineConfig, load_config
from hotline.store import LoggedEvent, Store
from tests.unit.cluster.test_leader import terminate
from tests.unit.cluster.test_routing_node import all_events, wait_for_offer

CONFIG = """
numbers:
  "100": main
queues:
  support:
    ring_timeout: 5
agents:
  - id: alice
    name: Alice
    endpoint: "1001"
    queues: [support]
    capacity: {voice: 1, chat: 2}
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


def Entry(type: str, **data: Any) -> LoggedEvent:
    """An agent's log entry as the store returns it."""
    return LoggedEvent(0, None, datetime.now(UTC), type, None, "alice", data)


def test_the_last_state_of_each_channel_decides() -> None:
    events = [
        Entry("agent.login", channel="voice", to="available"),
        Entry("agent.login", channel="chat", to="available"),
        Entry("agent.pause", channel="voice", to="paused", reason="lunch"),
        Entry("agent.pause", channel="chat", to="paused", reason="training"),
        Entry("agent.unpause", channel="chat", to="available"),
    ]
    assert pauses_of(events) == {"voice": "lunch"}


def test_a_pause_outlives_a_reachability_event_and_a_finished_call() -> None:
    events = [
        Entry("agent.pause", channel="voice", to="paused", reason="meeting"),
        Entry("agent.unreachable", channel="voice"),  # no state: skipped
        Entry("agent.finish", channel="voice", to="paused", reason="meeting"),
    ]
    assert pauses_of(events) == {"voice": "meeting"}


def test_an_unanswered_offers_pause_is_carried_the_systems_unreachable_is_not() -> None:
    events = [
        Entry("agent.no_answer", channel="voice", to="paused", reason="no answer"),
        Entry("agent.pause", channel="callback", to="paused", reason="unreachable"),
        Entry("agent.logout", channel="chat", to="offline"),
    ]
    assert pauses_of(events) == {"voice": "no answer"}


def test_no_events_no_pauses() -> None:
    assert pauses_of([]) == {}
    assert pauses_of([Entry("agent.pause", channel="voice", to="paused")]) == {}  # no reason


async def test_the_log_is_read_newest_first_until_every_channel_has_a_state(
    store: Store,
) -> None:
    await store.append(
        None, "agent.pause", {"channel": "voice", "to": "paused", "reason": "x"}, agent="alice"
    )
    for _ in range(5):  # a busy chat channel: more events than one page
        await store.append(
            None, "agent.reserve", {"channel": "chat", "to": "reserved"}, agent="alice"
        )
        await store.append(
            None, "agent.accept", {"channel": "chat", "to": "available"}, agent="alice"
        )
    await store.append(
        None, "agent.pause", {"channel": "voice", "to": "paused", "reason": "y"}, agent="bob"
    )
    read = await agent_state_events(store, "alice", ["chat"], page=3)
    assert len(read) == 3  # one page had the chat channel's state
    read = await agent_state_events(store, "alice", ["voice", "chat"], page=3)
    assert len(read) == 11 and read[0].data["reason"] == "x"  # down to the voice pause
    assert all(e.agent == "alice" for e in read)
    assert [e.id for e in read] == sorted(e.id for e in read)  # oldest first
    state = await read_routing_state(store, agents={"alice": ["voice", "chat"], "bob": ["voice"]})
    assert state.paused == {"alice": {"voice": "x"}, "bob": {"voice": "y"}}
    assert (state.waiting, state.talking) == ([], [])


async def test_no_agents_named_no_pauses_read(store: Store) -> None:
    await store.append(
        None, "agent.pause", {"channel": "voice", "to": "paused", "reason": "x"}, agent="alice"
    )
    assert (await read_routing_state(store)).paused == {}


async def test_carry_pauses_the_logged_in_channels_and_says_what_it_cannot(
    config: HotlineConfig, caplog: pytest.LogCaptureFixture
) -> None:
    logged: list[dict[str, Any]] = []

    async def log(**record: Any) -> int:
        logged.append(record)
        return len(logged)

    routing = RoutingService(build_router(config), log)
    await routing.login("alice", [Channel.VOICE])
    await routing.login("bob", [Channel.VOICE], paused="meeting")
    before = len(logged)
    with caplog.at_level(logging.WARNING, logger="hotline.cluster.takeover"):
        done = await carry_pauses(
            routing,
            {
                "alice": {"voice": "lunch", "chat": "training"},  # chat: logged out here
                "bob": {"voice": "meeting"},  # already paused so: nothing to do
                "zoe": {"voice": "lunch"},  # no such agent
                "carl": {"fax": "x"},
            },
        )
    assert done == 1
    alice = routing.agent_status("alice")
    assert (alice[Channel.VOICE].state, alice[Channel.VOICE].reason) == (AgentState.PAUSED, "lunch")
    assert alice[Channel.CHAT].state is AgentState.OFFLINE
    assert [r["type"] for r in logged[before:]] == ["agent.pause"]
    assert logged[-1]["data"]["reason"] == "lunch"
    said = caplog.text
    assert "zoe's voice pause not kept" in said and "zoe" in said
    assert "carl's fax pause not kept" in said


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[Store]:
    store = await Store.connect(pg_url, retry_for=2.0)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.mark.pg
async def test_the_standby_keeps_a_pause_set_on_the_old_leader_and_does_not_offer_her(
    pg_url: str, pg_store: Store, config: HotlineConfig
) -> None:
    """alice is paused "lunch" on leader a; bob talks to a caller; a's session ends;
    b leads with alice still paused at lunch, and the caller who waits is not offered to
    her (nor to busy bob)."""
    dsn = asyncpg_dsn(pg_url)
    a = RoutingNode(config, pg_store, LeaderElection(dsn, "sales", name="a", lease=2))
    b = RoutingNode(config, pg_store, LeaderElection(dsn, "sales", name="b", lease=2))
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    run_a = asyncio.create_task(a.run(stop_a))
    for _ in range(100):
        if a.routing is not None and a.routing.running:
            break
        await asyncio.sleep(0.05)
    assert a.routing is not None
    await a.routing.pause("alice", "lunch")
    talking = await pg_store.open_contact("voice", "inbound", "555999", "100")
    await pg_store.append(talking, "contact.join", {"channel": "voice"}, queue="support")
    await pg_store.append(talking, "contact.answered", {}, queue="support", agent="bob")
    caller = await pg_store.open_contact("voice", "inbound", "555001", "100")
    await pg_store.append(caller, "contact.join", {"channel": "voice"}, queue="support")
    run_b = asyncio.create_task(b.run(stop_b))
    await asyncio.sleep(0.3)
    await terminate(pg_store, "a")
    assert await asyncio.wait_for(run_a, 3) == EXIT_LOST
    for _ in range(100):
        if b.routing is not None and b.routing.running:
            break
        await asyncio.sleep(0.05)
    assert b.routing is not None
    try:
        voice = b.routing.agent_status("alice")[Channel.VOICE]
        assert (voice.state, voice.reason) == (AgentState.PAUSED, "lunch")
        assert b.routing.agent_status("bob")[Channel.VOICE].state is AgentState.BUSY
        await asyncio.sleep(0.6)  # two ticks of the routing engine
        events = await all_events(pg_store, [caller])
        assert [e.type for e in events if e.type == "contact.offer"] == []
        mine: list[LoggedEvent] = await agent_state_events(pg_store, "alice", ["voice"])
        pause = [e for e in mine if e.type == "agent.pause" and e.data.get("epoch") == 2]
        # Her phone's channels (voice, and callback, which agents take by default).
        assert sorted((e.data["channel"], e.data["reason"]) for e in pause) == [
            ("callback", "lunch"),
            ("voice", "lunch"),
        ]
        # Back from lunch under the new leader: she is offered the caller.
        await b.routing.unpause("alice")
        offer = await wait_for_offer(pg_store, [caller], 2)
        assert offer.agent == "alice"
    finally:
        stop_b.set()
        assert await asyncio.wait_for(run_b, 5) == 0
