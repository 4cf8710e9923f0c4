"""Wrap-up codes and notes over HTTP (hotline/web/contacts_api.py): a real aiohttp server,
store and routing engine; an agent logged in by session, a supervisor, the API token.
Every refusal says why and stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.acd import Agent, Channel, Offer, Router
from hotline.acd.service import RoutingService
from hotline.acd.settings import QueueSettings
from hotline.contacts.wrapup import WrapUps
from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.contacts_api import add_contacts_routes
from tests.unit.passwords import hashed

TOKEN = "api-token-for-tests"
PASSWORD = "correct horse"
USERS = users_from([("alice", "Alice"), ("bob", "Bob")], [("sue", "Sue", "supervisor")])


class Rig:
    def __init__(self, store: Store, tmp_path: Path) -> None:
        self.store = store
        queues = {"sales": QueueSettings(wrap_up=30, wrap_up_codes=["sale", "no_sale"])}
        router = Router()
        router.add_queue(queues["sales"].to_queue("sales"))
        router.add_agent(Agent("alice", queues=["sales"], capacity={Channel.VOICE: 1}))
        self.routing = RoutingService(router, store.append, tick_interval=0.01)
        self.wrap_ups = WrapUps(store, self.routing, queues, ["resolved"])
        passwords = PasswordFile(tmp_path / "passwords.yaml")
        passwords.save({u.id: hashed(PASSWORD) for u in USERS})
        sessions = Sessions(SessionStore(store), {u.id: u for u in USERS})
        self.app = build_web_app(Auth(USERS, passwords, sessions, TOKEN))
        add_contacts_routes(self.app, self.wrap_ups)

    async def call(self) -> str:
        """A call alice answered and finished."""
        contact = await self.store.open_contact("voice", "inbound", "5551234", "100")
        ticket = await self.routing.enqueue(contact, "voice", "sales")
        async for item in ticket:
            if isinstance(item, Offer):
                await self.routing.ringing(item)
                await self.routing.accepted(item)
                break
        await self.routing.finished("alice", contact)
        return contact


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    rig = Rig(store, tmp_path)
    await rig.routing.start()
    await rig.routing.login("alice")
    try:
        yield rig
    finally:
        rig.wrap_ups.close()
        await rig.routing.stop()
        await store.close()


@pytest.fixture
async def client(rig: Rig) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(rig.app)) as client:
        yield client


async def as_user(client: TestClient, user: str | None) -> TestClient:
    """The client logged in as `user` (None: nobody)."""
    client.session.cookie_jar.clear()
    if user is not None:
        response = await client.post("/login", json={"user": user, "password": PASSWORD})
        assert response.status == 200
    return client


async def answer(response: Any) -> tuple[int, Any]:
    return response.status, await response.json()


async def test_an_agent_codes_and_notes_their_call_and_reads_it_back(
    rig: Rig, client: TestClient
) -> None:
    contact = await rig.call()
    alice = await as_user(client, "alice")
    base = f"/api/contacts/{contact}"
    assert await answer(await alice.post(f"{base}/wrapup", json={"code": "sale"})) == (
        200,
        {"contact_id": contact, "wrap_up": "sale", "wrap_up_ended": False},
    )
    status, note = await answer(await alice.post(f"{base}/notes", json={"text": "red one"}))
    assert status == 201 and note["text"] == "red one" and note["by"] == "alice"
    status, found = await answer(await alice.get(f"{base}/notes"))
    assert status == 200 and found["wrap_up"] == "sale"
    assert [n["text"] for n in found["notes"]] == ["red one"]
    # A supervisor and the API token (admin) write on any contact.
    sue = await as_user(client, "sue")
    status, note = await answer(await sue.post(f"{base}/notes", json={"text": "seen"}))
    assert status == 201 and note["by"] == "sue"
    admin = await as_user(client, None)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = await admin.post(f"{base}/wrapup", json={"code": "no_sale"}, headers=headers)
    assert response.status == 200
    events = [e for e in await rig.store.events(contact) if e.type == "contact.wrapup"]
    assert [(e.data["code"], e.data["by"], e.agent) for e in events] == [
        ("sale", "alice", "alice"),
        ("no_sale", "api", "alice"),
    ]


async def test_bad_requests_are_refused_with_the_reason_and_nothing_stored(
    rig: Rig, client: TestClient
) -> None:
    contact = await rig.call()
    before = len(await rig.store.events(contact))
    base = f"/api/contacts/{contact}"
    cases = [
        (
            "bob",
            f"{base}/wrapup",
            {"code": "sale"},
            403,
            f"contact {contact} is not yours (handled by alice)",
        ),
        (
            "bob",
            f"{base}/notes",
            {"text": "hi"},
            403,
            f"contact {contact} is not yours (handled by alice)",
        ),
        (
            "alice",
            f"{base}/wrapup",
            {"code": "resolved"},
            400,
            "unknown wrap-up code 'resolved' for queue sales; one of: sale, no_sale",
        ),
        ("alice", f"{base}/wrapup", {}, 400, "wrapup: code is missing (text)"),
        ("alice", f"{base}/notes", {"text": ""}, 400, "notes: text is missing (a note is text)"),
        ("alice", f"{base}/notes", [1], 400, "the body must be a JSON object"),
        ("alice", "/api/contacts/nope/notes", {"text": "hi"}, 404, "no contact nope"),
        ("alice", "/api/contacts/nope/wrapup", {"code": "sale"}, 404, "no contact nope"),
    ]
    for user, path, body, status, error in cases:
        got = await answer(await (await as_user(client, user)).post(path, json=body))
        assert got == (status, {"error": error}), path
    alice = await as_user(client, "alice")
    got = await answer(await alice.post(f"{base}/notes", data=b"{not json"))
    assert got == (400, {"error": "the body must be a JSON object"})
    got = await answer(await alice.post(f"{base}/notes", json={"text": "x" * 9000}))
    assert got == (400, {"error": "the body is over 8192 bytes"})
    got = await answer(await alice.get(f"/api/contacts/{'c' * 100}/notes"))
    assert got == (404, {"error": f"no contact {'c' * 64}…"})
    bob = await as_user(client, "bob")
    got = await answer(await bob.get(f"{base}/notes"))
    assert got == (403, {"error": f"contact {contact} is not yours (handled by alice)"})
    anonymous = await as_user(client, None)
    response = await anonymous.post(f"{base}/notes", json={"text": "hi"})
    assert response.status == 401
    assert len(await rig.store.events(contact)) == before
