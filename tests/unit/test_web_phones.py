"""A web process's browser phones (controller/web_phones.py): the phone's socket goes to
the first call worker of `routing.nodes` that takes it, with the login cookie and the
worker's own origin; a worker down is skipped; none taking it is said."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from controller.web_phones import WorkerPhones, phone_socket
from tests.e2e.ports import free_port


def test_the_workers_relay_is_on_its_web_address() -> None:
    assert str(phone_socket("http://10.0.0.2:8080")) == "ws://10.0.0.2:8080/desk/phone/ws"
    assert str(phone_socket("https://a.example/")) == "wss://a.example/desk/phone/ws"


@pytest.fixture
async def worker() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A call worker's web: its phone relay echoes each frame, and says what it got."""
    seen: list[dict[str, Any]] = []

    async def relay(request: web.Request) -> web.WebSocketResponse:
        seen.append(
            {
                "cookie": request.cookies.get("hotline_session"),
                "origin": request.headers.get("Origin"),
                "protocol": request.headers.get("Sec-WebSocket-Protocol"),
            }
        )
        ws = web.WebSocketResponse(protocols=("sip",))
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(f"echo {msg.data}")
        return ws

    app = web.Application()
    app.router.add_get("/desk/phone/ws", relay)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def alive(token: str) -> bool:
    return True


async def test_the_phone_goes_to_the_first_worker_up_with_the_cookie(
    worker: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = worker
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    phones = WorkerPhones({}, {"host-a/one": down, "host-b/two": url}, alive)
    async with aiohttp.ClientSession() as http:
        upstream = await phones.connect_upstream(http, "alice", "tok123")
        await upstream.send_str("REGISTER")
        assert (await upstream.receive(timeout=5)).data == "echo REGISTER"
        await upstream.close()
    assert seen == [{"cookie": "tok123", "origin": url, "protocol": "sip"}]


async def test_no_worker_taking_the_phone_is_said() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    async with aiohttp.ClientSession() as http:
        phones = WorkerPhones({}, {"host-a/one": down}, alive)
        said = r"no call worker took the phone \(host-a/one"
        with pytest.raises(aiohttp.ClientError, match=said):
            await phones.connect_upstream(http, "alice", "tok")
        nobody = WorkerPhones({}, {}, alive)
        with pytest.raises(aiohttp.ClientError, match=r"no call worker in routing\.nodes"):
            await nobody.connect_upstream(http, "alice", "tok")


async def serving(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def closing_worker(code: int, reason: bytes) -> tuple[web.AppRunner, str]:
    """A call worker's web whose phone relay closes each socket at once."""

    async def relay(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("sip",))
        await ws.prepare(request)
        await ws.close(code=code, message=reason)
        return ws

    app = web.Application()
    app.router.add_get("/desk/phone/ws", relay)
    return await serving(app)


async def page_sees(worker_url: str) -> tuple[int | None, str]:
    """How the desk's phone socket on a web process relaying to `worker_url` closes."""
    phones = WorkerPhones({}, {"host-a/one": worker_url}, alive)

    async def relay(request: web.Request) -> web.WebSocketResponse:
        return await phones.relay(request, "alice")

    app = web.Application()
    app.router.add_get("/desk/phone/ws", relay)
    runner, url = await serving(app)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{url}/desk/phone/ws", protocols=("sip",)) as ws,
        ):
            message = await ws.receive(timeout=5)
            return ws.close_code, str(message.extra or "")
    finally:
        await runner.cleanup()


async def test_a_worker_refusing_a_second_phone_is_said_to_the_page_with_its_code() -> None:
    """The worker's relay closes a second phone of an agent with 4009: the web process
    passes the code and its reason on (a plain close told the desk nothing)."""
    refuser, refuser_url = await closing_worker(4009, b"browser phone already open elsewhere")
    closer, closer_url = await closing_worker(1000, b"")
    try:
        assert await page_sees(refuser_url) == (4009, "browser phone already open elsewhere")
        assert (await page_sees(closer_url))[0] == 1000  # a plain close stays plain
    finally:
        await refuser.cleanup()
        await closer.cleanup()
