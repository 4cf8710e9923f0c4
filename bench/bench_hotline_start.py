"""The CPU a test Hotline's start costs, with and without the speech model.

    python bench/bench_hotline_start.py [--rounds 3]

Starts the e2e tests' Hotline (tests/e2e/conftest.py: the test flows, queues and
agents, its own Asterisk on free ports) `rounds` times with the Korean Vosk model and
`rounds` times without (`without_speech`: what every e2e module but the speech ones
runs), alternating, one at a time. Each start is measured from its spawn until its log
is ready (ARI connected) and, with the model, says "speech ready: ko" (the wall time),
then 2 s more: the CPU time of `hotline run` and its child processes, and of the
instance's Asterisk (user + system, from /proc). Prints a Markdown table for docs/benchmarks.md.
The figures depend on the machine's load: run it on a quiet machine, or say the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import conftest

TICKS = os.sysconf("SC_CLK_TCK")
#: Seconds after the start (ready, and the model loaded) before its CPU is read.
SETTLE = 2.0


def _cpu(pid: int) -> float:
    """Seconds of CPU of one process and its waited-for children (user + system)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the name: state is 0, utime 11, stime 12, cutime 13, cstime 14.
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def one_start(workdir: Path, speech: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one start until ready with speech loaded."""
    instance = f"bench-start-{os.getpid()}-{workdir.name}"
    config, targets = conftest.with_test_flows(conftest.test_config(instance), workdir)
    if not speech:
        config = conftest.without_speech(config)
    began = time.monotonic()
    running = conftest.spawn(config, workdir, targets)
    try:
        conftest.wait_ready(running)
        # With no model there is no speech at all (controller/speech.py): ready is all.
        while speech and "speech ready: ko" not in running.log.read_text(errors="replace"):
            if time.monotonic() - began > 180:
                raise RuntimeError(f"speech did not load:\n{running.log_tail()}")
            time.sleep(0.1)
        wall = time.monotonic() - began
        time.sleep(SETTLE)  # what the start left running in the background, alike in both
        pids = {running.proc.pid, *_descendants(running.proc.pid)}
        pids |= set(conftest.instance_asterisk(running.instance_dir()))
        return sum(_cpu(pid) for pid in pids), wall
    finally:
        conftest.stop_spawned(running)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-start-") as folder:
        for round_ in range(args.rounds):
            for speech in (True, False):
                workdir = Path(folder) / f"{round_}-{'speech' if speech else 'quiet'}"
                workdir.mkdir()
                cpu, wall = one_start(workdir, speech)
                results[speech].append((cpu, wall))
                print(f"# round {round_ + 1}, model {speech}: CPU {cpu:.1f} s, wall {wall:.1f} s")
    load = os.getloadavg()[0]
    print(f"\n| Hotline start (load average {load:.1f}) | CPU s (median, min-max) | wall s |")
    print("|---|---|---|")
    for speech, label in ((True, "with the Korean model"), (False, "without (without_speech)")):
        cpus = [cpu for cpu, _ in results[speech]]
        walls = [wall for _, wall in results[speech]]
        print(
            f"| {label} | {statistics.median(cpus):.1f} ({min(cpus):.1f}-{max(cpus):.1f})"
            f" | {statistics.median(walls):.1f} |"
        )


if __name__ == "__main__":
    main()
