"""Recovery: the controller killed (SIGKILL) under load, then started again.

    python bench/bench_recovery.py [--callers 60] [--agents 10] [--talk 8]

A `hotline run` (bench/bench_soak.py's harness, managed Asterisk on loopback) with
--agents auto-answering SIPp agents (talk --talk s) and --callers callers at once in the
bench flow and queue: the agents talk, the rest wait with music on hold. Then the
controller is killed with SIGKILL; Asterisk keeps the calls. Two seconds later a new
`hotline run` starts, finds the running Asterisk, and takes the calls over before it
handles any new event (ari_app/recovery.py). Measured: contacts lost (every caller must
still be served by an agent; every contact must end completed), the seconds from the new
process's start to ARI connected and its recovery pass, and the pass itself.
Prints a Markdown section to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

from bench.bench_sipp_load import counter, stop_process  # noqa: E402
from bench.bench_soak import RING, LoadedHotline, held_callers, say  # noqa: E402
from bench.call_evidence import agent_timeline  # noqa: E402
from hotline.store import Store  # noqa: E402
from tests.e2e.sipp import ExpectHangup, Gate, Keys, Wait  # noqa: E402


def store_facts(load: LoadedHotline) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        from datetime import UTC, datetime

        store = await Store.connect(
            f"sqlite+aiosqlite:///{load.workdir / 'hotline/state/hotline.db'}"
        )
        try:
            contacts = await store.recent_contacts(100_000)
            passes = await store.events_between(
                datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC), ["controller.recovered"]
            )
            statuses: dict[str, int] = {}
            for contact in contacts:
                statuses[contact.status] = statuses.get(contact.status, 0) + 1
            return {"statuses": statuses, "passes": [p.data for p in passes]}
        finally:
            await store.close()

    return asyncio.run(read())


def answered_legs(load: LoadedHotline) -> int:
    """Agent calls the agents' phones answered (their SIPp logs)."""
    assert load.phones is not None
    legs = agent_timeline(load.phones.logs)
    return sum(1 for calls in legs.values() for leg in calls if leg.answered is not None)


def bridged(load: LoadedHotline) -> int:
    """Callers on hold or talking (each conversation bridge holds one caller)."""
    bridges = load.ari("bridges")
    return held_callers(bridges) + sum(1 for b in bridges if b["id"].startswith("talk-"))


def run(
    workdir: Path, callers: int, agents: int, talk: float, kill_at: float | None = None
) -> dict[str, Any]:
    queue = {"strategy": "longest_idle", "wrap_up": 0, "music_on_hold": "default"}
    load = LoadedHotline(workdir, agents, talk, queue)
    try:
        load.start()
        assert load.hotline is not None and load.hotline.proc is not None
        time.sleep(2)
        steps = [
            Gate(120),  # keys once the menu listens (KeyGate: the event log)
            Keys("1", gap=0.3),
            Wait(round(RING + talk - 0.5, 2)),
            ExpectHangup(600),
        ]
        sipp = load.callers(steps, rate=20, limit=callers, calls=callers)
        if kill_at is not None:
            time.sleep(kill_at)
        else:  # every caller past the menu: on hold or talking (a key pressed while no
            # controller runs is lost, and a SIPp caller does not press it again)
            deadline = time.monotonic() + callers / 20 + 60
            while time.monotonic() < deadline and bridged(load) < callers:
                time.sleep(0.5)
        held = held_callers(load.ari("bridges"))
        say(f"{held} callers waiting, {agents} agents talking: killing the controller")
        load.hotline.proc.send_signal(signal.SIGKILL)
        load.hotline.proc.wait(10)
        time.sleep(2)
        started = time.monotonic()
        load.hotline.start()
        ready = time.monotonic() - started
        say(f"new controller connected to ARI after {ready:.1f} s")
        try:
            sipp.wait(callers / agents * (talk + 1) + 180)
        except Exception:
            stop_process(sipp)
        time.sleep(1.5)
        row = load.caller_stats()
        ok = counter(row, "SuccessfulCall(C)")
        channels, bridges = load.drained()
        facts = store_facts(load)
        assert load.phones is not None
        return {
            "callers": callers,
            "agents": agents,
            "held": held,
            "ok": ok,
            "failed": max(counter(row, "FailedCall(C)"), callers - ok),
            "bridged": answered_legs(load),
            "ready": ready,
            "pass": facts["passes"][-1] if facts["passes"] else {},
            "statuses": facts["statuses"],
            "left": (channels, bridges),
        }
    finally:
        load.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=60)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--talk", type=float, default=8)
    parser.add_argument("--quick", action="store_true", help="30 callers")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument(
        "--kill-at",
        type=float,
        default=None,
        help="kill this many seconds after the first "
        "caller (default: once every caller is on hold or talking)",
    )
    args = parser.parse_args()
    if args.quick:
        args.callers = 30
    command = " ".join(["python bench/bench_recovery.py", *sys.argv[1:]])
    workdir = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    try:
        r = run(workdir, args.callers, args.agents, args.talk, args.kill_at)
    finally:
        if args.keep:
            say(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    lost = r["callers"] - r["statuses"].get("completed", 0)
    print("## Recovery: the controller killed under load\n")
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}; SIPp on the same machine  "
    )
    print(
        f"Scenario: {r['callers']} callers in the bench queue, {r['agents']} agents talking "
        f"{args.talk:g} s each, the rest waiting with music on hold; the controller is killed "
        f"with SIGKILL and started again 2 s later.\n"
    )
    print("| measure | value |\n|---|---:|")
    report = r["pass"]
    rows = [
        (
            "callers waiting / talking / in the IVR when killed",
            f"{r['held']} / {report.get('talking', '?')} / {report.get('restarted', '?')}",
        ),
        ("calls ok / failed (SIPp)", f"{r['ok']} / {r['failed']}"),
        ("agent calls", f"{r['bridged']}"),
        ("contacts by status", ", ".join(f"{k} {v}" for k, v in sorted(r["statuses"].items()))),
        ("callers lost (no completed contact)", f"{lost}"),
        ("new controller start to ARI connected, recovered (s)", f"{r['ready']:.1f}"),
        ("recovery pass (s)", f"{report.get('seconds', float('nan')):.3f}"),
        ("channels / bridges left after", f"{r['left'][0]} / {r['left'][1]}"),
    ]
    for name, value in rows:
        print(f"| {name} | {value} |")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
