"""Soak: hours of steady concurrent calls must leak nothing and lose nothing.

    python bench/bench_soak.py [--minutes 30] [--concurrent 200] [--agents 50] [--talk 10]

A `hotline run` with its own Asterisk on free loopback ports (as bench_sipp_load.py
starts it) serves one flow: a short prompt, one key (RFC 2833), then the `soak` queue
with music on hold, position announcements every 15 s and conversations recorded, served
by auto-answering SIPp agents (ring 0.2 s, talk --talk s, the agent hangs up). One
SIPp caller process keeps --concurrent calls up (`-l`) for --minutes: with fewer agents
than callers, most callers wait in the queue, hearing music and announcements.

Checked at the end, after the last call: 0 failed calls (SIPp) and as many agent calls
as caller calls; no channel or bridge left in Asterisk; no contact left active in the
store, one `recording.saved` per conversation and as many stored recordings in Asterisk;
the controller's and Asterisk's open file descriptors back where they started; the
controller's memory flat (resident size sampled every 10 s: the last third of the run
against the first third). The /api/health round trip, probed twice a second, stands for
the controller's event-loop lag (the request is served on the same loop as the calls).

`soak()` is also the shortened soak `make test` runs (tests/e2e/test_soak.py).
Prints a Markdown section to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

from ari_app.holding import is_idle_holding  # noqa: E402
from bench.bench_sipp_load import (  # noqa: E402
    HealthProbe,
    Hotline,
    Phones,
    bench_config,
    counter,
    cpu_seconds,
    first_errors,
    last_stats,
    stop_process,
)
from bench.call_evidence import (  # noqa: E402
    BridgeWatch,
    agent_timeline,
    caller_timeline,
    instrument_caller,
    judge,
    percentile,
)
from hotline.store import Store  # noqa: E402
from tests.e2e.ports import free_port  # noqa: E402
from tests.e2e.sipp import (  # noqa: E402
    GATE_REQUEST,
    ExpectHangup,
    Gate,
    HangUp,
    Keys,
    Wait,
    scenario,
)

NUMBER = "800"
CALLER = "7[call_number]"  # the soak's caller numbers: 71, 72, ...
RING = 0.2


def say(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int | None) -> float:
    """Resident memory of a process in MB (0 when gone)."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int | None) -> Counter[str]:
    """The process's open file descriptors by kind: socket, pipe, anon_inode:[eventfd]
    and the like, or the file's path (what a leak is made of, when there is one)."""
    kinds: Counter[str] = Counter()
    with contextlib.suppress(OSError, TypeError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(("socket:", "pipe:")):
                    target = target.split(":[")[0]  # which one does not matter
                kinds[target] += 1
    return kinds


def held_callers(bridges: list[dict[str, Any]]) -> int:
    """Callers waiting in holding bridges (one of their own each: ari_app/holding.py)."""
    return sum(len(b["channels"]) for b in bridges if str(b.get("id", "")).startswith("hold-"))


@dataclass
class KeyGate:
    """Opens each SIPp caller's Gate once its flow has played the menu's prompt, as
    Hotline's event log shows (`prompt.played` of the caller's contact), from a thread:
    the caller keys when the menu listens, not after a pause guessed for an idle
    machine (tests/e2e/sipp.py's Gate, for a SIPp process of many calls: its calls'
    Call-IDs are "<call number>-<pid>@127.0.0.1", its callers "7<call number>")."""

    db: Path
    port: int  # the callers' SIPp's SIP port
    pid: int  # the callers' SIPp's process id
    opened: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> KeyGate:
        threading.Thread(target=self.run, daemon=True).start()
        return self

    def run(self) -> None:
        last = 0
        while not self.stop.wait(0.1):
            with contextlib.suppress(sqlite3.Error):
                with contextlib.closing(
                    sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1)
                ) as con:
                    rows = con.execute(
                        "SELECT e.id, c.source FROM contact_events e JOIN contacts c "
                        "ON c.id = e.contact_id WHERE e.type = 'prompt.played' AND e.id > ? "
                        "ORDER BY e.id",
                        (last,),
                    ).fetchall()
                for event_id, source in rows:
                    last = max(last, event_id)
                    self.open(str(source))

    def open(self, caller: str) -> None:
        number = caller.removeprefix("sip:").split("@")[0]
        if number in self.opened or not number.startswith("7") or not number[1:].isdigit():
            return
        self.opened.add(number)
        call_id = f"{number[1:]}-{self.pid}@127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            here = sock.getsockname()[1]
            message = (
                f"{GATE_REQUEST} sip:{number}@127.0.0.1:{self.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK-gate-{number}\r\n"
                f"From: <sip:gate@127.0.0.1:{here}>;tag=gate{number}\r\n"
                f"To: <sip:{number}@127.0.0.1:{self.port}>\r\n"
                f"Call-ID: {call_id}\r\n"
                f"CSeq: 101 {GATE_REQUEST}\r\n"
                "Max-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            sock.sendto(message.encode(), ("127.0.0.1", self.port))


@dataclass
class LoadedHotline:
    """A bench Hotline with its queue and agents' phones; the pieces every run needs."""

    workdir: Path
    agents: int
    talk: float
    queue: dict[str, Any]
    hotline: Hotline | None = None
    phones: Phones | None = None
    prompt_seconds: float = 0.0
    #: Opens the callers' Gate steps (`callers` with a Gate in their steps).
    gate: KeyGate | None = None

    def start(self) -> LoadedHotline:
        self.phones = Phones(self.workdir / "phones", self.agents, ring=RING, talk=self.talk)
        self.phones.start()
        flows = self.workdir / "flows"
        shutil.copytree(HOME / "bench/flows", flows)
        config = bench_config(f"soak-{os.getpid()}-{id(self) % 10000}", self.phones, flows)
        config["queues"] = {"bench": self.queue}
        (self.workdir / "hotline").mkdir()
        self.hotline = Hotline(self.workdir / "hotline", config)
        self.hotline.start()
        published = self.hotline.instance_dir / "sounds/en/welcome.wav"
        for _ in range(50):
            if published.exists():
                break
            time.sleep(0.2)
        with wave.open(str(published)) as wav:
            self.prompt_seconds = wav.getnframes() / wav.getframerate()
        return self

    @property
    def config(self) -> dict[str, Any]:
        assert self.hotline is not None
        return self.hotline.config

    @property
    def controller_pid(self) -> int | None:
        return self.hotline.proc.pid if self.hotline and self.hotline.proc else None

    @property
    def asterisk_pid(self) -> int | None:
        return self.hotline.asterisk_pid() if self.hotline else None

    def ari(self, path: str) -> Any:
        import yaml

        secrets = yaml.safe_load((self.workdir / "hotline/state/secrets.yaml").read_text())
        url = f"http://127.0.0.1:{self.config['asterisk']['http_port']}/ari"
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, url, secrets["ari_user"], secrets["ari_password"])
        opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
        with opener.open(f"{url}/{path}", timeout=10) as response:
            return json.loads(response.read())

    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.config['web']['port']}/api/health"

    def callers(
        self, steps: list[Any], rate: float, limit: int, calls: int, *, evidence: bool = False
    ) -> subprocess.Popen:
        """SIPp callers "7<call number>"; with `evidence` their scenario logs its timeline
        (bench/call_evidence.py) to callers/calls.log, for `judge`."""
        folder = self.workdir / "callers"
        folder.mkdir(exist_ok=True)
        file = folder / "caller.xml"
        text = scenario(NUMBER, CALLER, steps, folder, name="soak caller")
        file.write_text(instrument_caller(text, CALLER) if evidence else text)
        logs = ["-trace_logs", "-log_file", str(self.caller_log)] if evidence else []
        port = free_port("udp")
        proc = subprocess.Popen(
            [
                "sipp",
                f"127.0.0.1:{self.config['asterisk']['sip_port']}",
                "-sf",
                str(file),
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-mi",
                "127.0.0.1",
                "-mp",
                str(free_port("udp", even=True)),
                "-r",
                f"{rate:g}",
                "-l",
                str(limit),
                "-m",
                str(calls),
                "-nostdin",
                "-recv_timeout",
                "600000",
                "-trace_stat",
                "-stf",
                str(folder / "stats.csv"),
                "-fd",
                "2",
                "-trace_err",
                "-error_file",
                str(folder / "errors.log"),
                *logs,
            ],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if any(isinstance(step, Gate) for step in steps):
            db = self.workdir / "hotline/state/hotline.db"
            self.gate = KeyGate(db, port, proc.pid).start()
        return proc

    @property
    def caller_log(self) -> Path:
        return self.workdir / "callers/calls.log"

    def bridges(self) -> BridgeWatch:
        """Asterisk's BridgeEnter/BridgeLeave over AMI, followed from now on."""
        import yaml

        assert self.phones is not None
        secrets = yaml.safe_load((self.workdir / "hotline/state/secrets.yaml").read_text())
        return BridgeWatch(
            self.config["asterisk"]["ami_port"],
            secrets["ami_user"],
            secrets["ami_secret"],
            frozenset(self.phones.endpoints()),
        ).start()

    def caller_stats(self) -> dict[str, str]:
        return last_stats(self.workdir / "callers/stats.csv")

    def caller_errors(self) -> str:
        return first_errors(self.workdir / "callers/errors.log")

    def drained(self, timeout: float = 60) -> tuple[int, int]:
        """Channels and bridges left in Asterisk once the calls have had time to end
        (the running controller's idle holding bridges are its pool, not left)."""
        deadline = time.monotonic() + timeout
        channels = bridges = -1
        while time.monotonic() < deadline:
            channels = len(self.ari("channels"))
            bridges = sum(1 for b in self.ari("bridges") if not is_idle_holding(b))
            if channels == 0 and bridges == 0:
                break
            time.sleep(1)
        return channels, bridges

    def store_counts(self) -> dict[str, int]:
        """Contacts, contacts still active, recording.saved events."""

        async def read() -> dict[str, int]:
            from datetime import UTC, datetime

            url = f"sqlite+aiosqlite:///{self.workdir / 'hotline/state/hotline.db'}"
            store = await Store.connect(self.config.get("database_url") or url)
            try:
                contacts = await store.recent_contacts(1_000_000)
                saved = await store.events_between(
                    datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC), ["recording.saved"]
                )
                return {
                    "contacts": len(contacts),
                    "active": sum(1 for c in contacts if c.status == "active"),
                    "saved": sum(1 for e in saved if e.data.get("outcome") == "recorded"),
                    "recording_events": len(saved),
                }
            finally:
                await store.close()

        return asyncio.run(read())

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.stop.set()
        if self.hotline is not None:
            self.hotline.stop()
        if self.phones is not None:
            self.phones.stop()


@dataclass
class SoakResult:
    concurrent: int
    agents: int
    talk: float
    seconds: float
    calls: int
    ok: int
    failed: int
    #: Callers who talked to the agent whose phone answered for them (judged per call).
    bridged: int
    peak_channels: int
    channels_left: int
    bridges_left: int
    contacts: int
    active_left: int
    recordings_saved: int
    recordings_stored: int
    fds: dict[str, tuple[int, int]]
    #: What the open files that are more at the end than at the start are, by kind.
    fds_more: dict[str, dict[str, int]]
    rss_first_third: float
    rss_last_third: float
    rss_peak: float
    controller_cpu: float
    asterisk_cpu: float
    health_ms: dict[str, float]
    errors: str = ""
    #: Why the calls that did not count did not, with how many.
    not_talked: dict[str, int] = field(default_factory=dict)

    @property
    def rss_growth(self) -> float:
        return self.rss_last_third - self.rss_first_third

    @property
    def problems(self) -> list[str]:
        """What went wrong; empty when the soak is clean."""
        found = []
        if self.failed or self.ok != self.calls:
            found.append(f"{self.failed} failed calls ({self.ok}/{self.calls} ok)")
        if self.bridged < self.ok:
            why = ", ".join(f"{n} x {reason}" for reason, n in self.not_talked.items())
            found.append(f"only {self.bridged} of {self.ok} callers talked to an agent ({why})")
        if self.channels_left or self.bridges_left:
            found.append(
                f"left in Asterisk: {self.channels_left} channels, {self.bridges_left} bridges"
            )
        if self.active_left or self.contacts < self.calls:
            found.append(
                f"{self.active_left} contacts still active, {self.contacts} of {self.calls} logged"
            )
        if self.recordings_saved != self.recordings_stored:
            found.append(
                f"{self.recordings_saved} recordings saved, "
                f"{self.recordings_stored} stored in Asterisk"
            )
        for who, (start, end) in self.fds.items():
            if end > start + 5:
                more = ", ".join(f"{n} x {kind}" for kind, n in self.fds_more[who].items())
                found.append(f"{who} file descriptors {start} -> {end} (more: {more})")
        # Flat: allow for warm-up (caches, pools) but not growth with the calls made.
        if self.rss_growth > max(25.0, 0.15 * self.rss_first_third):
            found.append(
                f"controller memory grew {self.rss_first_third:.0f} -> {self.rss_last_third:.0f} MB"
            )
        return found


def soak(
    workdir: Path,
    *,
    seconds: float,
    concurrent: int,
    agents: int,
    talk: float,
    progress: Callable[[str], None] = say,
) -> SoakResult:
    """Run the soak (see the module docstring) and measure it."""
    queue = {
        "strategy": "longest_idle",
        "ring_timeout": 15,
        "wrap_up": 0,
        "music_on_hold": "default",
        "recording": "on",
        "announcements": {"position_every": 15},
    }
    load = LoadedHotline(workdir, agents, talk, queue)
    try:
        load.start()
        time.sleep(2)  # the agents' presence settles
        assert load.phones is not None
        throughput = agents / (RING + talk + 0.3)
        calls = max(concurrent, int(throughput * seconds))
        # Each caller keys once its menu listens (KeyGate: the prompt played, as the event
        # log says): a key played at a fixed time fell inside a prompt that began 2.7 s
        # late on a loaded box, and the menu (no barge-in) never heard it.
        steps = [
            Gate(120),
            Keys("1", gap=0.3),
            Wait(round(RING + talk - 0.5, 2)),
            ExpectHangup(600),
        ]
        ctl, ast = load.controller_pid, load.asterisk_pid
        files_before = {"controller": open_fds(ctl), "Asterisk": open_fds(ast)}
        fds_before = {who: files_before[who].total() for who in files_before}
        cpu_before = (cpu_seconds(ctl), cpu_seconds(ast))
        probe = HealthProbe(load.health_url()).start()
        started = time.monotonic()
        progress(f"{calls} calls, {concurrent} at a time, {agents} agents talking {talk:g} s")
        bridges = load.bridges()
        sipp = load.callers(
            steps, rate=max(2.0, 2 * throughput), limit=concurrent, calls=calls, evidence=True
        )
        samples: list[tuple[float, float]] = []
        peak = 0
        next_report = started + 60
        next_sample = started + 10
        while sipp.poll() is None:
            # Sampled every 10 s, but the end is seen within half a second (a 10 s sleep
            # added 5 s to every run, on average, after the last call).
            time.sleep(0.5)
            now = time.monotonic()
            if now < next_sample:
                continue
            next_sample = now + 10
            samples.append((now - started, rss_mb(ctl)))
            with contextlib.suppress(OSError, ValueError):
                peak = max(peak, len(load.ari("channels")))
            if now >= next_report:
                row = load.caller_stats()
                progress(
                    f"{(now - started) / 60:.0f} min: {counter(row, 'SuccessfulCall(C)')} ok, "
                    f"{counter(row, 'FailedCall(C)')} failed, controller {samples[-1][1]:.0f} MB"
                )
                next_report = now + 60
            if now - started > seconds + 900:
                progress("callers overran by 15 minutes: stopping them")
                stop_process(sipp)
        elapsed = time.monotonic() - started
        cpu_after = (cpu_seconds(ctl), cpu_seconds(ast))
        probe.stop.set()
        time.sleep(1.5)  # the phones' stats catch up
        row = load.caller_stats()
        ok = counter(row, "SuccessfulCall(C)")
        channels_left, bridges_left = load.drained()
        bridges.stop()
        # The phones' call logs are whole once they have exited (SIGUSR1: SIPp's graceful
        # stop; every call has ended by now).
        for phone in load.phones.procs:
            stop_process(phone, signal.SIGUSR1, wait=15)
        # A call counts only if the caller talked to the agent whose phone answered for
        # them (bench/call_evidence.py: the caller's SIPp, the agents' phones, Asterisk's
        # bridges), in one bridge from before that agent hung up, for at least half the
        # agent's time on the line (the soak is about leaks, not answer latency: that is
        # bench_sipp_load's).
        verdicts = judge(
            [CALLER.replace("[call_number]", str(n)) for n in range(1, calls + 1)],
            caller_timeline([load.caller_log]),
            agent_timeline(load.phones.logs),
            bridges.snapshot(),
            talk / 2,
        )
        talked = sorted(v.talked for v in verdicts if v.talked is not None)
        if talked:
            progress(
                f"talked (s): min {talked[0]:.2f}, p5 {talked[len(talked) // 20]:.2f}, "
                f"median {talked[len(talked) // 2]:.2f}"
            )
        not_talked = Counter(
            re.sub(r"talked [\d.]+ s", "talked less", v.reason) for v in verdicts if not v.ok
        )
        counts = load.store_counts()
        stored = len(load.ari("recordings/stored"))
        # Idle keep-alive connections (ARI, the store) close within ~15 s: wait for them.
        settle = time.monotonic() + 30
        while True:
            files_after = {"controller": open_fds(ctl), "Asterisk": open_fds(ast)}
            after = {who: files_after[who].total() for who in files_after}
            if time.monotonic() > settle or all(after[who] <= fds_before[who] + 5 for who in after):
                break
            time.sleep(2)
        fds = {who: (fds_before[who], after[who]) for who in after}
        fds_more = {who: dict(files_after[who] - files_before[who]) for who in after}
        third = max(1, len(samples) // 3)
        rss = [m for _, m in samples] or [0.0]
        return SoakResult(
            concurrent=concurrent,
            agents=agents,
            talk=talk,
            seconds=elapsed,
            calls=calls,
            ok=ok,
            failed=max(counter(row, "FailedCall(C)"), calls - ok),
            bridged=sum(v.ok for v in verdicts),
            not_talked=dict(not_talked),
            peak_channels=peak,
            channels_left=channels_left,
            bridges_left=bridges_left,
            contacts=counts["contacts"],
            active_left=counts["active"],
            recordings_saved=counts["recording_events"],
            recordings_stored=stored,
            fds=fds,
            fds_more=fds_more,
            rss_first_third=statistics.mean(rss[:third]),
            rss_last_third=statistics.mean(rss[-third:]),
            rss_peak=max(rss),
            controller_cpu=100 * (cpu_after[0] - cpu_before[0]) / elapsed,
            asterisk_cpu=100 * (cpu_after[1] - cpu_before[1]) / elapsed,
            health_ms=health_summary(probe),
            errors=load.caller_errors(),
        )
    finally:
        load.stop()


def health_summary(probe: HealthProbe) -> dict[str, float]:
    """/api/health round trips (ms): p50, p99 and max (0 when none came back)."""
    return {
        "p50": percentile(probe.times, 50) or 0.0,
        "p99": percentile(probe.times, 99) or 0.0,
        "max": max(probe.times, default=0.0),
    }


def hold_callers(load: LoadedHotline, hold: float) -> list[Any]:
    """Caller steps that key 1 once the menu listens (`KeyGate`), wait in the queue
    `hold` seconds, then hang up."""
    return [Gate(120), Keys("1", gap=0.3), Wait(hold), HangUp()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--talk", type=float, default=10)
    parser.add_argument("--quick", action="store_true", help="5 minutes")
    args = parser.parse_args()
    minutes = 5 if args.quick else args.minutes
    command = " ".join(["python bench/bench_soak.py", *sys.argv[1:]])
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    try:
        result = soak(
            workdir,
            seconds=60 * minutes,
            concurrent=args.concurrent,
            agents=args.agents,
            talk=args.talk,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("## Soak: steady concurrent calls, nothing leaked\n")
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}; SIPp callers and agents' phones on the same machine  "
    )
    print(
        f"Scenario: {result.concurrent} callers at a time for {result.seconds / 60:.1f} min: "
        f"prompt, one key, queue with music on hold and position announcements every 15 s, "
        f"{result.agents} auto-answering agents (ring {RING:g} s, talk {result.talk:g} s), "
        f"conversations recorded.\n"
    )
    print("| measure | value |\n|---|---:|")
    rows = [
        ("calls (ok / failed)", f"{result.ok} / {result.failed}"),
        ("callers who talked to an agent", f"{result.bridged}"),
        ("peak channels in Asterisk", f"{result.peak_channels}"),
        ("channels / bridges left", f"{result.channels_left} / {result.bridges_left}"),
        ("contacts logged / left active", f"{result.contacts} / {result.active_left}"),
        (
            "recordings saved / stored in Asterisk",
            f"{result.recordings_saved} / {result.recordings_stored}",
        ),
        *(
            (f"{who} open files (start -> end)", f"{a} -> {b}")
            for who, (a, b) in result.fds.items()
        ),
        (
            "controller RSS first third / last third / peak (MB)",
            f"{result.rss_first_third:.0f} / {result.rss_last_third:.0f} / {result.rss_peak:.0f}",
        ),
        ("controller CPU (% of one core)", f"{result.controller_cpu:.0f}"),
        ("Asterisk CPU (% of one core)", f"{result.asterisk_cpu:.0f}"),
        (
            "/api/health round trip p50 / p99 / max (ms)",
            " / ".join(f"{result.health_ms[k]:.0f}" for k in ("p50", "p99", "max")),
        ),
    ]
    for name, value in rows:
        print(f"| {name} | {value} |")
    verdict = "; ".join(result.problems) or "clean: nothing failed, nothing leaked"
    print(f"\nVerdict: **{verdict}**.\n")
    return 0  # the verdict is in the report; tests/e2e/test_soak.py asserts it


if __name__ == "__main__":
    sys.exit(main())
