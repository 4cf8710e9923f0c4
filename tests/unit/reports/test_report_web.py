"""The wallboard, reports and /metrics over a real aiohttp server and store: who may
see them, live pushes on new events, a rebuild after a restart, downloads, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hotline.reports import ReportSettings
from hotline.store import Store
from hotline.store.sessions import SessionStore
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.metrics import add_metrics_routes
from hotline.web.reports_web import Reports, add_report_routes
from hotline.web.wallboard import Wallboard, add_wallboard_routes
from tests.unit.passwords import hashed

TOKEN = "api-token-for-tests"
PASSWORD = "correct horse"
USERS = users_from([("a1", "Ann")], [("sue", "Sue", "supervisor"), ("adam", "Adam", "admin")])
SETTINGS = ReportSettings(sl_threshold=20, short_abandon=5)
GOLDEN = "from=2026-11-23T09:00&to=2026-11-23T11:00"


def make_app(store: Store, tmp_path: Path) -> tuple[web.Application, Wallboard]:
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    sessions = Sessions(SessionStore(store), {u.id: u for u in USERS}, idle=timedelta(hours=1))
    app = build_web_app(Auth(USERS, passwords, sessions, TOKEN))
    wallboard = Wallboard(store, None, SETTINGS, {"a1": "Ann"})
    add_wallboard_routes(app, wallboard)
    # reports as seen long after the golden day, whatever today is
    reports = Reports(store, SETTINGS, ["sales", "support"], ["a1", "a2"], clock=lambda: 2e9)
    add_report_routes(app, reports)
    add_metrics_routes(app, wallboard.view, store.listen)
    return app, wallboard


@pytest.fixture
async def client(golden: Store, tmp_path: Path) -> AsyncIterator[TestClient]:
    app, _ = make_app(golden, tmp_path)
    async with TestClient(TestServer(app)) as client:
        yield client


async def log_in(client: TestClient, user: str) -> None:
    response = await client.post("/login", json={"user": user, "password": PASSWORD})
    assert response.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/wallboard",
        "/api/wallboard",
        "/reports",
        f"/api/reports?{GOLDEN}",
        f"/api/reports/queues.csv?{GOLDEN}",
        f"/api/reports/charts/volume.svg?{GOLDEN}",
    ],
)
async def test_supervisors_only(client: TestClient, path: str) -> None:
    response = await client.get(path, headers={"Accept": "application/json"})
    assert response.status == 401
    await log_in(client, "a1")
    response = await client.get(path, headers={"Accept": "application/json"})
    assert response.status == 403
    assert (await response.json())["error"] == "this needs the supervisor role; you are agent"
    client.session.cookie_jar.clear()
    await log_in(client, "sue")
    assert (await client.get(path)).status == 200


async def test_reports_api_tables_csv_and_charts(client: TestClient) -> None:
    await log_in(client, "sue")
    data = await (await client.get(f"/api/reports?{GOLDEN}&queue=sales")).json()
    sales = next(r for r in data["tables"]["queues"]["rows"] if r["channel"] == "voice")
    assert (sales["offered"], sales["answered"], sales["sl_offered"]) == (6, 3, 50.0)
    assert data["period"]["interval"] == "hour" and "ivr" not in data["tables"]
    response = await client.get(f"/api/reports/agents.csv?{GOLDEN}")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert 'filename="hotline-agents.csv"' in response.headers["Content-Disposition"]
    assert (await response.text()).splitlines()[1].startswith("a1,voice,6600,420,120,1800")
    for chart, words in (
        ("volume", "Contacts by hour"),
        ("service_level", "Service level"),
        ("handle_time", "Average handle time"),
        ("timeline", "a1 paused (lunch) 10:08:15-10:38:15"),
    ):
        response = await client.get(f"/api/reports/charts/{chart}.svg?{GOLDEN}")
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        svg = await response.text()
        assert svg.startswith("<svg") and words in svg and "<script" not in svg


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        (
            f"/api/reports?{GOLDEN}&queue=nope",
            400,
            "unknown queue 'nope': known queues are sales, support",
        ),
        ("/api/reports?from=2026-11-24&to=2026-11-23", 400, "empty period: to"),
        ("/api/reports?from=2026-11-23T09:00", 400, "to is needed when from is a date-time"),
        (f"/api/reports?{GOLDEN}&interval=week", 400, "interval must be one of 15min, hour, day"),
        (f"/api/reports/pies.csv?{GOLDEN}", 404, "no table 'pies'"),
        (f"/api/reports/charts/pie.svg?{GOLDEN}", 404, "no chart 'pie'"),
        (f"/api/reports/ivr.csv?{GOLDEN}&agent=a1", 400, "the ivr table is not made"),
    ],
)
async def test_reports_bad_input(client: TestClient, query: str, status: int, message: str) -> None:
    await log_in(client, "sue")
    response = await client.get(query)
    assert response.status == status
    assert message in (await response.json())["error"]


async def next_view(ws: Any, check: Any, timeout: float = 3.0) -> dict[str, Any]:
    """The first pushed view for which check(view) holds."""
    async with asyncio.timeout(timeout):
        while True:
            view = json.loads((await ws.receive()).data)
            if check(view):
                return view


def queue_row(view: dict[str, Any], queue: str, channel: str = "voice") -> dict[str, Any] | None:
    return next((q for q in view["queues"] if (q["queue"], q["channel"]) == (queue, channel)), None)


async def test_wallboard_pushes_within_a_second_and_survives_a_restart(
    store: Store, tmp_path: Path
) -> None:
    app, _ = make_app(store, tmp_path)
    cid = await store.open_contact("voice", "inbound", "+15550001111", "100")
    async with TestClient(TestServer(app)) as client:
        await log_in(client, "sue")
        async with client.ws_connect("/wallboard/ws") as ws:
            first = json.loads((await ws.receive()).data)
            assert queue_row(first, "sales") is None
            loop = asyncio.get_running_loop()
            await store.append(cid, "contact.join", {"channel": "voice"}, queue="sales")
            sent = loop.time()
            view = await next_view(ws, lambda v: (queue_row(v, "sales") or {}).get("waiting"))
            assert loop.time() - sent < 1.0
            await store.append(cid, "contact.answered", {"channel": "voice"}, "sales", "a1")
            view = await next_view(ws, lambda v: queue_row(v, "sales")["answered"] == 1)
            row = queue_row(view, "sales")
            assert (row["waiting"], row["service_level"], row["sl_colour"]) == (0, 100.0, "green")
            await store.append(cid, "callback.requested", {"queue": "sales"}, queue="sales")
            view = await next_view(ws, lambda v: queue_row(v, "sales")["callbacks_pending"] == 1)
        refused = await client.get(
            "/wallboard/ws",
            headers={
                "Origin": "http://evil.example",
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert refused.status == 403
        assert (await refused.json())["error"] == "cross-site WebSocket refused"
    # a restart: a new board on the same log shows the same day
    app, wallboard = make_app(store, tmp_path)
    async with TestClient(TestServer(app)) as client:
        await log_in(client, "sue")
        view = await (await client.get("/api/wallboard")).json()
        row = queue_row(view, "sales")
        assert (row["answered"], row["service_level"], row["callbacks_pending"]) == (1, 100.0, 1)
        assert wallboard.board.last_id == (await store.events(cid))[-1].id


async def test_metrics_for_admins_and_the_token(client: TestClient) -> None:
    await log_in(client, "sue")
    assert (await client.get("/metrics")).status == 403
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    text = await response.text()
    for name in (
        "hotline_calls_active",
        "hotline_chats_active",
        "hotline_event_loop_lag_seconds",
        "hotline_ari_request_seconds",
        "hotline_errors_total",
        "hotline_events_total",
    ):
        assert name in text, name
