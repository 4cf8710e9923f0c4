"""The event log as a web process sees it: the events other processes append (the
routing leader's offers, a call worker's calls, another web process's chats), handed to
this process's listeners as if appended here (`Store.heard`). The desk's screen pops and
call panels and the wallboard follow the log through `Store.listen`; on one box every
event is appended in their process, on the web tier most are not.

How: every `every` seconds, the events of the last `window` seconds are read (by time,
not by id: ids are given at insert and committed out of order by several writers, a
read "after the last id" could pass over one committed late), and those not seen yet,
and not appended by this process, are handed on in id order. An event is late by at
most `every` plus the read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hotline.store import LoggedEvent, Store

log = logging.getLogger(__name__)

#: Seconds between two reads.
EVERY = 0.5
#: Seconds of the log read each time (an event committed later than this after its
#: time would be missed: far above a commit's time).
WINDOW = 5.0


class LogTail:
    """Hands this process's listeners the events other processes append."""

    def __init__(
        self,
        store: Store,
        *,
        every: float = EVERY,
        window: float = WINDOW,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.every = every
        self.window = timedelta(seconds=window)
        self._now = now
        #: Ids seen (appended here, or handed on), with their time, to forget old ones.
        self._seen: dict[int, datetime] = {}
        self._since: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None
        #: Events handed on (for tests and metrics).
        self.heard = 0

    def _own(self, event: LoggedEvent) -> None:
        self._seen[event.id] = _aware(event.ts)

    async def start(self) -> None:
        """From now on (what was appended before is the replay's: the wallboard reads
        today's log at its start)."""
        self._since = self._now()
        self._unlisten = self.store.listen(self._own)
        self._task = asyncio.create_task(self._run(), name="log-tail")

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
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
        told = 0
        for event in events:
            if event.id in self._seen:
                continue
            self._seen[event.id] = _aware(event.ts)
            self.store.heard(event)
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
                log.warning("event log tail: %s", error or type(error).__name__)


def _aware(ts: datetime) -> datetime:
    """`ts` in UTC (SQLite gives times without a zone)."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
