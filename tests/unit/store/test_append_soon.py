"""Store.append_soon: the event takes its place in the log at once; its future gives
the id once committed (listeners told then), maps a missing contact to UnknownContact,
rides out a locked database, and a cancelled one leaves the log in order."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hotline.store import Store, sqlite_url
from hotline.store.errors import UnknownContact
from hotline.store.records import LoggedEvent


async def test_ids_in_order_once_committed_and_listeners_told(store: Store) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550201", "100")
    told: list[LoggedEvent] = []
    store.listen(told.append)
    futures = [store.append_soon(contact, "flow.node", {"n": n}) for n in range(10)]
    assert not any(f.done() for f in futures)  # nothing is committed synchronously
    ids = await asyncio.gather(*futures)
    assert ids == sorted(ids) and len(set(ids)) == 10
    assert [(e.id, e.data["n"]) for e in told] == list(zip(ids, range(10), strict=True))
    assert [e.id for e in await store.events(contact)] == ids


async def test_an_unknown_contact_fails_alone(store: Store) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550202", "100")
    told: list[LoggedEvent] = []
    store.listen(told.append)
    good = store.append_soon(contact, "flow.node", {"n": 1})
    bad = store.append_soon("nobody", "flow.node", {"n": 2})
    with pytest.raises(UnknownContact, match="no contact with id 'nobody'"):
        await bad
    assert isinstance(await good, int)
    assert [e.data["n"] for e in told] == [1]
    assert [e.data["n"] for e in await store.events(contact)] == [1]
    assert await store.events("nobody") == []


async def test_bad_arguments_raise_at_once_and_nothing_is_queued(store: Store) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550203", "100")
    with pytest.raises(ValueError, match="event type must be a string"):
        store.append_soon(contact, 42, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data must be a dict"):
        store.append_soon(contact, "flow.node", ["not", "a", "dict"])  # type: ignore[arg-type]
    await store.append(contact, "flow.node", {"n": 1})
    assert [e.data for e in await store.events(contact)] == [{"n": 1}]


async def test_a_cancelled_future_leaves_the_log_in_order(store: Store) -> None:
    """Cancelled while in line, the event is withdrawn if the writer has not taken it
    yet (a race, as for a cancelled `append`); either way the writes go on in order."""
    contact = await store.open_contact("voice", "inbound", "+15550204", "100")
    first = store.append_soon(contact, "flow.node", {"n": 1})
    await asyncio.sleep(0.001)  # the writer has taken the first; it commits
    second = store.append_soon(contact, "flow.node", {"n": 2})  # in line behind it
    second.cancel()
    await first
    third = await store.append(contact, "flow.node", {"n": 3})
    assert second.cancelled()
    logged = await store.events(contact)
    assert [e.data["n"] for e in logged] in ([1, 3], [1, 2, 3])
    assert logged[-1].id == third


async def test_a_locked_database_is_waited_out(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")), retry_for=5.0)
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550205", "100")
        locker = sqlite3.connect(str(tmp_path / "h.db"), isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")
            asyncio.get_running_loop().call_later(0.3, locker.execute, "ROLLBACK")
            event_id = await store.append_soon(contact, "flow.node", {"n": 1})
        finally:
            locker.close()
        [event] = await store.events(contact)
        assert (event.id, event.data) == (event_id, {"n": 1})
    finally:
        await store.close()
