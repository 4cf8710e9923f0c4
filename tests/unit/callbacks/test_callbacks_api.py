"""The callbacks API over a real aiohttp server, store and routing engine: who may see,
book and cancel callbacks, and the errors they get."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.acd import Agent, Channel, Queue, Router
from hotline.acd.service import RoutingService
from hotline.callbacks.service import CallbackService
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.callbacks_api import add_callback_routes
from tests.unit.passwords import hashed

TOKEN = "api-token-for-tests"
PASSWORD = "correct horse"
USERS = users_from([("ann", "Ann"), ("bob", "Bob")], [("sue", "Sue", "supervisor")])


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    router = Router()
    for queue in ("support", "sales"):
        router.add_queue(Queue(queue))
    router.add_agent(Agent("ann", queues=["support"], capacity={Channel.CALLBACK: 1}))
    router.add_agent(Agent("bob", queues=["sales"], capacity={Channel.CALLBACK: 1}))
    routing = RoutingService(router, store.append)
    service = CallbackService(
        store,
        routing,
        CallbackConfig(),
        {"support": QueueCallback(key="5"), "sales": QueueCallback(key="5")},
        own_numbers=["555-0199"],
    )
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    sessions = Sessions(SessionStore(store), {u.id: u for u in USERS}, idle=timedelta(hours=1))
    app = build_web_app(Auth(USERS, passwords, sessions, TOKEN))
    add_callback_routes(app, service, {"ann": {"support"}, "bob": {"sales"}})
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await store.close()


ADMIN = {"Authorization": f"Bearer {TOKEN}"}


async def login(client: TestClient, user: str) -> None:
    client.session.cookie_jar.clear()
    response = await client.post("/login", json={"user": user, "password": PASSWORD})
    assert response.status == 200, await response.text()


async def book(client: TestClient, number: str, queue: str = "support") -> dict:
    response = await client.post(
        "/api/callbacks", json={"number": number, "queue": queue}, headers=ADMIN
    )
    assert response.status == 201, await response.text()
    return (await response.json())["callback"]


async def test_agents_see_open_callbacks_in_queue_order(client: TestClient) -> None:
    first = await book(client, "5550001")
    await book(client, "5550002", "sales")
    assert (await client.get("/api/callbacks")).status == 401
    await login(client, "ann")
    listed = (await (await client.get("/api/callbacks")).json())["callbacks"]
    assert [c["number"] for c in listed] == ["5550001", "5550002"]
    assert listed[0]["id"] == first["id"] and listed[0]["state"] == "pending"
    support = await (await client.get("/api/callbacks?queue=support")).json()
    assert [c["number"] for c in support["callbacks"]] == ["5550001"]


async def test_bad_bookings_say_why_and_book_nothing(client: TestClient) -> None:
    cases = [
        ({"number": "12", "queue": "support"}, 422, "invalid"),
        ({"number": "5550199", "queue": "support"}, 422, "own_number"),
        ({"number": "5550100", "queue": "nowhere"}, 422, "no_callbacks"),
        ({"number": 5550100, "queue": "support"}, 400, None),
    ]
    for body, status, reason in cases:
        response = await client.post("/api/callbacks", json=body, headers=ADMIN)
        assert response.status == status
        answer = await response.json()
        assert answer.get("reason") == reason and answer["error"]
    bad_time = {"number": "5550100", "queue": "support", "scheduled_for": "tomorrow"}
    response = await client.post("/api/callbacks", json=bad_time, headers=ADMIN)
    assert (await response.json())["error"] == "scheduled_for must be an ISO 8601 time"
    await book(client, "5550100")
    response = await client.post(
        "/api/callbacks", json={"number": "555 0100", "queue": "support"}, headers=ADMIN
    )
    assert await response.json() == {
        "error": "5550100 already has a callback waiting in queue support",
        "reason": "already_booked",
    }
    listed = await (await client.get("/api/callbacks", headers=ADMIN)).json()
    assert len(listed["callbacks"]) == 1


async def test_agents_book_nothing(client: TestClient) -> None:
    await login(client, "ann")
    response = await client.post("/api/callbacks", json={"number": "5550001", "queue": "support"})
    assert response.status == 403


async def test_who_may_cancel(client: TestClient) -> None:
    support = await book(client, "5550001")
    sales = await book(client, "5550002", "sales")
    await login(client, "ann")
    response = await client.delete(f"/api/callbacks/{sales['id']}")
    assert response.status == 403
    assert (await response.json())["error"] == (
        "only supervisors and agents of queue sales may cancel it"
    )
    response = await client.delete(f"/api/callbacks/{support['id']}")
    assert response.status == 200
    assert (await response.json())["callback"]["state"] == "cancelled"
    response = await client.delete(f"/api/callbacks/{support['id']}")
    assert response.status == 409
    assert (await response.json())["error"] == f"callback {support['id']!r} is cancelled, not open"
    await login(client, "sue")
    assert (await client.delete(f"/api/callbacks/{sales['id']}")).status == 200
    assert (await client.delete("/api/callbacks/no-such")).status == 404
