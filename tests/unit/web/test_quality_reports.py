"""The quality and staffing reports over HTTP: JSON, CSV, charts, pages, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.quality.evaluations import Evaluations
from hotline.quality.forms import load_forms
from hotline.reports.settings import ReportSettings
from hotline.staffing.settings import StaffingSettings
from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.quality_reports import add_quality_report_routes
from tests.unit.passwords import hashed

PASSWORD = "correct horse"
USERS = users_from([("alice", "Alice")], [("sue", "Sue", "supervisor")])
FORMS = load_forms(Path(__file__).resolve().parents[3] / "config" / "evaluations")
YES = dict.fromkeys(["greeting", "verified", "hold_explained", "resolved", "wrap_up"], "yes")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    app = build_web_app(
        Auth(USERS, passwords, Sessions(SessionStore(store), {u.id: u for u in USERS}), "t")
    )
    evaluations = Evaluations(store, FORMS)
    add_quality_report_routes(
        app, store, evaluations, ReportSettings(), StaffingSettings(), ["sales"], ["alice"]
    )
    contact = await store.open_contact("voice", "inbound", "+15550100", "100")
    await store.append(contact, "contact.answered", {}, queue="sales", agent="alice")
    await evaluations.submit(contact, "call_quality", {**YES, "understood": 5, "empathy": 3}, "sue")
    try:
        async with TestClient(TestServer(app)) as client:
            assert (
                await client.post("/login", json={"user": "sue", "password": PASSWORD})
            ).status == 200
            yield client
    finally:
        await store.close()


async def test_quality_json_csv_chart_page(client: TestClient) -> None:
    data = await (await client.get("/api/quality")).json()
    # empathy 3 on 1-5 = 50; handling (100*2 + 50 + 100) / 4 = 87.5; total (100 + 2*87.5 + 100)/4
    assert data["tables"]["quality_agents"]["rows"][0]["avg_score"] == 93.75
    csv = await (await client.get("/api/quality/quality_agents.csv")).text()
    assert csv.splitlines() == [
        "agent,evaluations,avg_score,pass_rate,failed_all",
        "alice,1,93.75,100,0",
    ]
    svg = await client.get("/api/quality/chart.svg")
    assert svg.content_type == "image/svg+xml" and "<svg" in await svg.text()
    assert (await client.get("/reports/quality")).status == 200
    missing = await client.get("/api/quality/nope.csv")
    assert missing.status == 404 and "no table 'nope'" in (await missing.json())["error"]


async def test_staffing_json_csv_chart_page(client: TestClient) -> None:
    today = date.today().isoformat()
    data = await (await client.get(f"/api/staffing?date={today}&interval=15min")).json()
    assert len(data["table"]["rows"]) == 96 and data["target"] == 80.0 and data["shrinkage"] == 0.3
    csv = await (await client.get(f"/api/staffing.csv?date={today}")).text()
    assert csv.splitlines()[0].startswith("interval,forecast,aht,erlangs,agents")
    for chart in ("agents", "contacts"):
        assert "<svg" in await (await client.get(f"/api/staffing/chart.svg?chart={chart}")).text()
    assert (await client.get("/reports/staffing")).status == 200


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/quality?from=soon", "from must be a date (YYYY-MM-DD)"),
        ("/api/quality?from=2026-12-05&to=2026-12-01", "to must not be before from"),
        ("/api/quality?form=x", "unknown form 'x'"),
        ("/api/staffing?days=x", "days must be a whole number"),
        ("/api/staffing?days=30", "days must be 1 to 14"),
        ("/api/staffing?interval=day", "interval must be one of 15min, hour"),
        ("/api/staffing?queue=nope", "unknown queue"),
        ("/api/staffing.csv?date=13/12", "date must be a date"),
    ],
)
async def test_bad_input(client: TestClient, path: str, message: str) -> None:
    response = await client.get(path)
    assert response.status == 400 and message in (await response.json())["error"]


async def test_agents_refused(client: TestClient) -> None:
    client.session.cookie_jar.clear()
    await client.post("/login", json={"user": "alice", "password": PASSWORD})
    for path in ("/api/quality", "/api/staffing", "/reports/quality", "/reports/staffing"):
        assert (await client.get(path)).status == 403
