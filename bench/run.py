"""Run every benchmark and write docs/benchmarks.md (what `make bench` does).

    python bench/run.py [--quick]

Each benchmark is a script in bench/ that prints a Markdown section to stdout; slow
pytest runs (load, soak) are marked `bench` and run here too.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
from pathlib import Path

HOME = Path(__file__).resolve().parents[1]
#: Scripts that print a Markdown section (heading, command to reproduce, results).
SCRIPTS = [
    "bench/bench_acd.py",
    "bench/bench_sipp_load.py",
    "bench/bench_refusal.py",  # CPU per caller turned away by the overload door
    "bench/bench_concurrency.py",
    "bench/bench_recovery.py",
    "bench/bench_speech.py",
    "bench/bench_live_transcript.py",  # one live call's recogniser CPU (about 1.5 min)
    "bench/bench_chat.py",
    "bench/bench_kb.py",
    "bench/bench_reports.py",
    "bench/bench_monitoring.py",
    "bench/bench_bus.py",  # the bus between a call worker and the routing leader (NATS)
    "bench/bench_edge.py",  # what the SIP edge (Kamailio) adds to a call
    "bench/bench_cluster.py",  # one box, a worker + leader over NATS, two nodes + edge
    "bench/bench_staffing.py",  # about 5 minutes of CPU (--quick: 1)
    "bench/bench_soak.py",  # 30 minutes (--quick: 5)
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python bench/run.py`) on {today}, "
        f"{platform.machine()}, Python {platform.python_version()}.",
        "",
    ]
    for script in SCRIPTS:
        command = [sys.executable, script, *(["--quick"] if args.quick else [])]
        print(f"==> {' '.join(command[1:])}", flush=True)
        done = subprocess.run(command, cwd=HOME, capture_output=True, text=True, check=True)
        sections += [done.stdout, ""]
    slow = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "bench", "-o", "addopts=-ra"], cwd=HOME
    )
    if slow.returncode not in (0, 5):  # 5: no slow test is marked yet
        return slow.returncode
    (HOME / "docs/benchmarks.md").write_text("\n".join(sections))
    print("==> wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
