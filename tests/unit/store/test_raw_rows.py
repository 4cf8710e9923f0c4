"""The writer's lean path: rows inserted through the SQLite driver are stored exactly as
SQLAlchemy stores them, its errors are SQLAlchemy's, and the writer keeps one
connection instead of a pool checkout per transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from hotline.store import Store, sqlite_url
from hotline.store.errors import UnknownContact
from hotline.store.group_commit import InsertRow
from hotline.store.raw_rows import raw_inserter
from hotline.store.records import Contact, Customer
from hotline.store.store import CONTACTS, CUSTOMERS, EVENTS


async def test_raw_rows_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550101", "100")
        moment = datetime(2026, 12, 6, 14, 3, 29, 123456, tzinfo=UTC)
        values = {
            "contact_id": contact,
            "ts": moment,
            "type": "flow.node",
            "queue": "sales",
            "agent": None,
            "data": {"n": 1, "text": "é ünïcode", "nested": {"a": [1, 2]}},
        }
        raw_id = await store.write(InsertRow(EVENTS, dict(values)), "raw")
        # The same row through SQLAlchemy Core, on the read engine.
        async with store.engine.begin() as conn:
            core_id = (await conn.execute(insert(EVENTS).values(values))).inserted_primary_key[0]
        async with store.engine.connect() as conn:
            stored = (
                await conn.execute(
                    text(
                        "SELECT ts, type, queue, agent, data FROM contact_events WHERE id IN "
                        "(:a, :b) ORDER BY id"
                    ),
                    {"a": raw_id, "b": core_id},
                )
            ).all()
        assert raw_id < core_id
        assert stored[0] == stored[1]  # byte for byte the same text in every column
        assert stored[0][0] == "2026-12-06 14:03:29.123456"
        events = await store.events(contact)
        assert [e.id for e in events] == [raw_id, core_id]
        assert events[0].ts == moment and events[0].data == values["data"]
    finally:
        await store.close()


async def test_the_writer_uses_the_raw_path_on_sqlite_files_only(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    memory = await Store.connect("sqlite+aiosqlite:///:memory:")
    try:
        async with store.write_engine.connect() as conn:
            assert await raw_inserter(conn) is not None
        async with memory.write_engine.connect() as conn:
            assert await raw_inserter(conn) is None
    finally:
        await store.close()
        await memory.close()


async def test_a_raw_insert_error_is_sqlalchemys_and_nothing_is_written(store: Store) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550102", "100")
    with pytest.raises(UnknownContact, match="no contact with id 'nobody'"):
        await store.append("nobody", "flow.node", {"n": 1})
    bad = InsertRow(
        EVENTS,
        {
            "contact_id": "nobody",
            "ts": datetime.now(UTC),
            "type": "x",
            "queue": None,
            "agent": None,
            "data": {},
        },
    )
    with pytest.raises(IntegrityError):
        await store.write(bad, "bad")
    assert await store.events(contact) == []
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(EVENTS.c.id))).all() == []


async def test_the_writer_holds_one_connection(store: Store) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550103", "100")  # connects
    checkouts = [0]

    @event.listens_for(store.write_engine.sync_engine, "checkout")
    def _checked_out(*_args: object) -> None:
        checkouts[0] += 1

    for n in range(20):
        await store.append(contact, "flow.node", {"n": n})
    await asyncio.gather(*(store.append(contact, "flow.node", {"n": n}) for n in range(20, 40)))
    await store.update_contact(contact, node="end")
    assert checkouts[0] == 0  # connected before the listener, and never given back since
    assert [e.data["n"] for e in await store.events(contact)] == list(range(40))


async def test_a_batch_of_row_inserts_and_updates_commits_on_the_driver(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550104", "100")
        begun, committed = [0], [0]
        engine = store.write_engine.sync_engine

        @event.listens_for(engine, "begin")
        def _begun(_conn: object) -> None:
            begun[0] += 1

        @event.listens_for(engine, "commit")
        def _committed(_conn: object) -> None:
            committed[0] += 1

        await asyncio.gather(*(store.append(contact, "flow.node", {"n": n}) for n in range(30)))
        assert begun[0] == 0  # no SQLAlchemy transaction: BEGIN and COMMIT on sqlite3
        assert 1 <= committed[0] < 30  # the commit event still tells each commit
        await store.update_contact(contact, node="end")  # a row update: on the driver too
        assert begun[0] == 0
        made = await store.customer_for_phone("+15550104")  # a new caller: on the driver
        assert begun[0] == 0
        assert made == await store.customer(made.id)  # type: ignore[union-attr]
        await store.update_customer(made.id, language="en")  # type: ignore[union-attr]
        assert begun[0] == 1  # neither: SQLAlchemy's transaction
        assert [e.data["n"] for e in await store.events(contact)] == list(range(30))
        assert (await store.contact(contact)).node == "end"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_raw_updates_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()
        raw = await store.open_contact("voice", "inbound", "+15550105", "100")
        core = await store.open_contact("voice", "inbound", "+15550106", "100")
        ended = datetime(2026, 12, 6, 15, 0, 0, 7, tzinfo=UTC)
        fields = {"status": "completed", "ended_at": ended, "variables": {"k": ["é", 1]}}
        await store.update_contact(raw, **fields)  # on the driver
        async with store.engine.begin() as conn:  # the same through SQLAlchemy Core
            await conn.execute(update(CONTACTS).where(CONTACTS.c.id == core).values(fields))
        query = text("SELECT status, ended_at, variables FROM contacts WHERE id = :i")
        async with store.engine.connect() as conn:
            rows = [(await conn.execute(query, {"i": i})).one() for i in (raw, core)]
        assert rows[0] == rows[1]
        assert rows[0][1] == "2026-12-06 15:00:00.000007"
        # close_contact keeps an end time already set (COALESCE), sets the status.
        await store.close_contact(raw, "abandoned")
        closed = await store.contact(raw)
        assert closed is not None and closed.status == "abandoned" and closed.ended_at == ended
        with pytest.raises(UnknownContact, match="no contact with id 'nobody'"):
            await store.update_contact("nobody", node="x")
        with pytest.raises(UnknownContact, match="no contact with id 'nobody'"):
            await store.close_contact("nobody", "completed")
    finally:
        await store.close()


async def test_raw_lookups_give_what_a_select_gives(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()
        customer = await store.customer_for_phone("+15550107")
        await store.update_customer(customer.id, display_name="Zoë", attributes={"vip": True})
        contact = await store.open_contact("voice", "inbound", "+15550107", "100", customer.id)
        await store.update_contact(contact, variables={"a": [1, "b"]}, language="fr")
        await store.close_contact(contact, "completed")
        async with store.engine.connect() as conn:
            selected = (await conn.execute(select(CONTACTS).where(CONTACTS.c.id == contact))).one()
            person = (
                await conn.execute(select(CUSTOMERS).where(CUSTOMERS.c.id == customer.id))
            ).one()
        looked_up = await store.contact(contact)
        assert looked_up == Contact(**selected._mapping)
        assert looked_up.started_at.tzinfo is UTC and looked_up.variables == {"a": [1, "b"]}
        assert await store.customer(customer.id) == Customer(**person._mapping)
        assert await store.contact("nobody") is None
        assert await store.customer(10**9) is None
    finally:
        await store.close()
