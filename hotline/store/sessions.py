"""Web login sessions in the database, so they outlive a controller restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.store.coltypes import utcnow
from hotline.store.models import WebSessionRow, table_of
from hotline.store.store import Store

SESSIONS = table_of(WebSessionRow)


@dataclass(frozen=True)
class WebSession:
    token_hash: str
    user_id: str
    created_at: datetime
    last_seen: datetime
    expires_at: datetime


class SessionStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, token_hash: str, user_id: str, max_age: timedelta) -> None:
        now = utcnow()
        values: dict[str, Any] = {
            "token_hash": token_hash,
            "user_id": user_id,
            "created_at": now,
            "last_seen": now,
            "expires_at": now + max_age,
        }

        async def op(conn: AsyncConnection) -> None:
            # Expired sessions go as new ones come: the table stays small without a job.
            await conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at < now))
            await conn.execute(insert(SESSIONS).values(values))

        await self._store.write(op, "create session")

    async def get(self, token_hash: str) -> WebSession | None:
        query = select(SESSIONS).where(SESSIONS.c.token_hash == token_hash)

        async def op(conn: AsyncConnection) -> WebSession | None:
            row = (await conn.execute(query)).first()
            return WebSession(**row._mapping) if row else None

        return await self._store.read(op, "get session")

    async def touch(self, token_hash: str) -> None:
        stmt = (
            update(SESSIONS).where(SESSIONS.c.token_hash == token_hash).values(last_seen=utcnow())
        )
        await self._store.write(lambda conn: conn.execute(stmt), "touch session")

    async def delete(self, token_hash: str) -> None:
        stmt = delete(SESSIONS).where(SESSIONS.c.token_hash == token_hash)
        await self._store.write(lambda conn: conn.execute(stmt), "end session")
