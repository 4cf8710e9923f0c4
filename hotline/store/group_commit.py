"""Group commit: the writes that queue up while one transaction commits share the next.

A commit is the expensive part of a small write (SQLite with `synchronous = FULL`
syncs its write-ahead log to disk; PostgreSQL flushes its WAL). Under load, dozens of
calls each want a few rows written at the same moment; committing each on its own
makes them wait in line for the disk. Here they run one after the other in one
transaction with one commit, and each caller still returns only once its write is
committed.

One write that fails (a constraint, a missing row) must not take the others down with
it, so a batch that fails for any reason other than the database being unavailable is
rolled back and its writes are run again, each in a transaction of its own. Write ops
therefore must do nothing but database work on the connection they are given.

The writer holds one connection for as long as it works (not a pool checkout, reset
and return per transaction: about a third of a small transaction's CPU), and drops it
when a transaction fails as unavailable (the next one connects again). On SQLite's
inline writer connection rows are inserted through the driver, and a batch of nothing
but inserted rows is one transaction on the driver (hotline/store/raw_rows.py).

Two delays make fewer transactions of a call's writes, which come in bursts over a few
loop turns. The commit delay: a write that finds the writer idle waits that long for
the writes that follow it. The lazy delay: a write nobody awaits now (`lazy`: a call's
own events, which the call does not wait for) waits in line up to that long for one
that somebody awaits (a routing record, the contact's row), and commits with it. Order
is kept (one queue), and a lazy write's listeners still hear of it only once committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Table, func, literal, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline.store.raw_rows import DriverOp, RawInserter, raw_inserter
from hotline.store.retry import is_transient

T = TypeVar("T")
WriteOp = Callable[[AsyncConnection], Awaitable[Any]]

#: Writes in one transaction at most: a batch must not hold the write lock for long.
MAX_BATCH = 200
#: The controller's commit delay (seconds; `GroupCommit`'s `commit_delay`): a bench
#: call's writes made 15-17 transactions, 6-10 with it, and the store's CPU per call
#: fell by a third (bench/store_cpu.py, docs/benchmarks.md "Session 9"); an awaited
#: write that finds the writer idle waits this much longer.
COMMIT_DELAY = 0.002
#: Seconds a lazy write (`submit(op, lazy=True)`: an event nobody waits for, as a call's
#: flow steps) may wait in line for a write someone awaits, whose commit it then
#: shares; alone that long, it commits on its own (docs/benchmarks.md "Session 10").
LAZY_DELAY = 0.05


class InsertRow(DriverOp):
    """A write op that inserts one row and returns its key. Inserts into one table that
    queue together go to the database as one statement: one round trip for them all.
    `encoded`: some of `values` as the SQLite driver stores them, made already (an
    event's JSON text): the driver's path uses them as they are."""

    def __init__(
        self, table: Table, values: dict[str, Any], encoded: dict[str, Any] | None = None
    ) -> None:
        self.table = table
        self.values = values
        self.encoded = encoded

    def on_driver(self, raw: RawInserter) -> int:
        """Insert the row through the SQLite driver; its key."""
        return raw.insert_one(self.table, self.values, self.encoded)

    async def __call__(self, conn: AsyncConnection) -> Any:
        result = await conn.execute(self.table.insert(), self.values)
        key = result.inserted_primary_key
        assert key is not None, "an INSERT of one row has its primary key"
        return key[0]

    @staticmethod
    async def many(
        conn: AsyncConnection, rows: list[InsertRow], raw: RawInserter | None = None
    ) -> list[Any]:
        """Insert `rows` (all into one table) in order; their keys, in the same order.
        `raw`: through the SQLite driver (hotline/store/raw_rows.py)."""
        table = rows[0].table
        if raw is not None:
            return [row.on_driver(raw) for row in rows]
        key = table.primary_key.columns[0]
        statement = table.insert().returning(key, sort_by_parameter_order=True)
        result = await conn.execute(statement, [row.values for row in rows])
        return list(result.scalars())


class UpdateRow(DriverOp):
    """A write op that updates the row of `table` whose `key` column is `value`: sets
    `values`, and each column of `keep` only where it is NULL still. No such row:
    raises `missing()`."""

    def __init__(
        self,
        table: Table,
        key: str,
        value: Any,
        values: dict[str, Any],
        missing: Callable[[], Exception],
        keep: frozenset[str] = frozenset(),
    ) -> None:
        self.table = table
        self.key = key
        self.value = value
        self.values = values
        self.missing = missing
        self.keep = keep

    def on_driver(self, raw: RawInserter) -> None:
        """Run the update through the SQLite driver."""
        raw.update(self)

    async def __call__(self, conn: AsyncConnection) -> None:
        column = self.table.c
        values = {
            name: func.coalesce(column[name], literal(value, column[name].type))
            if name in self.keep
            else value
            for name, value in self.values.items()
        }
        statement = update(self.table).where(column[self.key] == self.value).values(values)
        if (await conn.execute(statement)).rowcount == 0:
            raise self.missing()


class Together(DriverOp):
    """Write ops committed in one transaction or not at all (a batch that fails runs
    its writes again one by one, each of them whole): a contact's last event and its
    close, so that no reader sees one without the other. Its result: theirs, in order."""

    def __init__(self, *ops: DriverOp) -> None:
        self.ops = ops

    def on_driver(self, raw: RawInserter) -> list[Any]:
        return [op.on_driver(raw) for op in self.ops]

    async def __call__(self, conn: AsyncConnection) -> list[Any]:
        return [await op(conn) for op in self.ops]


class GroupCommit:
    """One writer for a store: queued write ops, committed in batches, in order."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_batch: int = MAX_BATCH,
        commit_delay: float = 0.0,
        lazy_delay: float = 0.0,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        #: Seconds an idle writer waits for more writes before its first transaction
        #: (PostgreSQL's commit_delay): a call's writes come in bursts over a few loop
        #: turns, and each transaction of its own costs more than its rows. A busy
        #: writer does not wait: what queues while it commits shares the next one.
        self._commit_delay = commit_delay
        #: Seconds an idle writer with nothing but lazy writes in line waits for one
        #: that is awaited (see `submit`).
        self._lazy_delay = lazy_delay
        #: A write in line is awaited (not lazy), or `hurry` was called: no lazy wait.
        self._urgent = False
        #: Set while the writer waits for an urgent write: wakes it.
        self._wake: asyncio.Future[None] | None = None
        self._queue: list[tuple[WriteOp, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        #: The writer's connection, held between transactions (None: connect first).
        self._conn: AsyncConnection | None = None
        self._raw: RawInserter | None = None

    async def close(self) -> None:
        """Let the writes in line finish (5 s at most), then give the connection back."""
        if self._writer is not None and not self._writer.done():
            self.hurry()
            await asyncio.wait([self._writer], timeout=5.0)
            self._writer.cancel()
            with contextlib.suppress(BaseException):
                await self._writer
        await self._drop()

    async def _connection(self) -> tuple[AsyncConnection, RawInserter | None]:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = await self._engine.connect()
            try:
                self._raw = await raw_inserter(self._conn)
            except BaseException:
                await self._drop()
                raise
        return self._conn, self._raw

    async def _drop(self) -> None:
        """Close the held connection (a failed one is not reused)."""
        conn, self._conn, self._raw = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def run(self, op: Callable[[AsyncConnection], Awaitable[T]], *, lazy: bool = False) -> T:
        """Run `op` in a transaction shared with the writes queued with it; returns its
        result once committed, or raises what it (or the commit) raised. `lazy`: see
        `submit`."""
        return await self.submit(op, lazy=lazy)

    def submit(
        self, op: Callable[[AsyncConnection], Awaitable[T]], *, lazy: bool = False
    ) -> asyncio.Future[T]:
        """Queue `op` now (its place in line is taken at once); the future is done as
        `run` returns. `lazy`: nobody waits for it now, so it may wait in line up to
        the lazy delay for an awaited write and share its commit (writes stay in
        order: an awaited write commits every lazy one queued before it)."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((op, done))
        if not lazy:
            self.hurry()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="store-writer")
        return done

    def hurry(self) -> None:
        """Commit what is in line without the lazy wait (someone waits for it now)."""
        if not self._queue:
            return
        self._urgent = True
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _write_all(self) -> None:
        try:
            idle = True  # the commit delay is for a writer that was not committing
            while self._queue:
                # Only lazy writes in line (as after a commit, those queued meanwhile):
                # they wait for an awaited one rather than commit alone.
                if not self._urgent and self._lazy_delay > 0:
                    await self._lazy_wait()
                    idle = True
                if idle and self._commit_delay > 0:
                    await asyncio.sleep(self._commit_delay)
                idle = False
                batch = [
                    (op, done) for op, done in self._queue[: self._max_batch] if not done.done()
                ]
                del self._queue[: self._max_batch]
                # What is in line now goes in this batch; what did not fit waits no
                # longer (it may hold an awaited write).
                self._urgent = self._urgent and bool(self._queue)
                if batch:
                    await self._write(batch)
        finally:
            self._urgent = False

    async def _lazy_wait(self) -> None:
        """Wait for an awaited write (`hurry`), the lazy delay at most."""
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        timer = loop.call_later(self._lazy_delay, _wake_up, wake)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    async def _write(self, batch: list[tuple[WriteOp, asyncio.Future[Any]]]) -> None:
        try:
            conn, raw = await self._connection()
            ops = [op for op, _ in batch]
            rows = [op for op in ops if isinstance(op, DriverOp)]
            if raw is not None and len(rows) == len(ops):
                results = await raw.transaction(rows)
            else:
                async with conn.begin():
                    results = await _run_all(conn, ops, raw)
        except asyncio.CancelledError:
            await self._drop()
            for _, done in batch:
                done.cancel()
            raise
        except Exception as error:
            if is_transient(error):
                await self._drop()  # the next transaction connects again
            if len(batch) > 1 and not is_transient(error):
                for item in batch:  # find the one that failed; the rest commit
                    await self._write([item])
                return
            for _, done in batch:
                if not done.done():
                    done.set_exception(error)
            return
        for (_, done), result in zip(batch, results, strict=True):
            if not done.done():
                done.set_result(result)


def _wake_up(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_result(None)


async def _run_all(
    conn: AsyncConnection, ops: list[WriteOp], raw: RawInserter | None = None
) -> list[Any]:
    """Run `ops` in order on `conn`; inserts into one table that follow each other in
    one statement (through `raw`, the SQLite driver, when given)."""
    results: list[Any] = []
    for table, run in itertools.groupby(ops, key=_insert_table):
        group = list(run)
        # A group with a table holds only InsertRow ops (see _insert_table).
        inserts = [op for op in group if isinstance(op, InsertRow)]
        if table is not None and (len(inserts) > 1 or raw is not None):
            results += await InsertRow.many(conn, inserts, raw)
        else:
            for op in group:
                if raw is not None and isinstance(op, DriverOp):
                    results.append(op.on_driver(raw))  # on the driver, as inserts
                else:
                    results.append(await op(conn))
    return results


def _insert_table(op: WriteOp) -> object:
    """What groups `op` with its neighbours: its table if it inserts a row (None: run
    on its own)."""
    return op.table if isinstance(op, InsertRow) else None
