"""The SQLite writer: statements on the event loop's thread, COMMIT on a thread of its
own, and never a wait for another process's lock on the loop."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.store import Store, sqlite_url
from hotline.store.inline_sqlite import InlineConnection


async def test_statements_run_on_the_loop_and_the_commit_on_the_writer_thread(
    tmp_path: Path,
) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()
        traced: list[tuple[str, int]] = []

        async def trace(conn: AsyncConnection) -> None:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert isinstance(driver, InlineConnection)
            driver._conn.set_trace_callback(
                lambda sql: traced.append((sql.split()[0].upper(), threading.get_ident()))
            )

        await store.write(trace, "trace")
        contact = await store.open_contact("chat", "inbound", "web", "chat")
        loop_thread = threading.get_ident()
        kinds = {kind: thread for kind, thread in traced}
        assert kinds["INSERT"] == loop_thread
        assert kinds["COMMIT"] != loop_thread
        assert (await store.contact(contact)) is not None  # committed: another connection reads it
    finally:
        await store.close()


async def test_a_lock_held_by_another_process_is_waited_out_off_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.db"
    store = await Store.connect(sqlite_url(str(path)), retry_for=10)
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550001", "100")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's write lock
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.005)

        ticker = asyncio.create_task(tick())
        append = asyncio.create_task(store.append(contact, "flow.node", {"n": 1}))
        await asyncio.sleep(0.4)
        assert not append.done()  # waiting for the lock...
        other.execute("COMMIT")
        other.close()
        event_id = await asyncio.wait_for(append, 5)
        ticker.cancel()
        # ...while the loop went on: no gap near the 0.4 s the lock was held
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert max(gaps) < 0.2, max(gaps)
        events = await store.events(contact)
        assert [e.id for e in events] == [event_id]
    finally:
        await store.close()


async def test_a_failed_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    try:
        await store.migrate()

        async def half(conn: AsyncConnection) -> Any:
            await conn.exec_driver_sql("CREATE TABLE scratch (n INTEGER)")
            await conn.exec_driver_sql("INSERT INTO scratch VALUES (1)")
            await conn.exec_driver_sql("INSERT INTO no_such_table VALUES (2)")

        try:
            await store.write(half, "half")
        except Exception as error:
            assert "no such table: no_such_table" in str(error)
        else:
            raise AssertionError("the write should have failed")

        async def tables(conn: AsyncConnection) -> list[str]:
            rows = await conn.exec_driver_sql("SELECT name FROM sqlite_master")
            return [row[0] for row in rows]

        assert "scratch" not in await store.read(tables, "tables")
    finally:
        await store.close()
