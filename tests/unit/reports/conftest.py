"""Fixtures for the report tests: a migrated store on SQLite (and PostgreSQL when
marked pg), and the golden event log written into it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotline.store import Store
from hotline.store.migrate import upgrade
from tests.unit.reports.golden import with_old_chat_survey, write_golden_log


@pytest.fixture
async def golden(store: Store) -> Store:
    """The store holding the golden log (tests/unit/reports/golden.py)."""
    await write_golden_log(store)
    return store


@pytest.fixture
async def golden_migrated(db_url: str) -> AsyncIterator[Store]:
    """The golden log written with C8's survey in the old chat shape at the revision
    before migration 0006, then migrated to the newest revision."""
    store = await Store.connect(db_url, retry_for=2.0)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(lambda c: upgrade(c, "0005_speech"))
        await write_golden_log(store, with_old_chat_survey())
        await store.migrate()
        yield store
    finally:
        await store.close()
