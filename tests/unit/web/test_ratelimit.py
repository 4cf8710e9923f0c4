"""The web's request rate limit (hotline/web/ratelimit.py) over a real aiohttp server
and store: per client address, per signed-in user, 429 with Retry-After and a JSON
error, exemptions, and nothing done for a refused request; and its config's errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hotline import ratelimit as core
from hotline.config import RateLimitConfig, load_config
from hotline.store import Store, sqlite_url
from hotline.store.models import Base
from hotline.web import ratelimit
from hotline.web.auth import Role, build_web_app, requires
from hotline.yamlsource import SourceError
from tests.unit.web.test_auth import PASSWORD, TOKEN, log_in, make_auth

CHANGES = web.AppKey("changes", list)
#: A slow refill (one token in 20 s) so that no token comes back during a test.
SLOW = 0.05


def limits(**changes: Any) -> RateLimitConfig:
    return RateLimitConfig.model_validate(
        {
            "per_address": {"rate": SLOW, "burst": 1000},
            "per_user": {"rate": SLOW, "burst": 1000},
            "unlimited_addresses": [],  # the test client speaks from loopback
            **changes,
        }
    )


@web.middleware
async def remote_from_header(request: web.Request, handler: Any) -> web.StreamResponse:
    """Tests speak from many addresses: X-Test-Remote stands for the peer's address."""
    remote = request.headers.get("X-Test-Remote")
    return await handler(request.clone(remote=remote) if remote else request)


async def serve(store: Store, tmp_path: Path, config: RateLimitConfig) -> TestClient:
    app = build_web_app(make_auth(store, tmp_path), rate_limit=config)
    app.middlewares.insert(0, remote_from_header)
    app[CHANGES] = []

    @requires(Role.AGENT)
    async def change(request: web.Request) -> web.Response:
        request.app[CHANGES].append(await request.json())
        return web.json_response({"changed": True})

    @requires(Role.AGENT)
    async def read(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_post("/api/change", change)
    app.router.add_get("/api/read", read)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    yield store
    await store.close()


@pytest.fixture
async def clients(db: Store, tmp_path: Path) -> AsyncIterator[Any]:
    made: list[TestClient] = []

    async def make(config: RateLimitConfig) -> TestClient:
        made.append(await serve(db, tmp_path, config))
        return made[-1]

    yield make
    for client in made:
        await client.close()


async def sessions_stored(store: Store) -> int:
    table = Base.metadata.tables["web_sessions"]
    return await store.read(
        lambda conn: conn.scalar(sa.select(sa.func.count()).select_from(table)), "count"
    )


async def test_over_the_address_limit_is_429_with_retry_after(clients: Any) -> None:
    client = await clients(limits(per_address={"rate": SLOW, "burst": 3}))
    for _ in range(3):
        assert (await client.get("/login")).status == 200
    refused = await client.get("/login")
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 20
    body = await refused.json()
    assert body["error"].startswith("too many requests from this address; nothing was done")
    assert body["error"].endswith(f"retry in {refused.headers['Retry-After']} s")
    assert refused.headers["X-Frame-Options"] == "DENY"  # still a Hotline answer
    # Another client is not affected; static files are exempt.
    other = await client.get("/login", headers={"X-Test-Remote": "192.0.2.7"})
    assert other.status == 200
    for _ in range(5):
        assert (await client.get("/static/login/login.js")).status == 200


async def test_under_the_limit_everything_works(clients: Any) -> None:
    client = await clients(limits())
    assert (await log_in(client, "alice"))["status"] == 200
    for number in range(50):
        got = await client.post("/api/change", json={"n": number})
        assert got.status == 200
    assert len(client.app[CHANGES]) == 50


async def test_each_user_has_their_own_limit(clients: Any) -> None:
    client = await clients(limits(per_user={"rate": SLOW, "burst": 2}))
    assert (await log_in(client, "alice"))["status"] == 200  # no user yet: not counted
    assert [(await client.get("/api/read")).status for _ in range(3)] == [200, 200, 429]
    refused = await client.get("/api/read")
    assert (await refused.json())["error"].startswith("too many requests for user alice;")
    assert "Retry-After" in refused.headers
    # Sue, from the same address, and the API token are not slowed by alice.
    client.session.cookie_jar.clear()
    assert (await log_in(client, "sue"))["status"] == 200
    assert (await client.get("/api/read")).status == 200
    client.session.cookie_jar.clear()
    api = {"Authorization": f"Bearer {TOKEN}"}
    assert (await client.get("/api/read", headers=api)).status == 200


async def test_a_refused_post_changes_nothing(clients: Any, db: Store) -> None:
    client = await clients(limits(per_address={"rate": SLOW, "burst": 3}))
    assert (await log_in(client, "alice"))["status"] == 200
    assert (await client.post("/api/change", json={"n": 1})).status == 200
    assert (await client.post("/api/change", json={"n": 2})).status == 200
    refused = await client.post("/api/change", json={"n": 3})
    assert refused.status == 429 and "nothing was done" in (await refused.json())["error"]
    assert client.app[CHANGES] == [{"n": 1}, {"n": 2}]
    # A refused login makes no session and sets no cookie.
    before = await sessions_stored(db)
    client.session.cookie_jar.clear()
    refused = await client.post("/login", json={"user": "alice", "password": PASSWORD})
    assert refused.status == 429 and "Set-Cookie" not in refused.headers
    assert await sessions_stored(db) == before


async def test_loopback_has_no_address_limit_by_default_but_its_users_do(
    clients: Any,
) -> None:
    client = await clients(
        limits(
            per_address={"rate": SLOW, "burst": 2},
            per_user={"rate": SLOW, "burst": 3},
            unlimited_addresses=["127.0.0.0/8", "::1/128"],
        )
    )
    assert [(await client.get("/login")).status for _ in range(5)] == [200] * 5
    remote = {"X-Test-Remote": "198.51.100.9"}
    assert [(await client.get("/login", headers=remote)).status for _ in range(3)] == [
        200,
        200,
        429,
    ]
    api = {"Authorization": f"Bearer {TOKEN}"}
    assert [(await client.get("/api/read", headers=api)).status for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]


async def test_a_disabled_limit_refuses_nothing(clients: Any) -> None:
    client = await clients(limits(enabled=False, per_address={"rate": SLOW, "burst": 1}))
    assert [(await client.get("/login")).status for _ in range(5)] == [200] * 5


def test_buckets_tell_how_long_to_wait_and_forget_idle_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    buckets = ratelimit.Buckets(limits().per_address.model_copy(update={"rate": 0.5, "burst": 2}))
    buckets.clock = lambda: now[0]
    assert [buckets.take("a"), buckets.take("a"), buckets.take("a")] == [0, 0, 2]
    now[0] += 1.5  # 0.75 of a token back
    assert buckets.take("a") == 1
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 3)
    buckets.take("b")
    buckets.take("c")
    now[0] += 10  # everyone refilled: the next new client sweeps them out
    buckets.take("d")
    assert list(buckets.buckets) == ["d"]


def test_token_bucket_retry_after() -> None:
    now = [0.0]
    bucket = core.TokenBucket(rate=4, burst=1, clock=lambda: now[0])
    assert bucket.retry_after() == 0 and bucket.full()
    assert bucket.allow() and not bucket.allow()
    assert bucket.retry_after() == 1 and not bucket.full()
    now[0] += 0.25
    assert bucket.retry_after() == 0 and bucket.allow()


@pytest.mark.parametrize(
    ("yaml", "error"),
    [
        ("per_address: {rate: 0, burst: 10}", "web.rate_limit.per_address.rate"),
        ("per_user: {rate: 50, burst: 10}", "burst must be at least rate"),
        ("per_user: {rate: 5}", "web.rate_limit.per_user: missing required field 'burst'"),
        ("exempt: [static]", "web.rate_limit.exempt.0"),
        ("per_second: 5", "web.rate_limit.per_second"),
        ("unlimited_addresses: [localhost]", "web.rate_limit.unlimited_addresses.0"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(
    tmp_path: Path, yaml: str, error: str
) -> None:
    path = tmp_path / "hotline.yaml"
    path.write_text(f'numbers: {{"100": main}}\nweb:\n  rate_limit:\n    {yaml}\n')
    with pytest.raises(SourceError) as refused:
        load_config(path)
    assert error in str(refused.value)
    assert f"{path}:" in str(refused.value)


def test_the_defaults_never_bother_a_desk_or_wallboard() -> None:
    """A page load is a burst of a few requests and live data comes over one
    WebSocket: the defaults allow a reload every few seconds all day."""
    config = RateLimitConfig()
    assert config.enabled and config.per_user.burst >= 100 and config.per_user.rate >= 10
    assert config.per_address.rate >= config.per_user.rate
    assert {"/static/", "/metrics"} <= set(config.exempt)
    assert [str(n) for n in config.unlimited_addresses] == ["127.0.0.0/8", "::1/128"]
