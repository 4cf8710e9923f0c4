"""A chat's callback booked on a web process (hotline/cluster/web_callbacks.py): written
with the chat's place, in no queue there; the call worker it is handed to joins it at
that place (ahead of a caller who came after the chat) and dials it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.settings import CallbackConfig
from hotline.cluster.web_callbacks import BookedForWorkers
from hotline.store import Store, sqlite_url
from tests.unit.callbacks.test_callback_service import Lab


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")), retry_for=2.0)
    await store.migrate()
    lab = Lab(store)
    await lab.start()
    try:
        yield lab
    finally:
        await lab.stop()
        await store.close()


async def test_a_chats_callback_is_booked_at_its_place_and_dialed_by_a_worker(lab: Lab) -> None:
    web = BookedForWorkers(  # the web process's: same store and routing, never started
        lab.store,
        lab.routing,
        CallbackConfig(max_pending_per_number=3, max_requests_per_hour=4),
        {"support": lab.settings},
    )
    chat = await lab.store.open_contact("chat", "inbound", "web:abc", "support")
    await lab.routing.enqueue(chat, "chat", "support")
    await asyncio.sleep(0.05)
    later = await lab.store.open_contact("voice", "inbound", "5550111", "100")
    await lab.routing.enqueue(later, "voice", "support")

    callback = await web.book_from_queue(chat, "5550199", "support", channel="chat")
    assert lab.routing.ticket(chat) is None  # the chat left its queue
    assert lab.routing.position(callback.contact_id) is None  # in no queue on the web
    assert callback.origin_contact_id == chat and callback.source == "chat"
    assert web._tasks == {}  # nothing dialed or waited for on the web process

    # Handed by the leader to a call worker: it joins ahead of the later caller.
    assert await lab.callbacks.adopt([callback.contact_id]) == 1
    await asyncio.sleep(0.05)
    assert lab.routing.position(callback.contact_id) == 1
    assert lab.routing.position(later) == 2
    await lab.login("ann")
    for _ in range(300):
        if lab.dialer.dialed:
            break
        await asyncio.sleep(0.01)
    assert lab.dialer.dialed == [("5550199", "ann", 1)]  # dialed by the worker


async def test_a_number_refused_books_nothing_and_the_chat_keeps_its_place(lab: Lab) -> None:
    web = BookedForWorkers(lab.store, lab.routing, CallbackConfig(), {"support": lab.settings})
    chat = await lab.store.open_contact("chat", "inbound", "web:abc", "support")
    await lab.routing.enqueue(chat, "chat", "support")
    with pytest.raises(CallbackRefused) as refused:
        await web.book_from_queue(chat, "12", "support", channel="chat")
    assert refused.value.reason == "invalid"
    assert lab.routing.position(chat) == 1  # still waiting, at its place
    assert await web.rows.open_callbacks() == []
