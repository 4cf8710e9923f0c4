"""What every multi-node end-to-end topology is built of (tests/e2e/test_cluster_worker.py,
test_cluster_callbacks.py, test_edge.py; issue 20): a nats-server and a migrated
PostgreSQL database of the module's own, call-worker configs (`hotline run`, routing
remote: number 304 -> cluster_queue -> e2e_fifo, served by carol), the node-loss and
callback settings the callback tests add, and the teardown that stops workers, leader
candidates and NATS whatever failed before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hotline.store import Store
from tests import pg
from tests.e2e import conftest
from tests.e2e.conftest import RunningHotline
from tests.e2e.short_prompts import with_short_prompts
from tests.nats import NatsServer, nats_binary

DOMAIN = "e2e"
QUEUE = "e2e_fifo"

FLOW = """
name: cluster_queue
start: to_fifo
nodes:
  to_fifo:
    type: queue
    queue: e2e_fifo
    on: {answered: goodbye, other: unavailable}
  unavailable:
    type: play
    prompts: agents_unavailable
    next: end
  goodbye:
    type: play
    prompts: goodbye
    barge_in: false
    next: end
  end:
    type: hangup
"""


async def migrate(url: str) -> None:
    store = await Store.connect(url)
    try:
        await store.migrate()
    finally:
        await store.close()


@contextlib.contextmanager
def bus_and_database(
    workdir: Path, pg_server: pg.PostgresServer
) -> Iterator[tuple[NatsServer, str]]:
    """A nats-server of its own (its log in `workdir`) and a new, migrated database on
    the private PostgreSQL: (the server, the database's URL); NATS stopped at the end."""
    binary = nats_binary()
    if binary is None:
        pytest.fail("nats-server is not installed (scripts/setup.sh test)")
    nats = NatsServer(binary, workdir / "nats.log").start()
    try:
        url = pg_server.create_database()
        asyncio.run(migrate(url))
        yield nats, url
    finally:
        nats.stop()


def worker_config(
    workdir: Path,
    url: str,
    nats: str,
    carol_port: int,
    instance: str,
    *,
    sounds: Path | None = None,
) -> dict[str, Any]:
    """A config of its own (ports too): number 304 -> cluster_queue -> e2e_fifo,
    served by carol; its prompts short tones written in `sounds`, if given
    (tests/e2e/short_prompts.py), for modules that check no prompt's length."""
    config = conftest.test_config(instance)
    flows = workdir / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "cluster_queue.yaml").write_text(FLOW)
    config.update(
        flows_dir=str(flows),
        numbers={"304": "cluster_queue"},
        database_url=url,
        queues={QUEUE: {"ring_timeout": 5, "wrap_up": 0.5}},
        agents=[
            {
                "id": "carol",
                "name": "Carol",
                "endpoint": "2001",
                "contact": f"sip:2001@127.0.0.1:{carol_port}",
                "queues": [QUEUE],
            }
        ],
        routing={"mode": "remote", "domain": DOMAIN, "nats_url": nats, "request_timeout": 10},
    )
    config["asterisk"]["agi_numbers"] = {}
    config["demo_crm"]["enabled"] = False
    if sounds is not None:
        # After the queues: e2e_fifo's name is a tone too (a callback's whisper says it),
        # not spoken from its id with espeak-ng at full length.
        config = with_short_prompts(config, sounds)
    return config


def with_callbacks(
    config: dict[str, Any],
    customer_port: int,
    *,
    node_lost_after: float,
    ring_seconds: float,
    retry_delay: float,
) -> dict[str, Any]:
    """`config` (a worker's, changed in place) with callbacks: e2e_fifo's dialed to the
    "customer" SIPp phone on `customer_port` (whatever the number: in its SIP URI), and
    a worker silent for `node_lost_after` seconds declared lost by the leader (its
    waiting callers rebooked as callbacks)."""
    config["routing"]["node_lost_after"] = node_lost_after
    config["queues"][QUEUE]["callback"] = {
        "ring_seconds": ring_seconds,
        "min_talk_seconds": 1,
        "retry_delay": retry_delay,
    }
    config["callbacks"] = {
        "dial_template": f"PJSIP/anonymous/sip:{{number}}@127.0.0.1:{customer_port}"
    }
    return config


def stop_worker(worker: RunningHotline) -> None:
    """Stop the worker, and its Asterisk: a worker started again after a kill -9 took
    over the Asterisk still running (`hotline run` uses it, and leaves it running when
    it stops, as it did not start it)."""
    stop_all([worker], [])


def _asterisk_of(worker: RunningHotline) -> int:
    """The pid of the worker's Asterisk (0: none written)."""
    pid_file = worker.instance_dir() / "run/asterisk.pid"
    return int(pid_file.read_text().strip() or 0) if pid_file.exists() else 0


def stop_all(workers: Iterable[RunningHotline], candidates: Iterable[Any]) -> None:
    """The topology's end: every worker and its Asterisk (as stop_worker; all asked at
    once, each stops its own Asterisk meanwhile), then every leader candidate (None: not
    started), even when stopping a worker failed."""
    workers = list(workers)
    asterisks = [_asterisk_of(worker) for worker in workers]
    try:
        for worker in workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGINT)
        for worker, asterisk in zip(workers, asterisks, strict=True):
            try:
                worker.proc.wait(60)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
            if asterisk:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(asterisk, signal.SIGKILL)
            subprocess.run(["rm", "-rf", str(worker.instance_dir())], check=False)
    finally:
        for candidate in candidates:
            if candidate is not None:
                candidate.end()
