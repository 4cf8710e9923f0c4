"""What turning a caller away costs: Asterisk's and the controller's CPU per refused call.

    python bench/bench_refusal.py [--rate CPS] [--seconds S] [--answer busy|congestion]

A Hotline of its own (the load bench's harness, bench/bench_sipp_load.py) whose overload
admission lets one call in and turns every later one away (`overload.max_rate` 0.0001:
one call in 10000 s). After a warm-up call (the one let in) and a quiet spell as long as
the step (each process's idle CPU: timers, probes), SIPp callers at --rate a second for
--seconds each get the refusal (486 Busy Here, or 503 with --answer congestion). CPU of
Asterisk and of the controller over the step (from /proc), minus the same span idle,
divided by the calls: milliseconds per refused call. The controller's /metrics must
count every refusal (`hotline_calls_refused_total`), SIPp every answer, and every caller
must hear the refusal within 1 s of the INVITE (p50 / p95 / p99 reported).

Run it from a checkout of an older commit (the same file copied in) to compare how a
refusal used to cost: docs/benchmarks.md, "Overload".
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

import yaml  # noqa: E402

from bench.bench_sipp_load import (  # noqa: E402
    NUMBER,
    Hotline,
    Phones,
    bench_config,
    cpu_seconds,
    published_prompt,
    triple,
)
from tests.e2e.ports import free_port  # noqa: E402
from tests.e2e.sipp import HangUp, SippCall, Wait, refused_caller  # noqa: E402

CODE = {"busy": 486, "congestion": 503}
#: A refusal later than this (seconds) fails the run: a caller turned away hears it at once.
LATE = 1.0


def refusal_times(folder: Path) -> list[float]:
    """Each caller's INVITE -> refusal (seconds), from SIPp's response-time trace
    (-trace_rtt: `date_ms;response_time_ms;rtd_no` per call)."""
    times: list[float] = []
    for trace in folder.glob("*_rtt.csv"):
        for line in trace.read_text().splitlines():
            fields = line.split(";")
            if len(fields) >= 2:
                try:
                    times.append(float(fields[1]) / 1000)
                except ValueError:
                    continue  # the header
    return times


def say(message: str) -> None:
    print(f"[bench_refusal] {message}", file=sys.stderr, flush=True)


def refused_total(hotline: Hotline) -> float:
    """hotline_calls_refused_total over every reason, from the controller's /metrics."""
    token = yaml.safe_load((hotline.state / "secrets.yaml").read_text())["api_token"]
    request = urllib.request.Request(f"http://127.0.0.1:{hotline.config['web']['port']}/metrics")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    found = re.findall(r'^hotline_calls_refused_total\{reason="[^"]+"\} ([0-9.e+]+)$', text, re.M)
    return sum(float(value) for value in found)


def cpu(hotline: Hotline) -> tuple[float, float]:
    """(Asterisk, controller) CPU seconds so far."""
    return cpu_seconds(hotline.asterisk_pid()), cpu_seconds(
        hotline.proc.pid if hotline.proc else None
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=64.0, help="refused callers a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of callers")
    parser.add_argument("--answer", choices=sorted(CODE), default="busy")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--quick", action="store_true", help="5 s of callers")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 5.0
    workdir = Path(tempfile.mkdtemp(prefix="bench-refusal-"))
    phones = Phones(workdir / "phones", 2)
    hotline: Hotline | None = None
    calls = max(1, round(args.rate * args.seconds))
    try:
        phones.start()
        flows = workdir / "flows"
        shutil.copytree(HOME / "bench/flows", flows)
        config = bench_config(f"bench-rf-{os.getpid()}", phones, flows, rtp_ports=200)
        config["overload"] = {"max_rate": 0.0001, "max_burst": 1, "answer": args.answer}
        hotline = Hotline(workdir / "hotline", config)
        hotline.workdir.mkdir()
        say("starting hotline run")
        hotline.start()
        published_prompt(hotline, workdir)
        sip = config["asterisk"]["sip_port"]
        warm = SippCall(workdir, sip, NUMBER, "59000", [Wait(0.5), HangUp()]).run(60)
        if not warm.ok:
            raise RuntimeError(f"the warm-up call (let in) failed: {warm.output[-500:]}")
        time.sleep(2)
        idle_before, began = cpu(hotline), time.monotonic()
        time.sleep(args.seconds)
        idle = [
            (after - before) / (time.monotonic() - began)
            for before, after in zip(idle_before, cpu(hotline), strict=True)
        ]
        folder = workdir / "refused"
        folder.mkdir()
        text = refused_caller(CODE[args.answer]).format(name="refused", dial=NUMBER, caller="5900")
        (folder / "refused.xml").write_text(text)
        refused_before, load = refused_total(hotline), os.getloadavg()[0]
        before, began = cpu(hotline), time.monotonic()
        command = ["sipp", f"127.0.0.1:{sip}", "-sf", "refused.xml", "-i", "127.0.0.1"]
        command += ["-p", str(free_port("udp")), "-m", str(calls), "-r", f"{args.rate:g}"]
        command += ["-l", str(calls), "-nostdin", "-timeout", f"{args.seconds + 60:g}s"]
        command += ["-trace_err", "-error_file", "errors.log", "-trace_rtt", "-rtt_freq", "1"]
        run = subprocess.run(
            command, cwd=folder, capture_output=True, text=True, timeout=args.seconds + 120
        )
        seconds = time.monotonic() - began
        time.sleep(1)  # the last refusals' events reach the controller
        seconds_measured = time.monotonic() - began
        after = cpu(hotline)
        errors = folder / "errors.log"
        failed = errors.read_text(errors="replace")[-1500:] if errors.exists() else ""
        refused = refused_total(hotline) - refused_before
        times = refusal_times(folder)
        per_call = [
            1000 * (a - b - rate * seconds_measured) / calls
            for a, b, rate in zip(after, before, idle, strict=True)
        ]
    finally:
        if hotline is not None:
            hotline.stop()
        phones.stop()
        if args.keep:
            say(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    late = sum(1 for t in times if t > LATE)
    ok = run.returncode == 0 and refused == calls and len(times) == calls and late == 0
    print(
        "## Overload: what a caller turned away costs\n\n"
        f"`python bench/bench_refusal.py --rate {args.rate:g} --seconds {args.seconds:g} "
        f"--answer {args.answer}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: every caller "
        "refused by the overload door; CPU per refused caller over the step, the idle "
        "processes' own subtracted (ms).\n\n"
        "| cps | callers | all got the refusal (SIPp) | counted on /metrics | INVITE -> refusal "
        f"p50 / p95 / p99 (ms; later than {LATE:g} s) | Asterisk ms | "
        "controller ms | total ms | step (s) | load | clean |\n"
        "|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---|"
    )
    print(
        f"| {args.rate:g} | {calls} | {'all' if run.returncode == 0 else 'NOT all'} | "
        f"{refused:g} | {triple(list(times))} ({late}) | {per_call[0]:.2f} | "
        f"{per_call[1]:.2f} | {per_call[0] + per_call[1]:.2f} | "
        f"{seconds:.1f} | {load:.1f} | {'yes' if ok else 'no'} |"
    )
    if run.returncode != 0:
        print(f"SIPp's errors: {failed}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
