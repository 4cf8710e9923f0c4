"""The WAL is copied back into the database file by the store's checkpoint thread, never
inside a writer's COMMIT (hotline/store/checkpoints.py)."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

from hotline.store import Store, sqlite_url
from hotline.store import store as store_module
from hotline.store.checkpoints import Checkpointer

#: Past SQLite's own autocheckpoint (1,000 pages of 4 KB), had the writer one.
BIG = "x" * 3000
EVENTS = 1600


async def _store(path: Path, monkeypatch: pytest.MonkeyPatch, interval: float) -> Store:
    monkeypatch.setattr(
        store_module, "Checkpointer", functools.partial(Checkpointer, interval=interval)
    )
    store = await Store.connect(sqlite_url(str(path)))
    await store.migrate()
    return store


async def _fill(store: Store) -> None:
    contact = await store.open_contact("chat", "inbound", "web", "chat")
    for start in range(0, EVENTS, 100):  # many commits, as under load
        await asyncio.gather(
            *(
                store.append(contact, "chat.message", {"text": BIG, "n": n})
                for n in range(start, start + 100)
            )
        )


async def test_no_commit_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "h.db"
    store = await _store(path, monkeypatch, interval=3600)
    try:
        size = path.stat().st_size
        await _fill(store)
        wal = Path(f"{path}-wal").stat().st_size
        assert wal > 1000 * 4096, "the test wrote past SQLite's autocheckpoint"
        assert path.stat().st_size == size, "a COMMIT copied the WAL into the database file"

        async def setting(conn: object) -> list[int]:
            return [
                row[0] for row in (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).all()
            ]  # type: ignore[attr-defined]

        assert await store.read(setting, "pragma") == [0]
    finally:
        await store.close()


async def test_the_checkpoint_thread_copies_the_wal_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.db"
    store = await _store(path, monkeypatch, interval=0.05)
    try:
        size = path.stat().st_size
        await _fill(store)
        for _ in range(200):
            if path.stat().st_size > size + EVENTS * len(BIG):
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > size + EVENTS * len(BIG), "the events reached the file"
        thread = store._checkpointer._thread  # type: ignore[union-attr]
        assert thread.is_alive()
    finally:
        await store.close()
    assert not thread.is_alive(), "close() ends the thread"
    count = await asyncio.to_thread(_events_in_file, path)
    assert count == EVENTS


def _events_in_file(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM contact_events").fetchone()[0])
    finally:
        conn.close()


async def test_a_failing_checkpoint_is_tried_again_and_makes_no_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "h.db"
    checkpointer = Checkpointer(str(missing), interval=0.02)
    checkpointer.start()
    try:
        await asyncio.sleep(0.15)  # fails: no such database
        assert checkpointer._thread.is_alive()
    finally:
        checkpointer.stop()
    assert not checkpointer._thread.is_alive()
    assert not missing.exists(), "a checkpoint made a database of its own"
    failures = [r.getMessage() for r in caplog.records if "checkpoint failed" in r.getMessage()]
    assert len(failures) == 1, failures  # said once, not each time
    assert "unable to open database file" in failures[0]
