"""Recordings reachable from any node (issue 20): two call workers (`hotline run`,
routing remote, each with its own Asterisk) and a routing leader, on a PostgreSQL and a
nats-server the test starts; `routing.nodes` names each worker's web address, and both
boxes share one `secrets.yaml` (the API token). A call recorded on node b is downloaded
through node a's API and played through node a's contact page: the bytes are b's file,
the access logged once by node a; node b down, node a answers 503 naming node b, with
nothing logged.

    .venv/bin/pytest -s -p no:randomly -n 0 tests/e2e/test_cluster_recordings.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.secrets import load_secrets
from hotline.config import HotlineConfig
from hotline.store import LoggedEvent, Store
from hotline.store.records import Contact
from tests import pg
from tests.e2e.conftest import RunningHotline, spawn, wait_ready
from tests.e2e.ports import free_port
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_cluster_worker import migrate, stop_worker, worker_config
from tests.e2e.test_leader_failover import Candidate
from tests.nats import NatsServer, nats_binary

pg_server = pg.pg_server

pytestmark = [pytest.mark.e2e, pytest.mark.pg]


class Boxes:
    def __init__(self, workdir: Path, url: str) -> None:
        self.workdir = workdir
        self.url = url
        self.workers: dict[str, RunningHotline] = {}
        self.names: dict[str, str] = {}
        self.leader: Candidate | None = None
        self.carol_port = 0
        self.token = ""

    def logs(self) -> str:
        parts = [f"--- worker {n}\n{w.log_tail(40)}" for n, w in self.workers.items()]
        if self.leader is not None:
            parts.append(f"--- leader\n{self.leader.text()[-2000:]}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def boxes(
    tmp_path_factory: pytest.TempPathFactory, pg_server: pg.PostgresServer
) -> Iterator[Boxes]:
    binary = nats_binary()
    if binary is None:
        pytest.fail("nats-server is not installed (scripts/setup.sh test)")
    workdir = tmp_path_factory.mktemp("cluster-recordings")
    nats = NatsServer(binary, workdir / "nats.log").start()
    url = pg_server.create_database()
    asyncio.run(migrate(url))
    running = Boxes(workdir, url)
    running.carol_port = free_port("udp", seconds=900)
    configs: dict[str, dict[str, Any]] = {}
    for name in ("a", "b"):
        (workdir / name / "state").mkdir(parents=True)
        config = worker_config(
            workdir / name, url, nats.url, running.carol_port, f"rec-{name}-{os.getpid()}"
        )
        config["queues"]["e2e_fifo"]["recording"] = "on"
        configs[name] = config
        running.names[name] = f"{socket.gethostname()}/{config['asterisk']['instance']}"
    nodes = {running.names[n]: f"http://127.0.0.1:{configs[n]['web']['port']}" for n in configs}
    for config in configs.values():
        config["routing"]["nodes"] = nodes
    # One secrets.yaml on every box (README): the API token a node fetches with.
    endpoints = HotlineConfig.model_validate(configs["a"]).phone_endpoints
    secrets = load_secrets(workdir / "a" / "state" / "secrets.yaml", endpoints)
    shutil.copyfile(workdir / "a/state/secrets.yaml", workdir / "b/state/secrets.yaml")
    running.token = secrets.api_token
    leader_config = workdir / "hotline.yaml"
    leader_config.write_text(yaml.safe_dump(configs["a"]))
    try:
        # The product's lease (5 s): no failover here, and a loaded machine can stall 2 s.
        running.leader = Candidate(leader_config, "leader", workdir / "leader.log", "--lease", "5")
        running.leader.wait_for("leader is the leader (epoch", timeout=90)
        for name, config in configs.items():
            running.workers[name] = spawn(config, workdir / name, log_name="worker")
        for worker in running.workers.values():
            wait_ready(worker)
        yield running
    finally:
        for worker in running.workers.values():
            stop_worker(worker)
        if running.leader is not None:
            running.leader.end()
        nats.stop()


def get(worker: RunningHotline, path: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(f"{worker.web_url}{path}")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def _recorded(url: str, number: str) -> tuple[Contact | None, list[LoggedEvent]]:
    store = await Store.connect(url)
    try:
        for contact in await store.recent_contacts(50):
            if contact.source == number:
                return contact, await store.events(contact.id)
        return None, []
    finally:
        await store.close()


def recorded(boxes: Boxes, number: str, timeout: float = 30) -> tuple[Contact, LoggedEvent]:
    deadline = time.monotonic() + timeout
    while True:
        contact, events = asyncio.run(_recorded(boxes.url, number))
        saved = [e for e in events if e.type == "recording.saved"]
        if contact is not None and saved:
            return contact, saved[-1]
        assert time.monotonic() < deadline, f"no recording for {number}\n{boxes.logs()}"
        time.sleep(0.3)


def accessed(boxes: Boxes, contact: str) -> list[dict[str, Any]]:
    _, events = asyncio.run(_recorded_by_id(boxes.url, contact))
    return [e.data for e in events if e.type == "recording.accessed"]


async def _recorded_by_id(url: str, contact: str) -> tuple[None, list[LoggedEvent]]:
    store = await Store.connect(url)
    try:
        return None, await store.events(contact)
    finally:
        await store.close()


def test_a_call_recorded_on_node_b_downloads_through_node_a_then_b_down_is_a_503(
    boxes: Boxes,
) -> None:
    carol = TransferTarget(
        boxes.workdir / "carol", "answer", boxes.carol_port, ring=0.3, talk=2.5
    ).start()
    b = boxes.workers["b"]
    call = SippCall(boxes.workdir / "sipp", b.sip_port, "304", "5555001", [ExpectHangup(60)])
    try:
        assert call.run(90).ok, boxes.logs()
        assert carol.wait_done().ok
    finally:
        carol.stop()
    contact, saved = recorded(boxes, "5555001")
    assert contact.asterisk_node == boxes.names["b"], contact
    name, file = saved.data["name"], Path(saved.data["file"])
    assert file.is_file() and boxes.names["b"].split("/")[1] in str(file)
    on_b = file.read_bytes()

    a = boxes.workers["a"]
    started = time.monotonic()
    status, body = get(a, f"/api/recordings/{name}", boxes.token)
    took = time.monotonic() - started
    assert status == 200, (status, body[:300], boxes.logs())
    assert body == on_b and len(body) > 44  # a WAV header and the conversation
    status, body = get(a, f"/api/contacts/{contact.id}/recordings/{name}", boxes.token)
    assert status == 200 and body == on_b
    logged = accessed(boxes, contact.id)
    assert logged == [{"by": "api", "role": "admin", "recording": name}] * 2, logged

    stop_worker(b)  # node b down (its web and its Asterisk)
    del boxes.workers["b"]
    status, body = get(a, f"/api/recordings/{name}", boxes.token)
    assert status == 503, (status, body)
    said = yaml.safe_load(body)["error"]
    assert said.startswith(
        f"recording {name} is on node {boxes.names['b']}, which did not answer"
    ), said
    status, body = get(a, f"/api/contacts/{contact.id}/recordings/{name}", boxes.token)
    assert status == 503 and boxes.names["b"] in body.decode()
    assert accessed(boxes, contact.id) == logged  # nothing more logged
    print(
        f"\na recording made on node b ({len(on_b)} bytes) downloaded through node a in "
        f"{took:.2f} s, bytes equal; node b down: 503 '{said}'"
    )
