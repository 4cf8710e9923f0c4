"""Concurrency: 300 callers waiting at once with music on hold and announcements.

    python bench/bench_concurrency.py [--callers 300] [--hold 60]

A `hotline run` with its own Asterisk on free loopback ports (bench/bench_soak.py's
harness) and a queue nobody answers: music on hold, the caller's position every 20 s and
a "thank you for waiting" prompt every 30 s. One SIPp process brings --callers callers
in at 20 per second through the bench flow (prompt, one key once the menu listens: the
event log's prompt.played opens its Gate, bench/bench_soak.py's KeyGate; queue); each
waits --hold seconds in the queue and hangs up. While all of them wait, the controller's and
Asterisk's CPU and the controller's resident memory are measured, and /api/health is
probed twice a second (its round trip stands for the event-loop lag). Checked: every
caller reached a holding bridge (one each), 0 failed calls, nothing left in Asterisk after.
Prints a Markdown section to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

from bench.bench_sipp_load import HealthProbe, counter, cpu_seconds, stop_process  # noqa: E402
from bench.bench_soak import (  # noqa: E402
    LoadedHotline,
    health_summary,
    held_callers,
    hold_callers,
    rss_mb,
    say,
)
from hotline.store import Store  # noqa: E402

RATE = 20.0


@dataclass
class Result:
    callers: int
    held: int  # most callers seen in holding bridges at once
    ok: int
    failed: int
    idle_rss: float
    plateau_rss: float
    controller_cpu: float
    asterisk_cpu: float
    announcements: int
    channels_left: int
    bridges_left: int
    health: dict[str, float]
    window: float


def announced(load: LoadedHotline) -> int:
    async def read() -> int:
        from datetime import UTC, datetime

        store = await Store.connect(
            f"sqlite+aiosqlite:///{load.workdir / 'hotline/state/hotline.db'}"
        )
        try:
            events = await store.events_between(
                datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC), ["queue.announced"]
            )
            return len(events)
        finally:
            await store.close()

    return asyncio.run(read())


def run(workdir: Path, callers: int, hold: float) -> Result:
    queue = {
        "strategy": "longest_idle",
        "music_on_hold": "default",
        "announcements": {
            "position_every": 20,
            "periodic": ["queue_thanks"],
            "periodic_every": 30,
        },
    }
    load = LoadedHotline(workdir, agents=0, talk=1, queue=queue)
    try:
        load.start()
        ctl, ast = load.controller_pid, load.asterisk_pid
        time.sleep(3)
        idle = rss_mb(ctl)
        sipp = load.callers(hold_callers(load, hold), rate=RATE, limit=callers, calls=callers)
        arrive = callers / RATE + load.prompt_seconds + 3
        say(f"{callers} callers arriving over {arrive:.0f} s, each waiting {hold:g} s")
        time.sleep(arrive)
        held = 0
        probe = HealthProbe(load.health_url()).start()
        cpu_before = (cpu_seconds(ctl), cpu_seconds(ast))
        started = time.monotonic()
        rss: list[float] = []
        window = max(10.0, hold - arrive - 10)
        while time.monotonic() - started < window:
            bridges = load.ari("bridges")
            held = max(held, held_callers(bridges))
            rss.append(rss_mb(ctl))
            time.sleep(2)
        elapsed = time.monotonic() - started
        cpu_after = (cpu_seconds(ctl), cpu_seconds(ast))
        probe.stop.set()
        say(f"{held} callers held at once; waiting for them to hang up")
        try:
            sipp.wait(hold + 120)
        except Exception:
            stop_process(sipp)
        time.sleep(1.5)
        row = load.caller_stats()
        ok = counter(row, "SuccessfulCall(C)")
        channels, bridges_left = load.drained()
        return Result(
            callers=callers,
            held=held,
            ok=ok,
            failed=max(counter(row, "FailedCall(C)"), callers - ok),
            idle_rss=idle,
            plateau_rss=statistics.mean(rss) if rss else 0.0,
            controller_cpu=100 * (cpu_after[0] - cpu_before[0]) / elapsed,
            asterisk_cpu=100 * (cpu_after[1] - cpu_before[1]) / elapsed,
            announcements=announced(load),
            channels_left=channels,
            bridges_left=bridges_left,
            health=health_summary(probe),
            window=elapsed,
        )
    finally:
        load.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=300)
    parser.add_argument("--hold", type=float, default=60)
    parser.add_argument("--quick", action="store_true", help="100 callers, 40 s")
    args = parser.parse_args()
    if args.quick:
        args.callers, args.hold = 100, 40
    command = " ".join(["python bench/bench_concurrency.py", *sys.argv[1:]])
    workdir = Path(tempfile.mkdtemp(prefix="bench-conc-"))
    try:
        r = run(workdir, args.callers, args.hold)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    per_call_mb = (r.plateau_rss - r.idle_rss) / max(1, r.held)
    print("## Concurrency: callers waiting with music on hold and announcements\n")
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}; SIPp on the same machine  "
    )
    print(
        f"Scenario: {r.callers} callers arrive at {RATE:g}/s through the bench flow and wait "
        f"in a queue nobody answers (music on hold, position every 20 s, a periodic prompt "
        f"every 30 s); measured over {r.window:.0f} s while all of them wait.\n"
    )
    print("| measure | value |\n|---|---:|")
    rows = [
        ("callers in holding bridges at once", f"{r.held} of {r.callers}"),
        ("calls ok / failed", f"{r.ok} / {r.failed}"),
        ("announcements played", f"{r.announcements}"),
        ("controller CPU (% of one core)", f"{r.controller_cpu:.1f}"),
        (
            "controller CPU per waiting caller (% of one core)",
            f"{r.controller_cpu / max(1, r.held):.3f}",
        ),
        ("Asterisk CPU (% of one core)", f"{r.asterisk_cpu:.1f}"),
        ("controller RSS idle / with the callers (MB)", f"{r.idle_rss:.0f} / {r.plateau_rss:.0f}"),
        ("controller memory per waiting caller (KB)", f"{1024 * per_call_mb:.0f}"),
        (
            "/api/health round trip p50 / p99 / max (ms)",
            " / ".join(f"{r.health[k]:.0f}" for k in ("p50", "p99", "max")),
        ),
        ("channels / bridges left after", f"{r.channels_left} / {r.bridges_left}"),
    ]
    for name, value in rows:
        print(f"| {name} | {value} |")
    clean = r.failed == 0 and r.held == r.callers and not (r.channels_left or r.bridges_left)
    print(f"\nVerdict: **{'clean' if clean else 'NOT clean: see the table'}**.\n")
    return 0  # the verdict is in the report


if __name__ == "__main__":
    sys.exit(main())
