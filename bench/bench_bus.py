"""What the bus between a call worker and the routing leader adds (issue 20).

    python bench/bench_bus.py [--quick] [--contacts N]

One process, a private nats-server on loopback: a leader (`RoutingResponder` in front of
a real `RoutingService`, its event log in memory, so the store's cost is left out) and a
worker's `RemoteRouting`. Each contact goes through what a queued call does: enqueue ->
the offer arrives on its ticket -> ringing -> accepted -> finished (the agent has no
wrap-up). The same steps are timed on the in-process `RoutingService` (the single box)
in the same run. Reported: p50/p95/p99 of each step and of the whole contact, and CPU
per contact (this process: leader and worker together, plus nats-server's own).

Pass rule: every step of every contact answers within --step-timeout (a step that does
not is a lost contact: a caller who would never be rung; the run stops there and exits
with status 1), and a contact's whole way over NATS has p99 under --target-ms (missed:
FAIL in the section, exit status 0, as bench_chat does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.routing import build_router
from hotline.acd.decisions import Offer
from hotline.acd.model import Channel
from hotline.acd.service import RoutingService
from hotline.cluster.bus import connect
from hotline.cluster.leader import Leadership
from hotline.cluster.remote import RemoteRouting
from hotline.cluster.responder import RoutingResponder
from hotline.config import HotlineConfig
from tests.nats import NatsServer, nats_binary

CONFIG: dict[str, Any] = {
    "numbers": {"100": "main"},
    "queues": {"support": {"ring_timeout": 30, "wrap_up": 0}},
    "agents": [{"id": "alice", "name": "Alice", "endpoint": "1001", "queues": ["support"]}],
}
STEPS = ("enqueue", "offer", "ringing", "accepted", "finished", "contact")


class Lost(Exception):
    """A contact whose step did not answer in time: its caller would never be rung."""

    def __init__(self, contact: int, step: str, timeout: float) -> None:
        super().__init__(f"contact {contact}: {step} did not answer within {timeout:g} s")


Routing = Any  # RoutingService or RemoteRouting: the same methods


async def routing_service(epoch: int = 0) -> RoutingService:
    async def write(**event: Any) -> int:
        return 0

    router = build_router(HotlineConfig.model_validate(CONFIG))
    router.epoch = epoch  # a leader's offers carry its epoch
    routing = RoutingService(router, write)
    await routing.login("alice", [Channel.VOICE])
    await routing.start()
    return routing


async def one_contact(
    routing: Routing, n: int, times: dict[str, list[float]], timeout: float
) -> None:
    async def timed(step: str, work: Callable[[], Awaitable[Any]]) -> Any:
        began = time.perf_counter()
        try:
            result = await asyncio.wait_for(work(), timeout)
        except TimeoutError:
            raise Lost(n, step, timeout) from None
        times[step].append(time.perf_counter() - began)
        return result

    began = time.perf_counter()
    ticket = await timed("enqueue", lambda: routing.enqueue(f"c{n}", "voice", "support"))
    offer = await timed("offer", ticket.next)
    assert isinstance(offer, Offer), offer
    assert await timed("ringing", lambda: routing.ringing(offer))
    await timed("accepted", lambda: routing.accepted(offer))
    await timed("finished", lambda: routing.finished("alice", f"c{n}"))
    times["contact"].append(time.perf_counter() - began)


async def run(
    routing: Routing, contacts: int, timeout: float
) -> tuple[dict[str, list[float]], float]:
    times: dict[str, list[float]] = {step: [] for step in STEPS}
    for n in range(20):  # warm-up, not counted
        await one_contact(routing, -1 - n, {step: [] for step in STEPS}, timeout)
    cpu = time.process_time()
    for n in range(contacts):
        await one_contact(routing, n, times, timeout)
    return times, (time.process_time() - cpu) / contacts


def child_cpu(pid: int) -> float:
    """Seconds of CPU the process `pid` used so far (utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.2f}"


async def main_async(contacts: int, timeout: float, target_ms: float) -> list[str]:
    binary = nats_binary()
    if binary is None:
        raise SystemExit("nats-server is not installed (scripts/setup.sh test)")
    server = NatsServer(binary, Path(tempfile.mkdtemp()) / "nats.log").start()
    assert server.proc is not None
    try:
        local, local_cpu = await run(await routing_service(), contacts, timeout)
        leader_nc = await connect([server.url], "bench-leader")
        worker_nc = await connect([server.url], "bench-worker")
        routing = await routing_service(epoch=1)
        responder = RoutingResponder(leader_nc, routing, Leadership("bench", 1, "bench"))
        await responder.start()
        remote = RemoteRouting(worker_nc, "bench")
        await remote.start(wait=5)
        nats_before = child_cpu(server.proc.pid)
        bus, bus_cpu = await run(remote, contacts, timeout)
        nats_cpu = (child_cpu(server.proc.pid) - nats_before) / contacts
        await remote.stop()
        await responder.stop()
        await routing.stop()
        await leader_nc.close()
        await worker_nc.close()
    finally:
        server.stop()
    lines = [
        "## The bus between a call worker and the routing leader (NATS)",
        "",
        f"`python bench/bench_bus.py --contacts {contacts}`: {contacts} contacts one after "
        "another through enqueue -> offer on the ticket -> ringing -> accepted -> "
        "finished, on the in-process engine (one box) and through a private nats-server "
        "(worker `RemoteRouting` -> leader `RoutingResponder` -> `RoutingService`) in the "
        "same run; the event log in memory (the store's cost is left out). Milliseconds. "
        "`offer`: the wait for the offer once enqueue has returned (it is made in the "
        "same change, and published before the answer).",
        "",
        "| step | one box p50 | p95 | p99 | over NATS p50 | p95 | p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for step in STEPS:
        lines.append(
            f"| {step} | {ms(local[step], 0.5)} | {ms(local[step], 0.95)} | "
            f"{ms(local[step], 0.99)} | {ms(bus[step], 0.5)} | {ms(bus[step], 0.95)} | "
            f"{ms(bus[step], 0.99)} |"
        )
    lines += [
        "",
        f"CPU per contact: one box {1000 * local_cpu:.2f} ms; over NATS "
        f"{1000 * bus_cpu:.2f} ms in the worker and leader (one process here) + "
        f"{1000 * nats_cpu:.2f} ms in nats-server. Mean contact: one box "
        f"{1000 * statistics.mean(local['contact']):.2f} ms, over NATS "
        f"{1000 * statistics.mean(bus['contact']):.2f} ms.",
        "",
        f"Verdict: {verdict(bus, contacts, target_ms)} (every contact offered and "
        f"finished, each step within {timeout:g} s; contact p99 over NATS < "
        f"{target_ms:g} ms).",
        "",
    ]
    return lines


def verdict(bus: dict[str, list[float]], contacts: int, target_ms: float) -> str:
    """PASS only if every contact went the whole way and the p99 target is met."""
    problems = []
    if len(bus["contact"]) != contacts:
        problems.append(f"{contacts - len(bus['contact'])} of {contacts} contacts lost")
    p99 = float(ms(bus["contact"], 0.99))
    if not p99 < target_ms:
        problems.append(f"contact p99 {p99:.1f} ms >= {target_ms:g}")
    return "PASS" if not problems else "FAIL (" + "; ".join(problems) + ")"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 contacts")
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument(
        "--step-timeout", type=float, default=2.0, help="seconds a step may take (2)"
    )
    parser.add_argument(
        "--target-ms", type=float, default=250.0, help="contact p99 over NATS (250 ms)"
    )
    args = parser.parse_args()
    contacts = 200 if args.quick else args.contacts
    try:
        lines = asyncio.run(main_async(contacts, args.step_timeout, args.target_ms))
    except Lost as lost:
        print(f"bench_bus: FAIL, a contact was lost: {lost}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
