"""Bad input and hostile clients against the real controller's chat: each gets a clear
error, nothing is stored that should not be, and the socket (or the server) goes on.
HTML in messages is covered in test_chat_desk.py (shown as text in the desk)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from hotline.store import Store
from hotline.store.chats import MESSAGES, SESSIONS
from tests.e2e.conftest import RunningHotline
from tests.e2e.ports import free_port

pytestmark = [pytest.mark.e2e]


def run(factory: Callable[[], Awaitable[Any]]) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


async def counts(hotline: RunningHotline) -> dict[str, int]:
    """Chat sessions stored, with how many messages each has.

    The worker's Hotline is shared by every module it runs: a chat an earlier module
    left can still gain a message (a system message when it closes), so tests compare
    snapshots with `stored_since` (what belongs to sessions created since) rather than
    totals."""
    store = await Store.connect(hotline.database_url)
    try:
        async with store.engine.connect() as conn:
            sessions = (await conn.execute(select(SESSIONS.c.id))).scalars().all()
            per_session = await conn.execute(
                select(MESSAGES.c.session_id, func.count()).group_by(MESSAGES.c.session_id)
            )
            messages = {session: int(n) for session, n in per_session.all()}
        return {session: messages.get(session, 0) for session in sessions}
    finally:
        await store.close()


def stored_since(before: dict[str, int], after: dict[str, int]) -> tuple[list[str], int]:
    """Sessions created between two `counts` snapshots, and their messages."""
    new = sorted(set(after) - set(before))
    return new, sum(after[session] for session in new)


async def frame(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended ({msg.type}, {ws.close_code}) before {kind}")
            data = json.loads(msg.data)
            if data["type"] == kind:
                return data


async def hello(ws: aiohttp.ClientWebSocketResponse, **extra: Any) -> dict:
    await ws.send_json({"v": 1, "type": "hello", **extra})
    return await frame(ws, "welcome")


async def customer_messages(hotline: RunningHotline, session_id: str, column: Any) -> list[Any]:
    """`column` of every message the customer's side of this chat has stored."""
    store = await Store.connect(hotline.database_url)
    try:
        async with store.engine.connect() as conn:
            query = select(column).where(
                MESSAGES.c.session_id == session_id, MESSAGES.c.sender == "customer"
            )
            return list((await conn.execute(query)).scalars().all())
    finally:
        await store.close()


def test_cross_origin_socket_is_refused_before_anything_is_stored(hotline: RunningHotline) -> None:
    async def scenario() -> None:
        before = await counts(hotline)
        async with aiohttp.ClientSession() as http:
            url = f"{hotline.web_url}/chat/ws"
            async with http.ws_connect(url, headers={"Origin": "http://evil.example"}) as ws:
                error = await frame(ws, "error")
                assert error["code"] == "origin_not_allowed"
                assert "http://evil.example" in error["message"]
                assert "web.allowed_origins" in error["message"]
                msg = await ws.receive()
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                assert ws.close_code == 4003
            async with http.post(
                f"{hotline.web_url}/chat/upload",
                data=b"x",
                headers={"Origin": "http://evil.example", "X-Chat-Session": "whatever"},
            ) as response:
                assert response.status == 403
                assert "Access-Control-Allow-Origin" not in response.headers
        assert stored_since(before, await counts(hotline)) == ([], 0)

    run(scenario)


def test_cross_origin_page_shows_the_refusal_in_the_widget(
    browser: Any, hotline: RunningHotline
) -> None:
    """A page on another origin (not in web.allowed_origins) embeds the widget with one
    script tag: the widget says it may not be used there, and stays quiet."""
    port = free_port()
    page_html = (
        f"<!doctype html><title>elsewhere</title><p>another site</p>"
        f'<script src="{hotline.web_url}/static/chat/widget.js" data-open="true"></script>'
    )
    site = OtherSite(port, page_html)
    context = browser.new_context()
    try:
        before = run(lambda: counts(hotline))
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        notice = page.locator("#hotline-chat .notice[data-code=origin_not_allowed]")
        notice.wait_for(state="attached", timeout=15_000)
        assert "may not be used from" in notice.inner_text()
        assert stored_since(before, run(lambda: counts(hotline))) == ([], 0)
    finally:
        context.close()
        site.stop()


class OtherSite:
    """A web page on another origin, served from a thread of its own."""

    def __init__(self, port: int, html: str) -> None:
        self.loop = asyncio.new_event_loop()
        app = web.Application()

        async def page(request: web.Request) -> web.Response:
            return web.Response(text=html, content_type="text/html")

        app.router.add_get("/", page)
        self.runner = web.AppRunner(app)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> None:
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", port).start()

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_bad_frames_get_clear_errors_and_the_socket_goes_on(hotline: RunningHotline) -> None:
    async def scenario() -> None:
        before = await counts(hotline)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{hotline.web_url}/chat/ws") as ws,
        ):
            await ws.send_json({"v": 1, "type": "message", "id": "early", "text": "hi"})
            assert (await frame(ws, "error"))["code"] == "not_ready"
            await ws.send_json({"v": 1, "type": "hello", "session": "no-such-session-id"})
            error = await frame(ws, "error")
            assert error["code"] == "unknown_session" and "start a new chat" in error["message"]
            # nothing stored for any of it
            assert stored_since(before, await counts(hotline)) == ([], 0)
            for raw, code, says in (
                ("{not json", "bad_json", "not JSON"),
                ("[1, 2]", "bad_message", "JSON object"),
                ('{"type": "launch_missiles"}', "bad_message", "unknown type"),
                ('{"v": 7, "type": "ping"}', "bad_version", "version"),
                ('{"type": "message", "id": "x", "text": ""}', "bad_message", "text"),
                (json.dumps({"type": "message", "id": "x", "text": "a" * 20_000}),
                 "too_large", "over the limit"),
            ):  # fmt: skip
                await ws.send_str(raw)
                error = await frame(ws, "error")
                assert error["code"] == code and says in error["message"], error
            welcome = await hello(ws, visitor="security-test-1")
            await ws.send_json({"type": "message", "id": "x", "text": "b" * 4001})
            assert (await frame(ws, "error"))["code"] == "bad_message"
            await ws.send_json({"type": "ping"})
            await frame(ws, "pong")
        texts = await customer_messages(hotline, welcome["session_id"], MESSAGES.c.text)
        assert texts == []  # none of the refused messages was stored

    run(scenario)


def test_a_flooding_client_is_rate_limited_then_cut_off(hotline: RunningHotline) -> None:
    async def scenario() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{hotline.web_url}/chat/ws") as ws,
        ):
            welcome = await hello(ws, visitor="security-flood-1")
            for n in range(120):
                await ws.send_json({"type": "message", "id": f"f{n}", "text": f"spam {n}"})
            acks, limited = set(), 0
            async with asyncio.timeout(20):
                while True:
                    msg = await ws.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    data = json.loads(msg.data)
                    if data["type"] == "ack":
                        acks.add(data["id"])
                    elif data["type"] == "error":
                        assert data["code"] == "rate_limited"
                        limited += 1
            assert ws.close_code == 4029
        assert limited >= 50 and 0 < len(acks) < 120
        stored = await customer_messages(hotline, welcome["session_id"], MESSAGES.c.client_id)
        assert set(stored) == acks  # exactly what was acknowledged, nothing refused

    run(scenario)


def test_bad_uploads_are_refused_with_the_reason(hotline: RunningHotline) -> None:
    async def scenario() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{hotline.web_url}/chat/ws") as ws,
        ):
            welcome = await hello(ws, visitor="security-upload-1")
            upload = f"{hotline.web_url}/chat/upload"
            token = welcome["session"]
            cases = [
                (
                    {"X-Chat-Session": "nope"},
                    "image/png",
                    b"\x89PNG\r\n\x1a\n..",
                    404,
                    "session",
                ),
                ({"X-Chat-Session": token}, "image/png", b"<html>not png", 415, "not really"),
                ({"X-Chat-Session": token}, "text/html", b"<script>", 415, "not accepted"),
                ({"X-Chat-Session": token}, "text/plain", b"x" * 5_000_001, 413, "over"),
            ]
            for headers, kind, body, status, says in cases:
                async with http.post(
                    upload, data=body, headers={**headers, "Content-Type": kind}
                ) as response:
                    answer = await response.json()
                    assert response.status == status and says in answer["error"], answer
            png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
            async with http.post(
                upload,
                data=png,
                headers={
                    "X-Chat-Session": token,
                    "Content-Type": "image/png",
                    "X-Filename": "..%2F..%2Fetc%2Fpasswd.png",
                },
            ) as response:
                assert response.status == 200
                saved = await response.json()
            assert "/" not in saved["filename"] and saved["size"] == len(png)
            await ws.send_json({"type": "attachment", "id": "a1", "attachment": saved["id"]})
            await frame(ws, "ack")
            await ws.send_json({"type": "attachment", "id": "a2", "attachment": "forged-id"})
            assert (await frame(ws, "error"))["code"] == "unknown_attachment"
            url = f"{hotline.web_url}/chat/attachments/{saved['id']}"
            async with http.get(url, params={"session": token}) as response:
                assert response.status == 200 and await response.read() == png
                assert response.headers["X-Content-Type-Options"] == "nosniff"
            async with http.get(url, params={"session": "other"}) as response:
                assert response.status == 404

    run(scenario)


def test_the_desk_socket_refuses_other_origins(hotline: RunningHotline) -> None:
    """An agent's login cookie would ride along on a socket any page opens (same site,
    another port): the desk only opens for its own origin; and not for a non-agent."""
    from tests.e2e.conftest import TEST_PASSWORD

    async def scenario() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            url = f"{hotline.web_url}/desk/ws"
            async with http.get(url) as response:
                assert response.status == 401
            async with http.post(
                f"{hotline.web_url}/login", json={"user": "carol", "password": TEST_PASSWORD}
            ) as response:
                assert response.status == 200
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url, headers={"Origin": "http://127.0.0.1:1"})
            assert refused.value.status == 403
            async with http.ws_connect(url, headers={"Origin": hotline.web_url}) as ws:
                hello = await frame(ws, "hello")
                assert hello["agent"] == "carol" and "wrap_up_codes" in hello
                await ws.send_str("not json")
                error = await frame(ws, "error")
                assert "JSON" in error["message"]
                await ws.send_json({"type": "accept", "contact_id": "no-such-contact"})
                error = await frame(ws, "error")
                assert "no longer offered" in error["message"]
                await ws.send_json({"type": "send", "contact_id": "x", "text": "hi"})
                assert "not open on your desk" in (await frame(ws, "error"))["message"]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(
                f"{hotline.web_url}/login", json={"user": "sue", "password": TEST_PASSWORD}
            ) as response:
                assert response.status == 200
            async with http.ws_connect(url) as ws:
                error = await frame(ws, "error")
                assert error["message"] == "only agents have a desk"

    run(scenario)
