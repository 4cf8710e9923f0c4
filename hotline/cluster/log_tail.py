"""The event log as a web process sees it: every event, whichever process appended it
(the routing leader's offers, a call worker's calls, this or another web process's
chats), in the log's order, for what follows the log there (the desk's screen pops and
call panels, the wallboard). On one box every event is appended in their process and
`Store.listen` hands it on at once; on the web tier most are appended elsewhere.

How: every `every` seconds, the events of the last `window` seconds are read (by time,
not "after the last id": ids are given at insert and committed out of order by several
writers, a read after the last id seen could pass over one committed late); those not
handed on yet and older than `settle` seconds are handed on in id order (the wallboard
folds events in id order and skips an id below the last it saw). An event is late by
`settle` to `settle + every` seconds plus the read. One committed more than `settle`
after its timestamp, with a lower id than one handed on already, reaches the listeners
out of order (the wallboard skips it); one committed more than `window` after its
timestamp is missed.

`TailedStore` is the store as the desks and the wallboard of a web process use it: the
same store, but `listen` is the tail's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hotline.errors import error_text
from hotline.store import LoggedEvent, Store

log = logging.getLogger(__name__)

#: Seconds between two reads.
EVERY = 0.5
#: Seconds of the log read each time.
WINDOW = 5.0
#: Seconds an event waits before it is handed on (the commits of lower ids land first).
SETTLE = 0.3

Listener = Callable[[LoggedEvent], None]


class LogTail:
    """Hands its listeners every event of the log, once, in id order."""

    def __init__(
        self,
        store: Store,
        *,
        every: float = EVERY,
        window: float = WINDOW,
        settle: float = SETTLE,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.every = every
        self.window = timedelta(seconds=window)
        self.settle = timedelta(seconds=settle)
        self._now = now
        self._listeners: list[Listener] = []
        #: Ids handed on, with their time, to forget old ones.
        self._seen: dict[int, datetime] = {}
        self._since: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        #: Events handed on, and those handed on below an id handed on before them.
        self.heard = 0
        self.late = 0
        self._last_id = 0

    def listen(self, listener: Listener) -> Callable[[], None]:
        """As `Store.listen`: `listener` gets each event (it must not block)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def start(self) -> None:
        """From now on (what was appended before is the replay's: the wallboard reads
        today's log at its start)."""
        self._since = self._now()
        self._task = asyncio.create_task(self._run(), name="log-tail")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def poll(self) -> int:
        """One read; the number of events handed on."""
        assert self._since is not None, "start() first"
        now = self._now()
        start = max(self._since, now - self.window)
        events = await self.store.events_between(start, now + timedelta(days=1))
        ripe = now - self.settle
        told = 0
        for event in sorted(events, key=lambda e: e.id):
            ts = _aware(event.ts)
            if event.id in self._seen or ts > ripe:
                continue
            self._seen[event.id] = ts
            if event.id < self._last_id:
                self.late += 1
            self._last_id = max(self._last_id, event.id)
            for listener in tuple(self._listeners):
                try:
                    listener(event)
                except Exception:
                    log.exception("event listener failed on %s", event.type)
            told += 1
        # Forget what can no longer be read again.
        for event_id in [i for i, ts in self._seen.items() if ts < now - 2 * self.window]:
            del self._seen[event_id]
        self.heard += told
        return told

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.poll()
            except Exception as error:  # the database away: the next read catches up
                log.warning("event log tail: %s", error_text(error))


class TailedStore:
    """`store`, whose `listen` is `tail`'s (see the module docstring)."""

    def __init__(self, store: Store, tail: LogTail) -> None:
        self._store = store
        self.listen = tail.listen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _aware(ts: datetime) -> datetime:
    """`ts` in UTC (SQLite gives times without a zone)."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
