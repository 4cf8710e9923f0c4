"""The routing leader and its hot standby as real processes (`hotline routing`) on a
real PostgreSQL: kill -9 the leader, or SIGSTOP it past its lease then SIGCONT it.

Three callers wait in a queue whose agents never answer (ring timeout 1 s), so the
leader writes routing events (offers, no answers, offers again) all the time, each with
its epoch. After each failure: the standby says it waited, takes over within the bound
measured here (printed; run with -s), routes with the next epoch, and no event of the
old epoch is committed after the new leader's first. The paused leader, once resumed,
writes nothing more and exits with EXIT_LOST.

    .venv/bin/pytest -s -p no:randomly -n 0 tests/e2e/test_leader_failover.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.routing_node import EXIT_LOST
from hotline.store import LoggedEvent, Store
from tests import pg

# The private PostgreSQL's fixtures (tests/pg.py), used here by name.
pg_server = pg.pg_server
pg_url = pg.pg_url

pytestmark = pytest.mark.pg

HOTLINE = Path(sys.executable).with_name("hotline")
LEASE = 2.0
#: The standby's takeover after a kill -9: the lock is free at once, the standby
#: tries every 0.5 s (about 0.5 s measured); the rest is room for a loaded machine.
KILL_BOUND = 4.0
#: After a SIGSTOP: the lease (from the leader's last heartbeat, 0.75 to 1 lease before
#: the pause), then the standby's next try.
STOP_BOUND = LEASE + 3.0

CONFIG = """
numbers:
  "100": main
database_url: {url}
queues:
  support:
    ring_timeout: 1
agents:
  - id: alice
    name: Alice
    endpoint: "1001"
    queues: [support]
  - id: bob
    name: Bob
    endpoint: "1002"
    queues: [support]
"""


class Candidate:
    """One `hotline routing` process (`extra`: more of its arguments), its output in a
    file."""

    def __init__(self, config: Path, name: str, log: Path, *extra: str) -> None:
        self.name = name
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [
                *(str(HOTLINE), "--config", str(config), "routing"),
                *("--name", name, "--lease", str(LEASE), *extra),
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, words: str, timeout: float = 30.0) -> float:
        """When `words` appeared in the output (monotonic); fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if words in self.text():
                return time.monotonic()
            assert self.proc.poll() is None, f"{self.name} exited:\n{self.text()}"
            time.sleep(0.02)
        raise AssertionError(f"{self.name} never said {words!r}:\n{self.text()}")

    def end(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(10)
        self._out.close()


@pytest.fixture
def config(tmp_path: Path, pg_url: str) -> Path:
    path = tmp_path / "hotline.yaml"
    path.write_text(CONFIG.format(url=pg_url))
    asyncio.run(seed(pg_url))
    return path


@pytest.fixture
def candidates() -> Iterator[dict[str, Candidate]]:
    """The processes a test starts (`start`); all ended after it."""
    started: dict[str, Candidate] = {}
    yield started
    for candidate in started.values():
        candidate.end()


async def seed(url: str) -> None:
    """Three callers waiting in support, oldest first, as the log of an earlier leader."""
    store = await Store.connect(url)
    try:
        await store.migrate()
        for n in range(3):
            contact = await store.open_contact("voice", "inbound", f"55500{n}", "100")
            await store.append(contact, "contact.join", {"channel": "voice"}, queue="support")
    finally:
        await store.close()


async def routing_events(url: str) -> list[LoggedEvent]:
    store = await Store.connect(url)
    try:
        events = await store.events_between(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    finally:
        await store.close()
    return events


def epochs_in_log(url: str) -> list[tuple[int, int]]:
    """(event id, epoch) of every routing event written by a leader, in log order."""
    return [
        (e.id, int(e.data["epoch"])) for e in asyncio.run(routing_events(url)) if "epoch" in e.data
    ]


def wait_for_epoch(url: str, epoch: int, timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e == epoch for _, e in epochs_in_log(url)):
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"no routing event of epoch {epoch}")


def assert_fenced(url: str) -> None:
    """No event of the old epoch after the first of the new one; both wrote."""
    log = epochs_in_log(url)
    old = [i for i, e in log if e == 1]
    new = [i for i, e in log if e == 2]
    assert old and new, log
    assert max(old) < min(new), log
    assert {e for _, e in log} == {1, 2}


def start(candidates: dict[str, Candidate], config: Path, tmp_path: Path, name: str) -> Candidate:
    candidates[name] = Candidate(
        config, name, tmp_path / f"{name}.log", "--domain", "sales", "--no-bus"
    )
    return candidates[name]


def test_kill_9_the_leader_and_the_standby_takes_over(
    config: Path, candidates: dict[str, Candidate], tmp_path: Path, pg_url: str
) -> None:
    a = start(candidates, config, tmp_path, "a")
    a.wait_for("a is the leader (epoch 1")
    b = start(candidates, config, tmp_path, "b")
    b.wait_for("b is a standby: a leads it (epoch 1")
    wait_for_epoch(pg_url, 1)

    killed = time.monotonic()
    a.proc.kill()
    led = b.wait_for("b is the leader (epoch 2", timeout=KILL_BOUND + 5)
    routed = wait_for_epoch(pg_url, 2)
    print(
        f"\nkill -9: standby leads after {led - killed:.2f} s, "
        f"first routing write of epoch 2 after {routed - killed:.2f} s"
    )
    assert led - killed < KILL_BOUND
    b.wait_for("epoch 2: took over 3 waiting and 0 talking contacts; routing")
    assert_fenced(pg_url)

    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(10) == 0


def test_sigstop_the_leader_past_its_lease_then_sigcont(
    config: Path, candidates: dict[str, Candidate], tmp_path: Path, pg_url: str
) -> None:
    a = start(candidates, config, tmp_path, "a")
    a.wait_for("a is the leader (epoch 1")
    b = start(candidates, config, tmp_path, "b")
    b.wait_for("b is a standby")
    wait_for_epoch(pg_url, 1)

    paused = time.monotonic()
    a.proc.send_signal(signal.SIGSTOP)
    led = b.wait_for("b is the leader (epoch 2", timeout=STOP_BOUND + 5)
    wait_for_epoch(pg_url, 2)
    print(f"\nSIGSTOP: standby leads after {led - paused:.2f} s (lease {LEASE} s)")
    # The lease runs from the last heartbeat, up to a quarter lease before the pause.
    assert 0.7 * LEASE < led - paused < STOP_BOUND
    time.sleep(1.5)  # a ring timeout: the paused leader has writes due when resumed

    a.proc.send_signal(signal.SIGCONT)
    assert a.proc.wait(10) == EXIT_LOST
    assert "lost leadership (epoch 1)" in a.text()
    said = [line for line in a.text().splitlines() if "refused" in line or "lost" in line]
    print("the old leader, resumed:\n" + "\n".join(said))
    # It has exited (above): nothing it had in flight can be committed after this.
    assert_fenced(pg_url)
    assert b.proc.poll() is None  # the new leader goes on
