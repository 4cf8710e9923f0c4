"""One node against two behind Kamailio: the same SIPp load on three shapes (issue 20).

    python bench/bench_cluster.py [--quick] [--rate CPS] [--seconds S] [--agents N]

The same scenario on each, one after the other in the same run: SIPp callers at a fixed
rate dial 304 (a flow: queue e2e_fifo, then a goodbye prompt and the hang-up); agents'
phones (one SIPp UAS answering for all of them, ringing 0.3 s, talking TALK s) take the
calls; the caller waits for the hang-up.

1. **one box**: `hotline run` as `make run` runs it (SQLite, routing in the process);
2. **one call worker, the leader over NATS**: `hotline run` with `routing.mode: remote`,
   `hotline routing` (the leader), nats-server, PostgreSQL;
3. **two nodes behind Kamailio**: the topology of tests/e2e/test_edge.py (two call
   workers with their Asterisk on 127.0.0.2 and .3, the edge on 127.0.0.4, a leader and
   its standby, nats-server, PostgreSQL); the agents' phones register at the edge.

Reported per shape: calls completed (the caller talked to an agent TALKED s or more,
and the flow hung up) of those offered; INVITE -> 200 OK (answer) and answer ->
connected to an agent (from the event log: call.answered -> queue.connected),
p50/p95/p99; CPU milliseconds per call of each process (from /proc, in clock ticks of
10 ms: totals over the step divided by the calls). The cores are shared by every
process of the shape (and by whatever else runs on the machine): what this compares is
the CPU a call costs and the latency the edge and the bus add, not a speed-up. The
failover times are measured by tests/e2e/test_edge_failover.py (`make bench`).

Pass rule: every call offered completed (talked to an agent TALKED s or more) on every
shape: one caller who never talked is a FAIL, exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from bench.bench_edge import answer_times, pct
from hotline.store import Store
from tests.e2e.conftest import RunningHotline, spawn, wait_ready
from tests.e2e.ports import free_port
from tests.e2e.sipp import ExpectHangup, finish_sipp, scenario, start_sipp
from tests.e2e.test_cluster_worker import TALKED, migrate, stop_worker, worker_config
from tests.e2e.test_edge import (
    CAROL,
    EDGE,
    EdgeCluster,
    edge_topology,
    phone_scenario,
    register,
    through_edge,
    wait_reachable,
)
from tests.e2e.test_leader_failover import Candidate
from tests.nats import NatsServer, nats_binary
from tests.pg import PostgresServer, private_postgres

#: Seconds an agent talks (from its phone's answer).
TALK = 1.5
CLK = os.sysconf("SC_CLK_TCK")


def own_ticks(pid: int | None) -> int:
    """CPU clock ticks (user + system) of one process, all its threads; 0 if gone."""
    if not pid:
        return 0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def tree_ticks(pid: int | None) -> int:
    """Ticks of a process and its children still running (PostgreSQL's backends)."""
    if not pid:
        return 0
    total = own_ticks(pid)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total


def kamailio_ticks(cfg: Path) -> int:
    """Ticks of every Kamailio process running this config."""
    found = subprocess.run(["pgrep", "-f", str(cfg)], capture_output=True, text=True)
    return sum(own_ticks(int(pid)) for pid in found.stdout.split())


def asterisk_pid(node: RunningHotline) -> int | None:
    path = node.instance_dir() / "run/asterisk.pid"
    return int(path.read_text().strip()) if path.exists() else None


def postmaster_pid(pg: PostgresServer) -> int | None:
    path = pg.data / "postmaster.pid"
    return int(path.read_text().split()[0]) if path.exists() else None


@dataclass
class Shape:
    """One system under load: where callers dial, its processes' CPU, its event log."""

    name: str
    target: str
    through_edge: bool
    database_url: str
    #: Process name -> a function giving its ticks so far.
    meters: dict[str, Callable[[], int]] = field(default_factory=dict)
    #: Agents available for voice when the load began.
    agents: int = 0


@dataclass
class Result:
    name: str
    offered: int
    completed: int
    answer: list[float]
    connect: list[float]
    cpu_ms: dict[str, float]
    seconds: float
    agents: int
    #: Why each caller offered did not complete: a reason -> how many.
    why: dict[str, int] = field(default_factory=dict)
    #: The load average (1 min) when the callers began and when they were done.
    load: tuple[float, float] = (0.0, 0.0)


def agents(n: int) -> list[dict[str, Any]]:
    """Bench agents besides carol: endpoints 2101.., all serving e2e_fifo."""
    return [
        {"id": f"bench{i:02d}", "name": f"Bench {i:02d}", "endpoint": f"21{i:02d}",
         "queues": ["e2e_fifo"]}
        for i in range(1, n + 1)
    ]  # fmt: skip


def agents_phone(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """One SIPp UAS answering every agent's calls on `port`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "uas.xml").write_text(phone_scenario(TALK))
    args = ["-sf", "uas.xml", "-p", str(port), "-m", "1000000", "-timeout", "1800s"]
    proc = subprocess.Popen(
        ["sipp", *args, "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "sipp.err").open("wb"),
    )
    time.sleep(0.5)
    if proc.poll() is not None:
        raise RuntimeError(f"the agents' phone exited: {(workdir / 'sipp.err').read_text()}")
    return proc


def run_load(shape: Shape, workdir: Path, rate: float, calls: int) -> Result:
    """`calls` callers at `rate`/s against the shape; its figures."""
    workdir.mkdir(parents=True)
    text = scenario("304", "77[call_number]", [ExpectHangup(60)], workdir)
    (workdir / "caller.xml").write_text(through_edge(text) if shape.through_edge else text)
    args = [shape.target, "-sf", "caller.xml", "-m", str(calls), "-r", f"{rate:g}"]
    args += ["-l", "200", "-p", str(free_port("udp")), "-timeout", "300s"]
    before = {name: meter() for name, meter in shape.meters.items()}
    load_before = os.getloadavg()[0]
    began, wall = time.monotonic(), datetime.now(UTC)
    proc = start_sipp(args, workdir)
    finish_sipp(proc, workdir, 360)
    seconds = time.monotonic() - began
    cpu = {
        name: (meter() - before[name]) / CLK / calls * 1000 for name, meter in shape.meters.items()
    }
    answer, _ = answer_times(workdir / "messages.log")
    load = (load_before, os.getloadavg()[0])
    time.sleep(1.0)  # the last contacts' end is written
    by = asyncio.run(from_log(shape.database_url, wall, workdir / "log.tsv"))
    completed, connect, why = verdicts(by, calls)
    return Result(
        shape.name, calls, completed, answer, connect, cpu, seconds, shape.agents, why, load
    )


def verdicts(
    by: dict[str, dict[str, datetime]], offered: int
) -> tuple[int, list[float], dict[str, int]]:
    """From each contact's first event of each kind: the callers who talked TALKED s or
    more to an agent, each answer -> connected, and why the others did not complete: a
    caller lost or mis-routed (never connected, no contact at all) is told apart from
    one connected too late to talk TALKED s before the agent's phone hung up on its own
    clock (TALK s after its answer: connected that much less than TALK after it)."""
    completed, connect, why = 0, [], Counter[str]()
    late: list[float] = []
    for seen in by.values():
        if "call.answered" not in seen or "queue.connected" not in seen:
            why["never connected to an agent"] += 1
            continue
        connect.append((seen["queue.connected"] - seen["call.answered"]).total_seconds())
        ended = seen.get("queue.call_ended")
        if ended is None:
            why["connected, no end logged"] += 1
        elif (ended - seen["queue.connected"]).total_seconds() >= TALKED:
            completed += 1
        else:
            late.append(TALK - (ended - seen["queue.connected"]).total_seconds())
    if late:
        why[
            f"talked < {TALKED:g} s: bridged {min(late):.2f}-{max(late):.2f} s after the "
            f"agent's phone answered (it hangs up {TALK:g} s after its answer)"
        ] = len(late)
    if offered > len(by):
        why["no contact in the event log"] = offered - len(by)
    return completed, connect, dict(why)


async def from_log(url: str, since: datetime, out: Path) -> dict[str, dict[str, datetime]]:
    """Each contact's first event of each kind since `since` (`out`: each contact's
    times, for a look at the slow ones; `agents.tsv` beside it: the agents' presence)."""
    store = await Store.connect(url)
    try:
        # The routing steps between answer and connected, to see where a call waited.
        steps = ["contact.join", "contact.offer", "agent.ring", "contact.answered"]
        kinds = ["call.answered", "queue.connected", "queue.call_ended", *steps]
        end = datetime.now(UTC) + timedelta(seconds=1)
        events = await store.events_between(since - timedelta(seconds=1), end, kinds)
        # The agents' presence since the start (agents.tsv): who the leader could offer.
        presence = ["agent.unreachable", "agent.reachable", "agent.pause", "agent.unpause"]
        said = await store.events_between(end - timedelta(hours=1), end, presence)
    finally:
        await store.close()
    (out.parent / "agents.tsv").write_text(
        "".join(
            f"{e.ts.isoformat()}\t{e.agent}\t{e.type}\t{e.data.get('reason', '')}\n" for e in said
        )
    )
    by: dict[str, dict[str, datetime]] = {}
    for e in events:
        if e.contact_id:
            by.setdefault(e.contact_id, {}).setdefault(e.type, e.ts)
    out.write_text(
        "".join(
            f"{c}\t" + "\t".join(f"{k}={v.isoformat()}" for k, v in sorted(seen.items())) + "\n"
            for c, seen in by.items()
        )
    )
    return by


def wait_agents_ready(node: RunningHotline, count: int, timeout: float = 30) -> int:
    """Until `count` agents are available for voice (their phones qualified, or told to
    the leader), at most `timeout` s; how many are. A shape is measured with every agent
    it counts available (reported: one worker with a remote leader was seen keeping
    some paused "unreachable" whose phones answered)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = node.api("/api/agents", token=node.secrets["api_token"])
        ready = 0
        if status == 200 and isinstance(body, list):
            ready = sum(1 for a in body if a["channels"]["voice"]["state"] == "available")
        if ready >= count or time.monotonic() > deadline:
            return ready
        time.sleep(0.5)


def stop_node(node: RunningHotline) -> None:
    with contextlib.suppress(Exception):
        stop_worker(node)


@contextlib.contextmanager
def one_box(workdir: Path, n_agents: int) -> Iterator[Shape]:
    port = free_port("udp", seconds=1800)
    phone = agents_phone(workdir / "phone", port)
    config = worker_config(workdir, "", "", port, f"bc-one-{os.getpid()}")
    config.pop("database_url")
    config.pop("routing")
    config["agents"] += [
        {**a, "contact": f"sip:{a['endpoint']}@127.0.0.1:{port}"} for a in agents(n_agents)
    ]
    node = spawn(config, workdir, log_name="hotline")
    try:
        wait_ready(node)
        ready = wait_agents_ready(node, n_agents + 1)
        yield Shape(
            "one box (make run: SQLite, routing in the process)",
            f"127.0.0.1:{node.sip_port}",
            False,
            node.database_url,
            {
                "hotline run": lambda: own_ticks(node.proc.pid),
                "Asterisk": lambda: own_ticks(asterisk_pid(node)),
            },
            ready,
        )
    finally:
        stop_node(node)
        phone.kill()
        phone.wait()


@contextlib.contextmanager
def one_worker(workdir: Path, pg: PostgresServer, n_agents: int) -> Iterator[Shape]:
    binary = nats_binary()
    if binary is None:
        raise RuntimeError("nats-server is not installed (scripts/setup.sh test)")
    nats = NatsServer(binary, workdir / "nats.log").start()
    url = pg.create_database()
    asyncio.run(migrate(url))
    port = free_port("udp", seconds=1800)
    phone = agents_phone(workdir / "phone", port)
    config = worker_config(workdir, url, nats.url, port, f"bc-wk-{os.getpid()}")
    config["agents"] += [
        {**a, "contact": f"sip:{a['endpoint']}@127.0.0.1:{port}"} for a in agents(n_agents)
    ]
    leader_file = workdir / "leader.yaml"
    leader_file.write_text(yaml.safe_dump(config))
    leader = Candidate(leader_file, "leader", workdir / "leader.log")
    node: RunningHotline | None = None
    try:
        leader.wait_for("leader is the leader (epoch")
        node = spawn(config, workdir, log_name="worker")
        wait_ready(node)
        ready = wait_agents_ready(node, n_agents + 1)
        worker = node
        yield Shape(
            "one call worker, the leader over NATS (PostgreSQL)",
            f"127.0.0.1:{node.sip_port}",
            False,
            url,
            {
                "call worker": lambda: own_ticks(worker.proc.pid),
                "Asterisk": lambda: own_ticks(asterisk_pid(worker)),
                "leader": lambda: own_ticks(leader.proc.pid),
                "nats-server": lambda: own_ticks(nats.proc.pid if nats.proc else None),
                "PostgreSQL": lambda: tree_ticks(postmaster_pid(pg)),
            },
            ready,
        )
    finally:
        if node is not None:
            stop_node(node)
        leader.end()
        nats.stop()
        phone.kill()
        phone.wait()


def register_at_edge(cluster: EdgeCluster, endpoint: str, port: int, tries: int = 3) -> None:
    """The agent's phone registered at the edge; a REGISTER that got no answer in time
    on a loaded machine (seen once: the whole run lost) is sent again, `tries` in all."""
    for attempt in range(tries):
        result = register(cluster, endpoint, cluster.edge.password(endpoint), port=port)
        if result.ok:
            return
        time.sleep(1.0 + attempt)
    raise RuntimeError(f"{endpoint}'s phone did not register at the edge: {result.output[-400:]}")


@contextlib.contextmanager
def two_nodes(workdir: Path, pg: PostgresServer, n_agents: int) -> Iterator[Shape]:
    extra = agents(n_agents)
    with edge_topology(workdir, pg, extra) as cluster:
        port = free_port("udp", seconds=1800)
        phone = agents_phone(workdir / "phone", port)
        try:
            for endpoint in [CAROL] + [str(a["endpoint"]) for a in extra]:
                register_at_edge(cluster, endpoint, port)
            for endpoint in [CAROL] + [str(a["endpoint"]) for a in extra]:
                wait_reachable(cluster, endpoint=endpoint, timeout=30)
            shape = two_node_shape(cluster, pg)
            shape.agents = wait_agents_ready(cluster.nodes["a"], n_agents + 1)
            yield shape
        finally:
            phone.kill()
            phone.wait()


def two_node_shape(cluster: EdgeCluster, pg: PostgresServer) -> Shape:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    leader, standby = cluster.leader, cluster.standby
    return Shape(
        "two nodes behind Kamailio (leader over NATS, PostgreSQL)",
        f"{EDGE}:{cluster.edge.port}",
        True,
        cluster.url,
        {
            "call worker a": lambda: own_ticks(a.proc.pid),
            "call worker b": lambda: own_ticks(b.proc.pid),
            "Asterisk a": lambda: own_ticks(asterisk_pid(a)),
            "Asterisk b": lambda: own_ticks(asterisk_pid(b)),
            "leader": lambda: own_ticks(leader.proc.pid if leader else None),
            "standby": lambda: own_ticks(standby.proc.pid if standby else None),
            "Kamailio": lambda: kamailio_ticks(cluster.edge.out / "kamailio.cfg"),
            # nats-server's command line does not name its folder: found by its log file.
            "nats-server": lambda: own_ticks(nats_of(cluster.workdir / "nats.log")),
            "PostgreSQL": lambda: tree_ticks(postmaster_pid(pg)),
        },
    )


def nats_of(log: Path) -> int | None:
    """The nats-server writing `log` (its stdout)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if "nats-server" in (entry / "comm").read_text() and os.readlink(entry / "fd/1") == str(
                log
            ):
                return int(entry.name)
    return None


def report(results: list[Result], rate: float, calls: int, n_agents: int) -> str:
    lines = ["## One node against two behind Kamailio: the same SIPp load (issue 20)\n"]
    lines.append(
        f"`python bench/bench_cluster.py --rate {rate:g} --seconds {calls / rate:g} "
        f"--agents {n_agents}`: {calls} SIPp callers at {rate:g}/s on each shape, one after "
        f"the other in the same run, dialing a queue served by {n_agents + 1} agents (one "
        f"SIPp phone, ringing 0.3 s, talking {TALK:g} s), then a goodbye prompt. CPU per "
        "call: each process's CPU over the step / calls (clock ticks of 10 ms). Latency in "
        "ms. Measured on this 2-core machine "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load: the 1-minute load average when "
        "the shape's callers began and when they were done (2 cores).\n"
    )
    lines.append(
        "| shape | load | agents available | completed / offered | answer p50 / p95 / p99 | "
        "answer -> agent p50 / p95 / p99 | CPU ms per call (process: ms) | total CPU ms "
        "per call |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in results:
        answer = (
            " / ".join(f"{pct(r.answer, q):.1f}" for q in (0.5, 0.95, 0.99)) if r.answer else "-"
        )
        connect = (
            " / ".join(f"{pct(r.connect, q):.0f}" for q in (0.5, 0.95, 0.99)) if r.connect else "-"
        )
        cpu = "; ".join(f"{name} {ms:.1f}" for name, ms in r.cpu_ms.items())
        lines.append(
            f"| {r.name} | {r.load[0]:.1f}-{r.load[1]:.1f} | {r.agents} | {r.completed} / "
            f"{r.offered} | {answer} | {connect} | {cpu} | {sum(r.cpu_ms.values()):.1f} |"
        )
    for r in results:
        if r.why:
            said = "; ".join(f"{n} {reason}" for reason, n in r.why.items())
            lines.append(f"\nNot completed, {r.name}: {said}.")
    base = results[0] if results else None
    if base and base.answer and base.connect:
        lines.append("")
        for r in results[1:]:
            if r.answer and r.connect:
                added_answer = (statistics.median(r.answer) - statistics.median(base.answer)) * 1000
                added_connect = (
                    statistics.median(r.connect) - statistics.median(base.connect)
                ) * 1000
                lines.append(
                    f"- {r.name}: {added_answer:+.1f} ms on the median answer, "
                    f"{added_connect:+.0f} ms on the median answer -> agent, "
                    f"{sum(r.cpu_ms.values()) - sum(base.cpu_ms.values()):+.1f} ms CPU per call, "
                    "against one box."
                )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (4/s for 10 s)")
    parser.add_argument("--rate", type=float, help="calls per second (default 8)")
    parser.add_argument("--seconds", type=float, help="seconds of calls (default 15)")
    parser.add_argument("--agents", type=int, default=32, help="agents besides carol")
    parser.add_argument(
        "--shapes", default="one-box,worker,two-nodes", help="which shapes, comma-separated"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs)")
    args = parser.parse_args()
    rate = args.rate or (4.0 if args.quick else 8.0)
    calls = int(rate * (args.seconds or (10.0 if args.quick else 15.0)))
    chosen = args.shapes.split(",")
    unknown = set(chosen) - {"one-box", "worker", "two-nodes"}
    if unknown:
        parser.error(f"unknown shapes: {', '.join(sorted(unknown))}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    results: list[Result] = []
    failed: list[str] = []
    try:
        with private_postgres() as pg:
            shapes: list[tuple[str, Callable[[], contextlib.AbstractContextManager[Shape]]]] = [
                ("one-box", lambda: one_box(workdir / "one-box", args.agents)),
                ("worker", lambda: one_worker(workdir / "worker", pg, args.agents)),
                ("two-nodes", lambda: two_nodes(workdir / "two-nodes", pg, args.agents)),
            ]
            for name, make in shapes:
                if name not in chosen:
                    continue
                (workdir / name).mkdir()
                print(f"==> {name}", file=sys.stderr, flush=True)
                try:
                    with make() as shape:
                        results.append(run_load(shape, workdir / name / "load", rate, calls))
                except Exception as error:  # the other shapes' figures are still reported
                    failed.append(f"{name}: {type(error).__name__}: {str(error)[:400]}")
                    print(f"==> {name} failed: {error}", file=sys.stderr, flush=True)
    finally:
        if args.keep:
            print(f"==> kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(results, rate, calls, args.agents))
    for failure in failed:
        print(f"Shape not measured: {failure}\n")
    ok = len(results) == len(chosen) and all(r.completed == r.offered for r in results)
    print(f"Result: {'PASS' if ok else 'FAIL: a caller did not talk to an agent'}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
