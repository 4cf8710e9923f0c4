"""Messengers through their local stand-ins: a Telegram-style Bot API server and a
generic JSON webhook receiver on loopback, speaking the same HTTP as the real ones,
talk to the real controller; their users run the same chat flow and sessions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chat_bridge.messengers import SIGNATURE_HEADER, TELEGRAM_SECRET_HEADER, sign
from hotline.store import Store
from hotline.store.chats import ChatStore
from tests.e2e.conftest import RunningHotline

pytestmark = [pytest.mark.e2e]


def run(factory: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine on a loop of its own (Playwright's sync API may hold this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class StandIn:
    """A loopback HTTP server that records what the controller sends it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/{tail:.*}", self.take)
        self.runner = web.AppRunner(self.app)

    async def take(self, request: web.Request) -> web.Response:
        self.received.append((request.path, dict(request.headers), await request.read()))
        self.arrived.set()
        return web.json_response({"ok": True, "result": {}})

    async def __aenter__(self) -> StandIn:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    def bodies(self, path_end: str = "") -> list[dict[str, Any]]:
        return [json.loads(b) for p, _h, b in self.received if p.endswith(path_end)]

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15):
        async with asyncio.timeout(timeout):
            while True:
                for body in self.bodies():
                    if predicate(body):
                        return body
                self.arrived.clear()
                await self.arrived.wait()


async def sessions_of(hotline: RunningHotline, kind: str, user: str) -> list[Any]:
    store = await Store.connect(hotline.database_url)
    try:
        found = await ChatStore(store).session_for_external(kind, user)
        if found is None:
            return []
        return [found, await ChatStore(store).messages(found.id)]
    finally:
        await store.close()


def telegram_update(update_id: int, chat: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "first_name": "Tom", "language_code": "en"},
            "text": text,
        },
    }


def test_telegram_bot_runs_the_chat_flow(hotline: RunningHotline) -> None:
    token = hotline.config["chat"]["telegram"]["token"]
    secret = hotline.config["chat"]["telegram"]["webhook_secret"]
    url = f"{hotline.web_url}/chat/telegram"

    async def scenario() -> None:
        async with StandIn(hotline.targets["telegram_api"]) as api, aiohttp.ClientSession() as http:
            headers = {TELEGRAM_SECRET_HEADER: secret}
            async with http.post(url, json=telegram_update(1, 777, "/start"), headers=headers) as r:
                assert r.status == 200
            menu = await api.wait_for(lambda b: "reply_markup" in b)
            assert menu["chat_id"] == "777" and "choose your language" in menu["text"]
            keyboard = menu["reply_markup"]["inline_keyboard"]
            assert [row[0]["callback_data"] for row in keyboard] == ["1", "2"]
            assert all(p.startswith(f"/bot{token}/") for p, _h, _b in api.received)
            press = {
                "update_id": 2,
                "callback_query": {
                    "id": "cb-1",
                    "data": "2",
                    "from": {"id": 777},
                    "message": {"message_id": 5, "chat": {"id": 777}},
                },
            }
            async with http.post(url, json=press, headers=headers) as r:
                assert r.status == 200
            await api.wait_for(lambda b: "Чем мы можем помочь" in b.get("text", ""))
            assert api.bodies("answerCallbackQuery") == [{"callback_query_id": "cb-1"}]
            # Telegram retries an update it thinks failed: stored once.
            async with http.post(url, json=telegram_update(1, 777, "/start"), headers=headers) as r:
                assert r.status == 200
            # A forged update (no or wrong secret token) is refused and stored nowhere.
            for bad in ({}, {TELEGRAM_SECRET_HEADER: "not-the-secret-0000000"}):
                forged = telegram_update(9, 778, "hello")
                async with http.post(url, json=forged, headers=bad) as r:
                    assert r.status == 403
                    assert "secret token" in (await r.json())["error"]

        session, messages = await sessions_of(hotline, "telegram", "777")
        assert [m.text for m in messages if m.sender == "customer"] == ["/start", "2"]
        assert await sessions_of(hotline, "telegram", "778") == []
        store = await Store.connect(hotline.database_url)
        try:
            customer = await store.customer(session.customer_id)
            assert customer is not None and customer.chat_id == "telegram:777"
            assert customer.display_name == "Tom"
        finally:
            await store.close()

    run(scenario)


def test_json_webhook_signed_both_ways(hotline: RunningHotline) -> None:
    secret = hotline.config["chat"]["webhook"]["secret"]
    url = f"{hotline.web_url}/chat/webhook"

    async def post(http: aiohttp.ClientSession, body: dict[str, Any], signature: str | None):
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        async with http.post(url, data=raw, headers=headers) as response:
            return response.status, await response.json()

    async def scenario() -> None:
        replies = StandIn(hotline.targets["webhook_reply"])
        async with replies, aiohttp.ClientSession() as http:
            first = {"user": "wh-42", "id": "m1", "text": "hello", "name": "Wanda"}
            status, _ = await post(http, first, sign(secret, json.dumps(first).encode()))
            assert status == 200
            menu = await replies.wait_for(lambda b: bool(b.get("buttons")))
            assert menu["user"] == "wh-42" and menu["from"] == "system"
            choice = {"user": "wh-42", "id": "m2", "choice": "1"}
            status, _ = await post(http, choice, sign(secret, json.dumps(choice).encode()))
            assert status == 200
            await replies.wait_for(lambda b: "How can we help" in b["text"])
            # Every reply is signed with the shared secret.
            for _path, headers, body in replies.received:
                assert headers[SIGNATURE_HEADER] == sign(secret, body)
            # Forged or missing signatures: 401 with the reason, nothing stored.
            bad = {"user": "wh-forged", "id": "x1", "text": "let me in"}
            for signature in (None, "sha256=" + "0" * 64, sign("wrong-secret", b"{}")):
                status, answer = await post(http, bad, signature)
                assert status == 401 and "X-Hotline-Signature" in answer["error"]
            # Bad bodies, correctly signed: a clear 400, nothing stored.
            for body, problem in (
                ({"user": "wh-bad", "id": "x2"}, "text"),
                ({"user": "", "id": "x3", "text": "x"}, "user"),
                ({"user": "wh-bad", "id": "x4", "text": "x" * 5000}, "4000"),
            ):
                status, answer = await post(http, body, sign(secret, json.dumps(body).encode()))
                assert status in (400, 413) and problem in answer["error"]
            # A flood from one user is cut by the rate limit: refused ones are not stored.
            codes = []
            for n in range(30):
                body = {"user": "wh-flood", "id": f"f{n}", "text": f"spam {n}"}
                status, _ = await post(http, body, sign(secret, json.dumps(body).encode()))
                codes.append(status)
            assert 429 in codes and codes.count(200) < 30

        _session, messages = await sessions_of(hotline, "webhook", "wh-42")
        assert [m.text for m in messages if m.sender == "customer"] == ["hello", "1"]
        assert await sessions_of(hotline, "webhook", "wh-forged") == []
        assert await sessions_of(hotline, "webhook", "wh-bad") == []
        _flood, flood_messages = await sessions_of(hotline, "webhook", "wh-flood")
        stored = [m for m in flood_messages if m.sender == "customer"]
        assert len(stored) == codes.count(200)

    run(scenario)
