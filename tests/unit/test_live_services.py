"""Live flow services: integrations by name with their timeout cap, schedules, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from controller.services import LiveServices
from hotline.config import IntegrationConfig
from hotline.flows.hours import Schedule
from hotline.flows.services import HttpRequest, HttpTimeout
from hotline.store import Store


@pytest.fixture
async def api() -> AsyncIterator[str]:
    async def customer(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("sleep", 0)))
        if request.match_info["id"] == "garbage":
            return web.Response(text="not json")
        return web.json_response({"id": request.match_info["id"], "q": dict(request.query)})

    app = web.Application()
    app.router.add_get("/api/customers/{id}", customer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/api"
    await runner.cleanup()


@pytest.fixture
async def services(api: str, tmp_path: Path) -> AsyncIterator[LiveServices]:
    store = await Store.connect(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await store.migrate()
    contact = await store.open_contact("voice", "inbound", "555", "100")
    async with aiohttp.ClientSession() as http:
        yield LiveServices(
            store,
            contact,
            http,
            {"crm": IntegrationConfig(url=api + "/", timeout=0.3)},
            {"office": Schedule(timezone="UTC", weekly={})},
        )
    await store.close()


def request(path: str, timeout: float = 5, target: str = "crm", **params: str) -> HttpRequest:
    return HttpRequest(target=target, method="GET", params=params, timeout=timeout, path=path)


async def test_integration_by_name(services: LiveServices) -> None:
    result = await services.http(request("/customers/7", a="1"))
    assert result.status == 200 and result.json == {"id": "7", "q": {"a": "1"}}


async def test_integration_cap_beats_a_longer_node_timeout(services: LiveServices) -> None:
    with pytest.raises(HttpTimeout, match=r"did not answer in 0\.3 s"):
        await services.http(request("/customers/7", timeout=10, sleep="1"))


async def test_garbage_answer_is_no_data(services: LiveServices) -> None:
    result = await services.http(request("/customers/garbage"))
    assert result.status == 200 and result.json is None


async def test_unreachable_service_raises(services: LiveServices) -> None:
    with pytest.raises(aiohttp.ClientError):
        await services.http(request("", target="http://127.0.0.1:9/"))


def test_schedules_from_the_config(services: LiveServices) -> None:
    office = services.schedule("office")
    assert office is not None and services.is_open(office) is False
    assert services.schedule("nope") is None


class PolicyLog:
    """Stands in for CallbackService.abandoned: records what the policy was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []

    async def abandoned(
        self, contact_id: str, number: str, queue: str, waited: float, channel: str = "voice"
    ) -> None:
        self.calls.append((contact_id, number, queue, channel))


async def test_an_abandoned_chat_reaches_the_policy_with_the_customers_phone(
    services: LiveServices,
) -> None:
    store = services.store
    customer = await store.customer_for_phone("+15550123")
    assert customer is not None
    chat = await store.open_contact("chat", "inbound", "web:abc", "support", customer.id)
    policy = PolicyLog()
    live = LiveServices(store, chat, services.session, callbacks=policy)  # type: ignore[arg-type]
    await live.abandoned("support", 42.0, "chat")
    anonymous = await store.open_contact("chat", "inbound", "web:def", "support")
    await LiveServices(store, anonymous, services.session, callbacks=policy).abandoned(  # type: ignore[arg-type]
        "support", 5.0, "chat"
    )
    assert policy.calls == [
        (chat, customer.phone, "support", "chat"),
        (anonymous, "", "support", "chat"),
    ]
