"""The routing service's write-ahead outbox: a change's log records are written before
anything is done about it.

A change stages records (`record`) and the actions that follow from them (`then`),
then `commit`s: one writer task logs the records of every committed change, in order,
through `log`, and runs a change's actions only once every record before them is
logged. A change does not wait for the ones before it to be written: their `log` calls
run together (the store commits them together). What fails to be logged stays first in
line, and nothing after it is acted on until it is logged, by the writer of a later
change (writes are at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from hotline.acd.router import RoutingError

#: `log(type=, data=, contact_id=, queue=, agent=)`: Store.append_soon (a future: no
#: task per record), Store.append, or a test collector.
LogFn = Callable[..., Awaitable[Any]]
Action = Callable[[], None]


class LogRecord(TypedDict):
    """The keyword arguments of one `log` call."""

    type: str
    data: dict[str, Any]
    contact_id: str | None
    queue: str | None
    agent: str | None


class Outbox:
    """Stages one change at a time and writes committed changes in order; see above."""

    def __init__(self, log: LogFn) -> None:
        self.log = log
        #: The change being made: records to log, then actions to run once they are.
        self._records: list[LogRecord] = []
        self._actions: list[Action] = []
        #: Changes handed to the writer, in order.
        self._pending: deque[_Pending] = deque()
        self._writer: asyncio.Task[None] | None = None

    def record(self, record: LogRecord) -> None:
        """Log `record` as part of the change being made."""
        self._records.append(record)

    def then(self, action: Action) -> None:
        """Run `action` once every record staged so far is logged."""
        self._actions.append(action)

    def commit(self) -> asyncio.Future[None]:
        """Hand the staged change to the writer; the future is done once it is logged
        and acted on (or failed with the error that stopped the logging)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(self._records, self._actions, done))
        self._records = []
        self._actions = []
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="routing-log")
        return done

    async def flush(self) -> None:
        """Wait for what is being logged now (its errors are the committers' to see)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer

    async def _write(self) -> None:
        try:
            while any(pending.done is not None for pending in self._pending):
                batch = list(self._pending)
                self._pending.clear()
                records = [record for pending in batch for record in pending.records]
                results = await asyncio.gather(
                    *(self._log(record) for record in records), return_exceptions=True
                )
                logged = iter(not isinstance(r, BaseException) for r in results)
                unlogged = [[r for r in p.records if not next(logged)] for p in batch]
                error = next((r for r in results if isinstance(r, BaseException)), None)
                for n, pending in enumerate(batch):
                    if unlogged[n]:
                        kept = [
                            _Pending(rest, p.actions, None)
                            for p, rest in zip(batch[n:], unlogged[n:], strict=True)
                        ]
                        self._pending.extendleft(reversed(kept))
                        for p in batch[n:]:
                            p.settle(error)
                        break
                    for action in pending.actions:
                        action()
                    pending.settle()
        except asyncio.CancelledError:
            for pending in self._pending:
                pending.settle(RoutingError("the routing service stopped"))
            raise

    def _log(self, record: LogRecord) -> Awaitable[Any]:
        """`log(**record)`; an error it raises at once (append_soon checks its arguments
        as it is called) comes as a failed future, as a coroutine's would."""
        try:
            return self.log(**record)
        except Exception as error:
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(error)
            return failed


@dataclass
class _Pending:
    """A change handed to the writer: its records, then its actions; `done` tells the
    one who made it (None once it failed to be logged and only waits to be retried)."""

    records: list[LogRecord]
    actions: list[Action]
    done: asyncio.Future[None] | None

    def settle(self, error: BaseException | None = None) -> None:
        if self.done is not None and not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)
