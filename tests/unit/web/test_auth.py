"""Roles, passwords, sessions and the access middleware, over a real aiohttp server and store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.auth import (
    COOKIE,
    Auth,
    PasswordFile,
    Role,
    Sessions,
    build_web_app,
    current_user,
    hash_password,
    public,
    requires,
    users_from,
    verify_password,
)
from tests.unit.passwords import hashed

TOKEN = "api-token-for-tests"
PASSWORD = "correct horse"
USERS = users_from([("alice", "Alice")], [("sue", "Sue", "supervisor"), ("adam", "Adam", "admin")])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


def make_auth(store: Store, tmp_path: Path, idle: timedelta = timedelta(hours=1)) -> Auth:
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    if not passwords.path.exists():
        passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    sessions = Sessions(SessionStore(store), {u.id: u for u in USERS}, idle=idle)
    return Auth(USERS, passwords, sessions, TOKEN)


def make_app(auth: Auth) -> web.Application:
    app = build_web_app(auth)

    async def admin_only(request: web.Request) -> web.Response:
        return web.json_response({"who": current_user(request).id})

    @requires(Role.AGENT)
    async def for_agents(request: web.Request) -> web.Response:
        return web.json_response({"who": current_user(request).id})

    @requires(Role.SUPERVISOR)
    async def for_supervisors(request: web.Request) -> web.Response:
        return web.json_response({"who": current_user(request).id})

    @requires(Role.AGENT)
    async def change(request: web.Request) -> web.Response:
        return web.json_response({"changed": True})

    @public
    async def open_page(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app.router.add_get("/api/admin", admin_only)
    app.router.add_get("/api/agent", for_agents)
    app.router.add_get("/api/supervisor", for_supervisors)
    app.router.add_post("/api/change", change)
    app.router.add_get("/page", for_supervisors)
    app.router.add_get("/open", open_page)
    return app


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(make_auth(store, tmp_path)))) as client:
        yield client


async def log_in(client: TestClient, user: str, password: str = PASSWORD) -> dict:
    response = await client.post("/login", json={"user": user, "password": password})
    return {"status": response.status, **(await response.json())}


async def test_a_route_with_no_mark_is_admin_only(client: TestClient) -> None:
    assert (await log_in(client, "sue"))["status"] == 200
    response = await client.get("/api/admin")
    assert response.status == 403
    assert (await response.json())["error"] == "this needs the admin role; you are supervisor"
    response = await client.get("/api/admin", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (await response.json()) == {"who": "api"}


async def test_roles_rank_agent_below_supervisor_below_admin(client: TestClient) -> None:
    await log_in(client, "alice")
    assert (await client.get("/api/agent")).status == 200
    response = await client.get("/api/supervisor")
    assert (await response.json())["error"] == "this needs the supervisor role; you are agent"
    client.session.cookie_jar.clear()
    await log_in(client, "adam")
    assert (await (await client.get("/api/supervisor")).json()) == {"who": "adam"}


async def test_anonymous_requests_are_refused_or_sent_to_login(client: TestClient) -> None:
    response = await client.get("/api/agent")
    assert response.status == 401
    assert "log in at /login" in (await response.json())["error"]
    page = await client.get("/page?x=1", headers={"Accept": "text/html"}, allow_redirects=False)
    assert page.status == 302
    assert page.headers["Location"] == "/login?next=/page?x%3D1"
    assert (await client.get("/open")).status == 200


async def test_a_wrong_bearer_token_is_not_a_session(client: TestClient) -> None:
    response = await client.get("/api/agent", headers={"Authorization": "Bearer nope"})
    assert response.status == 401


async def test_login_sets_a_strict_http_only_cookie_and_logout_ends_it(
    client: TestClient,
) -> None:
    response = await client.post("/login", json={"user": "alice", "password": PASSWORD})
    assert (await response.json())["home"] == "/desk"
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    me = await (await client.get("/api/me")).json()
    assert me == {
        "id": "alice",
        "name": "Alice",
        "role": "agent",
        "agent_id": "alice",
        "home": "/desk",
    }
    token = cookie.value
    assert (await client.post("/logout")).status == 200
    response = await client.get("/api/me", cookies={COOKIE: token})
    assert response.status == 401


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"user": "alice", "password": "wrong"}, 401, "wrong user name or password"),
        ({"user": "mallory", "password": PASSWORD}, 401, "wrong user name or password"),
        ({"user": "alice"}, 400, "user and password must be strings"),
        (["alice"], 400, "the body must be a JSON object"),
        ({"user": "a" * 65, "password": "x"}, 400, "user must be 1-64 characters"),
    ],
)
async def test_bad_logins_get_a_clear_error_and_no_cookie(
    client: TestClient, body: object, status: int, error: str
) -> None:
    response = await client.post("/login", json=body)
    assert response.status == status
    assert (await response.json())["error"].startswith(error)
    assert COOKIE not in response.cookies


async def test_login_that_is_not_json(client: TestClient) -> None:
    response = await client.post("/login", data=b"user=alice")
    assert response.status == 400
    assert "the body must be JSON" in (await response.json())["error"]


async def test_repeated_failures_are_throttled_even_with_the_right_password(
    client: TestClient,
) -> None:
    for _ in range(5):
        assert (await log_in(client, "alice", "guess"))["status"] == 401
    blocked = await log_in(client, "alice")
    assert blocked["status"] == 429
    assert "too many failed logins" in blocked["error"]


async def test_cross_site_posts_are_refused(client: TestClient) -> None:
    await log_in(client, "alice")
    response = await client.post("/api/change", headers={"Origin": "http://evil.example"})
    assert response.status == 403
    assert (await response.json())["error"] == "cross-site request refused"
    same = f"http://{client.server.host}:{client.server.port}"
    assert (await client.post("/api/change", headers={"Origin": same})).status == 200


async def test_sessions_outlive_a_restart_and_end_when_idle(store: Store, tmp_path: Path) -> None:
    first = make_auth(store, tmp_path)
    token = await first.sessions.create(first.users["sue"])
    restarted = make_auth(store, tmp_path)
    assert (await restarted.sessions.resolve(token)).id == "sue"
    idle = make_auth(store, tmp_path, idle=timedelta(seconds=0))
    assert await idle.sessions.resolve(token) is None
    assert await restarted.sessions.resolve("not-a-token") is None


async def test_pages_carry_security_headers(client: TestClient) -> None:
    response = await client.get("/login")
    assert response.status == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_passwords_are_salted_scrypt_hashes() -> None:
    one, two = hash_password("secret"), hash_password("secret")
    assert one != two and one.startswith("scrypt$16384:8:1$") and "secret" not in one
    assert verify_password("secret", one) and not verify_password("Secret", one)
    assert not verify_password("secret", "md5$abc") and not verify_password("secret", "")


def test_a_hash_carries_its_cost_and_is_checked_at_it() -> None:
    cheap = hash_password("secret", cost=2**8)
    assert cheap.startswith("scrypt$256:8:1$")
    assert verify_password("secret", cheap) and not verify_password("Secret", cheap)


def test_new_users_get_generated_passwords_once(tmp_path: Path) -> None:
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    new = passwords.ensure(["alice", "sue"])
    assert set(new) == {"alice", "sue"} and all(len(p) >= 12 for p in new.values())
    assert passwords.ensure(["alice", "sue"]) == {}
    assert (tmp_path / "passwords.yaml").stat().st_mode & 0o777 == 0o600
    assert verify_password(new["alice"], passwords.load()["alice"])


async def test_json_nested_too_deep_is_a_clear_error(client: TestClient) -> None:
    response = await client.post(
        "/login", data="[" * 20_000, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert "the body must be JSON" in (await response.json())["error"]


async def test_a_session_read_while_it_is_ended_is_not_cached_alive(store: Store) -> None:
    """A resolve whose read of the row began before a logout's delete and returns after
    it: the ended session must not live on in this process (the browser phone's watch
    kept a logged-out relay open so)."""
    read_begun, deleted = asyncio.Event(), asyncio.Event()

    class SlowRead(SessionStore):
        async def get(self, token_hash: str) -> Any:
            row = await super().get(token_hash)  # the row, still there
            read_begun.set()
            await deleted.wait()  # ... handed back after the delete
            return row

    users = {u.id: u for u in USERS}
    sessions = Sessions(SlowRead(store), users)
    token = await sessions.create(users["alice"])
    reading = asyncio.create_task(sessions.resolve(token))
    await read_begun.wait()
    await sessions.end(token)
    deleted.set()
    assert await reading is None
    assert await sessions.resolve(token) is None
