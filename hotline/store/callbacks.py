"""Callbacks in the database: booked (checked against the number's history in the same
transaction, so nothing is booked twice), moved through their states, read back in
queue order when the controller starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.store.coltypes import as_utc, utcnow
from hotline.store.models import CallbackRow, table_of
from hotline.store.store import Store

CALLBACKS = table_of(CallbackRow)


class CallbackState(StrEnum):
    #: Waiting in its queue (or for its scheduled time, or its next attempt).
    PENDING = "pending"
    #: An attempt is under way (an agent reserved, phones ringing or talking).
    DIALING = "dialing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: States a callback may still leave: what the controller restores on start.
OPEN_STATES = (CallbackState.PENDING.value, CallbackState.DIALING.value)


@dataclass(frozen=True)
class Callback:
    seq: int
    contact_id: str
    origin_contact_id: str | None
    queue: str
    number: str
    state: str
    source: str
    priority: int
    language: str
    entered_at: datetime
    requested_at: datetime
    scheduled_for: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    outcome: str | None
    updated_at: datetime

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    def public(self) -> dict[str, Any]:
        """As the API shows it."""
        return {
            "id": self.contact_id,
            "origin_contact_id": self.origin_contact_id,
            "queue": self.queue,
            "number": self.number,
            "state": self.state,
            "source": self.source,
            "priority": self.priority,
            "language": self.language,
            "entered_at": self.entered_at.isoformat(),
            "requested_at": self.requested_at.isoformat(),
            "scheduled_for": _iso(self.scheduled_for),
            "next_attempt_at": _iso(self.next_attempt_at),
            "attempts": self.attempts,
            "outcome": self.outcome,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class NewCallback:
    contact_id: str
    origin_contact_id: str | None
    queue: str
    number: str
    source: str
    priority: int
    language: str
    entered_at: datetime
    scheduled_for: datetime | None = None


#: Called inside the booking transaction with the number's history (pending queues,
#: bookings in the last hour); raises to refuse the booking.
Check = Callable[[tuple[str, ...], int], None]


class CallbackStore:
    """The `callbacks` table, over a Store's write/read with retries."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def book(self, new: NewCallback, check: Check) -> Callback:
        """Insert a pending callback once `check` accepts the number's history, all in
        one transaction (committed when this returns)."""
        now = utcnow()
        values: dict[str, Any] = {
            "contact_id": new.contact_id,
            "origin_contact_id": new.origin_contact_id,
            "queue": new.queue,
            "number": new.number,
            "state": CallbackState.PENDING.value,
            "source": new.source,
            "priority": new.priority,
            "language": new.language,
            "entered_at": as_utc(new.entered_at, "entered_at"),
            "requested_at": now,
            "scheduled_for": None
            if new.scheduled_for is None
            else as_utc(new.scheduled_for, "scheduled_for"),
            "next_attempt_at": None,
            "attempts": 0,
            "outcome": None,
            "updated_at": now,
        }
        pending = select(CALLBACKS.c.queue).where(
            CALLBACKS.c.number == new.number, CALLBACKS.c.state.in_(OPEN_STATES)
        )
        recent = select(func.count()).where(
            CALLBACKS.c.number == new.number,
            CALLBACKS.c.requested_at >= now - timedelta(hours=1),
        )

        async def op(conn: AsyncConnection) -> Callback:
            if conn.dialect.name == "postgresql":
                # Controllers sharing the database book one number at a time: the
                # history read below cannot change before this transaction commits.
                # (SQLite takes one writer at a time anyway.)
                await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(new.number))))
            queues = tuple((await conn.execute(pending)).scalars())
            check(queues, int((await conn.execute(recent)).scalar_one()))
            result = await conn.execute(insert(CALLBACKS).values(values))
            key = result.inserted_primary_key
            assert key is not None, "an INSERT of one row has its primary key"
            return Callback(seq=int(key[0]), **values)

        return await self.store.write(op, "book callback")

    async def update(self, contact_id: str, **fields: Any) -> Callback | None:
        """Change a callback (state, attempts, next_attempt_at, outcome); the new row,
        or None if there is no such callback."""
        values = {**fields, "updated_at": utcnow()}
        stmt = update(CALLBACKS).where(CALLBACKS.c.contact_id == contact_id).values(values)
        query = select(CALLBACKS).where(CALLBACKS.c.contact_id == contact_id)

        async def op(conn: AsyncConnection) -> Callback | None:
            await conn.execute(stmt)
            row = (await conn.execute(query)).first()
            return None if row is None else Callback(**row._mapping)

        return await self.store.write(op, "update callback")

    async def finish_if_open(self, contact_id: str, state: str, outcome: str) -> Callback | None:
        """Move an open callback to a final state; None if it was final already (so a
        cancel and a completion cannot both win)."""
        stmt = (
            update(CALLBACKS)
            .where(CALLBACKS.c.contact_id == contact_id, CALLBACKS.c.state.in_(OPEN_STATES))
            .values(state=state, outcome=outcome, next_attempt_at=None, updated_at=utcnow())
        )
        query = select(CALLBACKS).where(CALLBACKS.c.contact_id == contact_id)

        async def op(conn: AsyncConnection) -> Callback | None:
            if (await conn.execute(stmt)).rowcount == 0:
                return None
            return Callback(**(await conn.execute(query)).one()._mapping)

        return await self.store.write(op, "finish callback")

    async def get(self, contact_id: str) -> Callback | None:
        query = select(CALLBACKS).where(CALLBACKS.c.contact_id == contact_id)

        async def op(conn: AsyncConnection) -> Callback | None:
            row = (await conn.execute(query)).first()
            return None if row is None else Callback(**row._mapping)

        return await self.store.read(op, "get callback")

    async def open_callbacks(self, queue: str | None = None) -> list[Callback]:
        """Pending and dialing callbacks in queue order (entered_at, then booking order)."""
        query = select(CALLBACKS).where(CALLBACKS.c.state.in_(OPEN_STATES))
        if queue is not None:
            query = query.where(CALLBACKS.c.queue == queue)
        query = query.order_by(CALLBACKS.c.entered_at, CALLBACKS.c.seq)

        async def op(conn: AsyncConnection) -> list[Callback]:
            return [Callback(**row._mapping) for row in (await conn.execute(query)).all()]

        return await self.store.read(op, "open callbacks")
