"""Failures under a steady SIPp load in the two-node topology (issue 20), with counts.

The topology of tests/e2e/test_edge.py (Kamailio on 127.0.0.4, two call workers with
their Asterisk on 127.0.0.2 and 127.0.0.3, a routing leader and its hot standby,
PostgreSQL, nats-server), with eight agents whose SIPp phones register at the edge and
answer every call (ringing 0.3 s, talking TALK s). SIPp callers dial the edge every GAP
seconds, from BEFORE seconds before each failure to AFTER seconds after it; the leader
declares a node silent for 15 s lost (`routing.node_lost_after`'s default); each
failure in turn:

1. the routing leader killed (SIGKILL): the standby leads;
2. the new leader paused (SIGSTOP) past its lease, then SIGCONT: the standby leads,
   the old one exits 4;
3. node a's call worker killed (SIGKILL) and started again: its Asterisk keeps the
   calls, the new worker takes them over;
4. Kamailio restarted (SIGTERM, started again);
5. node b killed whole (kill -9 of its Asterisk and its call worker).

For each: callers offered (started), completed (talked to an agent for TALKED s or
more, and the flow ended the call), lost (with why, from the log), served out of order
(pairs of callers offered the other way round from their arrival in the queue: must be
0), and the figures of the failure (takeover, back, failover times). Nothing of an old
epoch is written after the new one's first event; no agent is rung under the old epoch
after it.

Marked `bench` (about 3 minutes; `make bench` runs it, `make test` does not):

    .venv/bin/pytest -s -p no:randomly -n 0 -m bench tests/e2e/test_edge_failover.py
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hotline.store import LoggedEvent
from tests import pg
from tests.e2e.conftest import spawn, wait_ready
from tests.e2e.ports import free_port
from tests.e2e.sipp import SippCall
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_cluster_worker import TALKED, _all_events, _contacts, talked
from tests.e2e.test_edge import (
    CAROL,
    NODE_A,
    NODE_B,
    EdgeCluster,
    _callbacks,
    edge_topology,
    node_of,
    phone,
    post,
    register,
    wait_reachable,
)
from tests.e2e.test_leader_failover import LEASE, Candidate

pg_server = pg.pg_server

pytestmark = [pytest.mark.e2e, pytest.mark.pg, pytest.mark.bench]

#: Seconds between two callers (2 calls a second), how long an agent talks.
GAP, TALK = 0.5, 2.0
#: Seconds of load before each failure, and after it (the failure's own time counts).
BEFORE, AFTER = 3.0, 10.0
#: The agents besides carol (2001): their phones' endpoints 2002..2008.
AGENTS = [
    {"id": f"agent{n}", "name": f"Agent {n}", "endpoint": f"200{n}", "queues": ["e2e_fifo"]}
    for n in range(2, 9)
]


@dataclass
class Phones:
    """The agents' SIPp phones, registered at the edge."""

    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, pg_server: pg.PostgresServer
) -> Iterator[EdgeCluster]:
    # A node is lost after 15 s of silence (the default): a worker killed and started
    # again is back well before (test 3); test 5's node loss is handled 15 s after it.
    workdir = tmp_path_factory.mktemp("edge-load")
    with edge_topology(workdir, pg_server, AGENTS, node_lost_after=15) as running:
        phones = Phones()
        try:
            for endpoint, port in [(CAROL, running.phone_port)] + [
                (str(a["endpoint"]), free_port("udp", seconds=900)) for a in AGENTS
            ]:
                proc, workdir = phone(running, 1000, TALK, port=port, seconds=900)
                phones.procs.append(proc)
                phones.dirs.append(workdir)
                assert register(running, endpoint, running.edge.password(endpoint), port=port).ok
            for endpoint in [CAROL] + [str(a["endpoint"]) for a in AGENTS]:
                wait_reachable(running, endpoint=endpoint, timeout=30)
            yield running
        finally:
            phones.stop()


@dataclass
class Caller:
    number: str
    call: SippCall
    started: float


class Load:
    """SIPp callers dialing the edge every GAP seconds, in a thread of their own."""

    def __init__(self, cluster: EdgeCluster, prefix: str) -> None:
        self.cluster = cluster
        self.prefix = prefix
        self.callers: list[Caller] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"load-{prefix}", daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            number = f"{self.prefix}{n:03d}"
            self.callers.append(Caller(number, self.cluster.caller(number), time.monotonic()))
            n += 1
            next_at += GAP
            self._stop.wait(max(0.0, next_at - time.monotonic()))


@dataclass
class Counts:
    offered: int
    completed: int
    lost: dict[str, str]
    out_of_order: int
    nodes: dict[str, int]
    #: The numbers completed.
    done: set[str] = field(default_factory=set)


def counts(cluster: EdgeCluster, callers: list[Caller], timeout: float = 40) -> Counts:
    """Once every caller's SIPp has ended and its contact is closed: the counts."""
    numbers = [c.number for c in callers]
    results = {c.number: c.call.wait(120) for c in callers}
    deadline = time.monotonic() + timeout
    while True:
        found = asyncio.run(_contacts(cluster.url, numbers))
        if all(n in found and found[n][0].ended_at for n in numbers):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    completed, lost, done = 0, {}, set()
    order: list[tuple[int, int]] = []
    nodes: dict[str, int] = {}
    for caller in callers:
        number = caller.number
        if number not in found:
            lost[number] = f"no contact: {final_answer(caller.call)}"
            continue
        contact, events = found[number]
        node = str(contact.asterisk_node or "?").rsplit("/", 1)[-1]
        nodes[node] = nodes.get(node, 0) + 1
        types = [e.type for e in events]
        if (
            results[number].ok
            and contact.status == "completed"
            and "queue.connected" in types
            and "queue.call_ended" in types
            and talked(events) >= TALKED
        ):
            completed += 1
            done.add(number)
        else:
            lost[number] = why_lost(contact, events, results[number].ok)
        joins = [e.id for e in events if e.type == "contact.join"]
        offers = [e.id for e in events if e.type == "contact.offer"]
        if joins and offers:
            order.append((joins[0], offers[0]))
    order.sort()
    out_of_order = sum(1 for i, a in enumerate(order) for b in order[i + 1 :] if b[1] < a[1])
    return Counts(len(callers), completed, lost, out_of_order, nodes, done)


def final_answer(call: SippCall) -> str:
    """The last final SIP answer a caller got to its INVITE (or that it got none)."""
    messages = call.workdir / "messages.log"
    text = messages.read_text(errors="replace") if messages.exists() else ""
    answers = re.findall(r"^SIP/2.0 ([3-6]\d\d [^\r\n]*)\n(?:.*\n)*?CSeq: \d+ INVITE", text, re.M)
    return f"refused ({answers[-1].strip()})" if answers else "no final answer"


def why_lost(contact: Any, events: list[LoggedEvent], sipp_ok: bool) -> str:
    """Why a caller did not complete, from its log."""
    lost = [e for e in events if e.type == "routing.node_lost"]
    if lost:
        data = lost[0].data
        return f"its node was lost ({data.get('action')})"
    types = [e.type for e in events]
    if "queue.connected" not in types:
        return f"never connected (status {contact.status}, SIPp ok {sipp_ok})"
    if contact.status == "active":
        return "talked, then its contact was left open (no end logged)"
    return f"connected but status {contact.status}, SIPp ok {sipp_ok}"


def fenced(cluster: EdgeCluster, since: int) -> tuple[int, int]:
    """The last two epochs; asserts nothing of the older after the newer's first event,
    and no agent rung or accepting under the older after it."""
    events = [e for e in asyncio.run(_all_events(cluster.url)) if e.id > since]
    routing = [e for e in events if "epoch" in e.data]
    epochs = sorted({int(e.data["epoch"]) for e in routing})
    old, new = epochs[-2], epochs[-1]
    first_new = min(e.id for e in routing if int(e.data["epoch"]) == new)
    late = [e for e in routing if e.id > first_new and int(e.data["epoch"]) == old]
    assert not late, late
    rung = [e for e in routing if e.id > first_new and e.type in ("agent.ring", "agent.accept")]
    assert all(int(e.data["epoch"]) == new for e in rung), rung
    return old, new


def first_offer_after(cluster: EdgeCluster, wall: float, epoch: int) -> float:
    """Seconds from `wall` (time.time()) to the first offer of `epoch` in the log."""
    offers = [
        e
        for e in asyncio.run(_all_events(cluster.url))
        if e.type == "contact.offer" and e.data.get("epoch") == epoch
    ]
    assert offers, f"no offer of epoch {epoch}"
    return min(e.ts.timestamp() for e in offers) - wall


def last_event_id(cluster: EdgeCluster) -> int:
    events = asyncio.run(_all_events(cluster.url))
    return events[-1].id if events else 0


RESULTS: list[tuple[str, Counts, str]] = []


def under_load(cluster: EdgeCluster, name: str, prefix: str, failure: Callable[[], str]) -> Counts:
    """Callers every GAP s from BEFORE s before `failure` to AFTER s after it began;
    the counts once all have ended, printed with the failure's figures."""
    with Load(cluster, prefix) as load:
        time.sleep(BEFORE)
        began = time.monotonic()
        figures = failure()
        time.sleep(max(0.0, AFTER - (time.monotonic() - began)))
    result = counts(cluster, load.callers)
    RESULTS.append((name, result, figures))
    print(
        f"\n{name}: {result.offered} offered, {result.completed} completed, "
        f"{len(result.lost)} lost {sorted(set(result.lost.values()))}, "
        f"{result.out_of_order} out of order; per node {result.nodes}; {figures}"
    )
    return result


def promote(cluster: EdgeCluster, name: str) -> None:
    """The standby leads now: it becomes the leader, and a new standby waits."""
    assert cluster.leader is not None and cluster.standby is not None
    cluster.fallen.append(cluster.leader)
    cluster.leader = cluster.standby
    cluster.standby = Candidate(cluster.edge.config, name, cluster.workdir / f"{name}.log")
    cluster.standby.wait_for(f"{name} is a standby: {cluster.leader.name} leads it")


def test_1_leader_killed_under_load(cluster: EdgeCluster) -> None:
    since = last_event_id(cluster)
    marks: dict[str, float] = {}

    def kill() -> str:
        assert cluster.leader is not None and cluster.standby is not None
        marks["wall"], killed = time.time(), time.monotonic()
        cluster.leader.proc.kill()
        led = cluster.standby.wait_for(f"{cluster.standby.name} is the leader (epoch", 15)
        return f"standby leads {led - killed:.2f} s after the kill"

    result = under_load(cluster, "leader killed (SIGKILL)", "55561", kill)
    old, new = fenced(cluster, since)
    offered = first_offer_after(cluster, marks["wall"], new)
    RESULTS[-1] = (*RESULTS[-1][:2], f"{RESULTS[-1][2]}; first offer by it {offered:.2f} s")
    print(f"first offer of epoch {new} {offered:.2f} s after the kill; epochs {old} -> {new}")
    promote(cluster, "standby2")
    assert not result.lost, (result.lost, cluster.logs())
    assert result.out_of_order == 0


def test_2_leader_paused_past_its_lease_then_resumed(cluster: EdgeCluster) -> None:
    since = last_event_id(cluster)

    def pause() -> str:
        assert cluster.leader is not None and cluster.standby is not None
        paused = time.monotonic()
        cluster.leader.proc.send_signal(signal.SIGSTOP)
        led = cluster.standby.wait_for(f"{cluster.standby.name} is the leader (epoch", LEASE + 10)
        cluster.leader.proc.send_signal(signal.SIGCONT)
        code = cluster.leader.proc.wait(15)
        assert code == 4, cluster.leader.text()[-2000:]
        return (
            f"standby leads {led - paused:.2f} s after the pause (lease {LEASE} s); "
            f"the resumed leader exited {code}"
        )

    result = under_load(
        cluster, "leader paused (SIGSTOP) past its lease, then SIGCONT", "55562", pause
    )
    time.sleep(1.0)  # whatever the resumed leader still had would be in by now
    fenced(cluster, since)
    promote(cluster, "standby3")
    assert not result.lost, (result.lost, cluster.logs())
    assert result.out_of_order == 0


def test_3_a_call_worker_killed_and_started_again(cluster: EdgeCluster) -> None:
    def kill() -> str:
        node = cluster.nodes["a"]
        killed = time.monotonic()
        node.proc.kill()
        node.proc.wait(10)
        cluster.nodes["a"] = spawn(node.config, node.workdir, log_name="worker-restarted")
        wait_ready(cluster.nodes["a"])
        return f"node a's worker back (ready) {time.monotonic() - killed:.2f} s after the kill"

    seen = len(cluster.edge.text())
    result = under_load(
        cluster, "call worker of node a killed (SIGKILL), started again", "55563", kill
    )
    refused = [line for line in cluster.edge.text()[seen:].splitlines() if "answered 503" in line]
    name, counted, figures = RESULTS[-1]
    figures += f"; {len(refused)} calls refused 503 by node a meanwhile, failed over to b"
    RESULTS[-1] = (name, counted, figures)
    print(f"the edge: {len(refused)} calls refused 503 by node a, failed over to b")
    assert result.out_of_order == 0
    # Every call node a held (talking, waiting) is carried on by the restarted worker. A
    # new call the edge sends to node a while no worker serves its Stasis app is
    # refused there with 503 (the dialplan, on STASISSTATUS FAILED) and the edge tries
    # node b: none is lost.
    assert not result.lost, (result.lost, cluster.logs())


def test_4_kamailio_restarted(cluster: EdgeCluster) -> None:
    def restart() -> str:
        stopped = time.monotonic()
        cluster.edge.stop()
        cluster.edge.start()
        return f"the edge answered again {time.monotonic() - stopped:.2f} s after the stop"

    result = under_load(cluster, "Kamailio restarted", "55564", restart)
    assert result.out_of_order == 0
    assert not result.lost, (result.lost, cluster.logs())


def test_5_a_node_killed_whole(cluster: EdgeCluster) -> None:
    """kill -9 of node b's Asterisk and its worker: its calls are lost (talking: ended;
    waiting: booked as callbacks at their place, dialed by node a to the "customer"
    phone); new calls go to node a (failed over by the edge, then the probe marks b
    down)."""
    customer = TransferTarget(
        cluster.workdir, "answer_until_hangup", cluster.customer_port, ring=0.3, talk=3, calls=40
    ).start()
    marks: dict[str, float] = {}

    def kill() -> str:
        # Callers queue up on both nodes first: six of the eight agents pause 2 s before.
        for agent in AGENTS[1:]:
            status, body = post(cluster.nodes["a"], f"/api/agents/{agent['id']}/pause", {})
            assert status == 200, body
        time.sleep(2.0)
        node = cluster.nodes["b"]
        pid = int((node.instance_dir() / "run/asterisk.pid").read_text().strip())
        marks["killed"] = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        node.proc.kill()
        cluster.killed.add("b")
        for agent in AGENTS[1:]:
            status, body = post(cluster.nodes["a"], f"/api/agents/{agent['id']}/unpause", {})
            assert status == 200, body
        return "node b's Asterisk and call worker killed"

    try:
        with Load(cluster, "55565") as load:
            time.sleep(BEFORE - 2.0)
            figures = kill()
            time.sleep(AFTER)
        # Callers that were on b hear nothing more (no BYE): end their SIPp.
        for caller in load.callers:
            if node_landed(caller) == NODE_B and caller.call.proc is not None:
                caller.call.proc.kill()
        result = counts(cluster, load.callers)
        time.sleep(8)  # the callbacks booked for b's waiting callers are dialed by a
        callbacks = [c for c in asyncio.run(_callbacks(cluster.url)) if c.source == "node_lost"]
    finally:
        customer.stop()
    later = [c for c in load.callers if c.started >= marks["killed"]]
    done_later = [c for c in later if c.number in result.done]
    first = min((c.started - marks["killed"] for c in done_later), default=None)
    figures += (
        f"; {len(later)} callers after the kill, {len(done_later)} completed, all on node a"
        f"; the first of them called {first:.2f} s after the kill"
        if first is not None
        else "; no caller after the kill completed"
    )
    figures += f"; callbacks booked for b's waiting callers: {len(callbacks)} " + (
        f"({', '.join(sorted(c.state for c in callbacks))})" if callbacks else ""
    )
    assert cluster.leader is not None
    said = re.findall(r"node \S+ lost \(node_lost\): ([^\n]+)", cluster.leader.text())
    figures += f"; the leader: {said[-1] if said else 'no node lost'}"
    RESULTS.append(("an Asterisk node killed (its Asterisk and worker)", result, figures))
    print(
        f"\nnode b killed: {result.offered} offered, {result.completed} completed, "
        f"{len(result.lost)} lost {sorted(set(result.lost.values()))}, "
        f"{result.out_of_order} out of order; per node {result.nodes}; {figures}"
    )
    assert {node_landed(c) for c in done_later} <= {NODE_A}
    # Only the calls node b held are lost (talking: ended; waiting: called back).
    landed = {c.number: node_landed(c) for c in load.callers}
    for number, why in result.lost.items():
        assert landed[number] == NODE_B, (number, why, cluster.logs())
    # Each is closed by the leader with its node, none left open (node_loss.py).
    left_open = [n for n, why in result.lost.items() if "left open" in why]
    assert not left_open, (left_open, cluster.logs())
    assert result.out_of_order == 0


def node_landed(caller: Caller) -> str | None:
    try:
        return node_of(caller.call)
    except (AssertionError, OSError):
        return None


def test_6_summary() -> None:
    """The table of the runs above (README's failure table is written from it)."""
    print("\n| failure | offered | completed | lost (why) | out of order | figures |")
    print("|---|---|---|---|---|---|")
    for name, c, figures in RESULTS:
        whys: dict[str, int] = {}
        for why in c.lost.values():
            whys[why] = whys.get(why, 0) + 1
        lost = f"{len(c.lost)}" + (
            " (" + "; ".join(f"{n}: {w}" for w, n in whys.items()) + ")" if whys else ""
        )
        print(f"| {name} | {c.offered} | {c.completed} | {lost} | {c.out_of_order} | {figures} |")
    print(
        f"\n(measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; callers every {GAP} s, talk {TALK} s)"
    )
