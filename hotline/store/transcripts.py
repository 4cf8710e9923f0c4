"""Transcripts in the database: one per recording, read per contact, and searched by
what was said, by flag and by queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.store.coltypes import utcnow
from hotline.store.models import TranscriptRow, table_of
from hotline.store.store import Store

TRANSCRIPTS = table_of(TranscriptRow)

#: Rows read to filter by flag (flags are a JSON list, filtered here, not in SQL).
FLAG_SCAN_LIMIT = 5000


@dataclass(frozen=True)
class Transcript:
    id: int
    contact_id: str
    recording: str
    queue: str | None
    language: str
    engine: str
    created_at: datetime
    text: str
    word_count: int
    confidence: float
    words: list[Any]
    flags: list[str]
    sentiment: float | None

    def public(self, *, words: bool = False) -> dict[str, Any]:
        """As the API shows it (`words`: with each word's timing and confidence)."""
        shown: dict[str, Any] = {
            "id": self.id,
            "contact_id": self.contact_id,
            "recording": self.recording,
            "queue": self.queue,
            "language": self.language,
            "engine": self.engine,
            "created_at": self.created_at.isoformat(),
            "text": self.text,
            "word_count": self.word_count,
            "confidence": self.confidence,
            "flags": self.flags,
            "sentiment": self.sentiment,
        }
        if words:
            shown["words"] = self.words
        return shown


class Transcripts:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def save(
        self,
        *,
        contact_id: str,
        recording: str,
        language: str,
        engine: str,
        text: str,
        confidence: float,
        words: list[dict[str, Any]],
        flags: list[str],
        sentiment: float | None,
        queue: str | None = None,
    ) -> bool:
        """Store a recording's transcript; False if it has one already (a recording
        is transcribed once, whatever restarts happen in between)."""
        values: dict[str, Any] = {
            "contact_id": contact_id,
            "recording": recording,
            "queue": queue,
            "language": language,
            "engine": engine,
            "created_at": utcnow(),
            "text": text,
            "word_count": len(words),
            "confidence": confidence,
            "words": words,
            "flags": flags,
            "sentiment": sentiment,
        }
        stmt = self.store.insert_ignore(TRANSCRIPTS, ["recording"]).values(values)

        async def op(conn: AsyncConnection) -> bool:
            return (await conn.execute(stmt)).rowcount == 1

        return await self.store.write(op, "save transcript")

    async def has(self, recording: str) -> bool:
        query = select(TRANSCRIPTS.c.id).where(TRANSCRIPTS.c.recording == recording)

        async def op(conn: AsyncConnection) -> bool:
            return (await conn.execute(query)).first() is not None

        return await self.store.read(op, "transcript exists")

    async def get(self, transcript_id: int) -> Transcript | None:
        rows = await self._rows(
            select(TRANSCRIPTS).where(TRANSCRIPTS.c.id == transcript_id), "transcript"
        )
        return rows[0] if rows else None

    async def for_contact(self, contact_id: str) -> list[Transcript]:
        query = (
            select(TRANSCRIPTS)
            .where(TRANSCRIPTS.c.contact_id == contact_id)
            .order_by(TRANSCRIPTS.c.id)
        )
        return await self._rows(query, "contact transcripts")

    async def search(
        self,
        text: str | None = None,
        *,
        flag: str | None = None,
        queue: str | None = None,
        limit: int = 50,
    ) -> list[Transcript]:
        """Newest first: transcripts containing `text` (ignoring case), raised `flag`,
        of `queue`."""
        query = select(TRANSCRIPTS)
        if text:
            query = query.where(
                func.lower(TRANSCRIPTS.c.text).contains(text.lower(), autoescape=True)
            )
        if queue:
            query = query.where(TRANSCRIPTS.c.queue == queue)
        query = query.order_by(TRANSCRIPTS.c.created_at.desc(), TRANSCRIPTS.c.id.desc())
        query = query.limit(FLAG_SCAN_LIMIT if flag else limit)
        found = await self._rows(query, "search transcripts")
        if flag:
            found = [t for t in found if flag in t.flags]
        return found[:limit]

    async def _rows(self, query: Any, what: str) -> list[Transcript]:
        async def op(conn: AsyncConnection) -> list[Any]:
            return list((await conn.execute(query)).all())

        rows = await self.store.read(op, what)
        return [Transcript(**row._mapping) for row in rows]
