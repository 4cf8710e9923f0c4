"""Telling a briefly unavailable database from a real error, and retrying with back-off."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from hotline.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# SQLite primary result codes worth waiting out: BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_TRANSIENT = {5, 6, 10, 13, 14, 15}
# PostgreSQL SQLSTATE classes/codes: connection exception, insufficient resources,
# operator intervention (admin shutdown, cannot connect now), serialization/deadlock.
_PG_TRANSIENT_PREFIXES = ("08", "53", "57P", "40001", "40P01")


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc`, the DBAPI error it wraps and its explicit causes, each once."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, getattr(item, "orig", None)]
    return seen


def is_transient(exc: BaseException) -> bool:
    """True if `exc` means "the database is unreachable or busy right now"."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    for item in _chain(exc):
        if isinstance(item, OSError | TimeoutError):
            return True
        code = getattr(item, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_TRANSIENT:
            return True
        state = getattr(item, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_PG_TRANSIENT_PREFIXES):
            return True
    return False


async def retrying(
    op: Callable[[], Awaitable[T]],
    retry_for: float,
    what: str,
    first_delay: float = 0.05,
    max_delay: float = 1.0,
) -> T:
    """Run `op`, retrying transient failures with exponential back-off for `retry_for` s.

    Raises StoreUnavailable when the time is up; other errors pass through at once.
    """
    deadline = time.monotonic() + retry_for
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            return await op()
        except Exception as exc:
            if not is_transient(exc):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreUnavailable(
                    f"{what}: database unavailable, gave up after {attempt} attempts "
                    f"in {retry_for:g} s: {_short(exc)}"
                ) from exc
            log.warning("%s: database unavailable (attempt %d): %s", what, attempt, _short(exc))
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, max_delay)


def _short(exc: BaseException) -> str:
    """The first line of an error message, without SQLAlchemy's background link."""
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.splitlines()[0]
