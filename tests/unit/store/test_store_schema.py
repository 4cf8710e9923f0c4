"""Migrations: idempotent, reversible, and the migrated schema matches the models."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from hotline.store import Store, async_url
from hotline.store.knowledge_rows import include_name
from hotline.store.migrate import alembic_config, current_revision, head_revision
from hotline.store.models import Base

TABLES = {"customers", "contacts", "contact_events", "alembic_version"}


async def _diff(store: Store) -> list[Any]:
    async with store.engine.connect() as conn:
        return await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"include_name": include_name}),
                Base.metadata,
            )
        )


async def _revision(store: Store) -> str | None:
    async with store.engine.connect() as conn:
        return await conn.run_sync(current_revision)


async def _tables(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrated_schema_matches_models(store: Store) -> None:
    assert await _diff(store) == []


async def test_migrate_creates_tables_at_head(db_url: str) -> None:
    store = await Store.connect(db_url)
    try:
        assert await _revision(store) is None
        await store.migrate()
        assert await _revision(store) == head_revision() is not None
        assert await _tables(store) >= TABLES | set(Base.metadata.tables)
    finally:
        await store.close()


async def test_migrate_is_idempotent(store: Store) -> None:
    contact_id = await store.open_contact("voice", "inbound", "+15550100", "100")
    await store.append(contact_id, "call.arrived")
    await store.migrate()
    await store.migrate()
    assert await _revision(store) == head_revision()
    assert [e.type for e in await store.events(contact_id)] == ["call.arrived"]
    assert await _diff(store) == []


async def test_concurrent_migrations_agree(db_url: str) -> None:
    stores = [await Store.connect(db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(s.migrate() for s in stores))
        assert await _revision(stores[0]) == head_revision()
        assert await _diff(stores[0]) == []
    finally:
        for s in stores:
            await s.close()


async def test_downgrade_to_base_and_back(store: Store) -> None:
    async with store.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(connection=c), "base"))
    assert await _tables(store) <= {"alembic_version"}
    await store.migrate()
    assert await _diff(store) == []


async def test_sqlite_connection_settings(tmp_path: Any) -> None:
    store = await Store.connect(f"sqlite:///{tmp_path / 'h.db'}", busy_timeout=2.5)
    try:
        assert store.dialect == "sqlite"
        assert store.url.drivername == "sqlite+aiosqlite"
        async with store.engine.connect() as conn:
            pragmas = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
        assert pragmas == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": 2500,
            "synchronous": 2,  # FULL: a commit is on disk when it returns
        }
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///h.db", "sqlite+aiosqlite:///h.db"),
        ("sqlite+aiosqlite:///h.db", "sqlite+aiosqlite:///h.db"),
        ("postgresql://u@127.0.0.1/h", "postgresql+asyncpg://u@127.0.0.1/h"),
        ("postgres://u@127.0.0.1/h", "postgresql+asyncpg://u@127.0.0.1/h"),
        ("postgresql+asyncpg://u@127.0.0.1/h", "postgresql+asyncpg://u@127.0.0.1/h"),
    ],
)
def test_async_url(given: str, expected: str) -> None:
    assert async_url(given).render_as_string() == expected
