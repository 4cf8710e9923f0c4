"""Transcripts: stored once per recording, searched, made in the background from
`recording.saved` with flags and sentiment, and served to supervisors."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.speech.recogniser import Recognition, SpeechUnavailable, Word
from hotline.speech.settings import SpeechConfig
from hotline.speech.transcriber import Transcriber
from hotline.store import Store
from hotline.store.sessions import SessionStore
from hotline.store.transcripts import Transcripts
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.transcripts_api import add_transcript_routes
from tests.unit.passwords import hashed

SETTINGS = SpeechConfig(
    keywords={"*": {"complaint": ["불만"]}, "billing": {"cancel": ["해지"]}},
    sentiment={"ko": {"positive": ["감사"], "negative": ["불만"]}},
)


class FakeRecogniser:
    """Hears the same words in every recording; knows Korean only."""

    sample_rate = 8000

    def __init__(self, text: str) -> None:
        self.text = text
        self.heard: list[tuple[str, Path]] = []

    def languages(self) -> frozenset[str]:
        return frozenset({"ko"})

    async def transcribe(self, language: str, wav: Path) -> Recognition:
        if language != "ko":
            raise SpeechUnavailable("no_model", language)
        self.heard.append((language, wav))
        words = tuple(Word(w, i * 0.5, i * 0.5 + 0.4, 0.8) for i, w in enumerate(self.text.split()))
        return Recognition(self.text, 0.8, words)


def recording(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(16000))
    return path


async def saved_recording(
    store: Store,
    tmp_path: Path,
    name: str,
    *,
    language: str | None = "ko",
    queue: str | None = None,
) -> str:
    contact = await store.open_contact("voice", "inbound", "+15550100", "100")
    if language:
        await store.append(contact, "flow.language", {"flow": "main", "language": language})
    if queue:
        await store.append(contact, "contact.join", {}, queue=queue)
    path = recording(tmp_path, name)
    data = {"name": name, "file": str(path), "outcome": "recorded", "duration": 1.0}
    await store.append(contact, "recording.saved", data, queue=queue or None)
    return contact


async def test_store_keeps_one_transcript_per_recording_and_searches(store: Store):
    transcripts = Transcripts(store)
    contact = await store.open_contact("voice", "inbound", "+15550100", "100")
    common = {"contact_id": contact, "language": "en", "engine": "vosk", "confidence": 0.9}
    assert await transcripts.save(
        recording="r1",
        text="I want to Cancel 100%",
        words=[{"word": "I"}],
        flags=["cancel"],
        sentiment=-1.0,
        queue="billing",
        **common,
    )
    assert not await transcripts.save(
        recording="r1", text="again", words=[], flags=[], sentiment=None, **common
    )
    assert await transcripts.save(
        recording="r2", text="thank you", words=[], flags=[], sentiment=1.0, **common
    )
    assert await transcripts.has("r1") and not await transcripts.has("r3")
    assert [t.recording for t in await transcripts.for_contact(contact)] == ["r1", "r2"]
    assert [t.recording for t in await transcripts.search("cancel")] == ["r1"]
    assert [t.recording for t in await transcripts.search("100%")] == ["r1"]
    assert [t.recording for t in await transcripts.search("0%")] == ["r1"]
    assert await transcripts.search("_") == []  # LIKE wildcards are escaped
    assert [t.recording for t in await transcripts.search(flag="cancel")] == ["r1"]
    assert [t.recording for t in await transcripts.search(queue="billing")] == ["r1"]
    assert [t.recording for t in await transcripts.search()] == ["r2", "r1"]
    (first,) = await transcripts.search("CANCEL")
    assert first.public()["word_count"] == 1 and "words" not in first.public()


async def test_saved_recording_is_transcribed_with_flags_and_sentiment(store, tmp_path):
    recogniser = FakeRecogniser("불만이 많아요 해지 부탁 감사")
    transcriber = Transcriber(store, recogniser, SETTINGS, "en")
    transcriber.start()
    try:
        contact = await saved_recording(store, tmp_path, "vm-1", queue="billing")
        events = await logged(store, contact)
    finally:
        await transcriber.stop()
    (transcript,) = await Transcripts(store).for_contact(contact)
    assert transcript.language == "ko" and transcript.queue == "billing"
    assert transcript.flags == ["cancel", "complaint"]
    assert transcript.sentiment == 0.0  # one positive, one negative
    assert transcript.word_count == 5
    assert [e.data for e in events] == [
        {
            "recording": "vm-1",
            "words": 5,
            "flags": ["cancel", "complaint"],
            "sentiment": 0.0,
            "language": "ko",
            "queue": "billing",
        }
    ]
    assert events[0].queue == "billing"


async def test_recordings_are_skipped_without_a_model_a_file_or_when_done(store, tmp_path):
    recogniser = FakeRecogniser("감사")
    transcriber = Transcriber(store, recogniser, SETTINGS, "en")
    english = await saved_recording(store, tmp_path, "en-1", language="en")
    (event,) = [e for e in await store.events(english) if e.type == "recording.saved"]
    assert not await transcriber.transcribe(event)  # no English model

    korean = await saved_recording(store, tmp_path, "ko-1")
    (event,) = [e for e in await store.events(korean) if e.type == "recording.saved"]
    assert await transcriber.transcribe(event)
    assert not await transcriber.transcribe(event)  # done already
    assert len(recogniser.heard) == 1

    (tmp_path / "ko-1.wav").unlink()
    gone = await saved_recording(store, tmp_path, "ko-2")
    (tmp_path / "ko-2.wav").unlink()
    (event,) = [e for e in await store.events(gone) if e.type == "recording.saved"]
    assert not await transcriber.transcribe(event)
    assert await Transcripts(store).for_contact(gone) == []


async def logged(store: Store, contact: str) -> list:
    """The contact's transcript.saved events, once there is one (or after 2 s)."""
    for _ in range(200):
        events = [e for e in await store.events(contact) if e.type == "transcript.saved"]
        if events:
            return events
        await asyncio.sleep(0.01)
    return []


async def test_a_restart_transcribes_what_was_left(store, tmp_path):
    contact = await saved_recording(store, tmp_path, "left-1")
    transcriber = Transcriber(store, FakeRecogniser("감사"), SETTINGS, "en")
    transcriber.start()
    try:
        assert await logged(store, contact)
    finally:
        await transcriber.stop()
    assert len(await Transcripts(store).for_contact(contact)) == 1


PASSWORD = "correct horse"


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[TestClient]:
    users = users_from([("alice", "Alice")], [("sue", "Sue", "supervisor")])
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in users})
    sessions = Sessions(SessionStore(store), {u.id: u for u in users})
    app = build_web_app(Auth(users, passwords, sessions, "token"))
    add_transcript_routes(app, Transcripts(store))
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_api_search_and_read_for_supervisors_only(store, tmp_path, client: TestClient):
    transcriber = Transcriber(store, FakeRecogniser("불만 해지"), SETTINGS, "en")
    contact = await saved_recording(store, tmp_path, "api-1", queue="billing")
    (event,) = [e for e in await store.events(contact) if e.type == "recording.saved"]
    assert await transcriber.transcribe(event)

    assert (await client.get("/api/transcripts")).status == 401
    await client.post("/login", json={"user": "alice", "password": PASSWORD})
    assert (await client.get("/api/transcripts")).status == 403
    client.session.cookie_jar.clear()
    await client.post("/login", json={"user": "sue", "password": PASSWORD})

    found = await (await client.get("/api/transcripts", params={"q": "해지"})).json()
    assert [t["recording"] for t in found] == ["api-1"] and "words" not in found[0]
    assert await (await client.get("/api/transcripts", params={"q": "감사"})).json() == []
    by_flag = await (await client.get("/api/transcripts", params={"flag": "cancel"})).json()
    assert [t["recording"] for t in by_flag] == ["api-1"]
    one = await (await client.get(f"/api/transcripts/{found[0]['id']}")).json()
    assert [w["word"] for w in one["words"]] == ["불만", "해지"]
    of_contact = await (await client.get(f"/api/contacts/{contact}/transcripts")).json()
    assert [t["id"] for t in of_contact] == [found[0]["id"]]

    summary = await (await client.get("/api/transcripts/summary")).json()
    assert summary["transcripts"] == 1
    assert summary["flags"] == {"cancel": 1, "complaint": 1}
    assert summary["sentiment"] == {"scored": 1, "average": -1.0, "negative": 1, "positive": 0}
    assert summary["queues"]["billing"]["transcripts"] == 1

    bad = await client.get("/api/transcripts", params={"limit": "many"})
    assert bad.status == 400 and (await bad.json())["error"] == "limit must be a whole number"
    bad = await client.get("/api/transcripts/summary", params={"since": "yesterday"})
    assert (await bad.json())["error"].startswith("'yesterday' is not an ISO date")
    missing = await client.get("/api/transcripts/99999")
    assert missing.status == 404 and (await missing.json())["error"] == "no transcript 99999"
