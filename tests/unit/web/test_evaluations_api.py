"""Evaluations over HTTP (hotline/web/evaluations_api.py): a real aiohttp server and
store; a supervisor and an admin evaluate, an agent is refused; every refusal says why
and stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.quality.evaluations import Evaluations
from hotline.quality.forms import load_forms
from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.evaluations_api import add_evaluation_routes
from tests.unit.passwords import hashed

TOKEN = "api-token-for-tests"
PASSWORD = "correct horse"
USERS = users_from(
    [("alice", "Alice")], [("sue", "Sue", "supervisor"), ("tom", "Tom", "supervisor")]
)
FORMS = load_forms(Path(__file__).resolve().parents[3] / "config" / "evaluations")
ANSWERS = {
    "greeting": "yes",
    "verified": "yes",
    "understood": 4,
    "empathy": "na",
    "hold_explained": "no",
    "resolved": "yes",
    "wrap_up": "no",
}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Store, str]]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    sessions = Sessions(SessionStore(store), {u.id: u for u in USERS})
    app = build_web_app(Auth(USERS, passwords, sessions, TOKEN))
    add_evaluation_routes(app, Evaluations(store, FORMS), FORMS)
    contact = await store.open_contact("voice", "inbound", "5551234", "100")
    await store.append(contact, "contact.answered", {}, queue="sales", agent="alice")
    try:
        async with TestClient(TestServer(app)) as client:
            yield client, store, contact
    finally:
        await store.close()


async def as_user(client: TestClient, user: str | None) -> TestClient:
    client.session.cookie_jar.clear()
    if user is not None:
        response = await client.post("/login", json={"user": user, "password": PASSWORD})
        assert response.status == 200
    return client


async def answer(response: Any) -> tuple[int, Any]:
    return response.status, await response.json()


async def test_supervisors_evaluate_and_calibrate(rig: tuple[TestClient, Store, str]) -> None:
    client, _, contact = rig
    sue = await as_user(client, "sue")
    status, forms = await answer(await sue.get("/api/evaluation_forms"))
    assert status == 200 and [f["form"] for f in forms["forms"]] == ["call_quality"]
    base = f"/api/contacts/{contact}"
    body = {"form": "call_quality", "answers": ANSWERS, "comment": "good start"}
    status, saved = await answer(await sue.post(f"{base}/evaluations", json=body))
    assert status == 201
    assert saved["evaluation"]["score"] == 66.67
    assert saved["evaluation"]["agent"] == "alice" and saved["evaluation"]["evaluator"] == "sue"
    tom = await as_user(client, "tom")
    better = {**ANSWERS, "understood": 5, "hold_explained": "na"}
    status, _ = await answer(
        await tom.post(f"{base}/evaluations", json={"form": "call_quality", "answers": better})
    )
    assert status == 201
    status, listed = await answer(await tom.get(f"{base}/evaluations"))
    assert [e["evaluator"] for e in listed["evaluations"]] == ["sue", "tom"]
    status, spread = await answer(await tom.get(f"{base}/calibration?form=call_quality"))
    assert status == 200
    assert spread["total"] == {
        "evaluators": 2,
        "low": 66.67,
        "high": 91.67,
        "range": 25.0,
        "stdev": 12.5,
    }
    # the API token is an admin
    admin = await as_user(client, None)
    response = await admin.post(
        f"{base}/evaluations",
        json={"form": "call_quality", "answers": ANSWERS},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status == 201


@pytest.mark.parametrize(
    ("user", "contact", "body", "status", "message"),
    [
        (
            "alice",
            None,
            {"form": "call_quality", "answers": ANSWERS},
            403,
            "only supervisors and admins may evaluate contacts; you are an agent",
        ),
        ("sue", None, [1], 400, "the body must be a JSON object"),
        (
            "sue",
            None,
            {"form": "call_quality", "answers": ANSWERS, "x": 1},
            400,
            "unknown field 'x'",
        ),
        ("sue", None, {"answers": ANSWERS}, 400, "form must be the id of an evaluation form"),
        ("sue", None, {"form": "call_quality", "answers": [1]}, 400, "answers must be an object"),
        ("sue", None, {"form": "nope", "answers": ANSWERS}, 400, "unknown form 'nope'"),
        (
            "sue",
            None,
            {"form": "call_quality", "answers": {**ANSWERS, "understood": "4"}},
            400,
            "question 'understood' takes a whole number 1-5 or na, got '4'",
        ),
        (
            "sue",
            None,
            {"form": "call_quality", "answers": {**ANSWERS, "extra": "yes"}},
            400,
            "unknown question 'extra'",
        ),
        (
            "sue",
            None,
            {"form": "call_quality", "answers": ANSWERS, "agent": "bob"},
            409,
            "agent 'bob' did not handle contact",
        ),
        (
            "sue",
            None,
            {"form": "call_quality", "answers": ANSWERS, "comment": 5},
            400,
            "comment must be a string",
        ),
        (
            "sue",
            "no-such-contact",
            {"form": "call_quality", "answers": ANSWERS},
            404,
            "contact 'no-such-contact' does not exist",
        ),
    ],
)
async def test_refusals_say_why_and_store_nothing(
    rig: tuple[TestClient, Store, str],
    user: str,
    contact: str | None,
    body: object,
    status: int,
    message: str,
) -> None:
    client, store, known = rig
    who = await as_user(client, user)
    got, found = await answer(
        await who.post(f"/api/contacts/{contact or known}/evaluations", json=body)
    )
    assert got == status and message in found["error"]
    sue = await as_user(client, "sue")
    _, listed = await answer(await sue.get(f"/api/contacts/{known}/evaluations"))
    assert listed["evaluations"] == []
    assert not [e for e in await store.events(known) if e.type == "evaluation.submitted"]


async def test_agents_cannot_read_evaluations_or_forms(rig: tuple[TestClient, Store, str]) -> None:
    client, _, contact = rig
    alice = await as_user(client, "alice")
    for path in (
        f"/api/contacts/{contact}/evaluations",
        "/api/evaluation_forms",
        f"/api/contacts/{contact}/calibration?form=call_quality",
    ):
        assert (await alice.get(path)).status == 403


async def test_calibration_needs_a_known_form(rig: tuple[TestClient, Store, str]) -> None:
    client, _, contact = rig
    sue = await as_user(client, "sue")
    status, found = await answer(await sue.get(f"/api/contacts/{contact}/calibration?form=x"))
    assert (status, found) == (400, {"error": "form must be one of call_quality"})
