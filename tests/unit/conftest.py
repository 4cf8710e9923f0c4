"""Fixtures for every unit test that needs a database: `store` runs each test on SQLite
and on the private PostgreSQL (marked `pg`).

A test's store is a copy of one database migrated once a run (per worker): migrating
took 0.2-0.45 s a test, a copy takes a few milliseconds, and the schema is the same
(the migrations themselves are tested on empty databases: tests/unit/store)."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.pg` lives outside the installed packages
    sys.path.insert(0, str(ROOT))

from hotline.store import Store, sqlite_url  # noqa: E402
from tests.pg import PostgresServer, pg_server, pg_url  # noqa: E402, F401  (pytest fixtures)

#: The name of the migrated database a test's PostgreSQL store is copied from.
PG_TEMPLATE = "migrated"
SESSIONS_ON_TEMPLATE = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{PG_TEMPLATE}'"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new database, an SQLite file or one on the private PostgreSQL: empty, or for a
    test that uses `store`, a copy of the migrated one."""
    migrated = "store" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "hotline.db"
        if migrated:
            source = sqlite3.connect(request.getfixturevalue("migrated_sqlite"))
            copy = sqlite3.connect(path)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
        return sqlite_url(str(path))
    if not migrated:
        return str(request.getfixturevalue("pg_url"))
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.create_database(template=request.getfixturevalue("migrated_pg"))
    request.addfinalizer(lambda: server.drop_soon(url))
    return url


def _migrate(url: str) -> None:
    """Migrate the database at `url`, on a thread of its own: the fixtures that ask for
    it run inside the test's event loop."""

    async def migrate() -> None:
        store = await Store.connect(url)
        try:
            await store.migrate()
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, migrate()).result()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once a run, to copy."""
    path = tmp_path_factory.mktemp("migrated") / "hotline.db"
    _migrate(sqlite_url(str(path)))
    return path


@pytest.fixture(scope="session")
def migrated_pg(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL database migrated once a run: the template of the tests' stores."""
    server: PostgresServer = request.getfixturevalue("pg_server")
    _migrate(server.create_database(PG_TEMPLATE))
    # A template must have no session: the store's, closed, may linger a moment.
    deadline = time.monotonic() + 10
    while server.psql(SESSIONS_ON_TEMPLATE, bare=True).strip() != "0":
        assert time.monotonic() < deadline, "the migration's sessions did not end"
        time.sleep(0.01)
    return PG_TEMPLATE


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A migrated store on each database (`db_url`'s)."""
    store = await Store.connect(db_url, retry_for=2.0)
    try:
        yield store
    finally:
        await store.close()
