"""The browser phone's relay and account (hotline/web/phone_api.py) over real aiohttp
servers: the desk's socket relayed to a stand-in for Asterisk's SIP WebSocket, frames
both ways with the `sip` subprotocol; closed with its reason when the login session
ends, when the agent's phone is already open, or when Asterisk cannot be reached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.auth import (
    COOKIE,
    Auth,
    PasswordFile,
    Sessions,
    build_web_app,
    users_from,
)
from hotline.web.phone_api import (
    ALREADY_OPEN,
    ASTERISK_DOWN,
    SESSION_ENDED,
    BrowserPhones,
    PhoneAccount,
    add_phone_routes,
)
from tests.unit.passwords import hashed

PASSWORD = "correct horse"
USERS = users_from([("alice", "Alice"), ("bob", "Bob")], [("adam", "Adam", "admin")])
ACCOUNT = PhoneAccount("1001-web", "1001", "sip-secret", "Alice")


class FakeAsterisk:
    """Asterisk's WebSocket transport: answers each SIP frame with `echo: <frame>`."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.protocols: list[str | None] = []
        self.closed = asyncio.Event()
        app = web.Application()
        app.router.add_get("/ws", self.socket)
        self.server = TestServer(app)

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("sip",))
        await ws.prepare(request)
        self.protocols.append(ws.ws_protocol)
        async for msg in ws:
            self.frames.append(msg.data)
            await ws.send_str(f"echo: {msg.data}")
        self.closed.set()
        return ws


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAsterisk]:
    fake = FakeAsterisk()
    await fake.server.start_server()
    try:
        yield fake
    finally:
        await fake.server.close()


async def desk(
    store: Store, tmp_path: Path, asterisk_ws: str
) -> tuple[TestClient[web.Request, web.Application], Auth, BrowserPhones]:
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    auth = Auth(USERS, passwords, Sessions(SessionStore(store), {u.id: u for u in USERS}), "tok")
    app = build_web_app(auth)

    async def alive(token: str) -> bool:
        return await auth.sessions.resolve(token) is not None

    phones = BrowserPhones({"alice": ACCOUNT}, asterisk_ws, alive, check_every=0.1)
    add_phone_routes(app, phones)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client, auth, phones


async def login(client: TestClient[web.Request, web.Application], user: str) -> str:
    origin = str(client.make_url("")).rstrip("/")
    answer = await client.post(
        "/login", json={"user": user, "password": PASSWORD}, headers={"Origin": origin}
    )
    assert answer.status == 200
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value


async def test_frames_are_relayed_both_ways_with_the_sip_subprotocol(
    store: Store, tmp_path: Path, asterisk: FakeAsterisk
) -> None:
    client, _, phones = await desk(store, tmp_path, str(asterisk.server.make_url("/ws")))
    try:
        await login(client, "alice")
        ws = await client.ws_connect("/desk/phone/ws", protocols=("sip",))
        assert ws.protocol == "sip"
        await ws.send_str("REGISTER sip:hotline SIP/2.0\r\n\r\n")
        reply = await ws.receive(timeout=5)
        assert reply.data == "echo: REGISTER sip:hotline SIP/2.0\r\n\r\n"
        assert asterisk.protocols == ["sip"]
        assert "alice" in phones.open
        await ws.close()
        await asyncio.wait_for(asterisk.closed.wait(), 5)  # Asterisk's side closes too
        await asyncio.sleep(0.1)
        assert phones.open == {}
    finally:
        await client.close()


async def test_a_second_phone_for_the_same_agent_is_closed_with_its_reason(
    store: Store, tmp_path: Path, asterisk: FakeAsterisk
) -> None:
    client, _, _ = await desk(store, tmp_path, str(asterisk.server.make_url("/ws")))
    try:
        await login(client, "alice")
        first = await client.ws_connect("/desk/phone/ws", protocols=("sip",))
        second = await client.ws_connect("/desk/phone/ws", protocols=("sip",))
        closed = await second.receive(timeout=5)
        assert closed.type == WSMsgType.CLOSE and closed.data == ALREADY_OPEN
        assert closed.extra == "browser phone already open elsewhere"
        await first.send_str("OPTIONS")
        assert (await first.receive(timeout=5)).data == "echo: OPTIONS"  # untouched
        await first.close()
    finally:
        await client.close()


async def test_an_ended_login_session_closes_the_relay(
    store: Store, tmp_path: Path, asterisk: FakeAsterisk
) -> None:
    client, auth, _ = await desk(store, tmp_path, str(asterisk.server.make_url("/ws")))
    try:
        token = await login(client, "alice")
        ws = await client.ws_connect("/desk/phone/ws", protocols=("sip",))
        await auth.sessions.end(token)  # logout elsewhere, idle time or age
        closed = await ws.receive(timeout=5)
        assert closed.type == WSMsgType.CLOSE and closed.data == SESSION_ENDED
        assert closed.extra == "login session ended"
        await asyncio.wait_for(asterisk.closed.wait(), 5)  # and with it the registration
    finally:
        await client.close()


async def test_asterisk_unreachable_is_said(store: Store, tmp_path: Path) -> None:
    client, _, phones = await desk(store, tmp_path, "ws://127.0.0.1:9/ws")
    try:
        await login(client, "alice")
        ws = await client.ws_connect("/desk/phone/ws", protocols=("sip",))
        closed = await ws.receive(timeout=15)
        assert closed.type == WSMsgType.CLOSE and closed.data == ASTERISK_DOWN
        assert closed.extra == "telephony unavailable"
        for _ in range(50):  # the server's side finishes right after the close
            if not phones.open:
                break
            await asyncio.sleep(0.05)
        assert phones.open == {}
    finally:
        await client.close()


async def test_refusals(store: Store, tmp_path: Path, asterisk: FakeAsterisk) -> None:
    client, _, phones = await desk(store, tmp_path, str(asterisk.server.make_url("/ws")))
    try:
        answer = await client.get("/api/phone/account")
        assert answer.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/desk/phone/ws")
        assert refused.value.status == 401
        await login(client, "bob")  # an agent with no phone account
        answer = await client.get("/api/phone/account")
        assert answer.status == 404
        assert (await answer.json())["error"].startswith("you have no phone")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/desk/phone/ws")
        assert refused.value.status == 403
        await login(client, "alice")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/desk/phone/ws", origin="http://evil.example")
        assert refused.value.status == 403
        assert phones.open == {} and asterisk.frames == []
        answer = await client.get("/api/phone/account")
        assert answer.status == 200 and answer.headers["Cache-Control"] == "no-store"
        body = await answer.json()
        assert (body["authorization_user"], body["password"]) == ("1001", "sip-secret")
        assert body["uri"] == "sip:1001-web@127.0.0.1"
    finally:
        await client.close()


async def test_the_relay_closing_is_reported_once_and_not_for_a_refused_second_phone(
    store: Store, tmp_path: Path, asterisk: FakeAsterisk
) -> None:
    client, _, phones = await desk(store, tmp_path, str(asterisk.server.make_url("/ws")))
    closed: list[str] = []

    async def on_closed(agent: str) -> None:
        closed.append(agent)

    phones.on_closed = on_closed
    try:
        await login(client, "alice")
        first = await client.ws_connect("/desk/phone/ws", protocols=("sip",))
        second = await client.ws_connect("/desk/phone/ws", protocols=("sip",))
        assert (await second.receive(timeout=5)).data == ALREADY_OPEN
        await asyncio.sleep(0.2)
        assert closed == []  # the first phone's calls are not the refused one's to end
        await first.close()
        for _ in range(100):
            if closed:
                break
            await asyncio.sleep(0.05)
        assert closed == ["alice"] and phones.open == {}
    finally:
        await client.close()


async def test_a_failing_report_is_logged_and_the_relay_still_closes(
    store: Store, tmp_path: Path, asterisk: FakeAsterisk, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, phones = await desk(store, tmp_path, str(asterisk.server.make_url("/ws")))

    async def on_closed(agent: str) -> None:
        raise RuntimeError("ARI is down")

    phones.on_closed = on_closed
    try:
        await login(client, "alice")
        ws = await client.ws_connect("/desk/phone/ws", protocols=("sip",))
        await ws.close()
        for _ in range(100):
            if "ending the calls it left failed" in caplog.text:
                break
            await asyncio.sleep(0.05)
        assert "browser phone of alice: ending the calls it left failed" in caplog.text
        assert phones.open == {}
        again = await client.ws_connect("/desk/phone/ws", protocols=("sip",))  # a reload
        await again.send_str("OPTIONS")
        assert (await again.receive(timeout=5)).data == "echo: OPTIONS"
        await again.close()
    finally:
        await client.close()


async def test_the_origin_of_a_tls_terminating_proxy_is_the_desks_own(
    store: Store, tmp_path: Path, asterisk: FakeAsterisk
) -> None:
    """Behind a proxy that terminates TLS this server sees http, the browser says https."""
    client, _, _ = await desk(store, tmp_path, str(asterisk.server.make_url("/ws")))
    try:
        await login(client, "alice")
        host = client.make_url("").authority
        answer = await client.get("/api/phone/account", headers={"Origin": f"https://{host}"})
        assert answer.status == 200
        answer = await client.get("/api/phone/account", headers={"Origin": "https://evil.example"})
        assert answer.status == 403
        ws = await client.ws_connect("/desk/phone/ws", protocols=("sip",), origin=f"https://{host}")
        await ws.send_str("OPTIONS")
        assert (await ws.receive(timeout=5)).data == "echo: OPTIONS"
        await ws.close()
    finally:
        await client.close()
