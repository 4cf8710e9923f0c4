"""Beyond one box (issue 20): a routing leader and its hot standby (`hotline routing`)
and one call worker (`hotline run` with `routing.mode: remote`: a real Asterisk and
the voice adapter), on a PostgreSQL and a nats-server the tests start on free loopback
ports. SIPp callers dial the worker's Asterisk; carol's phone is a SIPp UAS on her
fixed contact. The leader decides, the worker rings and bridges.

- one caller served through leader -> NATS -> worker (they talked: the time the caller
  was bridged with carol, from the log);
- SIGSTOP the leader past its lease while callers wait and carol talks: the standby
  takes over, and every caller is served, in their original order, none lost, no
  routing event of the old epoch after the new one's first, no offer of the old epoch
  answered after it; the resumed leader exits and writes nothing more (kill -9 of the
  leader while callers wait: tests/e2e/test_edge.py, under steady calls);
- the call worker killed and restarted, NATS restarted, an offer ringing when the
  leader dies: nobody lost;
- NATS down at the worker's start: `hotline run` exits with the reason.

    .venv/bin/pytest -s -p no:randomly -n 0 tests/e2e/test_cluster_worker.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from controller.routing_node import EXIT_LOST
from hotline.store import LoggedEvent, Store
from hotline.store.records import Contact
from tests import pg
from tests.e2e.cluster_nodes import bus_and_database, stop_all, worker_config

# Re-exported: other modules (test_cluster_recordings, test_web_tier, bench_cluster)
# import them from here, where they were before tests/e2e/cluster_nodes.py.
from tests.e2e.cluster_nodes import migrate as migrate
from tests.e2e.cluster_nodes import stop_worker as stop_worker
from tests.e2e.conftest import RunningHotline, left_in, spawn, wait_ready
from tests.e2e.ports import free_port
from tests.e2e.sipp import ExpectHangup, SippCall, finish_sipp, start_sipp
from tests.e2e.sipp_uas import ANSWER, HEAD, KEEP, REPLY, RING_OUT, TransferTarget
from tests.e2e.test_leader_failover import LEASE, STOP_BOUND, Candidate
from tests.nats import NatsServer

pg_server = pg.pg_server

pytestmark = [pytest.mark.e2e, pytest.mark.pg]

#: The least time in conversation that counts as having talked (as the load guard's).
TALKED = 1.0


class Cluster:
    """The module's NATS, database and worker; each test starts its own candidates."""

    def __init__(self, workdir: Path, nats: NatsServer, url: str, config: Path) -> None:
        self.workdir = workdir
        self.nats = nats
        self.url = url
        self.config = config
        self.worker: RunningHotline | None = None
        self.carol_port = 0
        self.candidates: list[Candidate] = []

    def candidate(self, name: str) -> Candidate:
        self.candidates.append(Candidate(self.config, name, self.workdir / f"{name}.log"))
        return self.candidates[-1]

    @property
    def running(self) -> RunningHotline:
        assert self.worker is not None
        return self.worker

    def carol(self, calls: int, talk: float, first_talk: float | None = None) -> TransferTarget:
        """carol's phone: answers `calls` calls, talks `talk` s in each (the first:
        `first_talk`, when given) and hangs up."""
        return TransferTarget(
            self.workdir / "phones",
            "answer",
            self.carol_port,
            ring=0.5,
            talk=talk,
            calls=calls,
            first_talk=first_talk,
        ).start()

    def caller(self, number: str) -> SippCall:
        sipp = SippCall(
            self.workdir / "sipp", self.running.sip_port, "304", number, [ExpectHangup(60)]
        )
        return sipp.start()

    def callers(self, numbers: list[str]) -> list[SippCall]:
        """One caller a number, 0.6 s apart (so their order in the queue is theirs)."""
        calls = []
        for number in numbers:
            calls.append(self.caller(number))
            time.sleep(0.6)
        return calls

    def all_done(self, calls: list[SippCall], carol: TransferTarget) -> None:
        """Every caller's SIPp and carol's phone ended well."""
        for call in calls:
            result = call.wait(90)
            assert result.ok, f"{result.output}\n{self.logs()}"
        assert carol.wait_done().ok

    def logs(self) -> str:
        events = asyncio.run(_all_events(self.url))[-60:]
        said = "\n".join(f"{e.id} {e.contact_id} {e.type} {e.agent} {e.data}" for e in events)
        parts = [f"--- events\n{said}"]
        parts += [f"--- {c.name}\n{c.text()[-3000:]}" for c in self.candidates]
        return "\n".join([*parts, f"--- worker\n{self.running.log_tail(80)}"])


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, pg_server: pg.PostgresServer
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    with bus_and_database(workdir, pg_server) as (nats, url):
        carol_port = free_port("udp", seconds=900)
        config = worker_config(workdir, url, nats.url, carol_port, f"cl-{os.getpid()}")
        path = workdir / "hotline.yaml"
        path.write_text(yaml.safe_dump(config))
        cluster = Cluster(workdir, nats, url, path)
        cluster.carol_port = carol_port
        try:
            yield cluster
        finally:
            stop_all([cluster.worker] if cluster.worker else [], cluster.candidates)


def start_worker(cluster: Cluster) -> RunningHotline:
    if cluster.worker is None:
        config = yaml.safe_load(cluster.config.read_text())
        cluster.worker = spawn(config, cluster.workdir, log_name="worker")
        wait_ready(cluster.worker)
    return cluster.worker


@pytest.fixture
def leak_check(cluster: Cluster) -> Iterator[None]:
    """After the test: no channel or bridge left in the worker's Asterisk; the leaders
    and standbys the test started are ended (one left by a failed test would lead the
    next test's, and fail it too)."""
    started = len(cluster.candidates)
    yield
    try:
        no_channels_left(cluster)
    finally:
        for candidate in cluster.candidates[started:]:
            candidate.end()


def no_channels_left(cluster: Cluster) -> None:
    if cluster.worker is None or cluster.worker.proc.poll() is not None:
        return
    deadline = time.monotonic() + 10
    left: tuple[object, object] = (None, None)
    while time.monotonic() < deadline:
        left = left_in(cluster.worker.ari)
        if left == ([], []):
            return
        time.sleep(0.2)
    pytest.fail(f"left in Asterisk: channels={left[0]} bridges={left[1]}")


async def _contacts(url: str, numbers: list[str]) -> dict[str, tuple[Contact, list[LoggedEvent]]]:
    store = await Store.connect(url)
    try:
        found: dict[str, tuple[Contact, list[LoggedEvent]]] = {}
        for contact in await store.recent_contacts(500):
            if contact.source in numbers and contact.source not in found:
                found[contact.source] = (contact, await store.events(contact.id))
        return found
    finally:
        await store.close()


def ended_contacts(
    cluster: Cluster, numbers: list[str], timeout: float = 15
) -> dict[str, tuple[Contact, list[LoggedEvent]]]:
    """Each caller's ended contact and its events, from the shared PostgreSQL."""
    deadline = time.monotonic() + timeout
    while True:
        found = asyncio.run(_contacts(cluster.url, numbers))
        if len(found) == len(numbers) and all(c.ended_at for c, _ in found.values()):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not all of {numbers} ended: {found}\n{cluster.logs()}")
        time.sleep(0.2)


def talked(events: list[LoggedEvent]) -> float:
    """Seconds the caller was connected to the agent (queue.connected to its end)."""
    start = next(e.ts for e in events if e.type == "queue.connected")
    end = next(e.ts for e in events if e.type == "queue.call_ended")
    return (end - start).total_seconds()


def served_in_order(
    cluster: Cluster, numbers: list[str]
) -> dict[str, tuple[Contact, list[LoggedEvent]]]:
    """Each caller's contact (and events), once all ended: completed, connected once
    to carol, talked, and connected in the order they joined the queue (they call 0.6 s
    apart, but on a loaded box one caller's way through the flow can take longer)."""
    found = ended_contacts(cluster, numbers)
    joined, connected = [], []
    for number in numbers:
        contact, events = found[number]
        assert contact.status == "completed", (number, contact.status, cluster.logs())
        (link,) = [e for e in events if e.type == "queue.connected"]
        assert link.data["agent"] == "carol", (number, link)
        assert talked(events) >= TALKED, (number, events)
        joined.append(next(e.id for e in events if e.type == "contact.join"))
        connected.append(link.id)
    in_queue = [n for _, n in sorted(zip(joined, numbers, strict=True))]
    served = [n for _, n in sorted(zip(connected, numbers, strict=True))]
    assert served == in_queue, f"served out of their order: {served}, joined {in_queue}"
    return found


async def _all_events(url: str) -> list[LoggedEvent]:
    store = await Store.connect(url)
    try:
        return await store.events_between(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    finally:
        await store.close()


def test_one_caller_is_served_through_the_leader_and_the_bus(
    cluster: Cluster, leak_check: None
) -> None:
    a = cluster.candidate("a")
    a.wait_for("a is the leader (epoch")
    started = time.monotonic()
    worker = start_worker(cluster)
    print(f"\nworker ready in {time.monotonic() - started:.1f} s")
    assert "call worker of leader a" in worker.log.read_text()
    carol = cluster.carol(calls=1, talk=2.0)
    cluster.all_done(cluster.callers(["5552001"]), carol)

    (_, events) = served_in_order(cluster, ["5552001"])["5552001"]
    offers = [e for e in events if e.type == "contact.offer"]
    assert [o.agent for o in offers] == ["carol"]
    epoch = int(offers[0].data["epoch"])
    assert "INVITE sip:2001@" in carol.messages()
    # The routing events are the leader's (with its epoch), the call's the worker's.
    assert all(int(e.data["epoch"]) == epoch for e in events if e.type.startswith("agent."))
    print(f"one caller through the bus: talked {talked(events):.2f} s, epoch {epoch}")
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0


def assert_fenced(cluster: Cluster) -> tuple[int, int]:
    """The last two epochs: nothing of the older written after the newer's first."""
    routing = [e for e in asyncio.run(_all_events(cluster.url)) if "epoch" in e.data]
    epochs = sorted({int(e.data["epoch"]) for e in routing})
    old, new = epochs[-2], epochs[-1]
    first_new = min(e.id for e in routing if int(e.data["epoch"]) == new)
    late = [e for e in routing if int(e.data["epoch"]) == old and e.id > first_new]
    assert not late, late
    return old, new


def test_sigstop_the_leader_past_its_lease_then_sigcont_the_standby_serves_all(
    cluster: Cluster, leak_check: None
) -> None:
    """The leader is paused while carol talks and two callers wait: the standby leads
    once the lease has run out (within STOP_BOUND), carol's hang-up is asked of the
    paused leader (no answer), retried, and answered by the standby once it leads; the
    resumed leader (its writes due since) exits EXIT_LOST, having lost leadership, and
    writes nothing more. (Holds what test_leader_failover.py's SIGSTOP test proved.)"""
    a = cluster.candidate("a3")
    a.wait_for("a3 is the leader (epoch")
    b = cluster.candidate("b3")
    b.wait_for("b3 is a standby: a3 leads it")
    worker = start_worker(cluster)
    numbers = ["5552201", "5552202", "5552203"]
    carol = cluster.carol(calls=len(numbers), talk=2.0)
    calls = cluster.callers(numbers)
    paused = time.monotonic()
    a.proc.send_signal(signal.SIGSTOP)
    led = b.wait_for("b3 is the leader (epoch", timeout=LEASE + 8)
    b.wait_for("took over 2 waiting and 1 talking contacts")
    cluster.all_done(calls, carol)
    # The lease runs from the last heartbeat, up to a quarter lease before the pause.
    assert 0.7 * LEASE < led - paused < STOP_BOUND, f"standby led {led - paused:.2f} s after"
    a.proc.send_signal(signal.SIGCONT)
    assert a.proc.wait(10) == EXIT_LOST, a.text()
    assert "lost leadership (epoch" in a.text()

    found = served_in_order(cluster, numbers)
    # The resumed leader has exited (above): nothing it wrote can be committed later.
    old, new = assert_fenced(cluster)
    for number in numbers[1:]:
        accepts = [e for e in found[number][1] if e.type == "agent.accept"]
        assert [int(e.data["epoch"]) for e in accepts] == [new], (number, accepts)
    assert f"epoch {new} follows {old}" in worker.log.read_text()
    print(
        f"\nSIGSTOP of the leader: standby leads after {led - paused:.2f} s (lease {LEASE} s); "
        f"{len(numbers)} callers offered, {len(numbers)} completed, 0 lost, 0 out of order"
    )
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(10) == 0


def test_a_killed_worker_restarted_gets_its_callers_back_from_the_leader(
    cluster: Cluster, leak_check: None
) -> None:
    """kill -9 the call worker while carol talks and two callers wait (its Asterisk
    keeps them): the leader keeps their places; the restarted worker takes its calls
    over (ari_app/recovery.py) and attaches them to the leader's tickets; all are
    served in order."""
    a = cluster.candidate("a4")
    a.wait_for("a4 is the leader (epoch")
    worker = start_worker(cluster)
    numbers = ["5552301", "5552302", "5552303"]
    carol = cluster.carol(calls=len(numbers), talk=3.0)
    calls = cluster.callers(numbers)
    killed = time.monotonic()
    worker.proc.kill()
    worker.proc.wait(10)
    config = yaml.safe_load(cluster.config.read_text())
    cluster.worker = spawn(config, cluster.workdir, log_name="worker-restarted")
    wait_ready(cluster.worker)
    back = time.monotonic()
    cluster.all_done(calls, carol)

    found = served_in_order(cluster, numbers)
    # One join each: the restarted worker attached to the leader's tickets.
    for number in numbers:
        joins = [e for e in found[number][1] if e.type == "contact.join"]
        assert len(joins) == 1, (number, joins)
    print(
        f"\nkill -9 of the call worker: back (ARI connected) {back - killed:.2f} s after; "
        f"{len(numbers)} callers offered, {len(numbers)} completed, 0 lost, 0 out of order"
    )
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0


def test_nats_restarted_while_callers_wait_nothing_is_lost(
    cluster: Cluster, leak_check: None
) -> None:
    """nats-server dies for two seconds while carol talks and two callers wait: the
    calls go on in Asterisk; the leader and the worker reconnect, the worker catches
    up (sync) and every caller is served, in order."""
    a = cluster.candidate("a5")
    a.wait_for("a5 is the leader (epoch")
    worker = start_worker(cluster)
    numbers = ["5552401", "5552402", "5552403"]
    carol = cluster.carol(calls=len(numbers), talk=2.5)
    calls = cluster.callers(numbers)
    cluster.nats.stop()
    down = time.monotonic()
    time.sleep(2.0)
    cluster.nats.start()
    cluster.all_done(calls, carol)
    served_in_order(cluster, numbers)
    said = worker.log.read_text()
    assert "NATS: reconnected" in said and "caught up with the leader" in said
    print(
        f"\nnats-server down 2 s while callers waited and carol talked: all served "
        f"{time.monotonic() - down:.1f} s after it went down; {len(numbers)} callers "
        f"offered, {len(numbers)} completed, 0 lost, 0 out of order"
    )
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0


#: carol's phone for an offer in flight: it rings; a CANCEL within RING_FOR seconds ends
#: that call (487), else it answers and hangs up after TALK_FOR seconds.
RING_FOR, TALK_FOR = 3.5, 2.0


def ring_then_answer_scenario() -> str:
    keep = "".join(
        f'      <ereg regexp={KEEP[name]} assign_to="{name}"/>\n'
        for name in ("remote_from", "invite_via", "invite_to", "invite_cseq", "invite_contact")
    )
    wait_ms = int(RING_FOR * 1000)
    cancelled = RING_OUT.format(wait_ms=wait_ms).replace(
        f'<recv request="CANCEL" timeout="{wait_ms}"/>',
        f'<recv request="CANCEL" timeout="{wait_ms}" ontimeout="answer"/>',
    )
    return "".join(
        [
            HEAD.format(behaviour="ring, then answer unless cancelled", keep=keep),
            REPLY.format(status="180 Ringing"),
            cancelled,
            '  <nop next="done"/>\n  <label id="answer"/>\n',
            ANSWER.format(ring_ms=0, talk_ms=int(TALK_FOR * 1000)),
            '  <label id="done"/>\n</scenario>\n',
        ]
    )


def test_an_offer_ringing_when_the_leader_dies_is_withdrawn_and_made_again(
    cluster: Cluster, leak_check: None
) -> None:
    """carol's phone rings for the leader's offer when it is killed: the worker, told
    the new epoch, stops that ring (CANCEL); the standby, which took the caller over at
    its place, offers it again under its epoch; carol answers that one."""
    a = cluster.candidate("a6")
    a.wait_for("a6 is the leader (epoch")
    b = cluster.candidate("b6")
    b.wait_for("b6 is a standby: a6 leads it")
    start_worker(cluster)
    phone_dir = cluster.workdir / "phones" / "ring-then-answer"
    phone_dir.mkdir(parents=True, exist_ok=True)
    (phone_dir / "uas.xml").write_text(ring_then_answer_scenario())
    carol = start_sipp(
        ["-sf", str(phone_dir / "uas.xml"), "-p", str(cluster.carol_port), "-m", "2"],
        phone_dir,
    )
    call = cluster.caller("5552501")
    messages = phone_dir / "messages.log"
    deadline = time.monotonic() + 20
    while "INVITE sip:" not in (messages.read_text(errors="replace") if messages.exists() else ""):
        assert time.monotonic() < deadline, f"carol's phone never rang\n{cluster.logs()}"
        time.sleep(0.05)
    time.sleep(0.5)
    a.proc.kill()
    b.wait_for("b6 is the leader (epoch", timeout=10)
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{cluster.logs()}"
    assert finish_sipp(carol, phone_dir, 30).ok, messages.read_text(errors="replace")

    sip = messages.read_text(errors="replace")
    assert sip.count("INVITE sip:") == 2 and "CANCEL sip:" in sip, sip
    (contact, events) = ended_contacts(cluster, ["5552501"])["5552501"]
    assert contact.status == "completed"
    _, new = assert_fenced(cluster)
    offers = [int(e.data["epoch"]) for e in events if e.type == "contact.offer"]
    accepts = [int(e.data["epoch"]) for e in events if e.type == "agent.accept"]
    assert offers == [new - 1, new] and accepts == [new], events
    assert talked(events) >= TALKED
    print(
        f"\nan offer ringing at the kill: withdrawn (CANCEL), made again under epoch {new}, "
        f"answered; talked {talked(events):.2f} s"
    )
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(10) == 0


def test_nats_down_at_the_workers_start_is_a_clear_error(cluster: Cluster) -> None:
    down = f"nats://127.0.0.1:{free_port()}"
    workdir = cluster.workdir / "down"
    workdir.mkdir()
    config = worker_config(workdir, cluster.url, down, free_port("udp"), f"cld-{os.getpid()}")
    worker = spawn(config, workdir, log_name="worker-down")
    try:
        assert worker.proc.wait(60) == 2
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()
        subprocess.run(["rm", "-rf", str(worker.instance_dir())], check=False)
    text = worker.log.read_text()
    assert f"hotline: cannot reach NATS at {down} within 5 s" in text, text
