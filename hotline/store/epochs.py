"""Fenced writes: an event-log append committed only while the writer's epoch is still
its routing domain's (the `routing_epochs` table, raised by each new leader).

The check and the insert share one transaction, and the check takes a share lock on the
domain's epoch row: a new leader's raise of the epoch waits for a deposed leader's
write in flight to commit, and every write after the raise sees the new epoch and is
refused. So no event of an old epoch is committed after the takeover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.store.models import ContactEventRow, RoutingEpochRow, table_of

EPOCHS = table_of(RoutingEpochRow)
EVENTS = table_of(ContactEventRow)


class StaleEpoch(Exception):
    """A write from a routing leader whose epoch is no longer its domain's."""


@dataclass(frozen=True)
class Fence:
    """The routing domain a leader writes for, and the epoch it took over with."""

    domain: str
    epoch: int


async def current_epoch(conn: AsyncConnection, domain: str, *, lock: bool = False) -> int | None:
    """The domain's epoch (None: it never had a leader); `lock`: share-lock its row
    until the transaction ends (PostgreSQL; SQLite has one writer anyway)."""
    query = select(EPOCHS.c.epoch).where(EPOCHS.c.domain == domain)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    return (await conn.execute(query)).scalar_one_or_none()


class FencedInsert:
    """A store write op: insert one event-log row if `fence` is still current, else
    raise StaleEpoch (nothing of this op is written)."""

    def __init__(self, fence: Fence, values: dict[str, Any]) -> None:
        self.fence = fence
        self.values = values

    async def __call__(self, conn: AsyncConnection) -> Any:
        current = await current_epoch(conn, self.fence.domain, lock=True)
        if current != self.fence.epoch:
            raise StaleEpoch(
                f"routing write refused: {self.values['type']} was written with epoch "
                f"{self.fence.epoch} of domain {self.fence.domain!r}, whose epoch is now "
                f"{current} (another leader took over)"
                if current is not None
                else f"routing write refused: domain {self.fence.domain!r} has no epoch "
                "(no leader ever took it over)"
            )
        result = await conn.execute(EVENTS.insert(), self.values)
        key = result.inserted_primary_key
        assert key is not None, "an INSERT of one row has its primary key"
        return key[0]
