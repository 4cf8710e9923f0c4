"""Fixtures for every unit test that needs a database: `store` runs each test on SQLite
and on the private PostgreSQL (marked `pg`).

A test's store is a copy of one database migrated once a run (per worker): migrating
took 0.2-0.45 s a test, a copy takes a few milliseconds, and the schema is the same
(the migrations themselves are tested on empty databases: tests/unit/store)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.pg` lives outside the installed packages
    sys.path.insert(0, str(ROOT))

from controller.stop_requests import SIGNALS, StopRequests  # noqa: E402
from hotline.store import Store, sqlite_url  # noqa: E402
from tests.pg import PostgresServer, pg_server, pg_url  # noqa: E402, F401  (pytest fixtures)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new database, an SQLite file or one on the private PostgreSQL: empty, or for a
    test that uses `store`, a copy of `store_source`'s."""
    migrated = "store" in request.fixturenames
    if migrated:
        on_sqlite, on_pg = request.getfixturevalue("store_source")
    if request.param == "sqlite":
        path = tmp_path / "hotline.db"
        if migrated:
            copy_sqlite(request.getfixturevalue(on_sqlite), path)
        return sqlite_url(str(path))
    if not migrated:
        return str(request.getfixturevalue("pg_url"))
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.create_database(template=request.getfixturevalue(on_pg))
    request.addfinalizer(lambda: server.drop_soon(url))
    return url


@pytest.fixture
def store_source() -> tuple[str, str]:
    """The fixtures that make, once a run, the database a test's store is a copy of: an
    SQLite file and a PostgreSQL template (a folder's conftest may choose others)."""
    return "migrated_sqlite", "migrated_pg"


def copy_sqlite(source: Path, target: Path) -> None:
    """A copy of the SQLite database `source` at `target` (SQLite's backup API)."""
    original, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        original.backup(copy)
    finally:
        copy.close()
        original.close()


def on_store(url: str, work: Callable[[Store], Awaitable[object]]) -> None:
    """Run `work` on a store at `url`, on a thread of its own: the session fixtures that
    do it are first asked for inside a test's event loop."""

    async def run() -> None:
        store = await Store.connect(url)
        try:
            await work(store)
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, run()).result()


def pg_template(
    server: PostgresServer,
    name: str,
    work: Callable[[Store], Awaitable[object]],
    template: str | None = None,
) -> str:
    """A PostgreSQL database `name` (a copy of `template`, or empty) that `work` was run
    on, ready to be a template; its name."""
    on_store(server.create_database(name, template=template), work)
    # A template must have no session: the store's, closed, may linger a moment.
    sessions = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"
    deadline = time.monotonic() + 10
    while server.psql(sessions, bare=True).strip() != "0":
        assert time.monotonic() < deadline, f"the sessions on {name} did not end"
        time.sleep(0.01)
    return name


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once a run, to copy."""
    path = tmp_path_factory.mktemp("migrated") / "hotline.db"
    on_store(sqlite_url(str(path)), Store.migrate)
    return path


@pytest.fixture(scope="session")
def migrated_pg(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL database migrated once a run: the template of the tests' stores."""
    return pg_template(request.getfixturevalue("pg_server"), "migrated", Store.migrate)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A migrated store on each database (`db_url`'s)."""
    store = await Store.connect(db_url, retry_for=2.0)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def handlers() -> Iterator[None]:
    """The process's handlers of the stop signals, put back after the test."""
    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture
def stop_requests(handlers: None) -> StopRequests:
    """The stop signals taken as requests, as the `hotline` command's entry point takes
    them (controller/main.py); Python's handlers back after the test."""
    stop = StopRequests()
    stop.install()
    return stop
