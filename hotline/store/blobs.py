"""Files' bytes in the database, by content (`attachment_blobs`): what every process
sharing a PostgreSQL reads, so a chat's file sent on one web process downloads from
any other (and survives the process that received it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.store.blob_rows import AttachmentBlobRow
from hotline.store.coltypes import utcnow
from hotline.store.models import table_of
from hotline.store.store import Store

BLOBS = table_of(AttachmentBlobRow)


class BlobStore:
    """Put bytes once under their SHA-256; read them back."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def put(self, sha256: str, body: bytes) -> None:
        """Keep `body` under `sha256` (the caller's hash of it); kept already is fine."""
        values: dict[str, Any] = {
            "sha256": sha256,
            "size": len(body),
            "body": body,
            "created_at": utcnow(),
        }
        statement = self.store.insert_ignore(BLOBS, ["sha256"]).values(values)
        await self.store.write(lambda c: c.execute(statement), "blob put")

    async def size(self, sha256: str) -> int | None:
        """The size of the bytes kept under `sha256`, None if none are."""
        query = select(BLOBS.c.size).where(BLOBS.c.sha256 == sha256)

        async def op(conn: AsyncConnection) -> int | None:
            value = (await conn.execute(query)).scalar()
            return None if value is None else int(value)

        return await self.store.read(op, "blob size")

    async def get(self, sha256: str) -> bytes | None:
        query = select(BLOBS.c.body).where(BLOBS.c.sha256 == sha256)

        async def op(conn: AsyncConnection) -> bytes | None:
            value = (await conn.execute(query)).scalar()
            return None if value is None else bytes(value)

        return await self.store.read(op, "blob get")
