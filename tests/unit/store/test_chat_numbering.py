"""The chat's message writes (hotline/store/chats.py `NumberedMessages`): numbered after
each session's last stored message, a client id stored already not stored again, and
the same rows whether the op runs on SQLite's driver (the writer's inline connection)
or through SQLAlchemy (PostgreSQL, a fenced chat)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotline.store import Store, sqlite_url
from hotline.store.chats import ChatMessage, ChatStore, NumberedMessages

AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


async def sessions(store: Store) -> tuple[str, str, str]:
    """Two chat sessions (one with a contact) in a store; (first, second, contact)."""
    chats = ChatStore(store)
    contact = await store.open_contact("chat", "inbound", "widget", "support")
    first = await chats.create_session("widget")
    second = await chats.create_session("widget")
    await chats.update_session(first.id, contact_id=contact)
    return first.id, second.id, contact


def batch(first: str, second: str, contact: str, client: str) -> list[ChatMessage]:
    """Interleaved messages of both sessions; `client` twice in one batch, with data."""
    return [
        ChatMessage(first, 0, "customer", "text", "hi", contact, client_id=client, created_at=AT),
        ChatMessage(second, 0, "customer", "text", "hello", None, created_at=AT),
        ChatMessage(first, 0, "agent", "text", "yes?", contact, agent="judy", created_at=AT),
        ChatMessage(first, 0, "customer", "text", "hi", contact, client_id=client, created_at=AT),
        ChatMessage(second, 0, "customer", "choice", "1", None, data={"é": [1, 2]}, created_at=AT),
    ]


def rows(database: Path) -> tuple[list[Any], list[Any]]:
    """The stored message and `chat.message` event rows as SQLite holds them (their
    text, not what SQLAlchemy reads back), without row ids and session ids."""
    with sqlite3.connect(database) as db:
        messages = db.execute(
            "SELECT seq, sender, agent, kind, text, data, client_id, created_at, "
            "contact_id IS NOT NULL FROM chat_messages ORDER BY id"
        ).fetchall()
        events = db.execute(
            "SELECT ts, type, queue, agent, json_remove(data, '$.session') "
            "FROM contact_events WHERE type = 'chat.message' ORDER BY id"
        ).fetchall()
    return messages, events


async def test_messages_are_numbered_per_session_and_a_client_id_is_stored_once(
    tmp_path: Path,
) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()
        first, second, contact = await sessions(store)
        op = NumberedMessages(batch(first, second, contact, "c1"), None)
        written = await store.write(op, "test")
        assert [(w[0].session_id, w[0].seq, w[1]) for w in written if w] == [
            (first, 1, True),
            (second, 1, True),
            (first, 2, True),
            (first, 1, False),  # the same client id in the batch: the first one's
            (second, 2, True),
        ]
        # The next batch goes on from the stored ones; "c1" again is the stored one.
        again = [ChatMessage(first, 0, "customer", "text", "hi", contact, client_id="c1")]
        again.append(ChatMessage(second, 0, "customer", "text", "more", None))
        written = await store.write(NumberedMessages(again, None), "test")
        assert [(w[0].seq, w[1]) for w in written if w] == [(1, False), (3, True)]
        messages, events = rows(tmp_path / "h.db")
        assert [m[0] for m in messages] == [1, 1, 2, 2, 3]  # nothing stored twice
        assert len(events) == 2  # the contact's chat's two new messages
    finally:
        await store.close()


async def test_the_driver_and_sqlalchemy_store_the_same_rows(tmp_path: Path) -> None:
    stored = []
    for name, driver in (("driver", True), ("sqlalchemy", False)):
        database = tmp_path / f"{name}.db"
        store = await Store.connect(sqlite_url(str(database)))
        try:
            await store.migrate()
            first, second, contact = await sessions(store)
            op = NumberedMessages(batch(first, second, contact, "c1"), None)
            await store.write(op if driver else op.__call__, name)
        finally:
            await store.close()
        stored.append(rows(database))
    assert stored[0] == stored[1]
    messages, events = stored[0]
    assert len(messages) == 4 and len(events) == 2
    assert messages[3][5] == '{"é":[1,2]}'  # the JSON as the store writes it
