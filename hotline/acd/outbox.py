"""The routing service's write-ahead outbox: a change's log records are written before
anything is done about it.

A change stages records (`record`) and the actions that follow from them (`then`),
then `commit`s: one writer task logs the records of every committed change, in order,
through `log`, and runs a change's actions only once every record before them is
logged. A change does not wait for the ones before it to be written: their `log` calls
run together (the store commits them together). What fails to be logged stays first in
line, and nothing after it is acted on until it is logged, by the writer of a later
change (writes are at-least-once).

A change nothing follows from (no action staged: an agent's phone rings, an agent is
done with a contact and nobody waits for them) need not be waited for: with a `LazyLog`
its records wait in the store's line to share the commit of a write somebody awaits
(the store's lazy delay), and whoever made it goes on at once. It keeps its place in
line all the same, and a change that is waited for and comes after it ends that wait
(`hurry`). What a crash in that moment loses is what a crash just before the change
would lose: a ring or a finish, which recovery finds from the calls themselves.
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


@dataclass(frozen=True)
class LazyLog:
    """How a change nothing waits on is logged: `log` may hold its records back to share
    a later commit (Store.append_soon with `lazy`), `hurry` commits what it holds now."""

    log: LogFn
    hurry: Callable[[], None]


class LogRecord(TypedDict):
    """The keyword arguments of one `log` call."""

    type: str
    data: dict[str, Any]
    contact_id: str | None
    queue: str | None
    agent: str | None


class Outbox:
    """Stages one change at a time and writes committed changes in order; see above."""

    def __init__(self, log: LogFn, lazy: LazyLog | None = None) -> None:
        self.log = log
        self.lazy = lazy
        #: The writer waits for records logged lazily (an awaited change hurries them).
        self._lazy_in_flight = False
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

    def commit(self, lazy: bool = False) -> asyncio.Future[None] | None:
        """Hand the staged change to the writer; the future is done once it is logged
        and acted on (or failed with the error that stopped the logging). `lazy`: if no
        action was staged and there is a `LazyLog`, nobody need wait: None."""
        lazy = lazy and self.lazy is not None and not self._actions
        done: asyncio.Future[None] | None = None
        if not lazy:
            done = asyncio.get_running_loop().create_future()
            if self._lazy_in_flight and self.lazy is not None:
                self.lazy.hurry()
        self._pending.append(_Pending(self._records, self._actions, done, lazy))
        self._records = []
        self._actions = []
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="routing-log")
        return done

    async def flush(self) -> None:
        """Wait for what is being logged now (its errors are the committers' to see)."""
        if self._writer is not None:
            if self._lazy_in_flight and self.lazy is not None:
                self.lazy.hurry()
            with contextlib.suppress(Exception):
                await self._writer

    async def _write(self) -> None:
        try:
            while any(pending.done is not None or pending.lazy for pending in self._pending):
                batch = list(self._pending)
                self._pending.clear()
                logs = [self._log(r, p.lazy) for p in batch for r in p.records]
                if self.lazy is not None and any(p.lazy for p in batch):
                    if all(p.lazy for p in batch):
                        self._lazy_in_flight = True  # until a change that is waited for
                    else:
                        self.lazy.hurry()  # the lazy records are before one waited for
                try:
                    results = await asyncio.gather(*logs, return_exceptions=True)
                finally:
                    self._lazy_in_flight = False
                logged = iter(not isinstance(r, BaseException) for r in results)
                unlogged = [[r for r in p.records if not next(logged)] for p in batch]
                error = next((r for r in results if isinstance(r, BaseException)), None)
                for n, pending in enumerate(batch):
                    if unlogged[n]:
                        kept = [
                            _Pending(rest, p.actions, None, False)
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

    def _log(self, record: LogRecord, lazy: bool) -> Awaitable[Any]:
        """`log(**record)` (the `LazyLog`'s if `lazy`); an error it raises at once
        (append_soon checks its arguments as it is called) comes as a failed future, as
        a coroutine's would."""
        log = self.lazy.log if lazy and self.lazy is not None else self.log
        try:
            return log(**record)
        except Exception as error:
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(error)
            return failed


@dataclass
class _Pending:
    """A change handed to the writer: its records, then its actions; `done` tells the
    one who made it (None: nobody waits; once it failed to be logged, it only waits to
    be retried by a later change); `lazy`: logged through the `LazyLog`."""

    records: list[LogRecord]
    actions: list[Action]
    done: asyncio.Future[None] | None
    lazy: bool = False

    def settle(self, error: BaseException | None = None) -> None:
        if self.done is not None and not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)
