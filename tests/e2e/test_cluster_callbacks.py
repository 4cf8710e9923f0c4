"""Open callbacks in a cluster (issue 20): the routing leader hands each one to exactly
one call worker. Two call workers (`hotline run`, routing remote, each with its own
Asterisk on 127.0.0.1), a routing leader and its hot standby (`hotline routing`), on a
PostgreSQL and a nats-server the test starts. carol's phone is a SIPp UAS on her fixed
contact (both nodes ring it); the customer called back is another SIPp UAS, reached
through `callbacks.dial_template`.

- one open callback when both workers start: exactly one dials it (before, each worker
  restored every open callback: both dialed);
- the leader killed (kill -9) between the booking and the hand-over: the standby hands
  it, dialed once;
- a worker's Asterisk killed (kill -9) under two waiting callers and started again (the
  worker lives): the callers become callbacks at their places (the node-lost policy,
  `routing.node_lost` reason `asterisk_lost`), dialed once each, in their order;
- a worker frozen (SIGSTOP) past node_lost_after while a caller waits on its Asterisk:
  the caller is booked a callback at its place (dialed by the other worker); the worker
  resumed tells the caller, still on the line, and ends the call;
- the worker dialing it killed (kill -9 of its Asterisk and itself) while the customer
  talks: the leader declares it lost (`routing.node_lost_after` 4 s here), the other
  worker dials it again (the interrupted attempt counts), completed.

    .venv/bin/pytest -s -p no:randomly -n 0 tests/e2e/test_cluster_callbacks.py

The numbers called back have 5 digits (the shortest a callback may have): carol's
whisper reads them digit by digit, ~0.85 s each; the queue's name in it is a short tone.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.asterisk import find_install
from controller.instance import AsteriskInstance
from controller.secrets import load_secrets
from hotline.acd import Router
from hotline.acd.service import RoutingService
from hotline.callbacks.service import CallbackService
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.config import HotlineConfig
from hotline.store import LoggedEvent, Store
from hotline.store.callbacks import Callback, CallbackStore
from tests import pg
from tests.e2e.cluster_nodes import bus_and_database, stop_all, with_callbacks, worker_config
from tests.e2e.conftest import HOME, RunningHotline, spawn, wait_ready
from tests.e2e.ports import free_port
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_leader_failover import Candidate

pg_server = pg.pg_server

pytestmark = [pytest.mark.e2e, pytest.mark.pg]

QUEUE = "e2e_fifo"
#: Seconds the customer talks on each callback, then hangs up (carol waits for the BYE).
#: The customer's clock starts at its own answer: carol's starts before the whisper and the
#: customer's ringing, which on a loaded machine could eat a talk timed by her phone (a
#: conversation under `min_talk_seconds` is a failed attempt).
TALK = 4.0


class Cluster:
    """The module's NATS, database, leader candidates and two call workers."""

    def __init__(self, workdir: Path, url: str, carol_port: int, customer_port: int) -> None:
        self.workdir = workdir
        self.url = url
        self.carol_port = carol_port
        self.customer_port = customer_port
        self.config = workdir / "hotline.yaml"
        self.configs: dict[str, dict[str, Any]] = {}
        self.workers: dict[str, RunningHotline] = {}
        self.candidates: dict[str, Candidate] = {}
        self.killed: set[str] = set()

    def candidate(self, name: str) -> Candidate:
        # The product's lease (5 s), not the failover tests' 2 s: the leader here is
        # killed, never frozen, and b leads alone after a is killed: a loaded machine
        # stalled it past 2 s, its session ended (idle_session_timeout) and the domain
        # had no leader for the module's last tests.
        log = self.workdir / f"{name}.log"
        self.candidates[name] = Candidate(self.config, name, log, "--lease", "5")
        return self.candidates[name]

    def start_workers(self) -> None:
        for name, config in self.configs.items():
            self.workers[name] = spawn(config, self.workdir / name, log_name="worker")
        for worker in self.workers.values():
            wait_ready(worker)

    def worker_named(self, full: str) -> str:
        """The test's name (a or b) of a worker's name (host/instance)."""
        return next(n for n, c in self.configs.items() if full.endswith(c["asterisk"]["instance"]))

    def phones(
        self, calls: int, first_talk: float | None = None
    ) -> tuple[TransferTarget, TransferTarget]:
        """carol's phone (answers, waits for the BYE) and the customer's (answers, talks
        TALK s, or `first_talk` on its first call, and hangs up), each for `calls` calls."""
        carol = TransferTarget(
            self.workdir / "carol",
            "answer_until_hangup",
            self.carol_port,
            ring=0.5,
            talk=60,
            calls=calls,
        )
        customer = TransferTarget(
            self.workdir / "customer",
            "answer",
            self.customer_port,
            ring=0.3,
            talk=TALK,
            calls=calls,
            first_talk=first_talk,
        )
        return carol.start(), customer.start()

    def cancel_open(self) -> None:
        """Cancel every callback still open (a test that failed leaves some): the next
        test must not find carol busy with it, or its phones answering it."""
        left = asyncio.run(_open_callbacks(self.url))
        live = [w for n, w in self.workers.items() if n not in self.killed]
        for contact in left:
            for worker in live:
                if api_call(worker, "DELETE", f"/api/callbacks/{contact}")[0] == 200:
                    break

    def logs(self) -> str:
        """The END of each log (what led to a failure), the banner left out."""
        parts = [f"--- {c.name}\n{_tail(c.text(), 40)}" for c in self.candidates.values()]
        parts += [
            f"--- worker {n}\n{_tail(w.log.read_text(errors='replace'), 80)}"
            for n, w in self.workers.items()
        ]
        return "\n".join(parts)


def _tail(text: str, lines: int) -> str:
    """The last `lines` log lines of `text` (the start-up banner's indented lines out)."""
    banner = ("Hotline is running", "Press Ctrl-C")
    kept = [line for line in text.splitlines() if line[:2].strip() and not line.startswith(banner)]
    return "\n".join(kept[-lines:])


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, pg_server: pg.PostgresServer
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("cluster-callbacks")
    with bus_and_database(workdir, pg_server) as (nats, url):
        cluster = Cluster(
            workdir, url, free_port("udp", seconds=900), free_port("udp", seconds=900)
        )
        for name in ("a", "b"):
            (workdir / name).mkdir()
            # Short prompts (the whispers, "your callback is booked"): the tests check
            # which calls were made and when, not what was said.
            config = worker_config(
                workdir / name,
                url,
                nats.url,
                cluster.carol_port,
                f"cb-{name}-{os.getpid()}",
                sounds=workdir / "sounds",
            )
            cluster.configs[name] = with_callbacks(
                config, cluster.customer_port, node_lost_after=4, ring_seconds=8, retry_delay=0
            )
        cluster.config.write_text(yaml.safe_dump(cluster.configs["a"]))
        try:
            yield cluster
        finally:
            stop_all(cluster.workers.values(), cluster.candidates.values())


@pytest.fixture(autouse=True)
def no_leftovers(cluster: Cluster) -> Iterator[None]:
    """Each test starts with no open callback left by the one before (if it failed)."""
    yield
    cluster.cancel_open()


async def _book(url: str, number: str) -> str:
    """An open callback in the store that no worker serves yet (as the API, a lost
    node's leader or a worker gone since leaves one)."""
    store = await Store.connect(url)
    try:
        service = CallbackService(
            store,
            RoutingService(Router(), store.append),
            CallbackConfig(),
            {QUEUE: QueueCallback()},
        )
        return (await service.book(number, QUEUE, source="api")).contact_id
    finally:
        await store.close()


async def _open_callbacks(url: str) -> list[str]:
    store = await Store.connect(url)
    try:
        return [c.contact_id for c in await CallbackStore(store).open_callbacks()]
    finally:
        await store.close()


async def _state(url: str, contact: str) -> tuple[Callback | None, list[LoggedEvent]]:
    store = await Store.connect(url)
    try:
        return await CallbackStore(store).get(contact), await store.events(contact)
    finally:
        await store.close()


def callback_state(cluster: Cluster, contact: str) -> tuple[Callback, list[LoggedEvent]]:
    row, events = asyncio.run(_state(cluster.url, contact))
    assert row is not None
    return row, events


def wait_done(cluster: Cluster, contact: str, timeout: float = 60) -> tuple[Callback, list[Any]]:
    """The callback once it is no longer open."""
    deadline = time.monotonic() + timeout
    while True:
        row, events = callback_state(cluster, contact)
        if not row.open:
            return row, events
        assert time.monotonic() < deadline, (
            f"callback {row} still open\n{history(events)}\n{cluster.logs()}"
        )
        time.sleep(0.3)


def history(events: list[LoggedEvent]) -> str:
    """A contact's events, one a line (what a failure shows)."""
    return "\n".join(f"{e.ts:%H:%M:%S.%f} {e.type} {e.data}" for e in events)


def invites(phone: TransferTarget) -> int:
    return phone.messages().count("INVITE sip:")


def dials(events: list[LoggedEvent]) -> list[LoggedEvent]:
    return [e for e in events if e.type == "callback.attempt" and e.data.get("event") == "dialing"]


def test_one_open_callback_two_workers_start_exactly_one_dials_it(cluster: Cluster) -> None:
    a = cluster.candidate("a")
    a.wait_for("a is the leader (epoch", timeout=90)
    contact = asyncio.run(_book(cluster.url, "54001"))
    carol, customer = cluster.phones(calls=1)
    try:
        cluster.start_workers()  # both at once, as after a power cut
        row, events = wait_done(cluster, contact)
        assert row.state == "completed", (row, cluster.logs())
        time.sleep(2.0)  # a second dial, if there were one, would have come by now
        assert (invites(carol), invites(customer)) == (1, 1), cluster.logs()
        _, events = callback_state(cluster, contact)
        handed = [e for e in events if e.type == "callback.handed"]
        assert len(handed) == 1 and handed[0].data["why"] == "served by no worker", handed
        assert [e.data["attempt"] for e in dials(events)] == [1]
        served_by = cluster.worker_named(handed[0].data["worker"])
        other = "b" if served_by == "a" else "a"
        assert "restored" not in cluster.workers[other].log.read_text()
        print(
            f"\none open callback, two workers starting: handed once (to {served_by}), "
            "dialed once, completed"
        )
    finally:
        carol.stop()
        customer.stop()


def test_the_leader_killed_before_handing_a_callback_the_standby_hands_it_once(
    cluster: Cluster,
) -> None:
    a = cluster.candidates.get("a") or cluster.candidate("a")
    a.wait_for("a is the leader (epoch")
    b = cluster.candidate("b")
    b.wait_for("b is a standby: a leads it", timeout=90)  # a loaded machine starts slowly
    if not cluster.workers:
        cluster.start_workers()
    carol, customer = cluster.phones(calls=1)
    try:
        contact = asyncio.run(_book(cluster.url, "54002"))
        a.proc.kill()  # within the hand-over's grace (2.5 s): a never handed it
        killed = time.monotonic()
        led = b.wait_for("b is the leader (epoch", timeout=15)
        row, events = wait_done(cluster, contact)
        assert row.state == "completed", (row, cluster.logs())
        time.sleep(2.0)
        assert (invites(carol), invites(customer)) == (1, 1), cluster.logs()
        _, events = callback_state(cluster, contact)
        handed = [e for e in events if e.type == "callback.handed"]
        assert len(handed) == 1, handed
        epochs = sorted({int(e.data["epoch"]) for e in events if "epoch" in e.data})
        assert epochs == [int(handed[0].data["epoch"])]  # the standby's, not a's
        dialed = dials(events)
        assert len(dialed) == 1
        print(
            f"\nthe leader killed between booking and hand-over: the standby led "
            f"{led - killed:.1f} s after the kill and handed it "
            f"{(handed[0].ts - row.entered_at).total_seconds():.1f} s after booking, "
            "dialed once"
        )
    finally:
        carol.stop()
        customer.stop()


def api_call(
    worker: RunningHotline, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, str]:
    """A request to the worker's API with its API token (the admin's): status, body."""
    secrets = yaml.safe_load((worker.state / "secrets.yaml").read_text())
    request = urllib.request.Request(
        f"{worker.web_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {secrets['api_token']}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")


def api_post(worker: RunningHotline, path: str, body: dict[str, Any]) -> int:
    """POST to the worker's API; its status."""
    return api_call(worker, "POST", path, body)[0]


def presence(worker: RunningHotline, action: str) -> None:
    """carol paused (on a break) or unpaused through the worker's API: it must work."""
    body = {"reason": "break"} if action == "pause" else {}
    status, text = api_call(worker, "POST", f"/api/agents/carol/{action}", body)
    assert status == 200, f"{action} carol: {status} {text}"


def restart_asterisk(worker: RunningHotline) -> None:
    """Start the worker's Asterisk again, as its supervisor would after a crash."""
    config = HotlineConfig.model_validate(worker.config)
    secrets = load_secrets(worker.state / "secrets.yaml", config.phone_endpoints)
    install = find_install(HOME / ".hotline")
    AsteriskInstance(install, config.asterisk.instance, config, secrets, HOME).start()


async def _contacts_of(url: str, numbers: list[str]) -> dict[str, tuple[Any, list[LoggedEvent]]]:
    store = await Store.connect(url)
    try:
        found: dict[str, tuple[Any, list[LoggedEvent]]] = {}
        for contact in await store.recent_contacts(200):
            if contact.source in numbers and contact.source not in found:
                found[contact.source] = (contact, await store.events(contact.id))
        return found
    finally:
        await store.close()


def test_an_asterisk_crashed_and_restarted_its_waiting_callers_become_callbacks(
    cluster: Cluster,
) -> None:
    leader = cluster.candidates.get("b") or cluster.candidate("b")
    leader.wait_for(f"{leader.name} is the leader (epoch")
    if not cluster.workers:
        cluster.start_workers()
    worker = cluster.workers["a"]
    presence(worker, "pause")
    numbers = ["54101", "54102"]
    carol, customer = cluster.phones(calls=len(numbers))
    calls: list[SippCall] = []
    try:
        for number in numbers:
            steps = [ExpectHangup(60)]
            sipp = SippCall(cluster.workdir / "sipp", worker.sip_port, "304", number, steps)
            calls.append(sipp.start())
            time.sleep(0.6)
        deadline = time.monotonic() + 20
        while True:  # both wait in the queue, on node a
            found = asyncio.run(_contacts_of(cluster.url, numbers))
            joined = [
                n for n, (_, ev) in found.items() if any(e.type == "contact.join" for e in ev)
            ]
            if len(joined) == len(numbers):
                break
            assert time.monotonic() < deadline, f"callers never queued\n{cluster.logs()}"
            time.sleep(0.2)
        pid = int((worker.instance_dir() / "run/asterisk.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        # A crashed Asterisk leaves its pid file (and, here, a zombie its parent the
        # worker has not reaped): gone, as its supervisor would clear it.
        (worker.instance_dir() / "run/asterisk.pid").unlink()
        deadline = killed + 20
        while True:  # the worker tells the leader; the leader books them and ends each
            found = asyncio.run(_contacts_of(cluster.url, numbers))
            said = {
                n: [e for e in ev if e.type == "routing.node_lost"] for n, (_, ev) in found.items()
            }
            # The contact is read before its events, and closed after its event: ended
            # and told, both seen, or read again.
            if all(said.values()) and all(c.ended_at for c, _ in found.values()):
                break
            assert time.monotonic() < deadline, f"callers not rebooked\n{cluster.logs()}"
            time.sleep(0.2)
        rebooked = time.monotonic() - killed
        restart_asterisk(worker)
        back = time.monotonic()
        deadline = back + 20
        while not (worker.api("/api/health")[1] or {}).get("ari"):  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"ARI not back\n{worker.log_tail()}"
            time.sleep(0.2)
        reconnected = time.monotonic() - back
        presence(worker, "unpause")
        callbacks = []
        for number in numbers:
            contact, events = found[number]
            (lost,) = said[number]
            assert lost.data["action"] == "callback" and lost.data["reason"] == "asterisk_lost"
            assert lost.data["node"].endswith(cluster.configs["a"]["asterisk"]["instance"])
            assert contact.status == "lost"
            join = next(e for e in events if e.type == "contact.join")
            row, _ = callback_state(cluster, lost.data["callback"])
            assert (row.number, row.source, row.origin_contact_id) == (
                number,
                "node_lost",
                contact.id,
            )
            assert abs((row.entered_at - join.ts).total_seconds()) < 1.0, (row, join)  # its place
            callbacks.append(row.contact_id)
        for contact in callbacks:
            row, events = wait_done(cluster, contact, timeout=60)
            assert row.state == "completed", (row, cluster.logs())
            assert [e.data["attempt"] for e in dials(events)] == [1]
        assert invites(customer) == len(numbers), cluster.logs()
        print(
            f"\nAsterisk of node a killed under {len(numbers)} waiting callers: rebooked as "
            f"callbacks at their places {rebooked:.1f} s after the kill; Asterisk started "
            f"again, ARI back {reconnected:.1f} s later; each called back once, completed"
        )
    finally:
        api_post(worker, "/api/agents/carol/unpause", {})
        carol.stop()
        customer.stop()
        for call in calls:
            if call.proc is not None and call.proc.poll() is None:
                call.proc.kill()  # its Asterisk died under it: nobody hangs it up
                call.proc.communicate()


def test_a_worker_frozen_past_node_lost_after_its_caller_is_told_and_called_back(
    cluster: Cluster,
) -> None:
    """Worker a paused (SIGSTOP: alive, silent on the bus) while a caller waits on its
    Asterisk: the leader takes node a for lost and books the caller a callback at its
    place, dialed by worker b; a resumed (SIGCONT) tells the caller, still on the line,
    that they will be called back (callback_booked) and ends the call."""
    leader = cluster.candidates.get("b") or cluster.candidate("b")
    leader.wait_for(f"{leader.name} is the leader (epoch")
    if not cluster.workers:
        cluster.start_workers()
    a, b = cluster.workers["a"], cluster.workers["b"]
    presence(b, "pause")
    carol, customer = cluster.phones(calls=1)
    number = "54201"
    sipp = SippCall(cluster.workdir / "sipp", a.sip_port, "304", number, [ExpectHangup(90)])
    call = sipp.start()
    paused = False
    try:
        deadline = time.monotonic() + 20
        while True:
            found = asyncio.run(_contacts_of(cluster.url, [number]))
            if number in found and any(e.type == "contact.join" for e in found[number][1]):
                break
            assert time.monotonic() < deadline, f"the caller never queued\n{cluster.logs()}"
            time.sleep(0.2)
        a.proc.send_signal(signal.SIGSTOP)
        paused = True
        stopped = time.monotonic()
        deadline = stopped + 20
        while True:  # the leader takes node a for lost
            _, events = asyncio.run(_contacts_of(cluster.url, [number]))[number]
            lost = [e for e in events if e.type == "routing.node_lost"]
            if lost:
                break
            assert time.monotonic() < deadline, f"node a never lost\n{cluster.logs()}"
            time.sleep(0.2)
        judged = time.monotonic() - stopped
        assert lost[0].data["action"] == "callback", lost
        callback = lost[0].data["callback"]
        a.proc.send_signal(signal.SIGCONT)
        paused = False
        result = call.wait(60)  # told, then hung up by Hotline
        assert result.ok, f"{result.output}\n{cluster.logs()}"
        told = time.monotonic() - stopped
        _, events = asyncio.run(_contacts_of(cluster.url, [number]))[number]
        booked = [e for e in events if e.type == "queue.callback"]
        assert [e.data.get("by") for e in booked] == ["node_lost"], events
        assert booked[0].data["callback"] == callback
        presence(b, "unpause")
        row, cb_events = wait_done(cluster, callback, timeout=60)
        assert row.state == "completed", (row, cluster.logs())
        assert [e.data["attempt"] for e in dials(cb_events)] == [1]
        assert invites(customer) == 1
        handed = [e for e in cb_events if e.type == "callback.handed"]
        assert [cluster.worker_named(e.data["worker"]) for e in handed] == ["b"]
        print(
            f"\nworker a frozen (SIGSTOP) with a caller waiting: node a taken for lost "
            f"{judged:.1f} s after (node_lost_after 4 s), the caller booked a callback at "
            f"its place; a resumed, the caller told and hung up {told:.1f} s after the "
            "pause; the callback dialed once by worker b, completed"
        )
    finally:
        if paused:
            a.proc.send_signal(signal.SIGCONT)
        api_post(b, "/api/agents/carol/unpause", {})
        carol.stop()
        customer.stop()
        if call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
            call.proc.communicate()


def test_the_worker_dialing_killed_mid_call_the_other_dials_it_again(cluster: Cluster) -> None:
    leader = cluster.candidates.get("b") or cluster.candidate("b")
    leader.wait_for(f"{leader.name} is the leader (epoch")
    if not cluster.workers:
        cluster.start_workers()
    # The customer's first call talks on (it is cut by the kill), the second TALK s.
    carol, customer = cluster.phones(calls=2, first_talk=60)
    try:
        contact = asyncio.run(_book(cluster.url, "54003"))
        deadline = time.monotonic() + 30
        while invites(customer) < 1:  # the customer is dialed ...
            assert time.monotonic() < deadline, f"customer never dialed\n{cluster.logs()}"
            time.sleep(0.1)
        time.sleep(1.5)  # ... answers and talks with carol: kill -9 that node
        _, events = callback_state(cluster, contact)
        handed = [e for e in events if e.type == "callback.handed"]
        first = cluster.worker_named(handed[-1].data["worker"])
        other = "b" if first == "a" else "a"
        node = cluster.workers[first]
        pid = int((node.instance_dir() / "run/asterisk.pid").read_text().strip())
        # The whole node dies, its worker first: it cannot say anything more, so the
        # leader judges the call lost when the node goes silent (a worker that outlives
        # its Asterisk says so itself: tests/unit/cluster/test_callback_cut.py).
        node.proc.kill()
        os.kill(pid, signal.SIGKILL)
        killed = datetime.now(UTC)
        cluster.killed.add(first)
        row, events = wait_done(cluster, contact, timeout=60)
        assert row.state == "completed", (row, cluster.logs())
        assert row.attempts == 2, row  # the interrupted attempt counts
        assert (invites(carol), invites(customer)) == (2, 2), cluster.logs()
        handed = [e for e in events if e.type == "callback.handed"]
        assert [cluster.worker_named(e.data["worker"]) for e in handed] == [first, other]
        assert handed[1].data["why"] == f"its worker {handed[0].data['worker']} is lost"
        lost = [e for e in events if e.type == "routing.node_lost"]
        said = [(e.data["action"], e.data["agent"], e.data["reason"]) for e in lost]
        assert said == [("redial", "carol", "node_lost")], history(events)
        again = dials(events)
        assert [e.data["attempt"] for e in again] == [1, 2]
        redialed = (again[1].ts - lost[0].ts).total_seconds()
        detected = (lost[0].ts - killed).total_seconds()
        print(
            f"\nthe worker dialing a callback killed mid-call: declared lost {detected:.1f} s "
            f"after the kill (node_lost_after 4 s), the customer dialed again by worker "
            f"{other} {redialed:.1f} s later (attempt 2; carol's phone and the whisper "
            "first), completed"
        )
    finally:
        carol.stop()
        customer.stop()
