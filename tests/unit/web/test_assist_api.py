"""Agent assist: articles suggested for the customer's last messages (only to the
chat's agent or a supervisor), the agent's own search, each with its card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.knowledge import KnowledgeBase
from hotline.store import LoggedEvent, Store, sqlite_url
from hotline.store.chats import ChatMessage, ChatStore
from hotline.store.sessions import SessionStore
from hotline.web.assist_api import (
    Assist,
    AssistRefused,
    add_assist_routes,
    call_words,
    last_question,
)
from hotline.web.auth import (
    Auth,
    PasswordFile,
    Role,
    Sessions,
    User,
    build_web_app,
    users_from,
)
from tests.unit.passwords import hashed

ROOT = Path(__file__).resolve().parents[3]
#: Each test client's chat contact.
CONTACTS: dict[TestClient, str] = {}
PASSWORD = "correct horse battery"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    await store.migrate()
    kb = KnowledgeBase(store, ["en", "ru"])
    await kb.load()
    await kb.sync_files(ROOT / "knowledge")
    chats = ChatStore(store)
    users = users_from([("alice", "Alice"), ("bob", "Bob")], [("sue", "Sue", "supervisor")])
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in users})
    sessions = Sessions(SessionStore(store), {u.id: u for u in users})
    app = build_web_app(Auth(users, passwords, sessions, "token"))
    add_assist_routes(app, Assist(kb, chats))
    session = await chats.create_session("web", language="en")
    contact = await store.open_contact("chat", "inbound", "web:v1", "chat")
    await chats.update_session(session.id, contact_id=contact, agent="alice")
    said = [
        ("system", "text", "How can we help?", {}),
        ("customer", "text", "2", {"choice": "2"}),
        ("customer", "text", "***", {"masked": True}),
        ("customer", "text", "hello", {}),
        ("customer", "text", "how do I pay my <b>bill</b>?", {}),
        ("agent", "text", "Let me check", {}),
    ]
    for seq, (sender, kind, text, data) in enumerate(said, start=1):
        message = ChatMessage(session.id, seq, sender, kind, text, contact_id=contact, data=data)
        await chats.add_message(message)
    async with TestClient(TestServer(app)) as client:
        CONTACTS[client] = contact
        yield client
        del CONTACTS[client]
    await store.close()


async def login(client: TestClient, user: str) -> None:
    client.session.cookie_jar.clear()
    assert (await client.post("/login", json={"user": user, "password": PASSWORD})).status == 200


async def get(client: TestClient, path: str, **params: str) -> tuple[int, Any]:
    answer = await client.get(path, params=params)
    return answer.status, await answer.json()


async def test_suggestions_for_the_customers_last_words(client: TestClient) -> None:
    path = f"/api/assist/contacts/{CONTACTS[client]}/suggestions"
    assert (await client.get(path)).status == 401
    await login(client, "alice")
    status, found = await get(client, path)
    assert status == 200
    # Typed words only: not the button pressed, not the masked answer.
    assert found["question"] == "hello how do I pay my <b>bill</b>?"
    assert found["language"] == "en"
    first = found["articles"][0]
    assert first["article"] == "pay-bill" and first["title"] == "Paying your bill"
    assert first["card"]["type"] == "card" and first["card"]["title"] == "Paying your bill"
    assert first["card"]["text"] == first["answer"]
    assert {"label": "Your account", "url": "https://example.com/account"} in first["card"][
        "buttons"
    ]
    assert len(found["articles"]) <= 3


async def test_only_the_chats_agent_or_a_supervisor(client: TestClient) -> None:
    await login(client, "bob")
    assert await get(client, f"/api/assist/contacts/{CONTACTS[client]}/suggestions") == (
        403,
        {"error": "this chat is not on your desk"},
    )
    assert await get(client, "/api/assist/contacts/nope/suggestions") == (
        404,
        {"error": "no chat or call with contact 'nope'"},
    )
    await login(client, "sue")
    status, found = await get(client, f"/api/assist/contacts/{CONTACTS[client]}/suggestions")
    assert status == 200 and found["articles"]


async def test_the_agents_own_search(client: TestClient) -> None:
    await login(client, "bob")
    status, found = await get(client, "/api/assist/search", q="roaming abroad", language="en")
    assert status == 200 and found["articles"][0]["article"] == "roaming"
    status, found = await get(client, "/api/assist/search", q="как оплатить счёт", language="ru")
    assert status == 200 and found["articles"][0]["article"] == "pay-bill"
    assert (await get(client, "/api/assist/search", q="", language="en"))[0] == 400
    status, refused = await get(client, "/api/assist/search", q="bill " * 250, language="en")
    assert status == 400 and "1000" in refused["error"]
    status, refused = await get(client, "/api/assist/search", q="bill", language="xx")
    assert status == 400 and "xx" in refused["error"]
    assert (await get(client, "/api/assist/search", q="bill", limit="many"))[0] == 400


def test_last_question_keeps_the_last_three_typed() -> None:
    said = [ChatMessage("s", n, "customer", "text", f"m{n}") for n in range(1, 6)] + [
        ChatMessage("s", 6, "customer", "attachment", "f.pdf")
    ]
    assert last_question(said) == "m3 m4 m5"
    assert last_question([]) == ""


class Calls:
    """A call's records as the store would give them."""

    def __init__(self, events: list[LoggedEvent], transcripts: list[str]) -> None:
        self.logged = events
        self.said = transcripts

    async def events(self, contact_id: str) -> list[LoggedEvent]:
        return self.logged if contact_id == "call-1" else []

    async def transcripts(self, contact_id: str) -> list[str]:
        return self.said


def logged(n: int, kind: str, data: dict[str, Any], agent: str | None = None) -> LoggedEvent:
    return LoggedEvent(n, "call-1", datetime(2026, 12, 6, tzinfo=UTC), kind, None, agent, data)


async def test_suggestions_for_what_a_caller_said(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()
        kb = KnowledgeBase(store, ["en", "ru"])
        await kb.load()
        await kb.sync_files(ROOT / "knowledge")
        speech = {"node": "ask", "confidence": 0.8, "language": "en"}
        events = [
            logged(1, "speech.recognised", {**speech, "text": "roaming abroad", "fallback": None}),
            # Not understood: not the caller's words.
            logged(2, "speech.recognised", {**speech, "text": "bill", "fallback": "again"}),
            logged(3, "contact.answered", {"at": 0.0}, agent="alice"),
        ]
        calls = Calls(events, ["my phone does not work in another country"])
        assist = Assist(kb, ChatStore(store), calls)
        alice, bob = (User(id=a, name=a, role=Role.AGENT, agent_id=a) for a in ("alice", "bob"))
        found = await assist.suggest(alice, "call-1")
        assert found["question"] == "roaming abroad my phone does not work in another country"
        assert found["language"] == "en"
        assert found["articles"][0]["article"] == "roaming"
        with pytest.raises(AssistRefused, match="this call is not on your desk"):
            await assist.suggest(bob, "call-1")
        with pytest.raises(AssistRefused, match="no chat or call with contact 'call-2'"):
            await assist.suggest(alice, "call-2")
        # Nothing said yet: no question, no articles.
        quiet = Assist(kb, ChatStore(store), Calls(events[2:], []))
        assert await quiet.suggest(alice, "call-1") == {
            "question": "",
            "language": "en",
            "articles": [],
            "transcript": [],
            "transcription_stopped": None,
        }
    finally:
        await store.close()


def heard(n: int, utterance: int, text: str) -> LoggedEvent:
    data = {"utterance": utterance, "text": text, "confidence": 0.9, "side": "caller"}
    return logged(n, "call.transcribed", {**data, "language": "ko"})


def test_a_live_transcript_gives_the_callers_last_three_utterances() -> None:
    speech = {"node": "ask", "confidence": 0.8, "language": "ko", "fallback": None}
    events = [logged(1, "speech.recognised", {**speech, "text": "요금"})]
    events += [heard(n, n, f"말{n}") for n in range(2, 7)] + [heard(7, 7, "  ")]
    assert call_words(events, ["녹음"]) == "말4 말5 말6"
    assert call_words(events[:1], ["녹음"]) == "요금 녹음"  # no live transcript: as before


async def test_suggestions_from_a_korean_calls_live_transcript(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()
        kb = KnowledgeBase(store, ["en", "ko"])
        await kb.load()
        await kb.sync_files(ROOT / "knowledge")
        events = [
            logged(1, "contact.answered", {"at": 0.0}, agent="alice"),
            heard(2, 1, "안녕하세요"),
            heard(3, 2, "인터넷 돼요"),
        ]
        alice = User(id="alice", name="alice", role=Role.AGENT, agent_id="alice")
        found = await Assist(kb, ChatStore(store), Calls(events, [])).suggest(alice, "call-1")
        assert found["question"] == "안녕하세요 인터넷 돼요" and found["language"] == "ko"
        assert found["articles"][0]["article"] == "internet-down"
        assert found["articles"][0]["answer"].startswith("공유기를 다시 시작하세요")
        assert [line["text"] for line in found["transcript"]] == ["안녕하세요", "인터넷 돼요"]
        assert found["transcription_stopped"] is None

        # The recogniser failed mid-call: the transcript so far stays, the desk is told.
        stopped = logged(4, "call.transcription_stopped", {"utterance": 2, "reason": "failed"})
        assist = Assist(kb, ChatStore(store), Calls([*events, stopped], []))
        found = await assist.suggest(alice, "call-1")
        assert found["transcription_stopped"] == "failed" and len(found["transcript"]) == 2
        assert found["articles"][0]["article"] == "internet-down"

        # A caller's language the knowledge base has no analysis for: the transcript, no
        # articles (not an error that hides the transcript).
        other = [
            logged(1, "contact.answered", {"at": 0.0}, agent="alice"),
            logged(2, "call.transcribed", {"utterance": 1, "text": "bonjour", "language": "fr"}),
        ]
        found = await Assist(kb, ChatStore(store), Calls(other, [])).suggest(alice, "call-1")
        assert found["articles"] == [] and found["transcript"][0]["text"] == "bonjour"
    finally:
        await store.close()
