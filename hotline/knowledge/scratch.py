"""The article files searchable without the hotline's database, for the flow
simulator and scenario tools: a throwaway SQLite store, gone when done."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from hotline.knowledge.base import KnowledgeBase
from hotline.store import Store, sqlite_url
from hotline.yamlsource import SourceProblem


@asynccontextmanager
async def scratch_knowledge(
    folder: Path, languages: Iterable[str]
) -> AsyncIterator[tuple[KnowledgeBase, list[SourceProblem]]]:
    """The knowledge base of `folder`'s article files and the problems of those refused
    (the rest are served, as at the hotline's start)."""
    with tempfile.TemporaryDirectory(prefix="hotline-kb-") as scratch:
        store = await Store.connect(sqlite_url(str(Path(scratch) / "kb.sqlite3")))
        migrations = logging.getLogger("alembic")
        level = migrations.level
        migrations.setLevel(logging.WARNING)  # a new database's every step is no news here
        try:
            await store.migrate()
            migrations.setLevel(level)
            yield await KnowledgeBase.open(store, languages, folder)
        finally:
            migrations.setLevel(level)
            await store.close()
