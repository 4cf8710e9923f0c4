"""SIPp load on the same Asterisk: Hotline against plain dialplan with app_queue, where a
call counts only if the caller talked to an agent.

    python bench/bench_sipp_load.py [--quick] [--agents N] [--step-seconds S] [--rates 8,16,32]

One scenario, two implementations on the same Asterisk 22 build (the project's managed
chroot): a SIPp caller dials 800, hears a short prompt ("welcome", rendered by Hotline),
presses 1 (RFC 2833) and is queued; an auto-answering agent (SIPp UAS on a fixed contact)
answers after 0.2 s, stays on the line 2.5 s and hangs up; the caller is hung up in turn.

- Hotline: `hotline run` with its own Asterisk on free loopback ports and a private state
  folder (as tests/e2e/conftest.py does), the flow bench/flows/bench_load.yaml and a
  `bench` queue (longest idle, wrap-up 0, no announcements) served by the bench agents.
- app_queue: an Asterisk instance rendered from the project's templates, with
  extensions.conf and queues.conf replaced by bench/appqueue/ (Answer, Playback of the
  same prompt file, WaitExten for one digit, Queue(benchqueue) with static members
  PJSIP/<agent endpoint>, leastrecent, ringinuse=no, wrapuptime=0).

A call is ok only if the caller talked to the agent who answered for them for the talk
time (2 s of the agent's 2.5 s on the line), judged per call from three witnesses on the
wall clock (bench/call_evidence.py): the caller's SIPp (INVITE, 200 OK, key, BYE), the
agents' SIPp phones (rung for which caller, answered, hung up) and Asterisk's own
BridgeEnter/BridgeLeave over AMI (the caller's channel and the agent's channel in one
bridge). The same witnesses serve both systems. For Hotline the event log is read too,
per call (key -> join -> offer -> ring -> answered -> connected), to show where the time
goes, and cross-checked: `queue.connected` must come before the agent's phone hung up.

Each system is driven by one SIPp caller process per step at a fixed rate (-r) for a
bounded time (10 s, --quick 5 s), stepping the rate up until a step is not clean (a call
not ok) or the system's half of the time budget is spent. Per step, side by side: ok /
calls, call length (average, p95), answer latency (INVITE -> 200 OK), first key -> first
agent ring, agent answer -> conversation (p50/p95/p99), CPU of Asterisk, the controller,
SIPp and the whole machine over the step, CPU-milliseconds per call of the controller and
of Asterisk, the load average, and what ran out. Everything runs on 127.0.0.1 and is
stopped and removed afterwards. Prints a Markdown section to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

import yaml  # noqa: E402

from bench.box_speed import line as box_speed_line  # noqa: E402
from bench.call_evidence import (  # noqa: E402
    BridgeWatch,
    Verdict,
    agent_timeline,
    caller_timeline,
    instrument_agent,
    instrument_caller,
    judge,
    percentile,
)
from controller.asterisk import find_install  # noqa: E402
from controller.instance import AsteriskInstance  # noqa: E402
from controller.secrets import load_secrets  # noqa: E402
from hotline.config import HotlineConfig  # noqa: E402
from tests.e2e.conftest import test_config  # noqa: E402
from tests.e2e.ports import free_port, free_range  # noqa: E402
from tests.e2e.sipp import ACK_REFUSAL, ExpectHangup, Keys, Wait, scenario  # noqa: E402
from tests.e2e.sipp_uas import scenario as uas_scenario  # noqa: E402

HOTLINE = Path(sys.executable).with_name("hotline")
NUMBER = "800"
RING = 0.2  # agent rings this long before answering
TALK = 2.0  # the caller must be in conversation with the agent this long ...
GRACE = 0.5  # ... of the TALK + GRACE seconds the agent stays on the line
KEY_AFTER = 2.0  # the caller's key, seconds after the prompt's length (menu timeout 5 s)
AGENTS_PER_PHONE = 25  # agents sharing one SIPp UAS process (one port)
TICKS = os.sysconf("SC_CLK_TCK")
#: Caller numbers: "7", the system's digit, the step's two digits, SIPp's call number.
SYSTEM_DIGIT = {"Hotline": "1", "app_queue": "2"}
INF = float("inf")


def say(message: str) -> None:
    print(f"[bench_sipp_load] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 when gone."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_cpu() -> float:
    """CPU seconds of this script's reaped children (the caller SIPp of each step)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time (already in user)
    return total - idle, total


def first_errors(path: Path, count: int = 2) -> str:
    """What SIPp logged about its first failed calls (why they failed)."""
    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace")
        found = re.findall(r"Call-Id: [^,]+, (.+?)(?=\d{4}-\d\d-\d\d\t|\n|$)", text)
        return " / ".join(dict.fromkeys(reason.strip()[:160] for reason in found[:20]))[:400]
    return ""


def last_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp -trace_stat file (cumulative counters)."""
    try:
        rows = list(csv.DictReader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    except OSError:
        return {}
    return rows[-1] if rows else {}


def counter(row: dict[str, str], name: str) -> int:
    with contextlib.suppress(KeyError, ValueError, TypeError):
        return int(row[name])
    return 0


def stop_process(
    proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, wait: float = 10
) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class HealthProbe:
    """Times GET <url> (the controller's /api/health) in a thread, twice a second: the
    round trip stands for the event-loop lag, as the request is served on that loop."""

    url: str
    times: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(0.5):
            started = time.monotonic()
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url, timeout=10) as r:
                r.read()
                self.times.append(1000 * (time.monotonic() - started))

    def start(self) -> HealthProbe:
        threading.Thread(target=self.run, daemon=True).start()
        return self

    def p99(self) -> float | None:
        return percentile(self.times, 99)


# ---------------------------------------------------------------- agents' phones


@dataclass
class Phones:
    """SIPp UAS processes answering every call for the bench agents; each logs when it
    was rung (for which caller), answered and hung up."""

    workdir: Path
    n_agents: int
    ring: float = RING
    talk: float = TALK + GRACE  # seconds on the line after answering
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stats: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def endpoints(self) -> list[str]:
        return [f"{3900 + i}" for i in range(self.n_agents)]

    def agents(self, queue: str = "bench") -> list[dict[str, Any]]:
        """Hotline agent entries: endpoint 39NN, contact on its phone process's port."""
        return [
            {
                "id": f"bench{i:02d}",
                "name": f"Bench {i:02d}",
                "endpoint": f"{3900 + i}",
                "contact": f"sip:{3900 + i}@127.0.0.1:{self.ports[i // AGENTS_PER_PHONE]}",
                "queues": [queue],
            }
            for i in range(self.n_agents)
        ]

    def start(self) -> Phones:
        n_procs = -(-self.n_agents // AGENTS_PER_PHONE)
        text = instrument_agent(uas_scenario("answer", self.ring, self.talk, 60))
        for n in range(n_procs):
            folder = self.workdir / f"phone-{n}"
            folder.mkdir(parents=True)
            (folder / "uas.xml").write_text(text)
            port = free_port("udp")
            stats = folder / "stats.csv"
            log = folder / "calls.log"
            self.procs.append(
                subprocess.Popen(
                    [
                        "sipp",
                        "-sf",
                        str(folder / "uas.xml"),
                        "-i",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-mi",
                        "127.0.0.1",
                        # SIPp binds the media port and the three above it (RTP, RTCP,
                        # video): a range of its own, or a port next to it taken by
                        # someone else kills the phone (and its 25 agents never ring).
                        "-mp",
                        str(free_range(4)),
                        "-m",
                        "1000000",
                        "-nostdin",
                        "-trace_stat",
                        "-stf",
                        str(stats),
                        "-fd",
                        "1",
                        "-trace_logs",
                        "-log_file",
                        str(log),
                    ],
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=(folder / "sipp.err").open("wb"),
                )
            )
            self.ports.append(port)
            self.stats.append(stats)
            self.logs.append(log)
        time.sleep(1.0)
        for n, proc in enumerate(self.procs):  # a dead phone would fail its agents' calls
            if proc.poll() is not None:
                error = (self.workdir / f"phone-{n}/sipp.err").read_text(errors="replace")
                raise RuntimeError(f"agents' phone {n} (SIPp) exited at start: {error[-300:]}")
        return self

    def cpu(self) -> float:
        return sum(cpu_seconds(proc.pid) for proc in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc, signal.SIGKILL)


# ---------------------------------------------------------------- callers


@dataclass
class Step:
    system: str
    rate: float
    calls: int
    verdicts: list[Verdict]
    seconds: float
    asterisk_cpu: float  # CPU seconds over the step
    controller_cpu: float | None
    sipp_cpu: float  # the load generator: SIPp callers and agents' phones
    machine_busy: float  # percent of all CPUs over the step
    load: float  # 1-minute load average when the step began
    sipp_failed: int = 0  # calls SIPp itself counted as failed
    errors: str = ""  # the first lines of SIPp's error log, when calls failed
    #: /api/health round trip p99 over the step (ms): the controller's event-loop lag.
    loop_lag: float | None = None
    #: Hotline only, from its event log: per-call segments (name -> seconds each) and
    #: callers whose queue.connected is missing or after their agent's phone hung up.
    segments: dict[str, list[float]] = field(default_factory=dict)
    connected_late: int | None = None
    #: The step's wall-clock span (for the controller's trace records).
    began: float = 0.0
    ended: float = 0.0
    #: Hotline only: ARI requests over the step, their round trip (bucket bounds, ms)
    #: and the most connections the controller had open to ARI at once.
    ari_requests: int = 0
    #: Hotline only: new calls its overload admission turned away, by reason.
    refused: dict[str, int] = field(default_factory=dict)
    ari_p50: str = "-"
    ari_p99: str = "-"
    ari_connections: int | None = None
    #: Messages Asterisk's task processors handled over the step, by kind.
    processed: dict[str, int] = field(default_factory=dict)
    #: (machine % of all cores, Asterisk %, controller % of one core) in the step's
    #: busiest seconds (CpuTimeline.WINDOW); None: not sampled.
    busiest: tuple[float, float, float] | None = None

    @property
    def ok(self) -> int:
        return sum(v.ok for v in self.verdicts)

    @property
    def clean(self) -> bool:
        return self.ok == self.calls

    def pct(self, what: str) -> float:
        """CPU of a process over the step, percent of one core."""
        value = {"asterisk": self.asterisk_cpu, "controller": self.controller_cpu or 0.0}
        return 100 * value[what] / self.seconds

    def ms_per_call(self, what: str) -> float:
        value = {"asterisk": self.asterisk_cpu, "controller": self.controller_cpu or 0.0}
        return 1000 * value[what] / max(1, self.calls)

    def reasons(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for verdict in self.verdicts:
            if not verdict.ok:
                reason = re.sub(r"talked [\d.]+ s", "talked less", verdict.reason)
                found[reason] = found.get(reason, 0) + 1
        return found

    def ran_out(self) -> str:
        """Which resource was used up during the step (>= 95 %), if any."""
        found = []
        if self.machine_busy >= 95:
            found.append("CPU (every core busy)")
        elif self.busiest is not None and self.busiest[0] >= 95:
            found.append(f"CPU (every core busy for {CpuTimeline.WINDOW:g} s)")
        if self.controller_cpu is not None and self.pct("controller") >= 95:
            found.append("the controller's core")
        if self.pct("asterisk") >= 190:
            found.append("Asterisk's CPU")
        if self.refused_total:
            why = ", ".join(f"{n} {reason}" for reason, n in self.refused.items() if n)
            found.append(f"admission: {self.refused_total} turned away ({why})")
        if found:
            return ", ".join(found)
        return "nothing saturated" + ("" if self.clean else ": a wait")

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def admitted(self) -> list[Verdict]:
        """The calls Hotline answered (a call turned away busy never is)."""
        return [v for v in self.verdicts if v.answer_latency is not None]


def caller_scenario(workdir: Path, prompt_seconds: float, prefix: str, agent_talk: float) -> Path:
    """Wait for the prompt, press 1 (2 s after the prompt's length: a prompt that starts
    late is still heard before the key, as a caller would; the menu waits 5 s), then
    expect the hang-up; a BYE sooner than an agent could have talked (ring + time on the
    line) arrives during a pause and fails the call.
    Caller numbers are `prefix` + SIPp's call number; the scenario logs its timeline."""
    folder = workdir / "caller"
    folder.mkdir(parents=True, exist_ok=True)
    steps = [
        Wait(round(prompt_seconds + KEY_AFTER, 2)),
        Keys("1", gap=0.3),
        Wait(round(max(0.0, RING + agent_talk - 0.8), 2)),
        ExpectHangup(60),
    ]
    number = f"{prefix}[call_number]"
    file = folder / f"caller-{prefix}.xml"
    text = accept_busy(scenario(NUMBER, number, steps, folder, name="bench caller"), number)
    file.write_text(instrument_caller(text, number))
    return file


#: After the caller's 486 Busy Here: its ACK (a caller turned away by the overload admission).
BUSY_ACK = (
    '  <nop next="done"/>\n  <label id="busy"/>\n'
    + ACK_REFUSAL
    + '  <label id="done"/>\n</scenario>\n'
)


def accept_busy(text: str, caller: str) -> str:
    """A caller scenario that ends cleanly on 486 Busy Here (ACKed, no error): a call
    turned away at the door is counted as such, not as a SIPp failure."""
    anchor = '  <recv response="200" rtd="true"/>'
    if text.count(anchor) != 1 or not text.endswith("</scenario>\n"):
        raise ValueError("cannot add the busy answer to the caller scenario")
    text = text.replace(anchor, '  <recv response="486" optional="true" next="busy"/>\n' + anchor)
    return text.removesuffix("</scenario>\n") + BUSY_ACK.format(dial=NUMBER, caller=caller)


@dataclass
class Target:
    """A system under load: where to call, what to measure."""

    system: str
    sip_port: int
    asterisk_pid: int | None
    controller_pid: int | None
    bridges: BridgeWatch
    health_url: str | None = None
    #: The controller's /metrics and its bearer token (Hotline): ARI round trips.
    metrics_url: str | None = None
    token: str = ""
    #: Asterisk's HTTP (ARI) port: the controller's connections to it are counted.
    ari_port: int | None = None
    #: Where py-spy writes the controller's stacks of each step (--profile); None: not.
    profile: Path | None = None
    #: `asterisk -rx` of this system's Asterisk, but the command: its task processors
    #: are read before and after each step (messages Asterisk handled per call).
    cli: list[str] | None = None


def taskprocessors(target: Target) -> dict[str, int]:
    """Messages each of Asterisk's task processors has handled so far (`core show
    taskprocessors`: name, processed, ...); {} when it cannot be asked."""
    if not target.cli:
        return {}
    try:
        done = subprocess.run(
            [*target.cli, "-rx", "core show taskprocessors"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    counts: dict[str, int] = {}
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1].isdigit():
            counts[fields[0]] = int(fields[1])
    return counts


def processor_kind(name: str) -> str:
    """A task processor's name without its instance numbers (one per channel, bridge or
    subscription), so that a step's work adds up by kind."""
    kind = re.sub(r"[-/][0-9a-f]{8}$", "", name)  # a hexadecimal instance id
    kind = re.sub(r"\d+", "N", kind)
    return kind


def ari_histogram(target: Target) -> dict[float, float]:
    """hotline_ari_request_seconds, every method: upper bound (s) -> count so far."""
    if not target.metrics_url:
        return {}
    request = urllib.request.Request(target.metrics_url)
    request.add_header("Authorization", f"Bearer {target.token}")
    buckets: dict[float, float] = {}
    with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=10) as response:
        for line in response.read().decode().splitlines():
            match = re.match(r"hotline_ari_request_seconds_bucket\{(.*)\} ([0-9.e+]+)$", line)
            if match:
                le = re.search(r'le="([^"]+)"', match.group(1))
                if le:
                    bound = INF if le.group(1) == "+Inf" else float(le.group(1))
                    buckets[bound] = buckets.get(bound, 0.0) + float(match.group(2))
    return buckets


def refused_counts(target: Target) -> dict[str, float]:
    """hotline_calls_refused_total by reason so far (the overload admission)."""
    if not target.metrics_url:
        return {}
    request = urllib.request.Request(target.metrics_url)
    request.add_header("Authorization", f"Bearer {target.token}")
    counts: dict[str, float] = {}
    with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=10) as response:
        for line in response.read().decode().splitlines():
            match = re.match(r'hotline_calls_refused_total\{reason="([^"]+)"\} ([0-9.e+]+)$', line)
            if match:
                counts[match.group(1)] = float(match.group(2))
    return counts


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """The bucket bound under which q % of the step's ARI requests fell ("<= x ms")."""
    delta = sorted((b, after[b] - before.get(b, 0.0)) for b in after)
    total = delta[-1][1] if delta else 0
    if total <= 0:
        return "-"
    for bound, count in delta:
        if count >= q / 100 * total:
            return "> 10 s" if bound == INF else f"<= {1000 * bound:g}"
    return "-"


@dataclass
class ConnectionCount:
    """Samples, every 50 ms, the established TCP connections to a local port (the
    controller's connections to ARI), in a thread; `peak` and `mean` over the step."""

    port: int
    samples: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def count(self) -> int:
        wanted = f"0100007F:{self.port:04X}"
        n = 0
        with contextlib.suppress(OSError):
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[2] == wanted and fields[3] == "01":  # remote = ARI, ESTABLISHED
                    n += 1
        return n

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.samples.append(self.count())

    def start(self) -> ConnectionCount:
        threading.Thread(target=self.run, daemon=True).start()
        return self


@dataclass
class CpuTimeline:
    """Samples, every half second in a thread, the machine's busy jiffies and the CPU of
    Asterisk and the controller: a step's average hides a saturated middle (calls pile
    up for the first seconds, drain at the end), so the busiest `WINDOW` seconds say
    whether the box ran out of CPU while the calls were all in."""

    asterisk_pid: int | None
    controller_pid: int | None
    samples: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    WINDOW = 3.0

    def sample(self) -> None:
        busy, total = machine_cpu()
        self.samples.append(
            (
                time.monotonic(),
                busy,
                total,
                cpu_seconds(self.asterisk_pid),
                cpu_seconds(self.controller_pid),
            )
        )

    def run(self) -> None:
        self.sample()
        while not self.stop.wait(0.5):
            self.sample()

    def start(self) -> CpuTimeline:
        threading.Thread(target=self.run, daemon=True).start()
        return self

    def busiest(self) -> tuple[float, float, float] | None:
        """(machine % of all cores, Asterisk %, controller % of one core) over the
        `WINDOW` seconds in which the machine was busiest; None: too short a step."""
        best: tuple[float, float, float] | None = None
        for i, first in enumerate(self.samples):
            last = next((s for s in self.samples[i:] if s[0] - first[0] >= self.WINDOW), None)
            if last is None:
                break
            seconds = last[0] - first[0]
            machine = 100 * (last[1] - first[1]) / max(1.0, last[2] - first[2])
            if best is None or machine > best[0]:
                best = (
                    machine,
                    100 * (last[3] - first[3]) / seconds,
                    100 * (last[4] - first[4]) / seconds,
                )
        return best


def run_step(
    workdir: Path,
    target: Target,
    step_index: int,
    rate: float,
    seconds: float,
    phones: Phones,
    prompt_seconds: float,
    talk: float = TALK,
) -> Step:
    prefix = f"7{SYSTEM_DIGIT.get(target.system, '9')}{step_index:02d}"
    folder = workdir / f"step-{step_index:02d}-{rate:g}"
    folder.mkdir()
    scenario_file = caller_scenario(workdir, prompt_seconds, prefix, phones.talk)
    probe = HealthProbe(target.health_url).start() if target.health_url else None
    connections = ConnectionCount(target.ari_port).start() if target.ari_port else None
    timeline = CpuTimeline(target.asterisk_pid, target.controller_pid).start()
    ari_before = ari_histogram(target)
    refused_before = refused_counts(target)
    processors_before = taskprocessors(target)
    calls = max(1, round(rate * seconds))
    stats, log = folder / "stats.csv", folder / "calls.log"
    load = os.getloadavg()[0]
    cpu_before = (cpu_seconds(target.asterisk_pid), cpu_seconds(target.controller_pid))
    sipp_before = phones.cpu() + children_cpu()
    machine_before = machine_cpu()
    began = time.time()
    started = time.monotonic()
    spy = profile_controller(target, f"{target.system}-{rate:g}cps", seconds + 3)
    proc = subprocess.Popen(
        [
            "sipp",
            f"127.0.0.1:{target.sip_port}",
            "-sf",
            str(scenario_file),
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port("udp")),
            "-mi",
            "127.0.0.1",
            "-mp",  # this port and the three above it (RTP, RTCP, video)
            str(free_range(4)),
            "-r",
            f"{rate:g}",
            "-m",
            str(calls),
            "-l",
            str(max(50, calls)),
            "-nostdin",
            "-timeout",
            f"{int(seconds) + 90}s",
            "-recv_timeout",
            "30000",  # ms: a call never answered fails instead of waiting for ever
            "-trace_stat",
            "-stf",
            str(stats),
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            str(folder / "errors.log"),
            "-trace_logs",
            "-log_file",
            str(log),
        ],
        cwd=scenario_file.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(seconds + 100)
    except subprocess.TimeoutExpired:
        stop_process(proc, signal.SIGKILL)
    elapsed = time.monotonic() - started
    if spy is not None:
        stop_process(spy, signal.SIGINT, wait=30)
    if probe is not None:
        probe.stop.set()
    if connections is not None:
        connections.stop.set()
    timeline.stop.set()
    ari_after = ari_histogram(target)
    refused_after = refused_counts(target)
    processed: dict[str, int] = {}
    for name, n in taskprocessors(target).items():
        kind = processor_kind(name)
        processed[kind] = processed.get(kind, 0) + n - processors_before.get(name, 0)
    cpu_after = (cpu_seconds(target.asterisk_pid), cpu_seconds(target.controller_pid))
    sipp_after = phones.cpu() + children_cpu()  # the caller SIPp is reaped by now
    machine_after = machine_cpu()
    time.sleep(1.0)  # the last BridgeLeave and the phones' last log lines
    numbers = [f"{prefix}{n}" for n in range(1, calls + 1)]
    verdicts = judge(
        numbers,
        caller_timeline([log]),
        agent_timeline(phones.logs),
        target.bridges.snapshot(),
        talk,
    )
    busy = machine_after[0] - machine_before[0]
    total = max(1, machine_after[1] - machine_before[1])
    return Step(
        system=target.system,
        rate=rate,
        calls=calls,
        verdicts=verdicts,
        seconds=elapsed,
        asterisk_cpu=cpu_after[0] - cpu_before[0],
        controller_cpu=(cpu_after[1] - cpu_before[1]) if target.controller_pid else None,
        sipp_cpu=sipp_after - sipp_before,
        machine_busy=100 * busy / total,
        busiest=timeline.busiest(),
        load=load,
        sipp_failed=max(counter(last_stats(stats), "FailedCall(C)"), 0),
        errors=first_errors(folder / "errors.log"),
        loop_lag=probe.p99() if probe is not None else None,
        began=began,
        ended=time.time(),
        ari_requests=int(ari_after.get(INF, 0) - ari_before.get(INF, 0)),
        ari_p50=histogram_quantile(ari_before, ari_after, 50),
        ari_p99=histogram_quantile(ari_before, ari_after, 99),
        ari_connections=max(connections.samples, default=0) if connections else None,
        refused={
            reason: round(n - refused_before.get(reason, 0.0))
            for reason, n in refused_after.items()
        },
        processed=processed,
    )


def profile_controller(target: Target, name: str, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the controller's stacks (collapsed, for flame graphs or
    `bench/profile_top.py`) over the step; None without --profile or a controller."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if target.profile is None or not target.controller_pid or not Path(spy).exists():
        return None
    target.profile.mkdir(parents=True, exist_ok=True)
    out = target.profile / f"{name}.txt"
    # --gil: only the thread holding the GIL is sampled, so the shares are CPU time,
    # not time blocked in a system call (a commit's fsync).
    command = [spy, "record", "--format", "raw", "--rate", "250", "--nonblocking", "--gil"]
    command += ["-d", str(int(seconds)), "-p", str(target.controller_pid), "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ramp(
    workdir: Path,
    target: Target,
    rates: list[float],
    seconds: float,
    phones: Phones,
    prompt_seconds: float,
    deadline: float,
) -> list[Step]:
    steps: list[Step] = []
    for index, rate in enumerate(rates):
        if time.monotonic() + seconds + 20 > deadline:
            say(f"{target.system}: time budget spent, not trying {rate:g} cps")
            break
        step = run_step(workdir, target, index, rate, seconds, phones, prompt_seconds)
        say(
            f"{target.system}: {rate:g} cps: {step.ok}/{step.calls} ok "
            f"{step.reasons() or ''}, answer->talk p99 "
            f"{fmt_ms(percentile((v.answer_to_talk for v in step.verdicts), 99))} ms, "
            f"Asterisk {step.pct('asterisk'):.0f}% CPU, machine {step.machine_busy:.0f}%, "
            f"load {step.load:.1f}"
        )
        steps.append(step)
        if not step.clean:
            break
        time.sleep(2)  # let the last calls' channels go before the next step
    return steps


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.0f}"


# ---------------------------------------------------------------- the two systems


def rtp_range(size: int) -> int:
    """`size` consecutive free UDP ports on 127.0.0.1 for Asterisk's RTP: leased through
    tests/e2e/ports.py (as tests do, so parallel test sessions keep off it) when such a
    range is free, else the first free one found below the ephemeral range."""
    with contextlib.suppress(RuntimeError):
        return free_range(size)
    for start in range(10000, 32000 - size, 500):
        try:
            for port in range(start, start + size):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return start
    raise RuntimeError(f"no {size} consecutive free UDP ports for Asterisk's RTP")


def bench_config(
    instance: str, phones: Phones, flows: Path, rtp_ports: int = 3000
) -> dict[str, Any]:
    """Hotline's config for the bench: `rtp_ports` ports for Asterisk's RTP (3000: ~700
    concurrent calls x 2 legs x RTP+RTCP)."""
    config = test_config(instance)
    rtp = rtp_range(rtp_ports)
    config["asterisk"].update(rtp_start=rtp, rtp_end=rtp + rtp_ports - 1, agi_numbers={})
    config["flows_dir"] = str(flows)
    config["numbers"] = {NUMBER: "bench_load"}
    config["demo_crm"]["enabled"] = False
    config["queues"] = {
        "bench": {
            "strategy": "longest_idle",
            "ring_timeout": 15,
            "wrap_up": 0,
            "on_no_answer": "available",
            "music_on_hold": "default",
        }
    }
    config["agents"] = phones.agents()
    return config


@dataclass
class Hotline:
    workdir: Path
    config: dict[str, Any]
    proc: subprocess.Popen[bytes] | None = None
    #: Where bench/controller_trace.py writes its records; None: the plain controller.
    trace: Path | None = None

    @property
    def state(self) -> Path:
        return self.workdir / "state"

    @property
    def instance_dir(self) -> Path:
        return HOME / ".hotline/asterisk-root/srv/hotline" / self.config["asterisk"]["instance"]

    def start(self, timeout: float = 180) -> None:
        config_file = self.workdir / "hotline.yaml"
        config_file.write_text(yaml.safe_dump(self.config))
        env = {
            **os.environ,
            "HOTLINE_STATE": str(self.state),
            "HOTLINE_HOME": str(HOME),
            # The checkout's packages, whatever the venv's editable install maps.
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(HOME), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        command = [str(HOTLINE)]
        if self.trace is not None:  # the controller with timing probes (diagnostics)
            command = [sys.executable, str(HOME / "bench/controller_trace.py")]
            env["HOTLINE_TRACE_FILE"] = str(self.trace)
        with (self.workdir / "hotline.log").open("wb") as out:
            self.proc = subprocess.Popen(
                [*command, "--config", str(config_file), "run"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=HOME,
            )
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.config['web']['port']}/api/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hotline run exited early:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError, ValueError),
                urllib.request.urlopen(url, timeout=5) as response,
            ):
                if json.loads(response.read()).get("ari"):
                    return
            time.sleep(0.3)
        raise RuntimeError(f"hotline did not become ready:\n{self.log_tail()}")

    def asterisk_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.instance_dir / "run/asterisk.pid").read_text().strip())
        return None

    def target(self, phones: Phones) -> Target:
        secrets = yaml.safe_load((self.state / "secrets.yaml").read_text())
        web = f"http://127.0.0.1:{self.config['web']['port']}"
        bridges = BridgeWatch(
            self.config["asterisk"]["ami_port"],
            secrets["ami_user"],
            secrets["ami_secret"],
            frozenset(phones.endpoints()),
        ).start()
        return Target(
            "Hotline",
            self.config["asterisk"]["sip_port"],
            self.asterisk_pid(),
            self.proc.pid if self.proc else None,
            bridges,
            f"{web}/api/health",
            f"{web}/metrics",
            secrets["api_token"],
            self.config["asterisk"]["http_port"],
            cli=find_install(HOME / ".hotline").command(
                "-C", f"/srv/hotline/{self.config['asterisk']['instance']}/etc/asterisk.conf"
            ),
        )

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "hotline.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        pid = self.asterisk_pid()
        stop_process(self.proc, signal.SIGINT, wait=60)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 0)
                say(f"Asterisk {pid} still runs after hotline stopped: killing it")
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.instance_dir, ignore_errors=True)


class AppQueueInstance(AsteriskInstance):
    """The project's rendered instance with the baseline dialplan and queues."""

    prompt: Path
    members: list[str]

    def render(self) -> None:
        super().render()
        etc = self.host("etc")
        fragment = (HOME / "bench/appqueue/extensions.conf").read_text()
        (etc / "extensions.conf").write_text(
            "[general]\nstatic = yes\nwriteprotect = yes\n\n"
            f"[globals]\nBENCH_PROMPT = {self.sounds_dir}/en/welcome\n\n"
            "[hotline-public]\ninclude => bench-appqueue\n\n" + fragment
        )
        queues = (HOME / "bench/appqueue/queues.conf").read_text()
        members = "".join(f"member => PJSIP/{endpoint}\n" for endpoint in self.members)
        (etc / "queues.conf").write_text(queues + members)
        sounds = self.host("sounds/en")
        sounds.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.prompt, sounds / "welcome.wav")
        owner = self._owner()
        paths = [etc / "extensions.conf", etc / "queues.conf", sounds, sounds / "welcome.wav"]
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)
            if owner:
                os.chown(path, *owner)


def appqueue_instance(
    name: str, phones: Phones, prompt: Path, workdir: Path, rtp_ports: int = 3000
) -> AppQueueInstance:
    config = bench_config(name, phones, HOME / "bench/flows", rtp_ports)
    hotline_config = HotlineConfig.model_validate(config)
    secrets = load_secrets(workdir / "appqueue-secrets.yaml", hotline_config.phone_endpoints)
    install = find_install(HOME / ".hotline")
    instance = AppQueueInstance(install, name, hotline_config, secrets, HOME)
    instance.prompt = prompt
    instance.members = [a["endpoint"] for a in config["agents"]]
    return instance


def appqueue_target(instance: AppQueueInstance, phones: Phones) -> Target:
    bridges = BridgeWatch(
        instance.config.asterisk.ami_port,
        instance.secrets.ami_user,
        instance.secrets.ami_secret,
        frozenset(phones.endpoints()),
    ).start()
    return Target(
        "app_queue",
        instance.config.asterisk.sip_port,
        instance.pid(),
        None,
        bridges,
        cli=instance.command(),
    )


# ---------------------------------------------------------------- Hotline's event log

#: A queued call's events in the order they happen; the time between two that a call
#: has is one segment of its way from the key to the conversation's end.
MILESTONES = (
    "flow.input",
    "contact.join",
    "contact.offer",
    "agent.ring",
    "contact.answered",
    "queue.connected",
    "queue.call_ended",
)


def _ts(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def event_log_calls(db: Path) -> dict[str, dict[str, float]]:
    """Caller number -> the first time of each milestone of its contact (SQLite store)."""
    calls: dict[str, dict[str, float]] = {}
    if not db.exists():
        return calls
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        contacts: dict[str, dict[str, float]] = {}
        rows = con.execute(
            "SELECT contact_id, ts, type, data FROM contact_events WHERE contact_id IS NOT NULL "
            "ORDER BY id"
        )
        for contact, ts, kind, data in rows:
            times = contacts.setdefault(contact, {})
            if kind == "call.arrived":
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    caller = str(json.loads(data).get("caller", ""))
                    calls[caller.removeprefix("sip:").split("@")[0]] = times
            if kind in MILESTONES and kind not in times:
                times[kind] = _ts(ts)
    return calls


def add_event_log(steps: list[Step], db: Path, phones: Phones) -> None:
    """Per step: the segments of each call from Hotline's event log, and the callers
    whose `queue.connected` is missing or later than their agent's phone hanging up."""
    calls = event_log_calls(db)
    legs = agent_timeline(phones.logs)
    for step in steps:
        step.segments = {f"{a} -> {b}": [] for a, b in itertools.pairwise(MILESTONES)}
        late = 0
        for verdict in step.verdicts:
            times = calls.get(verdict.number, {})
            present = [m for m in MILESTONES if m in times]
            for a, b in itertools.pairwise(present):
                step.segments.setdefault(f"{a} -> {b}", []).append(times[b] - times[a])
            answered = [leg for leg in legs.get(verdict.number, []) if leg.hung_up is not None]
            connected = times.get("queue.connected")
            if answered and (connected is None or connected >= answered[-1].hung_up):
                late += 1
        step.segments = {name: values for name, values in step.segments.items() if values}
        step.connected_late = late


# ---------------------------------------------------------------- the controller's trace


def trace_records(path: Path) -> list[dict[str, Any]]:
    records = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records


def trace_table(steps: list[Step], records: list[dict[str, Any]]) -> list[str]:
    """Per step, what the controller waited for (bench/controller_trace.py): the routing
    engine's write-ahead, store writes from queued to committed (routing events and the
    calls' own), store transactions, ARI round trips by request and the pool's use."""
    if not records:
        return []
    lines = [
        "\nWhat the controller waited for (`--trace`: bench/controller_trace.py wraps ARI "
        "requests, store writes and the routing write-ahead; ms, p50 / p99 unless said):\n",
        "| cps | routing write-ahead | store write, routing events | store write, call events "
        "| store queue (peak) | transactions: count, writes each (mean), ms p50 / p99 "
        "| holding bridge join, whole | holding bridge gone (leave or moved), whole "
        "| ARI pool busy / waiting (peak) | slowest ARI requests (p99, count) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for step in steps:
        mine = [r for r in records if step.began <= r["t"] <= step.ended]

        def d(kind: str, test: Callable[[dict[str, Any]], bool] = lambda r: True) -> list[float]:
            return [r["d"] for r in mine if r["k"] == kind and test(r)]  # noqa: B023

        def routing(r: dict[str, Any]) -> bool:
            return str(r.get("what", "")).startswith(("agent.", "contact."))

        commits = [r for r in mine if r["k"] == "commit"]
        per = sum(r["n"] for r in commits) / len(commits) if commits else 0
        ari = [r for r in mine if r["k"] == "ari"]
        by_what: dict[str, list[float]] = {}
        for r in ari:
            by_what.setdefault(r["what"], []).append(r["d"])
        slow = sorted(by_what.items(), key=lambda kv: -(percentile(kv[1], 99) or 0))[:3]
        slowest = ", ".join(f"{what} {fmt_ms(percentile(ds, 99))} ({len(ds)})" for what, ds in slow)
        lines.append(
            f"| {step.rate:g} | {triple(list(d('routing')))} | "
            f"{triple(list(d('store', routing)))} | "
            f"{triple(list(d('store', lambda r: not routing(r))))} | "
            f"{max((r['queued'] for r in mine if r['k'] == 'store'), default=0)} | "
            f"{len(commits)}, {per:.1f}, {triple(list(d('commit')))} | "
            f"{triple(list(d('hold', lambda r: r['what'] == 'join')))} | "
            f"{triple(list(d('hold', lambda r: r['what'] in ('leave', 'moved'))))} | "
            f"{max((r['busy'] for r in ari), default=0)} / "
            f"{max((r['waiting'] for r in ari), default=0)} | {slowest} |"
        )
    return lines


def stalls_table(steps: list[Step], records: list[dict[str, Any]]) -> list[str]:
    """Per step, the event loop's stalls (`--trace`: its heartbeat late by more than
    bench/controller_trace.py's STALL) and garbage collections over 5 ms, with the
    stacks the stalls were sampled in most often."""
    if not records:
        return []
    lines = [
        "\nThe controller's loop stalls (`--trace`: its heartbeat late by > 40 ms, the main "
        "thread's stack sampled every 10 ms meanwhile) and its garbage collections > 5 ms:\n",
        "| cps | stalls | stalled ms (sum, longest) | watched ms (from each stall's "
        "detection on), of it the loop's thread: on a CPU / waiting for one / other "
        "threads ran | collections > 5 ms (by generation) "
        "| collections ms (sum, longest) | every collection: count, ms in all, by generation |",
        "|---:|---:|---:|---:|---|---:|---|",
    ]
    stacks: dict[str, list[float]] = {}
    for step in steps:
        mine = [r for r in records if step.began <= r["t"] <= step.ended]
        stalls = [r for r in mine if r["k"] == "stall"]
        gcs = [r for r in mine if r["k"] == "gc"]
        by_gen: dict[str, int] = {}
        for r in gcs:
            by_gen[r["what"]] = by_gen.get(r["what"], 0) + 1
        for r in stalls:
            stacks.setdefault(r["what"], []).append(r["d"])
        every: dict[str, list[float]] = {}
        for r in mine:
            if r["k"] == "gcsum":
                tally = every.setdefault(r["what"], [0, 0.0])
                tally[0] += r["n"]
                tally[1] += r["d"]
        lines.append(
            f"| {step.rate:g} | {len(stalls)} | {sum(r['d'] for r in stalls) * 1000:.0f}, "
            f"{max((r['d'] for r in stalls), default=0) * 1000:.0f} | "
            f"{sum(r.get('watched', 0) for r in stalls) * 1000:.0f}: "
            f"{sum(r.get('ran', 0) for r in stalls) * 1000:.0f} / "
            f"{sum(r.get('queued', 0) for r in stalls) * 1000:.0f} / "
            f"{sum(r.get('others', 0) for r in stalls) * 1000:.0f} | "
            f"{', '.join(f'{g} {n}' for g, n in sorted(by_gen.items())) or '-'} | "
            f"{sum(r['d'] for r in gcs) * 1000:.0f}, "
            f"{max((r['d'] for r in gcs), default=0) * 1000:.0f} | "
            + (
                ", ".join(f"{g} {n:.0f}, {ms * 1000:.0f}" for g, (n, ms) in sorted(every.items()))
                or "-"
            )
            + " |"
        )
    if stacks:
        lines.append("\nWhere the loop stalled most (innermost frame first; stalls, ms in all):\n")
        top = sorted(stacks.items(), key=lambda kv: -sum(kv[1]))[:5]
        lines += [f"- {len(ds)} x, {sum(ds) * 1000:.0f} ms: `{where}`" for where, ds in top]
    return lines


def per_call(records: list[dict[str, Any]], kind: str, calls: int) -> tuple[float, str]:
    """Records of a kind per call, all and by what (the commonest first)."""
    calls = max(calls, 1)
    counts: dict[str, int] = {}
    for r in records:
        if r["k"] == kind:
            counts[r["what"]] = counts.get(r["what"], 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{what} {n / calls:.1f}" for what, n in top if n / calls >= 0.05)
    return sum(counts.values()) / calls, text


def per_call_table(steps: list[Step], records: list[dict[str, Any]]) -> list[str]:
    """Per step, the ARI requests and events of a call (`--trace`): all of the step's
    divided by its calls, the commonest of each by kind."""
    if not records:
        return []
    lines = [
        "\nARI per call (`--trace`; the step's requests and events over its calls):\n",
        "| cps | calls | ARI requests per call | ARI events per call | requests per call, "
        "by kind | events per call, by type | SQL statements through SQLAlchemy per call, "
        "by text |",
        "|---:|---:|---:|---:|---|---|---|",
    ]
    for step in steps:
        mine = [r for r in records if step.began <= r["t"] <= step.ended]
        requests, by_request = per_call(mine, "ari", step.calls)
        events, by_event = per_call(mine, "event", step.calls)
        statements, by_statement = per_call(mine, "sql", step.calls)
        lines.append(
            f"| {step.rate:g} | {step.calls} | {requests:.1f} | {events:.1f} | {by_request} "
            f"| {by_event} | {statements:.2f}: {by_statement or '-'} |"
        )
    return lines


def processors_table(results: dict[str, list[Step]]) -> list[str]:
    """Per step and system, the messages Asterisk's task processors handled per call:
    in all, on the Stasis application's own queue (ARI events built for the
    controller, one thread), and the busiest kinds."""
    steps = [step for system in results.values() for step in system if step.processed]
    if not steps:
        return []
    lines = [
        "\nAsterisk's work per call (`core show taskprocessors` before and after each step: "
        "messages handled, over the step's calls; the task processors that live longer "
        "than a step, so a channel's own are not counted):\n",
        "| cps | system | messages per call | ARI application queue per call | busiest "
        "kinds per call |",
        "|---:|---|---:|---:|---|",
    ]
    for step in sorted(steps, key=lambda s: (s.rate, s.system)):
        calls = max(step.calls, 1)
        total = sum(max(n, 0) for n in step.processed.values())
        app = sum(n for kind, n in step.processed.items() if kind.startswith("stasis/m:ari:"))
        top = sorted(step.processed.items(), key=lambda kv: -kv[1])[:5]
        busiest = ", ".join(f"`{kind}` {n / calls:.1f}" for kind, n in top if n > 0)
        lines.append(
            f"| {step.rate:g} | {step.system} | {total / calls:.1f} | {app / calls:.1f} "
            f"| {busiest} |"
        )
    return lines


def asterisk_warnings(system: str, log: Path) -> list[str]:
    """What Asterisk warned about during the run, counted by kind (a task processor's
    queue growing is Asterisk itself waiting in line)."""
    kinds: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            if "WARNING" not in line and "ERROR" not in line:
                continue
            text = re.sub(r"^\S+ \S+ ", "", line)
            text = re.sub(r"\[\d+\]", "", text)
            # A task processor's whole name, its sequence number taken out: which queue
            # grew says what waited (stasis/m:manager:core is AMI's, stasis/m:ari:… ARI's).
            text = re.sub(r"-[0-9a-f]{8}'", "'", text)
            text = re.sub(r"\b\d+\b", "N", text)[:160]
            kinds[text] = kinds.get(text, 0) + 1
    if not kinds:
        return [f"Asterisk's log ({system}): no warning or error."]
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:4]
    return [f"Asterisk's log ({system}): " + "; ".join(f"{n} x `{k}`" for k, n in top) + "."]


# ---------------------------------------------------------------- report


def triple(values: list[float | None]) -> str:
    return " / ".join(fmt_ms(percentile(values, q)) for q in (50, 95, 99))


def row(step: Step) -> str:
    v = step.verdicts
    lengths = [x.call_seconds for x in v if x.call_seconds is not None]
    average = f"{sum(lengths) / len(lengths):.2f}" if lengths else "-"
    p95 = percentile(lengths, 95)
    controller = "-" if step.controller_cpu is None else f"{step.pct('controller'):.0f}"
    controller_ms = "-" if step.controller_cpu is None else f"{step.ms_per_call('controller'):.1f}"
    return (
        f"| {step.rate:g} | {step.system} | {step.ok} / {step.calls} | {average} / "
        f"{'-' if p95 is None else f'{p95:.2f}'} | {triple([x.answer_latency for x in v])} | "
        f"{triple([x.key_to_ring for x in v])} | {triple([x.answer_to_talk for x in v])} | "
        f"{controller} | {step.pct('asterisk'):.0f} | {step.sipp_cpu * 100 / step.seconds:.0f} | "
        f"{step.machine_busy:.0f} | {busiest(step)} | {controller_ms} | "
        f"{step.ms_per_call('asterisk'):.1f} | {step.load:.1f} | {step.ran_out()} | "
        f"{step.seconds:.0f} |"
    )


def busiest(step: Step) -> str:
    """'machine / Asterisk / controller' CPU % in the step's busiest seconds."""
    if step.busiest is None:
        return "-"
    machine, asterisk, controller = step.busiest
    mine = "-" if step.controller_cpu is None else f"{controller:.0f}"
    return f"{machine:.0f} / {asterisk:.0f} / {mine}"


def report(
    results: dict[str, list[Step]],
    command: str,
    prompt_seconds: float,
    args: argparse.Namespace,
    seconds: float,
    notes: list[str],
    trace: list[dict[str, Any]] | None = None,
) -> None:
    results = dict(results)
    overload = results.pop("Hotline overload", [])
    print("## SIPp load: Hotline vs plain dialplan with app_queue\n")
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.system()}; SIPp callers and agents' "
        f"phones run on the same machine  "
    )
    print(f"{args.box_speed}  ")
    print(
        f"Scenario: answer -> prompt ({prompt_seconds:.1f} s) -> one key (RFC 2833) -> queue "
        f"-> {args.agents} auto-answering agents (ring {RING:g} s, then {args.agent_talk:g} s "
        f"on the line, agent hangs up); Hotline's store: {args.database}. Each step: a fixed "
        f"rate for {seconds:g} s, then the calls drain.  \n"
        f"**A call is ok only if** the caller's SIPp completed it and Asterisk had the "
        f"caller's channel in one bridge with the channel of the agent whose phone answered "
        f"for them for at least {TALK:g} s (AMI BridgeEnter/BridgeLeave, per call; "
        f"bench/call_evidence.py). The ramp stops at the first step with a call not ok.  \n"
        f"Times per call (ms, p50 / p95 / p99): answer = the caller's INVITE -> 200 OK; "
        f"key -> ring = the caller's key sent -> the first agent's phone rung; answer -> "
        f"talk = the agent's 200 OK -> caller and agent in one bridge. Call length: INVITE "
        f"-> BYE at the caller (s). CPU: percent of one core over the step (machine: of all "
        f"cores); ms/call: CPU-milliseconds per call of the step. Load: the 1-minute load "
        f"average as the step began. Busiest {CpuTimeline.WINDOW:g} s: the machine's CPU "
        f"(of all cores), Asterisk's and the controller's (of one core) in the "
        f"{CpuTimeline.WINDOW:g} seconds of the step in which the machine was busiest: the "
        f"step's average hides a saturated middle. Ran out: a resource used >= 95 % over "
        f"the step, or every core busy for those {CpuTimeline.WINDOW:g} s.\n"
    )
    print(
        "| cps | system | ok / calls | call length avg / p95 (s) | answer (ms) "
        "| key -> ring (ms) | answer -> talk (ms) | controller CPU % | Asterisk CPU % "
        f"| SIPp CPU % | machine CPU % | busiest {CpuTimeline.WINDOW:g} s: machine / "
        "Asterisk / controller % "
        "| controller ms/call | Asterisk ms/call | load | ran out | step (s) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    everything = sorted(
        (s for steps in results.values() for s in steps), key=lambda s: (s.rate, s.system)
    )
    for step in everything:
        print(row(step))
    print()
    for system, steps in results.items():
        clean = [s.rate for s in steps if s.clean]
        stopped = bool(steps) and not steps[-1].clean
        text = f"{'' if stopped else '>= '}{max(clean):g} cps" if clean else "none"
        print(f"Highest clean rate, {system}: **{text}**  ")
    print("('>=': every step was clean up to the last rate tried, so the limit is higher).  ")
    for step in everything:
        if not step.clean:
            reasons = ", ".join(f"{n} {why}" for why, n in step.reasons().items())
            errors = f"; SIPp says: {step.errors}" if step.errors else ""
            print(
                f"{step.system} at {step.rate:g} cps: {step.calls - step.ok} not ok "
                f"({reasons}){errors}.  "
            )
    hotline = [s for s in results.get("Hotline", []) if s.segments]
    if hotline:
        print(
            "\nHotline's event log, per call (ms, p50 / p95 / p99 of the time between two "
            "events of the same contact; the store's timestamps), and the callers whose "
            "`queue.connected` is missing or came after their agent's phone hung up "
            "(SIPp):\n"
        )
        names = list(hotline[0].segments)
        print(
            "| cps | " + " | ".join(names) + " | connected late | loop lag p99 (ms) "
            "| ARI requests | ARI round trip p50 / p99 (ms) | ARI connections (peak) |"
        )
        print("|---:|" + "---:|" * (len(names) + 5))
        for step in hotline:
            cells = [triple(list(step.segments.get(name, []))) for name in names]
            lag = "-" if step.loop_lag is None else f"{step.loop_lag:.0f}"
            print(
                f"| {step.rate:g} | "
                + " | ".join(cells)
                + f" | {step.connected_late} | {lag} | {step.ari_requests} | "
                f"{step.ari_p50} / {step.ari_p99} | {step.ari_connections} |"
            )
    if trace and hotline:
        for line in (
            trace_table(hotline, trace)
            + per_call_table(hotline, trace)
            + stalls_table(hotline, trace)
        ):
            print(line)
    for line in processors_table(results):
        print(line)
    for step in overload:
        print(overload_report(step, args.overload_settings))
    for note in notes:
        print(f"\n{note}  ")
    print()


Limits = dict[str, float]

#: The overload step's latency limits (Hotline's defaults, 1000 and 2000 ms, are
#: backstops for a box nobody sized): at the highest clean rates the loop lag's p99
#: stayed <= 50 ms and the ARI round trips' p99 <= 100 ms (docs/benchmarks.md), so
#: twice that means the calls in progress are slowing down.
OVERLOAD_LATENCY = {"max_loop_lag_ms": 100.0, "max_ari_latency_ms": 250.0}


def limits_of(args: argparse.Namespace) -> Limits:
    """The overload limits given on the command line (--max-calls, --max-rate)."""
    given = {"max_calls": args.max_calls, "max_rate": args.max_rate}
    return {name: value for name, value in given.items() if value is not None}


def overload_plan(args: argparse.Namespace, steps: list[Step]) -> tuple[float, Limits] | None:
    """The overload step's rate (--overload-rate, or twice the first rate that was not
    clean when the ramp found Hotline's limit) and its overload limits: as given
    (--max-calls, --max-rate), or sized from the last clean step as an operator sizes
    them, with headroom (--headroom, 0.8): max_rate = 80 % of its rate, max_calls =
    80 % of its calls in progress (rate x average call length). Limits at the measured
    edge leave none: the callers turned away cost CPU too, and one run of the edge can
    land either side of it (docs/benchmarks.md, "Overload"). None: no overload step."""
    if args.no_overload:
        return None
    clean = [s for s in steps if s.clean]
    if args.overload_rate:
        rate = float(args.overload_rate)
    elif not clean or steps[-1].clean:  # no limit found: nothing is above it
        return None
    else:
        rate = 2 * steps[-1].rate
    limits = limits_of(args)
    if not limits and clean:
        lengths = [v.call_seconds for v in clean[-1].verdicts if v.call_seconds is not None]
        in_progress = clean[-1].rate * (sum(lengths) / len(lengths) if lengths else 1.0)
        limits = {
            "max_calls": max(1, round(args.headroom * in_progress)),
            "max_rate": max(1.0, round(args.headroom * clean[-1].rate, 1)),
        }
    return rate, limits


def overload_report(step: Step, limits: dict[str, object]) -> str:
    """The step well above capacity: who was turned away, and how the calls let in
    fared (their figures next to the ramp's)."""
    admitted = step.admitted
    ok = sum(v.ok for v in admitted)
    limit = (
        ", ".join(f"overload.{name} {value}" for name, value in limits.items())
        or "the default backstops only"
    )
    clean = ok == len(admitted) and step.refused_total + len(admitted) == step.calls
    lines = [
        f"\n### Overload: {step.rate:g} cps against Hotline ({limit})\n",
        "A step well above capacity: each new call is let in or turned away at the door "
        "(SIP 486, by the dialplan before Stasis for `max_calls` and `max_rate`, counted on "
        "/metrics as `hotline_calls_refused_total`). **Clean** if every "
        "call let in talked to its agent by the rules above and every other one was "
        "turned away (none answered and then dropped).\n",
        "| cps | calls | turned away | let in | let in ok | answer (ms) | key -> ring (ms) "
        "| answer -> talk (ms) | call length avg / p95 (s) | controller ms/call | "
        "Asterisk ms/call | machine CPU % | load | clean |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lengths = [v.call_seconds for v in admitted if v.call_seconds is not None]
    average = f"{sum(lengths) / len(lengths):.2f}" if lengths else "-"
    p95 = percentile(lengths, 95)
    lines.append(
        f"| {step.rate:g} | {step.calls} | {step.refused_total} | {len(admitted)} | {ok} | "
        f"{triple([v.answer_latency for v in admitted])} | "
        f"{triple([v.key_to_ring for v in admitted])} | "
        f"{triple([v.answer_to_talk for v in admitted])} | {average} / "
        f"{'-' if p95 is None else f'{p95:.2f}'} | {step.ms_per_call('controller'):.1f} | "
        f"{step.ms_per_call('asterisk'):.1f} | {step.machine_busy:.0f} | {step.load:.1f} | "
        f"{'yes' if clean else 'no'} |"
    )
    why = ", ".join(f"{n} {reason}" for reason, n in step.refused.items() if n)
    lines.append(f"\nTurned away, by the limit they hit: {why or 'none'}.")
    bad = [v for v in admitted if not v.ok]
    if bad:
        reasons: dict[str, int] = {}
        for v in bad:
            reasons[v.reason] = reasons.get(v.reason, 0) + 1
        lines.append(f"\nLet in but not ok: {reasons}.")
    return "\n".join(lines)


# ---------------------------------------------------------------- one Hotline step (tests)


@dataclass
class HotlineStep:
    step: Step
    log_tail: str


def hotline_step(
    workdir: Path,
    rate: float,
    seconds: float,
    agents: int,
    *,
    agent_talk: float = TALK + GRACE,
    talk: float = TALK,
    progress: Callable[[str], None] = say,
) -> HotlineStep:
    """One load step on a Hotline of its own (the regression guard in make test):
    `agents` phones on the line `agent_talk` s after answering, callers at `rate` for
    `seconds`, each judged (`talk`: the least time in conversation for a call to be ok);
    Hotline's event log added. Everything it starts is stopped."""
    phones = Phones(workdir / "phones", agents, talk=agent_talk)
    hotline: Hotline | None = None
    target: Target | None = None
    try:
        phones.start()
        flows = workdir / "flows"
        shutil.copytree(HOME / "bench/flows", flows)
        config = bench_config(f"guard-{os.getpid()}", phones, flows, rtp_ports=400)
        hotline = Hotline(workdir / "hotline", config)
        hotline.workdir.mkdir()
        progress("starting hotline run")
        hotline.start()
        prompt_seconds = published_prompt(hotline, workdir)[1]
        target = hotline.target(phones)
        time.sleep(1)  # agents' presence settles
        step = run_step(workdir / "hotline", target, 0, rate, seconds, phones, prompt_seconds, talk)
        log_tail = hotline.log_tail()
        hotline.stop()
        hotline = None
        add_event_log([step], workdir / "hotline/state/hotline.db", phones)
        return HotlineStep(step, log_tail)
    finally:
        if target is not None:
            target.bridges.stop()
        if hotline is not None:
            hotline.stop()
        phones.stop()


def published_prompt(hotline: Hotline, workdir: Path) -> tuple[Path, float]:
    """The welcome prompt Hotline published (copied for app_queue) and its length."""
    published = hotline.instance_dir / "sounds/en/welcome.wav"
    for _ in range(50):
        if published.exists():
            break
        time.sleep(0.2)
    prompt = workdir / "welcome.wav"
    shutil.copyfile(published, prompt)
    with wave.open(str(prompt)) as wav:
        return prompt, wav.getnframes() / wav.getframerate()


# ---------------------------------------------------------------- the whole ramp


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s per step, fewer steps")
    parser.add_argument("--agents", type=int, default=250)
    parser.add_argument("--step-seconds", type=float, default=None)
    parser.add_argument("--rates", default=None, help="comma-separated calls per second")
    parser.add_argument(
        "--agent-talk",
        type=float,
        default=TALK + GRACE,
        help=f"seconds an agent stays on the line after answering (default {TALK + GRACE:g}); "
        f"a call is ok with >= {TALK:g} s in conversation, so 0 is a broken variant (the "
        "agent hangs up at once) that no step may pass",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="Hotline's store: SQLite in its state folder (the default config) or a "
        "private PostgreSQL 15 server (tests/pg.py: fsync off)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="ramp Hotline only, not app_queue"
    )
    parser.add_argument(
        "--rtp-ports",
        type=int,
        default=3000,
        help="Asterisk's RTP port range per system (4 ports a call: 2 legs, RTP + RTCP)",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="run the controller with timing probes (bench/controller_trace.py) and report "
        "what it waited for",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="folder for py-spy's samples of the controller during each step (collapsed "
        "stacks; summarise with bench/profile_top.py)",
    )
    parser.add_argument(
        "--max-calls",
        type=int,
        default=None,
        help="Hotline's overload admission: calls in progress at which new calls are "
        "turned away busy (overload.max_calls; default: the config's backstops only)",
    )
    parser.add_argument(
        "--max-rate",
        type=float,
        default=None,
        help="Hotline's overload admission: new calls let in per second at most, the "
        "rest turned away busy (overload.max_rate; default: off)",
    )
    parser.add_argument(
        "--overload-rate",
        type=float,
        default=None,
        help="after Hotline's ramp, one step at this rate (well above capacity): the "
        "calls let in must all be clean, the rest turned away busy and counted",
    )
    parser.add_argument(
        "--no-overload",
        action="store_true",
        help="no overload step (by default, when Hotline's ramp found its limit, one step "
        "at twice the first rate that was not clean, with overload.max_calls and "
        "overload.max_rate sized from the last clean step with --headroom: that share of "
        "its rate times its average call length, and of its rate; --overload-rate alone "
        "sizes them the same way)",
    )
    parser.add_argument(
        "--headroom",
        type=float,
        default=0.8,
        help="the overload limits the bench sizes, as a share of the last clean step's "
        "rate and calls in progress (default 0.8: 80 %%)",
    )
    parser.add_argument("--budget", type=float, default=None, help="seconds, both systems")
    parser.add_argument(
        "--event-loop",
        choices=("uvloop", "asyncio"),
        default=None,
        help="the controller's event loop (HOTLINE_EVENT_LOOP; default: uvloop when "
        "installed, as `hotline run` does)",
    )
    args = parser.parse_args()
    args.box_speed = box_speed_line()  # before anything of the bench's runs
    if args.event_loop:  # `hotline run` inherits this process's environment
        os.environ["HOTLINE_EVENT_LOOP"] = args.event_loop
    seconds = args.step_seconds or (5.0 if args.quick else 10.0)
    default_rates = "8,16,32" if args.quick else "8,16,32,48,64,96,128"
    rates = [float(r) for r in (args.rates or default_rates).split(",")]
    budget = args.budget or (240.0 if args.quick else 900.0)
    command = " ".join(["python bench/bench_sipp_load.py", *sys.argv[1:]])

    workdir = Path(tempfile.mkdtemp(prefix="bench-sipp-"))
    tag = f"{os.getpid()}"
    phones = Phones(workdir / "phones", args.agents, talk=args.agent_talk)
    hotline: Hotline | None = None
    appqueue: AppQueueInstance | None = None
    targets: list[Target] = []
    results: dict[str, list[Step]] = {}
    prompt_seconds = 0.0
    notes: list[str] = []
    postgres = contextlib.ExitStack()
    trace_file = workdir / "trace.jsonl" if args.trace else None
    try:
        phones.start()
        flows = workdir / "flows"
        shutil.copytree(HOME / "bench/flows", flows)
        hotline = Hotline(
            workdir / "hotline", bench_config(f"bench-hl-{tag}", phones, flows, args.rtp_ports)
        )
        hotline.trace = trace_file
        if limits_of(args):
            hotline.config["overload"] = {**limits_of(args), "answer": "busy"}
        if args.database == "postgres":
            from tests.pg import private_postgres

            say("starting a private PostgreSQL")
            server = postgres.enter_context(private_postgres())
            hotline.config["database_url"] = server.create_database("hotline_bench")
        hotline.workdir.mkdir()
        say("starting hotline run")
        hotline.start()
        prompt, prompt_seconds = published_prompt(hotline, workdir)
        targets.append(hotline.target(phones))
        targets[-1].profile = args.profile
        time.sleep(2)  # agents' presence settles
        results["Hotline"] = ramp(
            workdir / "hotline",
            targets[-1],
            rates,
            seconds,
            phones,
            prompt_seconds,
            time.monotonic() + budget / 2,
        )
        plan = overload_plan(args, results["Hotline"])
        if plan is not None:
            rate, limits = plan
            args.overload_settings = {**limits, **OVERLOAD_LATENCY, "answer": "busy"}
            if hotline.config.get("overload") != args.overload_settings:  # read at start
                say(f"restarting hotline with overload {args.overload_settings}")
                targets[-1].bridges.stop()
                notes += asterisk_warnings("Hotline", hotline.instance_dir / "log/messages.log")
                hotline.stop()
                hotline.config["overload"] = args.overload_settings
                hotline.start()
                targets[-1] = hotline.target(phones)
                targets[-1].profile = args.profile
            time.sleep(5)  # the last calls drain, agents' presence settles
            overload = run_step(
                workdir / "hotline", targets[-1], 90, rate, seconds, phones, prompt_seconds
            )
            say(
                f"Hotline overload at {rate:g} cps: {overload.refused_total} turned away, "
                f"{sum(v.ok for v in overload.admitted)}/{len(overload.admitted)} let in ok"
            )
            results["Hotline overload"] = [overload]
        say("stopping hotline")
        targets[-1].bridges.stop()
        notes += asterisk_warnings("Hotline", hotline.instance_dir / "log/messages.log")
        hotline.stop()
        hotline = None
        if args.database == "sqlite":
            steps = results["Hotline"] + results.get("Hotline overload", [])
            add_event_log(steps, workdir / "hotline/state/hotline.db", phones)
        if not args.no_baseline:
            (workdir / "appqueue").mkdir()
            appqueue = appqueue_instance(f"bench-aq-{tag}", phones, prompt, workdir, args.rtp_ports)
            say("starting the app_queue baseline")
            appqueue.start()
            targets.append(appqueue_target(appqueue, phones))
            time.sleep(1)
            results["app_queue"] = ramp(
                workdir / "appqueue",
                targets[-1],
                rates,
                seconds,
                phones,
                prompt_seconds,
                time.monotonic() + budget / 2,
            )
            notes += asterisk_warnings("app_queue", appqueue.host("log/messages.log"))
    except Exception as error:  # report what was measured
        notes.append(f"Run stopped early: {type(error).__name__}: {str(error)[:300]}")
        say(f"error: {error}")
    finally:
        for target in targets:
            target.bridges.stop()
        if hotline is not None:
            hotline.stop()
        postgres.close()
        if appqueue is not None:
            appqueue.stop()
            appqueue.remove()
        phones.stop()
        trace = trace_records(trace_file) if trace_file is not None else []
        if args.keep:
            say(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results, command, prompt_seconds, args, seconds, notes, trace)
    return 1 if any(note.startswith("Run stopped early") for note in notes) else 0


if __name__ == "__main__":
    sys.exit(main())
