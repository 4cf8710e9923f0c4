"""What is wrong right now with the services agents depend on, for their desks.

A contact centre keeps calls going through a database or routing-engine outage, but an
agent who sees no new offer must know why: the desk shows "database unreachable" or
"waiting for the routing engine" while it lasts, and clears it when it is back. This
module keeps the current problems (by source) and tells listeners when they change; two
watchers set them: the database's answer to a ping, and the routing leader's heartbeat
(a call worker of a cluster).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Listener = Callable[[list[str]], None]

#: What the desk says for each source.
DATABASE = "database unreachable: calls go on, new events are kept and written when it is back"
ROUTING = "waiting for the routing engine: callers keep their place, offers resume when it is back"


class ServiceHealth:
    """The current problems, one text per source ("database", "routing")."""

    def __init__(self) -> None:
        self._problems: dict[str, str] = {}
        self._listeners: list[Listener] = []

    @property
    def problems(self) -> list[str]:
        """The texts of the current problems, in a stable order (by source)."""
        return [self._problems[k] for k in sorted(self._problems)]

    def set(self, source: str, problem: str | None) -> None:
        """`source` has `problem` now (None: it is fine); listeners hear of a change."""
        before = self._problems.get(source)
        if problem == before:
            return
        if problem is None:
            del self._problems[source]
            log.warning("service health: %s is back", source)
        else:
            self._problems[source] = problem
            log.warning("service health: %s", problem)
        for listener in list(self._listeners):
            listener(self.problems)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(problems)` on every change; the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)


async def watch_database(
    health: ServiceHealth,
    ping: Callable[[], Awaitable[object]],
    *,
    every: float = 1.0,
    timeout: float = 2.0,
) -> None:
    """Forever: `ping` the database every `every` s; an error, or no answer within
    `timeout` s, is "database unreachable" until a ping answers. A ping that hangs (the
    server frozen or cut off) is waited for, not cancelled: it answers the moment the
    database does, and no second one piles up behind it."""
    pending: asyncio.Future[object] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(ping())
            done, _ = await asyncio.wait({pending}, timeout=timeout)
            if not done:
                health.set("database", DATABASE)
                continue
            error, pending = pending.exception(), None
            if error is not None:
                log.debug("database ping failed: %s", error)
            health.set("database", DATABASE if error is not None else None)
            await asyncio.sleep(every)
    finally:
        if pending is not None:
            pending.cancel()


async def watch_leader(
    health: ServiceHealth,
    heartbeat: Callable[[], object],
    *,
    silent: float = 2.0,
    every: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Forever: `heartbeat()` is the routing leader's last heartbeat (a new object each
    time one arrives, every half second; None before the first); none new for `silent`
    s is "waiting for the routing engine" until one comes."""
    last: object = None
    heard_at: float | None = None
    while True:
        now = clock()
        beat = heartbeat()
        if beat is not None and beat is not last:
            last, heard_at = beat, now
        quiet = heard_at is None or now - heard_at > silent
        health.set("routing", ROUTING if quiet else None)
        await asyncio.sleep(every)
