"""A briefly unavailable database: retry with back-off, then StoreUnavailable."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.store import Store, StoreUnavailable, UnknownContact, sqlite_url
from hotline.store.retry import is_transient
from tests.pg import PostgresServer, PostgresUnavailable, _free_port, require_or_skip


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store on an SQLite file that gives up quickly: 0.5 s retries, 50 ms busy timeout."""
    store = await Store.connect(
        sqlite_url(str(tmp_path / "h.db")), retry_for=0.5, busy_timeout=0.05
    )
    await store.migrate()
    yield store
    await store.close()


@pytest.fixture
def locker(sqlite_store: Store) -> Iterator[sqlite3.Connection]:
    """A second connection to the same SQLite file, for taking its write lock."""
    conn = sqlite3.connect(str(sqlite_store.url.database), isolation_level=None)
    yield conn
    conn.close()


async def test_sqlite_locked_too_long_raises(
    sqlite_store: Store, locker: sqlite3.Connection
) -> None:
    locker.execute("BEGIN IMMEDIATE")  # holds the write lock
    started = time.monotonic()
    with pytest.raises(
        StoreUnavailable, match=r"append call\.arrived: database unavailable.*locked"
    ):
        await sqlite_store.append(None, "call.arrived")
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 1.5  # retry_for, plus at most one busy_timeout and a back-off
    locker.execute("ROLLBACK")
    assert await sqlite_store.append(None, "call.arrived") == 1


async def test_sqlite_lock_released_during_retry(
    sqlite_store: Store, locker: sqlite3.Connection
) -> None:
    sqlite_store.retry_for = 5.0
    locker.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(0.4, locker.execute, "ROLLBACK")
    started = time.monotonic()
    event_id = await sqlite_store.append(None, "agent.pause", {"state": "available"})
    assert 0.3 < time.monotonic() - started < 3
    now = datetime.now(UTC)
    [event] = await sqlite_store.events_between(now - timedelta(minutes=1), now)
    assert (event.id, event.data) == (event_id, {"state": "available"})


async def test_real_errors_are_not_retried(sqlite_store: Store) -> None:
    sqlite_store.retry_for = 5.0
    started = time.monotonic()
    with pytest.raises(UnknownContact):
        await sqlite_store.append("missing", "call.arrived")
    assert time.monotonic() - started < 0.5


async def test_sqlite_file_unreachable(tmp_path: Path) -> None:
    url = sqlite_url(str(tmp_path / "no-such-dir" / "h.db"))
    with pytest.raises(StoreUnavailable, match=r"connect: database unavailable.*unable to open"):
        await Store.connect(url, retry_for=0.3)
    # aiosqlite stops the worker thread of a failed connection in the background; let it
    # finish before pytest closes the event loop (else it warns about the closed loop).
    await asyncio.sleep(0.1)


async def test_postgres_not_listening() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_free_port()}/postgres"
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="connect: database unavailable"):
        await Store.connect(url, retry_for=0.3, busy_timeout=1)
    assert time.monotonic() - started < 2


def test_is_transient() -> None:
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = 5  # type: ignore[attr-defined]
    no_table = sqlite3.OperationalError("no such table: x")
    no_table.sqlite_errorcode = 1  # type: ignore[attr-defined]
    assert is_transient(locked)
    assert not is_transient(no_table)
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(ValueError("bad"))
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = locked
    assert is_transient(wrapped)
    implicit = KeyError("x")
    implicit.__context__ = locked  # raised while handling: not the cause
    assert not is_transient(implicit)


@pytest.fixture
def own_pg() -> Iterator[PostgresServer]:
    """A private PostgreSQL server of this test's own, to stop and start."""
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        require_or_skip(str(exc))
        raise
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.mark.pg
async def test_postgres_restart_during_append(own_pg: PostgresServer) -> None:
    store = await Store.connect(own_pg.create_database("hotline"), retry_for=15.0)
    try:
        await store.migrate()
        contact_id = await store.open_contact("voice", "inbound", "1", "2")
        own_pg.stop()
        pending = asyncio.create_task(store.append(contact_id, "call.answered"))
        await asyncio.sleep(0.5)
        assert not pending.done()  # retrying while the server is down
        await asyncio.to_thread(own_pg.start)
        event_id = await asyncio.wait_for(pending, 10)
        assert [e.id for e in await store.events(contact_id)] == [event_id]

        own_pg.stop()
        store.retry_for = 0.5
        with pytest.raises(StoreUnavailable, match=r"append call\.ended: database unavailable"):
            await store.append(contact_id, "call.ended")
    finally:
        await store.close()
