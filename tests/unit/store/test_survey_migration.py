"""Migration 0006 rewrites chat survey rows to the one survey.answered shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotline.store import Store
from hotline.store.migrate import upgrade

BEFORE = "0005_speech"
CHAT_ROW = {
    "question": "satisfaction",
    "score": 4,
    "channel": "chat",
    "survey": "csat",
    "node": "s",
}
VOICE_ROW = {"survey": "csat", "node": "survey", "answers": {"satisfaction": 2, "recommend": None}}


@pytest.fixture
async def old_store(db_url: str) -> AsyncIterator[Store]:
    """A store at the revision before the rewrite."""
    store = await Store.connect(db_url, retry_for=2.0)
    async with store.engine.begin() as conn:
        await conn.run_sync(lambda c: upgrade(c, BEFORE))
    try:
        yield store
    finally:
        await store.close()


async def test_chat_rows_take_the_one_shape(old_store: Store) -> None:
    chat = await old_store.open_contact("chat", "inbound", "web", "chat")
    voice = await old_store.open_contact("voice", "inbound", "+15550100", "100")
    await old_store.append(chat, "survey.answered", CHAT_ROW)
    await old_store.append(chat, "survey.answered", {"question": "speed", "score": 5})
    await old_store.append(chat, "chat.closed", {"by": "agent", "score": 1, "question": "q"})
    await old_store.append(voice, "survey.answered", VOICE_ROW)

    await old_store.migrate()

    chat_events = await old_store.events(chat)
    assert [e.data for e in chat_events] == [
        {"survey": "csat", "node": "s", "answers": {"satisfaction": 4}},
        {"survey": "csat", "node": "", "answers": {"speed": 5}},
        {"by": "agent", "score": 1, "question": "q"},  # not a survey: left alone
    ]
    assert [e.data for e in await old_store.events(voice)] == [VOICE_ROW]


async def test_rewrite_with_no_survey_rows(old_store: Store) -> None:
    contact = await old_store.open_contact("voice", "inbound", "+15550100", "100")
    await old_store.append(contact, "call.arrived", {"caller": "+15550100"})
    await old_store.migrate()
    assert [e.data for e in await old_store.events(contact)] == [{"caller": "+15550100"}]
