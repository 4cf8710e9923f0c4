"""The knowledge base's tables: every version of every article (the search index,
`kb_fts`, is made by migration 0007 in each database's own way and is not a model)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.coltypes import BigId, UTCDateTime
from hotline.store.models import Base

#: Tables (and SQLite FTS5's shadow tables) of the search index: made by the migration
#: per dialect, so schema comparisons leave them out.
SEARCH_INDEX_PREFIX = "kb_fts"


class KnowledgeVersionRow(Base):
    """One version of an article: its YAML text as written, who wrote it and how
    (`file` at start-up, `api` by an admin); `deleted` marks a removal. Never updated."""

    __tablename__ = "kb_versions"
    __table_args__ = (
        UniqueConstraint("article_id", "version"),
        Index(None, "article_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column()
    source: Mapped[str] = mapped_column(String(16))
    author: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text())
    deleted: Mapped[bool] = mapped_column()


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """For Alembic's comparisons: everything but the search index's tables."""
    return not (type_ == "table" and name is not None and name.startswith(SEARCH_INDEX_PREFIX))
