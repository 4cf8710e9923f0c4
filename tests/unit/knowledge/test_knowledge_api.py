"""The knowledge base's REST API: who may do what, edits versioned, refusals exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.knowledge import KnowledgeBase
from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.knowledge_api import add_knowledge_routes
from tests.unit.passwords import hashed

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery"

ARTICLE = """\
title: {en: "Lost card <b>now</b>", ru: "Потеря карты"}
questions:
  en: ["I lost my bank card"]
  ru: ["Я потерял карту"]
answer:
  en: "Block it in the app: <script>alert('x')</script>"
  ru: "Заблокируйте её в приложении."
"""


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    await store.migrate()
    kb = KnowledgeBase(store, ["en", "ru"])
    await kb.load()
    assert await kb.sync_files(ROOT / "knowledge") == []
    users = users_from([("alice", "Alice")], [("adam", "Adam", "admin")])
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in users})
    sessions = Sessions(SessionStore(store), {u.id: u for u in users})
    app = build_web_app(Auth(users, passwords, sessions, "token"))
    add_knowledge_routes(app, kb)
    async with TestClient(TestServer(app)) as client:
        yield client
    await store.close()


async def login(client: TestClient, user: str) -> None:
    client.session.cookie_jar.clear()
    assert (await client.post("/login", json={"user": user, "password": PASSWORD})).status == 200


async def test_agents_search_and_read(client: TestClient) -> None:
    assert (await client.get("/api/knowledge/search", params={"q": "bill"})).status == 401
    await login(client, "alice")
    found = await (
        await client.get("/api/knowledge/search", params={"q": "pay my bill", "language": "en"})
    ).json()
    assert found[0]["article"] == "pay-bill" and found[0]["confidence"] > 0.5
    listed = await (await client.get("/api/knowledge/articles")).json()
    assert "pay-bill" in [a["id"] for a in listed]
    one = await (await client.get("/api/knowledge/articles/balance")).json()
    assert one["text"].startswith("title:")
    # Agents cannot edit.
    put = await client.put("/api/knowledge/articles/lost-card", data=ARTICLE.encode())
    assert put.status == 403


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "empty question: write a few words"),
        # (a 10,000-character URL is refused by the HTTP server itself: 8 KB lines)
        ({"q": "x" * 5_000}, "question of 5000 characters: at most 1000 are searched"),
        ({"q": "bill", "language": "de"}, "unknown language 'de'"),
        ({"q": "bill", "limit": "lots"}, "limit must be a whole number"),
    ],
)
async def test_bad_searches(client: TestClient, params: dict[str, str], message: str) -> None:
    await login(client, "alice")
    reply = await client.get("/api/knowledge/search", params=params)
    assert reply.status == 400
    assert (await reply.json())["error"].startswith(message)


async def test_admin_edits_keep_every_version(client: TestClient) -> None:
    await login(client, "adam")
    made = await client.put("/api/knowledge/articles/lost-card", data=ARTICLE.encode())
    assert made.status == 201
    assert (await made.json())["version"] == 1
    changed = ARTICLE.replace("in the app", "in the app or call us")
    again = await client.put("/api/knowledge/articles/lost-card", data=changed.encode())
    assert again.status == 200 and (await again.json())["version"] == 2
    same = await client.put("/api/knowledge/articles/lost-card", data=changed.encode())
    assert same.status == 409
    versions = await (await client.get("/api/knowledge/articles/lost-card/versions")).json()
    assert [(v["version"], v["author"], v["source"]) for v in versions] == [
        (1, "adam", "api"),
        (2, "adam", "api"),
    ]
    first = await (await client.get("/api/knowledge/articles/lost-card/versions/1")).json()
    assert first["text"] == ARTICLE
    params = {"q": "lost my card", "language": "en"}
    hit = (await (await client.get("/api/knowledge/search", params=params)).json())[0]
    # Markup comes back as the text it is (JSON), for the page to escape.
    assert hit["answer"] == "Block it in the app or call us: <script>alert('x')</script>"
    assert hit["title"] == "Lost card <b>now</b>"
    gone = await client.delete("/api/knowledge/articles/lost-card")
    assert gone.status == 200 and (await gone.json())["deleted"] is True
    assert (await client.get("/api/knowledge/articles/lost-card")).status == 404
    assert len(await (await client.get("/api/knowledge/articles/lost-card/versions")).json()) == 3


async def test_refused_edits_say_where_and_change_nothing(client: TestClient) -> None:
    await login(client, "adam")
    before = await (await client.get("/api/knowledge/articles/pay-bill/versions")).json()
    bad = ARTICLE.replace('  ru: "Потеря карты"', "") + "colour: red\n"
    reply = await client.put("/api/knowledge/articles/pay-bill", data=bad.encode())
    assert reply.status == 422
    body = await reply.json()
    assert body["problems"] == [
        {"line": 8, "column": 1, "field": "colour", "message": "unknown field"}
    ]
    assert body["error"] == "pay-bill.yaml:8:1: colour: unknown field"
    syntax = await client.put("/api/knowledge/articles/pay-bill", data=b"title: [")
    assert syntax.status == 422 and "YAML syntax" in (await syntax.json())["error"]
    big = await client.put("/api/knowledge/articles/pay-bill", data=b"x" * 70_000)
    assert big.status == 413
    latin1 = await client.put("/api/knowledge/articles/pay-bill", data="é".encode("latin-1"))
    assert latin1.status == 400
    bad_id = await client.put("/api/knowledge/articles/Bad%20Id", data=ARTICLE.encode())
    assert bad_id.status == 400
    linked = await client.delete("/api/knowledge/articles/balance")
    assert linked.status == 409 and "linked from pay-bill" in (await linked.json())["error"]
    after = await (await client.get("/api/knowledge/articles/pay-bill/versions")).json()
    assert after == before
