"""Which web process runs a chat: a PostgreSQL session advisory lock per chat session.

Several web processes (`hotline web`) share one PostgreSQL. A chat's flow, its queue
visit and its agent part run in one of them, the one that holds the chat's lock; the
others relay to it (chat_bridge/cluster.py). The locks are held on one dedicated
asyncpg connection of the process (not the store's pool; never through a transaction
pooler, which would share the session): a process killed outright loses its connection,
PostgreSQL frees its locks at once, and the next process to try takes the chat over.

If that connection is lost while the process runs (PostgreSQL restarted, the network
cut), its locks are gone and another process may take its chats: `lost` is set, the
process lets its chats go (chat_bridge/cluster.py: their sockets reconnect, to any
process, which takes them over from the store) and `reopen`s the connection.

The claims are also the fence of the chat store's message writes (`holding`, a
`ChatFence`, hotline/store/chats.py): in each write's own transaction, PostgreSQL's
`pg_locks` must show the chat's lock granted to this process's claims session (its
backend pid and start time: the claim's token, which a session started later, even
with the same pid, does not have). A process that believes it holds a chat it lost
(its session ended unnoticed, or a stale copy of the chat left in memory) writes
nothing to it: its message is refused and `on_fenced` lets the chat go here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.errors import error_text

log = logging.getLogger(__name__)

Connect = Callable[[str], Awaitable[Any]]


def claim_key(session_id: str) -> int:
    """The advisory lock key of a chat session: a signed 64-bit hash of its id (another
    namespace than the routing domains' keys, hotline/cluster/leader.py)."""
    digest = hashlib.sha256(f"hotline.chat:{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_id(key: int) -> tuple[int, int]:
    """A bigint advisory key as `pg_locks` shows it: (classid, objid), its high and low
    32 bits as unsigned numbers (objsubid 1)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


#: The advisory locks granted to one session (pid and start: the claims' token).
_HELD = text(
    "SELECT l.classid::bigint AS classid, l.objid::bigint AS objid FROM pg_locks l"
    " JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.pid = :pid AND a.backend_start = :started"
)


class ClaimsLost(Exception):
    """The claims' connection is gone: this process no longer runs any chat."""


class ChatClaims:
    """The chats this process runs, each under its advisory lock."""

    def __init__(self, dsn: str, *, connect: Connect | None = None) -> None:
        self.dsn = dsn
        self._connect = connect
        self._conn: Any = None
        self._lock = asyncio.Lock()  # one query at a time on the connection
        self.held: set[str] = set()
        #: Set once the connection is lost (the locks with it).
        self.lost = asyncio.Event()
        #: The claims session's (backend pid, start): the token writes are fenced by.
        self.token: tuple[int, datetime] | None = None
        #: Called with a chat whose message the fence refused (the process lets it go).
        self.on_fenced: Callable[[str], None] | None = None

    async def reopen(self) -> None:
        """A new session after the last one was lost (holding nothing)."""
        old, self._conn = self._conn, None
        if old is not None and not old.is_closed():
            old.terminate()
        self.held.clear()
        await self.open()
        self.lost.clear()

    async def open(self) -> None:
        if self._connect is None:
            import asyncpg  # type: ignore[import-untyped]

            self._conn = await asyncpg.connect(self.dsn)
        else:
            self._conn = await self._connect(self.dsn)
        conn = self._conn
        # Only this connection's end counts (not that of one replaced by `reopen`).
        conn.add_termination_listener(lambda ended: self._lose() if ended is self._conn else None)
        row = await conn.fetchrow(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        )
        self.token = (int(row["pid"]), row["backend_start"])

    def _lose(self) -> None:
        if not self.lost.is_set() and self._conn is not None:
            log.error(
                "chat claims: the PostgreSQL session holding %d chat lock(s) ended: this "
                "process no longer runs chats",
                len(self.held),
            )
            self.held.clear()
            self.lost.set()

    async def _query(self, sql: str, key: int) -> Any:
        """One query on the claims' connection; the caller holds `_lock`."""
        if self.lost.is_set() or self._conn is None:
            raise ClaimsLost("the chat claims' database session is gone")
        try:
            return await self._conn.fetchval(sql, key)
        except Exception as error:
            if self._conn.is_closed():
                self._lose()
                raise ClaimsLost(error_text(error)) from None
            raise

    async def claim(self, session_id: str) -> bool:
        """Take the chat's lock; False if another process holds it."""
        if session_id in self.held:
            return True
        async with self._lock:
            # Claimed by another task of this process while this one waited: an advisory
            # lock is reentrant, so taking it again would need two unlocks, and the one
            # `release` would leave the chat locked here for good.
            if session_id in self.held:
                return True
            if await self._query("SELECT pg_try_advisory_lock($1)", claim_key(session_id)):
                self.held.add(session_id)
                return True
            return False

    async def release(self, session_id: str) -> None:
        """Let the chat go (handed over to another process)."""
        async with self._lock:
            if session_id not in self.held:
                return
            self.held.discard(session_id)
            await self._query("SELECT pg_advisory_unlock($1)", claim_key(session_id))

    def holds(self, session_id: str) -> bool:
        return session_id in self.held

    def forget(self, session_id: str) -> None:
        """The chat's lock is not this session's (the fence said so): drop it from
        `held` without unlocking (an unlock would fail, or free another's lock)."""
        self.held.discard(session_id)

    # ---- the chat store's fence (hotline/store/chats.py ChatFence) ----------------------

    async def holding(self, conn: AsyncConnection, session_ids: Sequence[str]) -> set[str]:
        """Those of `session_ids` whose lock PostgreSQL shows granted to the claims
        session, read on `conn` (a write's transaction): the fence of that write."""
        token = self.token
        wanted = {lock_id(claim_key(s)): s for s in session_ids if s in self.held}
        if not wanted or token is None or self.lost.is_set():
            return set()
        rows = await conn.execute(_HELD, {"pid": token[0], "started": token[1]})
        return {wanted[(r.classid, r.objid)] for r in rows if (r.classid, r.objid) in wanted}

    def fenced(self, session_id: str) -> None:
        log.error(
            "chat %s: a message refused, its claim is not this process's (another runs "
            "the chat): letting it go here",
            session_id,
        )
        self.forget(session_id)
        if self.on_fenced is not None:
            self.on_fenced(session_id)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        self.held.clear()
        if conn is not None and not conn.is_closed():
            await conn.close()
