"""Fixtures for every unit test that needs a database: `store` runs each test on SQLite
and on the private PostgreSQL (marked `pg`)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.pg` lives outside the installed packages
    sys.path.insert(0, str(ROOT))

from hotline.store import Store, sqlite_url  # noqa: E402
from tests.pg import pg_server, pg_url  # noqa: E402, F401  (pytest fixtures)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: an SQLite file, or a fresh database on the private PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url(str(tmp_path / "hotline.db"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A migrated store on each database."""
    store = await Store.connect(db_url, retry_for=2.0)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()
