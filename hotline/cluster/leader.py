"""Leader election for one routing domain on PostgreSQL, with a fencing epoch.

Each candidate holds a dedicated asyncpg connection of its own (not the store's pool,
and never through a transaction pooler such as PgBouncer in transaction mode, which
would hand the session lock to whoever shares the server connection). The leader is
the one holding the session-level advisory lock `pg_try_advisory_lock(key(domain))`;
in the transaction in which it takes the lock it raises the domain's epoch in
`routing_epochs` (hotline/store/epochs.py), the fencing token every routing write
checks.

The lock lives as long as the leader's session, so the failures come down to when
PostgreSQL ends that session:

- the leader process dies (kill -9, crash): its kernel closes the socket, the idle
  backend reads EOF at once and exits; the lock is free immediately.
- the leader is paused (SIGSTOP, a frozen VM) or cut off: its session sets
  `idle_session_timeout` to the lease, and the leader runs a heartbeat query every
  lease/4 seconds, so a leader silent for a whole lease has its session ended by the
  server (the lock goes with it); TCP keepalives on the server side end it too when
  the network is gone. A standby that polls every `retry` seconds takes over.
- the leader notices it lost its session as soon as asyncpg does (its termination
  listener) or at the next heartbeat (a failure, an epoch that is no longer its own,
  or no answer by a lease after the last answered heartbeat was sent: a slow answer
  on a loaded box is not a lost lock), and `Leadership.lost` is set: the caller stops
  routing at once. Whatever it still tries to write is refused by the epoch check.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from hotline.errors import error_text

log = logging.getLogger(__name__)

#: Seconds a leader may stay silent before PostgreSQL ends its session (and lock).
DEFAULT_LEASE = 5.0
#: Seconds between a standby's attempts to take the lock.
DEFAULT_RETRY = 0.5

Connect = Callable[..., Awaitable[Any]]

TAKE_OVER = """
INSERT INTO routing_epochs (domain, epoch, leader, since) VALUES ($1, 1, $2, now())
ON CONFLICT (domain) DO UPDATE
    SET epoch = routing_epochs.epoch + 1, leader = EXCLUDED.leader, since = EXCLUDED.since
RETURNING epoch
"""


class ElectionError(Exception):
    """Leader election cannot work here (not PostgreSQL, no routing_epochs table)."""


def lock_key(domain: str) -> int:
    """The advisory lock key of a routing domain: a signed 64-bit hash of its name."""
    digest = hashlib.sha256(f"hotline.routing:{domain}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def default_name() -> str:
    """How a candidate names itself in the epochs table and the logs: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def asyncpg_dsn(url: str) -> str:
    """A plain postgresql:// DSN for asyncpg from the store's URL; ElectionError for
    any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ElectionError(
            f"leader election needs PostgreSQL, not {parsed.get_backend_name()} "
            "(on SQLite Hotline is one process: use `hotline run`)"
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Leadership:
    """Held by the leader: its epoch, and `lost` (set once it no longer leads)."""

    domain: str
    epoch: int
    name: str
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""

    def lose(self, reason: str) -> None:
        """Mark the leadership lost (the first reason is kept)."""
        if not self.lost.is_set():
            self.reason = reason
            log.error(
                "routing domain %r: lost leadership (epoch %d): %s", self.domain, self.epoch, reason
            )
            self.lost.set()


class LeaderElection:
    """One candidate for leading `domain`; see the module docstring."""

    def __init__(
        self,
        dsn: str,
        domain: str,
        *,
        name: str | None = None,
        lease: float = DEFAULT_LEASE,
        retry: float = DEFAULT_RETRY,
        connect: Connect = asyncpg.connect,
    ) -> None:
        if not domain or len(domain) > 100:
            raise ValueError(f"routing domain must be 1 to 100 characters, got {domain!r}")
        if lease < 1:
            raise ValueError(f"lease must be at least 1 second, got {lease}")
        self.dsn = dsn
        self.domain = domain
        self.name = name or default_name()
        self.lease = lease
        self.retry = retry
        self._connect = connect
        self._conn: Any = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.leadership: Leadership | None = None
        #: The leader last reported to the log while we wait (said once per leader).
        self._seen: tuple[str, int] | None = None
        self._unreachable = False

    async def campaign(self) -> Leadership:
        """Wait until this candidate leads the domain (retrying through lost
        connections); the leadership, with its new epoch."""
        while True:
            try:
                leadership = await self._try()
            except Exception as error:
                # Only a missing table is the operator's to fix; whatever else fails (asyncpg
                # raises more than OSError and PostgresError when the server shuts down
                # mid-query), a candidate keeps trying on a new connection.
                if isinstance(error, asyncpg.UndefinedTableError):
                    raise ElectionError(
                        "no routing_epochs table: migrate the database first "
                        "(any `hotline` process does at start)"
                    ) from None
                if not self._unreachable:  # once per outage, not at every try
                    log.warning(
                        "routing domain %r: cannot reach PostgreSQL: %s; trying again",
                        self.domain,
                        error,
                    )
                self._unreachable = True
                await self._drop()
                leadership = None
            else:
                self._unreachable = False
            if leadership is not None:
                return leadership
            await asyncio.sleep(self.retry)

    async def _open(self) -> Any:
        lease_ms = str(int(self.lease * 1000))
        keepalive = str(max(1, int(self.lease / 2)))
        return await self._connect(
            self.dsn,
            timeout=self.lease,
            server_settings={
                "application_name": f"hotline-routing {self.domain} {self.name}"[:63],
                # A leader silent for a lease has its session (and its lock) ended.
                "idle_session_timeout": lease_ms,
                # A peer gone from the network is noticed by the server as well.
                "tcp_keepalives_idle": keepalive,
                "tcp_keepalives_interval": "1",
                "tcp_keepalives_count": "2",
            },
        )

    async def _try(self) -> Leadership | None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._open()
        conn = self._conn
        async with conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(self.domain)):
                row = await conn.fetchrow(
                    "SELECT epoch, leader, since FROM routing_epochs WHERE domain = $1",
                    self.domain,
                )
                self._waiting(row)
                return None
            # The lock is the session's: it outlives this transaction; the epoch is
            # raised in the transaction that took it.
            epoch = int(await conn.fetchval(TAKE_OVER, self.domain, self.name[:200]))
        leadership = self.leadership = Leadership(self.domain, epoch, self.name)
        log.info(
            "routing domain %r: %s is the leader (epoch %d, lease %.1f s)",
            self.domain,
            self.name,
            epoch,
            self.lease,
        )
        conn.add_termination_listener(lambda _c: leadership.lose("connection to PostgreSQL lost"))
        self._heartbeat = asyncio.create_task(self._beat(leadership), name="leader-heartbeat")
        return leadership

    def _waiting(self, row: Any) -> None:
        leader = (row["leader"], row["epoch"]) if row is not None else ("?", 0)
        if leader != self._seen:
            self._seen = leader
            log.warning(
                "routing domain %r: %s is a standby: %s leads it (epoch %s, since %s); "
                "waiting for its lock",
                self.domain,
                self.name,
                leader[0],
                leader[1],
                row["since"].isoformat() if row is not None else "?",
            )

    async def _beat(self, leadership: Leadership) -> None:
        """Every lease/4: the session is alive and the epoch is still ours.

        An answer with our epoch proves the lock is still held (it lives as long as the
        session); only an answer that never comes (the network gone) needs a timeout.
        PostgreSQL ends a session idle for a lease, and a query in flight keeps it busy,
        so a slow answer (a loaded box, a stalled loop) is waited for until a lease after
        the last answered beat was sent, not taken for a lost lock."""
        interval = self.lease / 4
        loop = asyncio.get_running_loop()
        answered = loop.time()  # the lock was taken just now
        while not leadership.lost.is_set():
            await asyncio.sleep(interval)
            sent = loop.time()
            try:
                epoch = await self._conn.fetchval(
                    "SELECT epoch FROM routing_epochs WHERE domain = $1",
                    self.domain,
                    timeout=max(interval, answered + self.lease - sent),
                )
            except Exception as error:  # any failure: the session cannot be trusted
                leadership.lose(f"heartbeat failed: {error_text(error)}")
                break
            answered = sent
            if epoch != leadership.epoch:
                leadership.lose(f"the domain's epoch is now {epoch}")
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1.0)
            conn.terminate()

    async def resign(self) -> None:
        """Give up leading (or waiting): the session ends and the lock with it."""
        if self.leadership is not None:
            self.leadership.lose("resigned")
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await self._drop()
