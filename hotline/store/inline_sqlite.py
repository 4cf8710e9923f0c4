"""SQLite writes in one round trip to a thread: the statements inline, COMMIT away.

aiosqlite runs every call (BEGIN, each INSERT's cursor, execute and close, COMMIT, the
pool's rollback) on a worker thread and hands the result back through the event loop:
about a dozen round trips per transaction. Each one waits for the thread to get the GIL
from a busy event loop (up to `sys.getswitchinterval()`, 5 ms) and then for the loop to
come round to the result. Measured with 5,000 open chats and 1,000 messages a second
(bench/bench_chat.py, docs/benchmarks.md): a chat message's commit took 24 ms at the
median and 158 ms at p99 that way, while SQLite itself needs well under a millisecond.

The store's one writer (GroupCommit) therefore uses a connection whose statements run
at once on the event loop's thread (microseconds each: they only change SQLite's page
cache) and whose COMMIT alone goes to the worker thread: one round trip per batch.
COMMIT stays off the loop because it waits for the disk (fsync; 0.2 ms here when the
machine is quiet, up to 50 ms when other processes fill the disk's queue): that wait
delays only the writes that need it. Reads keep aiosqlite's threads, so a long report
never blocks the loop (a row read by its key excepted: hotline/store/raw_lookup.py).
Statements on the loop must never wait for SQLite's lock there: the writer's busy
timeout is 0, and a write that finds another process holding the
lock fails as "database is locked", which the store retries with back-off
(hotline/store/retry.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hotline.store.jsontext import dumps


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements run on the caller's thread, at once;
    only COMMIT (the WAL append, its fsync, a checkpoint when due) goes to its thread,
    so a slow disk delays the writes that wait for it, not the event loop."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def commit(self) -> None:
        # aiosqlite's own _execute: the call on its thread (it has no type hints).
        await aiosqlite.Connection._execute(self, self._conn.commit)  # type: ignore[no-untyped-call]


def inline_engine(url: URL, *, echo: bool = False) -> AsyncEngine:
    """An engine on the SQLite database at `url` whose connections are InlineConnection
    (one is enough: it is the store's only writer)."""
    database = url.database or ":memory:"

    def connector() -> sqlite3.Connection:
        # Opened on aiosqlite's thread, used on the event loop's.
        return sqlite3.connect(database, check_same_thread=False)

    async def creator() -> aiosqlite.Connection:
        connection = InlineConnection(connector, 64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        return await connection

    return create_async_engine(
        url,
        echo=echo,
        async_creator=creator,
        pool_size=1,
        max_overflow=0,
        json_serializer=dumps,  # the read engine's (hotline/store/jsontext.py)
    )
