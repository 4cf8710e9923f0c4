"""What the SIP edge (Kamailio, issue 20) adds to a call: answer latency and its CPU.

    python bench/bench_edge.py [--quick] [--calls N] [--rate CPS]

One Asterisk node (`hotline run`, a single box on SQLite, its Asterisk on 127.0.0.2)
and the edge (`hotline edge run`: Kamailio on 127.0.0.4, its locations in a private
PostgreSQL), on free loopback ports. The same SIPp scenario runs twice in the same
run: callers straight to the node, then callers through the edge; each call is
answered by a flow that plays a short prompt and hangs up (the caller answers the BYE).
Reported per path: calls placed and completed, INVITE -> 200 OK p50/p95/p99 (from
SIPp's message log), and the edge's CPU per call (Kamailio's processes, from /proc).

Pass rule: every call of both paths completed (answered and hung up by the flow); one
that is not is a caller who never got through: FAIL, exit status 1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from tests.e2e.conftest import spawn, test_config, wait_ready
from tests.e2e.ports import free_port
from tests.e2e.sipp import ExpectHangup, finish_sipp, scenario, start_sipp
from tests.e2e.test_edge import EDGE, Edge, through_edge
from tests.pg import private_postgres

NODE = "127.0.0.2"
FLOW = """name: bench_edge
start: hello
nodes:
  hello:
    type: play
    prompts: goodbye
    barge_in: false
    next: end
  end:
    type: hangup
"""


def ticks(pid: int) -> int:
    """CPU clock ticks (user + system) of a process and its children still running."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the name: state ppid ... utime(12) stime(13), 0-based from state.
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total


def answer_times(messages: Path) -> tuple[list[float], int]:
    """Seconds from each call's INVITE to its 200 OK, and how many calls got a BYE
    from the flow and answered it (completed)."""
    sent: dict[str, datetime] = {}
    delays: list[float] = []
    completed = 0
    blocks = re.split(r"\n?-{10,} ", messages.read_text(errors="replace"))
    for block in blocks:
        head = re.match(r"(\S+ \S+)\n(UDP message \w+)[^\n]*\n\n([^\n]+)", block)
        call = re.search(r"^Call-ID:\s*(\S+)", block, re.M)
        cseq = re.search(r"^CSeq:\s*\d+ (\w+)", block, re.M)
        if not (head and call and cseq):
            continue
        when, way, first = datetime.fromisoformat(head.group(1)), head.group(2), head.group(3)
        if "sent" in way and first.startswith("INVITE"):
            sent[call.group(1)] = when
        elif "received" in way and first.startswith("SIP/2.0 200") and cseq.group(1) == "INVITE":
            if call.group(1) in sent:
                delays.append((when - sent.pop(call.group(1))).total_seconds())
        elif "sent" in way and first.startswith("SIP/2.0 200") and cseq.group(1) == "BYE":
            completed += 1
    return delays, completed


def run_calls(workdir: Path, target: str, calls: int, rate: float, edge: bool) -> Path:
    """`calls` SIPp callers at `rate` per second to `target`; its folder."""
    workdir.mkdir(parents=True)
    text = scenario("100", "5559000", [ExpectHangup(20)], workdir)
    (workdir / "caller.xml").write_text(through_edge(text) if edge else text)
    args = [target, "-sf", "caller.xml", "-m", str(calls), "-r", f"{rate:g}", "-l", "50"]
    proc = start_sipp([*args, "-p", str(free_port("udp")), "-timeout", "120s"], workdir)
    finish_sipp(proc, workdir, 180)
    return workdir / "messages.log"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    parser.add_argument("--calls", type=int, help="calls per path (default 100, quick 30)")
    parser.add_argument("--rate", type=float, default=5.0, help="calls per second")
    args = parser.parse_args()
    calls = args.calls or (30 if args.quick else 100)
    workdir = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    rows = []
    with private_postgres() as pg:
        config = test_config(f"bench-edge-{os.getpid()}")
        flows = workdir / "flows"
        flows.mkdir()
        (flows / "bench_edge.yaml").write_text(FLOW)
        edge_port = free_port("udp", seconds=900)
        config.update(flows_dir=str(flows), numbers={"100": "bench_edge"})
        config["asterisk"].update(sip_bind=NODE, agi_numbers={}, browser_phone=False)
        config["demo_crm"]["enabled"] = False
        node_sip = f"{NODE}:{config['asterisk']['sip_port']}"
        config["edge"] = {
            "listen": EDGE,
            "port": edge_port,
            "nodes": [node_sip],
            "database_url": pg.create_database(),
        }
        (workdir / "node").mkdir()
        node = spawn(config, workdir / "node", log_name="node")
        edge_file = workdir / "edge.yaml"
        edge_file.write_text(yaml.safe_dump(config))
        edge = Edge(
            edge_file, workdir / "edge-state", workdir / "edge", workdir / "edge.log", edge_port
        )
        try:
            wait_ready(node)
            edge.start()
            time.sleep(2)  # the edge's first probe finds the node up
            main_pid = int((workdir / "edge/kamailio.pid").read_text().strip())
            for name, target, through in (
                ("straight to the node", node_sip, False),
                ("through the edge", f"{EDGE}:{edge_port}", True),
            ):
                before = ticks(main_pid)
                messages = run_calls(
                    workdir / name.replace(" ", "-"), target, calls, args.rate, through
                )
                cpu = (ticks(main_pid) - before) / os.sysconf("SC_CLK_TCK") / calls * 1000
                delays, completed = answer_times(messages)
                rows.append((name, completed, delays, cpu if through else None))
        finally:
            edge.stop()
            node.proc.send_signal(2)
            try:
                node.proc.wait(60)
            except subprocess.TimeoutExpired:
                node.proc.kill()
            subprocess.run(["rm", "-rf", str(node.instance_dir())], check=False)
            shutil.rmtree(workdir, ignore_errors=True)
    ok = all(completed == calls for _, completed, _, _ in rows)
    print("## The SIP edge: what Kamailio adds to a call (issue 20)\n")
    print(
        f"`python bench/bench_edge.py{' --quick' if args.quick else ''}`: one node "
        f"(`hotline run`, Asterisk on {NODE}) and Kamailio (`hotline edge run`, {EDGE}), "
        f"{calls} SIPp callers per path at {args.rate:g}/s, each answered by a flow that plays "
        "a prompt and hangs up. Both paths in the same run, on the same loaded machine: the "
        "difference is what the edge adds.\n"
    )
    print(
        "| path | calls | completed | INVITE -> 200 OK p50 / p95 / p99 (ms) | edge CPU per call |"
    )
    print("|---|---|---|---|---|")
    for name, completed, delays, cpu in rows:
        latency = " / ".join(f"{pct(delays, q):.1f}" for q in (0.5, 0.95, 0.99)) if delays else "-"
        edge_cpu = "" if cpu is None else f"{cpu:.2f} ms"
        print(f"| {name} | {calls} | {completed} | {latency} | {edge_cpu} |")
    if len(rows) == 2 and rows[0][2] and rows[1][2]:
        added = statistics.median(rows[1][2]) - statistics.median(rows[0][2])
        print(f"\nThe edge adds {added * 1000:.1f} ms to the median answer.")
    print(f"\nResult: {'PASS' if ok else 'FAIL: not every call completed'}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
