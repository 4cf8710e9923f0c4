"""Fixtures for the report tests: a migrated store on SQLite (and PostgreSQL when
marked pg), and the golden event log written into it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.store import Store, sqlite_url
from hotline.store.migrate import upgrade
from tests.unit.conftest import copy_sqlite, on_store, pg_template
from tests.unit.reports.golden import with_old_chat_survey, write_golden_log


@pytest.fixture
async def golden(store: Store) -> Store:
    """The store holding the golden log (tests/unit/reports/golden.py): a copy of one
    written once a run (`store_source`)."""
    return store


@pytest.fixture
def store_source(request: pytest.FixtureRequest, store_source: tuple[str, str]) -> tuple[str, str]:
    """A test of the golden log gets a copy of the database it was written in; the
    others, tests/unit/conftest.py's."""
    if "golden" in request.fixturenames:
        return "golden_sqlite", "golden_pg"
    return store_source


@pytest.fixture(scope="session")
def golden_sqlite(migrated_sqlite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with the golden log, written once a run."""
    path = tmp_path_factory.mktemp("golden") / "hotline.db"
    copy_sqlite(migrated_sqlite, path)
    on_store(sqlite_url(str(path)), write_golden_log)
    return path


@pytest.fixture(scope="session")
def golden_pg(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL template with the golden log, written once a run."""
    server = request.getfixturevalue("pg_server")
    migrated = request.getfixturevalue("migrated_pg")
    return pg_template(server, "golden", write_golden_log, template=migrated)


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
