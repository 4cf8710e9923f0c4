"""The desk's transfer picker's list (hotline/web/call_targets_api.py) over HTTP: a real
aiohttp server, store and routing engine; colleagues with their voice presence, queues
with who waits in them, never the asking agent; agents and above only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.acd import Agent, Channel, Offer, Queue, Router
from hotline.acd.service import RoutingService
from hotline.calls import CallState, Command
from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.call_targets_api import add_call_target_routes
from hotline.web.calls_api import add_call_routes
from tests.unit.passwords import hashed

TOKEN = "api-token-for-tests"
PASSWORD = "correct horse"
AGENTS = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol"), ("dave", "Dave")]
USERS = users_from(AGENTS, [("sue", "Sue", "supervisor")])


class NoCalls:
    """The call control with no live call (calls_api.py's routes beside ours)."""

    def state(self, contact_id: str) -> CallState | None:
        return None

    def live_of_agent(self, agent: str) -> str | None:
        return None

    async def act(
        self, contact_id: str, command: Command, *, by_agent: str | None, by: str = ""
    ) -> CallState:
        raise AssertionError("not called")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[RoutingService, Any, Store]]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    router = Router()
    router.add_queue(Queue("sales"))
    router.add_queue(Queue("support"))
    for agent in ("alice", "bob", "carol"):
        router.add_agent(Agent(agent, queues={"sales": 0}, capacity={Channel.VOICE: 1}))
    router.add_agent(Agent("dave", queues={"support": 0}, capacity={Channel.VOICE: 1}))
    routing = RoutingService(router, store.append, tick_interval=0.01)
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    sessions = Sessions(SessionStore(store), {u.id: u for u in USERS})
    app = build_web_app(Auth(USERS, passwords, sessions, TOKEN))
    add_call_routes(app, NoCalls())  # the dynamic /api/calls/{contact_id} comes first
    add_call_target_routes(app, routing, dict(AGENTS))
    await routing.start()
    try:
        yield routing, app, store
    finally:
        await routing.stop()
        await store.close()


async def login(client: TestClient[Any, Any], user: str) -> None:
    client.session.cookie_jar.clear()
    response = await client.post("/login", json={"user": user, "password": PASSWORD})
    assert response.status == 200


async def test_colleagues_with_presence_and_queues_with_waiting(rig: Any) -> None:
    routing, app, store = rig
    await routing.login("alice")
    await routing.login("bob")
    await routing.login("carol", paused="lunch")
    # bob takes a call of sales; a caller waits in support (dave is offline)
    c1 = await store.open_contact("voice", "inbound", "5551234", "100")
    c2 = await store.open_contact("voice", "inbound", "5551235", "100")
    ticket = await routing.enqueue(c1, "voice", "sales")
    async for item in ticket:
        if isinstance(item, Offer):
            assert item.agent in ("alice", "bob")
            offered = item
            break
    await routing.ringing(offered)
    await routing.accepted(offered)
    await routing.enqueue(c2, "voice", "support")
    await asyncio.sleep(0.05)
    busy = offered.agent
    free = "bob" if busy == "alice" else "alice"

    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/api/calls/targets")).status == 401
        await login(client, free)
        response = await client.get("/api/calls/targets")
        assert response.status == 200
        found = await response.json()
    names = dict(AGENTS)
    expected = {
        busy: ("busy", "busy", None),
        "carol": ("paused", "paused", "lunch"),
        "dave": ("offline", "offline", None),
    }
    assert found["agents"] == [
        {"id": a, "name": names[a], "presence": p, "state": s, "reason": r}
        for a, (p, s, r) in sorted(expected.items())
    ]  # not the asking agent
    assert found["queues"] == [
        {"name": "sales", "waiting": 0, "agents_free": 1},  # the asking agent
        {"name": "support", "waiting": 1, "agents_free": 0},
    ]
    assert found["numbers"] is True


async def test_a_supervisor_sees_every_agent(rig: Any) -> None:
    routing, app, _store = rig
    await routing.login("alice")
    async with TestClient(TestServer(app)) as client:
        await login(client, "sue")
        found = await (await client.get("/api/calls/targets")).json()
        assert [(a["id"], a["presence"]) for a in found["agents"]] == [
            ("alice", "available"),
            ("bob", "offline"),
            ("carol", "offline"),
            ("dave", "offline"),
        ]
        # the call routes still answer for a contact id
        response = await client.get("/api/calls/c9")
        assert response.status == 404
        assert (await response.json())["error"] == "contact c9 has no live call with an agent"
