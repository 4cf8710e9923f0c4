"""The monitoring REST API (hotline/web/monitor_api.py) over HTTP with a scripted
monitoring behind it: who may monitor, the bodies refused, and that the call routes
registered after it do not take "monitor" for a call-control action."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.calls import CallState, Command, Conflict, NotFound
from hotline.calls.monitor import Mode, MonitorState
from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.auth import (
    Auth,
    PasswordFile,
    Role,
    Sessions,
    build_web_app,
    users_from,
)
from hotline.web.calls_api import add_call_routes
from hotline.web.monitor_api import add_monitor_routes
from tests.unit.passwords import hashed

TOKEN = "api-token-for-tests"
PASSWORD = "correct horse"
USERS = users_from(
    [("carol", "Carol"), ("lead", "Lead")],
    [("sue", "Sue", "supervisor"), ("tom", "Tom", "supervisor"), ("adam", "Adam", "admin")],
    supervising=["lead"],
)


class Monitors:
    """One live call (c1, carol's); monitorings kept as asked."""

    def __init__(self) -> None:
        self.live: dict[str, MonitorState] = {}
        self.asked: list[tuple[str, str, str]] = []

    def of_contact(self, contact_id: str) -> MonitorState | None:
        return self.live.get(contact_id)

    def all(self) -> list[MonitorState]:
        return list(self.live.values())

    async def monitor(self, contact_id: str, supervisor: str, mode: Mode) -> MonitorState:
        self.asked.append((contact_id, supervisor, mode))
        if contact_id != "c1":
            raise NotFound(f"contact {contact_id} has no live call with an agent")
        current = self.live.get(contact_id)
        if current is not None and current.supervisor != supervisor:
            raise Conflict(f"contact {contact_id} is already monitored by {current.supervisor}")
        state = MonitorState(contact_id, supervisor, "carol", mode, "ringing", 0.0)
        self.live[contact_id] = state
        return state

    async def stop(self, contact_id: str, by: str) -> MonitorState:
        state = self.live.pop(contact_id, None)
        if state is None:
            raise NotFound(f"contact {contact_id} is not being monitored")
        return MonitorState(contact_id, state.supervisor, "carol", state.mode, "ended", 0.0)


class Calls:
    """The call control: hold reaches it (the routes after ours still work)."""

    def state(self, contact_id: str) -> CallState | None:
        return None

    def live_of_agent(self, agent: str) -> str | None:
        return None

    async def act(
        self, contact_id: str, command: Command, *, by_agent: str | None, by: str = ""
    ) -> CallState:
        raise NotFound(f"call control asked to {command.action}")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Monitors]]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    sessions = Sessions(SessionStore(store), {u.id: u for u in USERS})
    app = build_web_app(Auth(USERS, passwords, sessions, TOKEN))
    monitors = Monitors()
    add_monitor_routes(app, monitors)
    add_call_routes(app, Calls())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, monitors
    await store.close()


async def as_user(client: TestClient[Any, Any], user: str) -> None:
    client.session.cookie_jar.clear()
    response = await client.post("/login", json={"user": user, "password": PASSWORD})
    assert response.status == 200


async def post(client: TestClient[Any, Any], path: str, body: Any = None) -> tuple[int, Any]:
    response = await client.post(path, json=body) if body is not None else await client.post(path)
    return response.status, await response.json()


def test_team_leads_are_supervisors_with_a_desk() -> None:
    users = {u.id: u for u in USERS}
    assert (users["lead"].role, users["lead"].agent_id) == (Role.SUPERVISOR, "lead")
    assert (users["carol"].role, users["carol"].agent_id) == (Role.AGENT, "carol")
    assert users["sue"].agent_id is None


async def test_an_agent_may_not_monitor(client: Any) -> None:
    http, monitors = client
    await as_user(http, "carol")
    for method, path in (
        ("POST", "/api/calls/c1/monitor"),
        ("POST", "/api/calls/c1/monitor/stop"),
        ("DELETE", "/api/calls/c1/monitor"),
        ("GET", "/api/calls/c1/monitor"),
    ):
        response = await http.request(method, path, json={"mode": "listen"})
        answer = await response.json()
        assert response.status == 403, (method, path)
        assert answer["error"] == (
            "only supervisors and admins may monitor calls; carol is an agent"
        )
    response = await http.get("/api/monitoring")
    assert response.status == 403
    assert monitors.asked == []


async def test_bad_bodies_are_refused_and_nothing_is_asked(client: Any) -> None:
    http, monitors = client
    await as_user(http, "sue")
    for raw, says in (
        (b"not json", 'the body must be a JSON object like {"mode": "listen"}'),
        (b'{"mode": "spy"}', "\"mode\" must be one of listen, whisper, barge; got 'spy'"),
        (b'{"mode": "listen", "to": 1}', "unknown field(s) 'to'"),
    ):
        response = await http.post("/api/calls/c1/monitor", data=raw)
        assert response.status == 400
        assert says in (await response.json())["error"]
    assert monitors.asked == []


async def test_monitor_switch_and_stop(client: Any) -> None:
    http, monitors = client
    await as_user(http, "sue")
    status, answer = await post(http, "/api/calls/c1/monitor")  # no body: listen
    assert status == 200 and answer["monitor"]["mode"] == "listen"
    status, answer = await post(http, "/api/calls/c1/monitor", {"mode": "barge"})
    assert status == 200 and answer["monitor"]["mode"] == "barge"
    assert monitors.asked == [("c1", "sue", "listen"), ("c1", "sue", "barge")]
    response = await http.get("/api/monitoring")
    assert [m["supervisor"] for m in (await response.json())["monitoring"]] == ["sue"]
    status, answer = await post(http, "/api/calls/c2/monitor")
    assert (status, answer["error"]) == (404, "contact c2 has no live call with an agent")

    await as_user(http, "tom")  # another supervisor: neither take it nor stop it
    status, answer = await post(http, "/api/calls/c1/monitor", {"mode": "listen"})
    assert (status, answer["error"]) == (409, "contact c1 is already monitored by sue")
    status, answer = await post(http, "/api/calls/c1/monitor/stop")
    assert status == 403 and "monitored by sue; only they or an admin" in answer["error"]
    assert "c1" in monitors.live

    await as_user(http, "adam")  # an admin may stop anyone's
    response = await http.delete("/api/calls/c1/monitor")
    answer = await response.json()
    assert response.status == 200 and answer["monitor"]["state"] == "ended"
    response = await http.get("/api/calls/c1/monitor")
    assert response.status == 404
    status, answer = await post(http, "/api/calls/c1/monitor/stop")
    assert (status, answer["error"]) == (404, "contact c1 is not being monitored")


async def test_the_call_routes_still_get_their_actions(client: Any) -> None:
    http, _ = client
    await as_user(http, "sue")
    status, answer = await post(http, "/api/calls/c1/hold")
    assert (status, answer["error"]) == (404, "call control asked to hold")
