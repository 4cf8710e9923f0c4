"""Rows inserted straight through the SQLite driver, on the writer's inline connection.

The store's writer inserts event-log rows (and the like) dozens of times a second. Each
INSERT through SQLAlchemy Core costs about 0.1 ms of CPU before SQLite sees it (cache
key, compiled-statement lookup, execution context, result set-up, the greenlet hop),
while SQLite itself needs ~10 µs. On the writer's connection
(hotline/store/inline_sqlite.py: statements run at once on the event loop's thread)
the rows go to `sqlite3` directly instead: one SQL text per table and column set, each
value converted by the column type's own SQLAlchemy bind processor, so what is stored
is exactly what SQLAlchemy would store and reads it back as before (a value the store
made in the driver's form already, an event's JSON text, is passed as it is). A
driver error is
raised as SQLAlchemy's (IntegrityError, OperationalError), as an execute through
SQLAlchemy would, so callers and the retry rules (hotline/store/retry.py) see no
difference.

A batch of nothing but such rows (most of the writer's batches: a call's events) runs
its whole transaction on the driver (BEGIN, the rows, COMMIT on aiosqlite's thread),
with none of SQLAlchemy's transaction bookkeeping; its `commit` event is still
dispatched, so what counts commits goes on counting them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.store.inline_sqlite import InlineConnection

if TYPE_CHECKING:
    from hotline.store.group_commit import UpdateRow

Processor = Callable[[Any], Any] | None


class RawStep(Protocol):
    """A write op that can run on the driver (a `DriverOp`)."""

    def on_driver(self, raw: RawInserter) -> Any: ...


class DriverOp:
    """A write op that can also run on the SQLite driver (`on_driver`, in a batch's
    transaction there) besides through SQLAlchemy (`__call__`, PostgreSQL and the rest):
    group_commit.InsertRow and UpdateRow, the chat's messages (hotline/store/chats.py)."""

    def on_driver(self, raw: RawInserter) -> Any:
        raise NotImplementedError

    async def __call__(self, conn: AsyncConnection) -> Any:
        raise NotImplementedError


class RawInserter:
    """Inserts rows of one or more tables through a `sqlite3` connection; the SQL text
    and the bind processors of each (table, columns) are made once."""

    def __init__(
        self, inline: InlineConnection, dialect: Dialect, committed: Callable[[], None]
    ) -> None:
        self._inline = inline
        self._driver: sqlite3.Connection = inline._conn
        self._dialect = dialect
        #: Called after each commit of `transaction` (SQLAlchemy's `commit` event).
        self._committed = committed
        self._plans: dict[tuple[str, ...], tuple[str, list[Processor]]] = {}

    async def transaction(self, steps: Sequence[RawStep]) -> list[Any]:
        """Run `steps` (row inserts and updates) in order in one transaction, committed
        on aiosqlite's thread; their results. Nothing of it is kept if anything fails."""
        driver = self._driver
        driver.execute("BEGIN")
        try:
            keys = [step.on_driver(self) for step in steps]
            try:
                await self._inline.commit()
            except sqlite3.Error as error:
                raise DBAPIError.instance("COMMIT", [], error, sqlite3.Error) from error
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # none left if COMMIT went through
                driver.execute("ROLLBACK")
            raise
        self._committed()
        return keys

    def insert_one(
        self, table: Table, values: dict[str, Any], encoded: dict[str, Any] | None = None
    ) -> int:
        """Insert one row; its row id. `encoded`: columns whose value is given as the
        driver stores it already (an event's JSON text, made when it was checked): no
        bind processor runs on them."""
        columns = (table.name, *values, "|", *(encoded or ()))
        plan = self._plans.get(columns)
        if plan is None:
            plan = self._insert_plan(table, tuple(values), frozenset(encoded or ()))
            self._plans[columns] = plan
        sql, processors = plan
        row = {**values, **encoded} if encoded else values
        params = [
            value if process is None or value is None else process(value)
            for process, value in zip(processors, row.values(), strict=True)
        ]
        try:
            key = self._driver.execute(sql, params).lastrowid
        except sqlite3.Error as error:
            raise DBAPIError.instance(sql, params, error, sqlite3.Error) from error
        assert key is not None, "an INSERT of one row has its row id"
        return key

    def rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of a query (plain values as SQLite stores them)."""
        try:
            return self._driver.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise DBAPIError.instance(sql, params, error, sqlite3.Error) from error

    def update(self, op: UpdateRow) -> None:  # hotline/store/group_commit.py
        """Run the update `op` through the driver; raises `op.missing()` if no row has
        its key."""
        columns = tuple(op.values)
        plan_key = ("update", op.table.name, op.key, *sorted(op.keep), "|", *columns)
        plan = self._plans.get(plan_key)
        if plan is None:
            sets = ", ".join(
                f'"{name}" = COALESCE("{name}", ?)' if name in op.keep else f'"{name}" = ?'
                for name in columns
            )
            sql = f'UPDATE "{op.table.name}" SET {sets} WHERE "{op.key}" = ?'
            plan = (sql, [self._processor(op.table, name) for name in (*columns, op.key)])
            self._plans[plan_key] = plan
        sql, processors = plan
        params = [
            value if process is None or value is None else process(value)
            for process, value in zip(processors, (*op.values.values(), op.value), strict=True)
        ]
        try:
            cursor = self._driver.execute(sql, params)
        except sqlite3.Error as error:
            raise DBAPIError.instance(sql, params, error, sqlite3.Error) from error
        if cursor.rowcount == 0:
            raise op.missing()

    def _processor(self, table: Table, name: str) -> Processor:
        """The bind processor SQLAlchemy's SQLite dialect uses for this column."""
        processor: Processor = (
            table.c[name].type.dialect_impl(self._dialect).bind_processor(self._dialect)
        )
        return processor

    def _insert_plan(
        self, table: Table, columns: tuple[str, ...], encoded: frozenset[str]
    ) -> tuple[str, list[Processor]]:
        names = ", ".join(f'"{name}"' for name in columns)
        marks = ", ".join("?" for _ in columns)
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
        processors = [None if name in encoded else self._processor(table, name) for name in columns]
        return sql, processors


async def raw_inserter(conn: AsyncConnection) -> RawInserter | None:
    """A RawInserter on `conn`'s driver connection if it is the inline SQLite writer's
    (whose statements run on the event loop's thread); None otherwise (PostgreSQL, an
    in-memory database): rows then go through SQLAlchemy."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, InlineConnection):
        return None
    sync = conn.sync_connection
    assert sync is not None, "a connection just made is open"
    return RawInserter(driver, conn.dialect, lambda: sync.dispatch.commit(sync))
