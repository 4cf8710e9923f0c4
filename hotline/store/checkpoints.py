"""SQLite's WAL checkpoints on a thread of their own, not inside a writer's COMMIT.

In WAL mode a commit appends its pages to the write-ahead log and syncs the log. By
default, the connection whose commit takes the log past 1,000 pages then copies the log
back into the database file and syncs that too (a checkpoint), inside the same COMMIT:
every few seconds under load one commit took several times as long, and the writes
sharing it (a score of chat messages, a call's routing step) waited for it. Measured
with `python bench/bench_chat.py` (docs/benchmarks.md "Session 14"): COMMIT p99 17.9 ms
and 148 commits over 10 ms that way, 9.9 ms and 39 with the checkpoints here.

So the store's connections have `wal_autocheckpoint = 0` (hotline/store/store.py), and
a `Checkpointer` runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval` on a connection
of its own: PASSIVE waits for nobody (it copies the frames no reader still needs and
leaves the rest for the next time), and the writer starts the log from its beginning
again once a checkpoint has copied all of it, so the log stays about a second of writes
long. SQLite works without the GIL, so the copy and its sync cost the event loop
nothing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds between two checkpoints.
INTERVAL = 1.0


class Checkpointer:
    """A thread that checkpoints the WAL of the SQLite database file `database`."""

    def __init__(self, database: str, interval: float = INTERVAL) -> None:
        self._database = database
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the thread (after the checkpoint it may be in)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        failing = False
        while not self._stopping.wait(self._interval):
            try:
                if conn is None:  # never makes a database: the store's file or nothing
                    uri = f"{Path(self._database).resolve().as_uri()}?mode=rw"
                    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                failing = False
            except sqlite3.Error as error:
                # The database away for a moment (its disk, a restore): next time, on a
                # new connection; said once, not every second.
                if not failing:
                    log.warning("SQLite checkpoint failed (will try again): %s", error)
                failing = True
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
