"""The supervisors' contact page API (hotline/web/contact_page.py) on a real aiohttp
server and store: the search's filters, one contact's review, the recording served,
and the audit of both (transcript.accessed, recording.accessed)."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.quality.evaluations import Evaluations
from hotline.quality.forms import load_forms
from hotline.store import Store, sqlite_url
from hotline.store.chats import ChatMessage, ChatStore
from hotline.store.sessions import SessionStore
from hotline.store.transcripts import Transcripts
from hotline.web.api import add_api_routes
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.contact_page import add_contact_page_routes
from hotline.web.transcripts_api import add_transcript_routes
from tests.unit.passwords import hashed

TOKEN = "api-token-for-tests"
PASSWORD = "correct horse"
USERS = users_from([("alice", "Alice")], [("sue", "Sue", "supervisor")])
FORMS = load_forms(Path(__file__).resolve().parents[3] / "config" / "evaluations")


def silence(path: Path, seconds: float = 1.0) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))


async def seed(store: Store, tmp_path: Path) -> dict[str, str]:
    """A voice call alice answered in sales (recorded, transcribed, coded), a chat bob
    answered in support, and an abandoned call."""
    call = await store.open_contact("voice", "inbound", "+15550100", "100")
    await store.append(call, "contact.join", {}, queue="sales")
    await store.append(call, "contact.answered", {}, queue="sales", agent="alice")
    file = tmp_path / "rec-1.wav"
    silence(file)
    await store.append(
        call,
        "recording.saved",
        {
            "name": "rec-1",
            "duration": 1.0,
            "outcome": "recorded",
            "format": "wav",
            "file": str(file),
            "asterisk_file": "x",
        },
        queue="sales",
        agent="alice",
    )
    await store.append(call, "contact.wrapup", {"code": "sale", "by": "alice"}, agent="alice")
    await store.append(call, "contact.note", {"text": "wants the red one", "by": "alice"})
    await Transcripts(store).save(
        contact_id=call,
        recording="rec-1",
        language="en",
        engine="vosk",
        text="my invoice is wrong",
        confidence=0.9,
        words=[
            {"word": w, "start": i * 0.2, "end": i * 0.2 + 0.2, "conf": 0.9}
            for i, w in enumerate(["my", "invoice", "is", "wrong"])
        ],
        flags=[],
        sentiment=None,
        queue="sales",
    )
    await store.close_contact(call, "completed")
    chat = await store.open_contact("chat", "inbound", "web", "support")
    await store.append(chat, "contact.join", {}, queue="support")
    await store.append(chat, "contact.answered", {}, queue="support", agent="bob")
    chats = ChatStore(store)
    session = await chats.create_session("web")
    await chats.add_message(
        ChatMessage(session.id, 1, "customer", "text", "where is my parcel", contact_id=chat)
    )
    await chats.flush()
    await store.close_contact(chat, "completed")
    gone = await store.open_contact("voice", "inbound", "+15550199", "100")
    await store.append(gone, "contact.join", {}, queue="sales")
    await store.close_contact(gone, "abandoned")
    return {"call": call, "chat": chat, "gone": gone}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Store, dict[str, str]]]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    sessions = Sessions(SessionStore(store), {u.id: u for u in USERS})
    app = build_web_app(Auth(USERS, passwords, sessions, TOKEN))
    add_contact_page_routes(app, store, Evaluations(store, FORMS), FORMS)
    add_transcript_routes(app, Transcripts(store))
    add_api_routes(app, store, lambda: None)  # type: ignore[arg-type,return-value]
    ids = await seed(store, tmp_path)
    try:
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/login", json={"user": "sue", "password": PASSWORD})
            assert response.status == 200
            yield client, store, ids
    finally:
        await store.close()


async def found(client: TestClient, query: str) -> list[str]:
    response = await client.get(f"/api/contact_search?{query}")
    assert response.status == 200, await response.text()
    return [c["id"] for c in (await response.json())["contacts"]]


async def test_search_filters(rig: tuple[TestClient, Store, dict[str, str]]) -> None:
    client, _, ids = rig
    assert set(await found(client, "")) == set(ids.values())
    assert await found(client, "queue=sales&outcome=completed") == [ids["call"]]
    assert await found(client, "agent=bob") == [ids["chat"]]
    assert await found(client, "channel=chat") == [ids["chat"]]
    assert await found(client, "outcome=abandoned") == [ids["gone"]]
    assert await found(client, "q=INVOICE") == [ids["call"]]  # said in the transcript
    assert await found(client, "q=parcel") == [ids["chat"]]  # written in the chat
    assert await found(client, "q=nothing-like-this") == []
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert await found(client, f"from={tomorrow}") == []
    response = await client.get("/api/contact_search?agent=alice")
    [row] = (await response.json())["contacts"]
    assert (row["queue"], row["agents"], row["outcome"]) == ("sales", ["alice"], "completed")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("channel=fax", "channel must be one of voice, chat, callback, outbound"),
        ("outcome=won", "outcome must be one of"),
        ("from=yesterday", "from must be a date (YYYY-MM-DD) or an ISO time"),
        ("from=2026-12-01T10:00:00", "from must carry its UTC offset"),
        ("from=2026-12-05&to=2026-12-01", "to must be after from"),
        ("q=x", "keyword must be 2 to 200 characters"),
        ("limit=0", "limit must be 1 to 500"),
        ("limit=many", "limit must be a whole number"),
    ],
)
async def test_bad_searches_say_why(
    rig: tuple[TestClient, Store, dict[str, str]], query: str, message: str
) -> None:
    client, _, _ = rig
    response = await client.get(f"/api/contact_search?{query}")
    assert response.status == 400 and message in (await response.json())["error"]


async def test_review_and_its_audit(rig: tuple[TestClient, Store, dict[str, str]]) -> None:
    client, store, ids = rig
    call = ids["call"]
    response = await client.get(f"/api/contacts/{call}/review")
    assert response.status == 200
    data: dict[str, Any] = await response.json()
    assert data["contact"]["agents"] == ["alice"] and data["contact"]["queue"] == "sales"
    assert data["wrap_up"] == "sale" and data["notes"][0]["text"] == "wants the red one"
    assert [r["name"] for r in data["recordings"]] == ["rec-1"]
    assert [w["word"] for w in data["transcripts"][0]["words"]] == ["my", "invoice", "is", "wrong"]
    assert "contact.join" in [e["type"] for e in data["timeline"]]
    # the stored file's path is not shown
    assert all("file" not in e["data"] for e in data["timeline"])
    assert [f["form"] for f in data["forms"]] == ["call_quality"]
    events = await store.events(call)
    [read] = [e for e in events if e.type == "transcript.accessed"]
    assert read.data == {
        "by": "sue",
        "role": "supervisor",
        "transcript": data["transcripts"][0]["id"],
    }
    assert not [e for e in events if e.type == "recording.accessed"]
    played = await client.get(f"/api/contacts/{call}/recordings/rec-1")
    assert played.status == 200 and (await played.read())[:4] == b"RIFF"
    assert played.headers["Content-Disposition"].startswith("inline")
    [heard] = [e for e in await store.events(call) if e.type == "recording.accessed"]
    assert heard.data == {"by": "sue", "role": "supervisor", "recording": "rec-1"}
    chat = await (await client.get(f"/api/contacts/{ids['chat']}/review")).json()
    assert [m["text"] for m in chat["chat"]] == ["where is my parcel"]


async def test_missing_things_and_agents_refused(
    rig: tuple[TestClient, Store, dict[str, str]],
) -> None:
    client, store, ids = rig
    response = await client.get("/api/contacts/nope/review")
    assert (response.status, await response.json()) == (404, {"error": "no contact nope"})
    response = await client.get(f"/api/contacts/{ids['call']}/recordings/../../etc/passwd")
    assert response.status == 404
    response = await client.get(f"/api/contacts/{ids['gone']}/recordings/rec-1")
    assert response.status == 404  # another contact's recording is not served under this one
    assert not [e for e in await store.events(ids["gone"]) if e.type == "recording.accessed"]
    client.session.cookie_jar.clear()
    await client.post("/login", json={"user": "alice", "password": PASSWORD})
    for path in (
        "/contacts",
        "/api/contact_search",
        f"/api/contacts/{ids['call']}/review",
        f"/api/contacts/{ids['call']}/recordings/rec-1",
    ):
        assert (await client.get(path)).status == 403, path
    assert not [e for e in await store.events(ids["call"]) if e.type.endswith(".accessed")]


async def test_transcripts_api_and_recording_download_audited_too(
    rig: tuple[TestClient, Store, dict[str, str]],
) -> None:
    client, store, ids = rig
    call = ids["call"]
    [transcript] = await (await client.get(f"/api/contacts/{call}/transcripts")).json()
    assert (await client.get(f"/api/transcripts/{transcript['id']}")).status == 200
    downloaded = await client.get("/api/recordings/rec-1")
    assert downloaded.status == 200 and (await downloaded.read())[:4] == b"RIFF"
    events = await store.events(call)
    assert [e.data for e in events if e.type == "transcript.accessed"] == [
        {"by": "sue", "role": "supervisor", "transcript": transcript["id"]}
    ] * 2
    assert [e.data for e in events if e.type == "recording.accessed"] == [
        {"by": "sue", "role": "supervisor", "recording": "rec-1"}
    ]
