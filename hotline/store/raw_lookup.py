"""A row read by its key straight through the SQLite driver, on the event loop's thread.

The live views read a contact and its customer for every call (the wallboard's and the
desk's names). Through SQLAlchemy and aiosqlite such a read costs about 1 ms of CPU:
a pool checkout, BEGIN, the statement's cache key and execution context, a dozen
round trips to aiosqlite's thread, ROLLBACK. SQLite answers it from its page cache in
microseconds. So on an SQLite file a read by key runs on one `sqlite3` connection of
its own, at once: one SQL text per (table, key column), each value converted by the
column type's own SQLAlchemy result processor, so the caller gets what a select
through SQLAlchemy would give. In WAL mode a reader never waits for the writer; the
connection's busy timeout is 0 all the same (the loop must never wait on a lock), and
a driver error is raised as SQLAlchemy's, so the store's retry rules apply.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any] | None


class RawLookup:
    """Rows by key from one SQLite file (see the module docstring)."""

    def __init__(self, database: str) -> None:
        self._database = database
        self._dialect = aiosqlite_dialect()
        self._conn: sqlite3.Connection | None = None
        self._plans: dict[tuple[str, str], tuple[str, list[str], list[Processor]]] = {}

    def row(self, table: Table, key: str, value: Any) -> dict[str, Any] | None:
        """The row of `table` whose `key` column is `value` (a unique key), as
        {column: value}; None if there is none."""
        sql, names, processors = self._plan(table, key)
        try:
            found = self._connection().execute(sql, (value,)).fetchone()
        except sqlite3.Error as error:
            self.close()  # a fresh connection next time
            raise DBAPIError.instance(sql, [value], error, sqlite3.Error) from error
        if found is None:
            return None
        return {
            name: raw if process is None or raw is None else process(raw)
            for name, process, raw in zip(names, processors, found, strict=True)
        }

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA query_only = ON")
            self._conn = conn
        return self._conn

    def _plan(self, table: Table, key: str) -> tuple[str, list[str], list[Processor]]:
        plan = self._plans.get((table.name, key))
        if plan is None:
            names = [column.name for column in table.columns]
            listed = ", ".join(f'"{name}"' for name in names)
            sql = f'SELECT {listed} FROM "{table.name}" WHERE "{key}" = ? LIMIT 1'
            processors: list[Processor] = [
                table.c[name].type.dialect_impl(self._dialect).result_processor(self._dialect, None)
                for name in names
            ]
            plan = (sql, names, processors)
            self._plans[(table.name, key)] = plan
        return plan
