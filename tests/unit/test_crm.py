"""The demo CRM: customers by account, 404 for strangers, and its two awkward accounts."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.crm import BROKEN_ACCOUNT, SLOW_ACCOUNT, build_crm, start_crm


@pytest.fixture
async def client() -> TestClient:
    async with TestClient(TestServer(build_crm(slow_seconds=0.3))) as client:
        yield client


async def test_known_account(client: TestClient) -> None:
    response = await client.get("/customers/100001")
    assert response.status == 200
    assert await response.json() == {
        "account": "100001", "name": "Ada Lovelace", "balance": 1250, "language": "en",
    }  # fmt: skip


async def test_unknown_and_malformed_accounts(client: TestClient) -> None:
    response = await client.get("/customers/100009")
    assert response.status == 404
    assert "no customer with account 100009" in (await response.json())["error"]
    response = await client.get("/customers/12ab")
    assert response.status == 400
    assert "must be 1 to 20 digits" in (await response.json())["error"]


async def test_slow_and_broken_accounts(client: TestClient) -> None:
    loop = asyncio.get_running_loop()
    begun = loop.time()
    response = await client.get(f"/customers/{SLOW_ACCOUNT}")
    assert loop.time() - begun >= 0.3
    assert response.status == 404
    response = await client.get(f"/customers/{BROKEN_ACCOUNT}")
    assert response.status == 500
    assert (await response.text()).startswith("<html>")


async def test_health(client: TestClient) -> None:
    response = await client.get("/health")
    assert await response.json() == {"status": "ok", "customers": 3}


async def test_start_on_a_port_and_refuse_a_taken_one() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runner = await start_crm(port)
    try:
        url = f"http://127.0.0.1:{port}/customers/100002"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert (await response.json())["name"] == "Ivan Petrov"
        with pytest.raises(OSError, match=f"demo CRM cannot listen on 127.0.0.1:{port}"):
            await start_crm(port)
    finally:
        await runner.cleanup()
