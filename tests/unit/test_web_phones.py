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
