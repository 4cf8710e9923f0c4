"""SIPp load on the same Asterisk: Hotline against plain dialplan with app_queue.

    python bench/bench_sipp_load.py [--quick] [--agents N] [--step-seconds S] [--rates 2,4,8]

One scenario, two implementations on the same Asterisk 22 build (the project's managed
chroot): a SIPp caller dials 800, hears a short prompt ("welcome", rendered by Hotline),
presses 1 (RFC 2833) and is queued; an auto-answering agent (SIPp UAS on a fixed contact)
answers after 0.2 s, talks 2 s and hangs up; the caller is hung up in turn.

- Hotline: `hotline run` with its own Asterisk on free loopback ports and a private state
  folder (as tests/e2e/conftest.py does), the flow bench/flows/bench_load.yaml and a
  `bench` queue (longest idle, wrap-up 0, no announcements) served by the bench agents.
- app_queue: an Asterisk instance rendered from the project's templates, with
  extensions.conf and queues.conf replaced by bench/appqueue/ (Answer, Playback of the
  same prompt file, WaitExten for one digit, Queue(benchqueue) with static members
  PJSIP/<agent endpoint>, leastrecent, ringinuse=no, wrapuptime=0).

Each system is driven by one SIPp caller process per step at a fixed rate (-r) for a
bounded time (20 s, --quick 8 s), stepping the rate up (4, 8, 16, 24, 32, 48, 64, 96 cps;
--quick 4, 8, 16, 32) until a step has a failed call or the system's half of the time
budget (520 s, --quick 190 s) is spent. A call counts as
failed when SIPp fails it (no answer, an early or missing BYE) or when fewer agent calls
than caller calls completed in the step. CPU is utime+stime from /proc/<pid>/stat of
Asterisk and of the controller over the step (percent of one core), and of the SIPp
processes (the load generator shares the machine). The agents' phones are --agents
(default 250) endpoints spread over SIPp UAS processes, 25 per process (agents of one process share
its port as their contact). Everything runs on 127.0.0.1 and is stopped and removed
afterwards. Prints a Markdown section to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave
from dataclasses import dataclass, field
from pathlib import Path

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

import yaml  # noqa: E402

from controller.asterisk import find_install  # noqa: E402
from controller.instance import AsteriskInstance  # noqa: E402
from controller.secrets import load_secrets  # noqa: E402
from hotline.config import HotlineConfig  # noqa: E402
from tests.e2e.conftest import test_config  # noqa: E402
from tests.e2e.ports import free_port, free_range  # noqa: E402
from tests.e2e.sipp import ExpectHangup, Keys, Wait, scenario  # noqa: E402
from tests.e2e.sipp_uas import scenario as uas_scenario  # noqa: E402

HOTLINE = Path(sys.executable).with_name("hotline")
NUMBER = "800"
RING = 0.2  # agent rings this long before answering
TALK = 2.0  # then talks this long and hangs up
AGENTS_PER_PHONE = 25  # agents sharing one SIPp UAS process (one port)
TICKS = os.sysconf("SC_CLK_TCK")


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
    proc: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = 10
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

    def summary(self) -> dict[str, float]:
        """p50, p99 and max in ms (0 when nothing was measured)."""
        ordered = sorted(self.times) or [0.0]
        return {
            "p50": ordered[len(ordered) // 2],
            "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "max": ordered[-1],
        }


# ---------------------------------------------------------------- agents' phones


@dataclass
class Phones:
    """SIPp UAS processes answering every call for the bench agents."""

    workdir: Path
    n_agents: int
    ring: float = RING
    talk: float = TALK
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    stats: list[Path] = field(default_factory=list)

    def agents(self) -> list[dict]:
        """Hotline agent entries: endpoint 39NN, contact on its phone process's port."""
        return [
            {
                "id": f"bench{i:02d}",
                "name": f"Bench {i:02d}",
                "endpoint": f"{3900 + i}",
                "contact": f"sip:{3900 + i}@127.0.0.1:{self.ports[i // AGENTS_PER_PHONE]}",
                "queues": ["bench"],
            }
            for i in range(self.n_agents)
        ]

    def start(self) -> Phones:
        n_procs = -(-self.n_agents // AGENTS_PER_PHONE)
        text = uas_scenario("answer", self.ring, self.talk, 60)
        for n in range(n_procs):
            folder = self.workdir / f"phone-{n}"
            folder.mkdir(parents=True)
            (folder / "uas.xml").write_text(text)
            port = free_port("udp")
            stats = folder / "stats.csv"
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
                        "-mp",
                        str(free_port("udp", even=True)),
                        "-m",
                        "1000000",
                        "-nostdin",
                        "-trace_stat",
                        "-stf",
                        str(stats),
                        "-fd",
                        "1",
                    ],
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            self.ports.append(port)
            self.stats.append(stats)
        return self

    def answered(self) -> int:
        """Agent calls completed so far (answered, talked, hung up), all phones."""
        return sum(counter(last_stats(path), "SuccessfulCall(C)") for path in self.stats)

    def cpu(self) -> float:
        return sum(cpu_seconds(proc.pid) for proc in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc, signal.SIGKILL)


# ---------------------------------------------------------------- callers


@dataclass
class Step:
    rate: float
    calls: int
    ok: int
    failed: int
    bridged: int
    seconds: float
    asterisk_cpu: float  # percent of one core over the step
    controller_cpu: float | None
    sipp_cpu: float  # the load generator: SIPp callers and agents' phones
    errors: str = ""  # the first lines of SIPp's error log, when calls failed
    #: /api/health round trip p99 over the step (ms): the controller's event-loop lag.
    loop_lag: float | None = None

    @property
    def clean(self) -> bool:
        return self.failed == 0 and self.ok == self.calls and self.bridged >= self.calls


def caller_scenario(workdir: Path, prompt_seconds: float) -> Path:
    """Wait for the prompt, press 1, then expect the hang-up; a BYE sooner than an agent
    could have talked (ring + talk) arrives during a pause and fails the call."""
    folder = workdir / "caller"
    folder.mkdir(parents=True, exist_ok=True)
    steps = [
        Wait(round(prompt_seconds + 0.6, 2)),
        Keys("1", gap=0.3),
        Wait(round(RING + TALK - 0.5, 2)),
        ExpectHangup(60),
    ]
    # SIPp's own [call_number] gives each call a caller number of its own.
    file = folder / "caller.xml"
    file.write_text(scenario(NUMBER, "7[call_number]", steps, folder, name="bench caller"))
    return file


def run_step(
    workdir: Path,
    scenario_file: Path,
    sip_port: int,
    rate: float,
    seconds: float,
    phones: Phones,
    asterisk_pid: int | None,
    controller_pid: int | None,
    health_url: str | None = None,
) -> Step:
    folder = workdir / f"step-{rate:g}"
    probe = HealthProbe(health_url).start() if health_url else None
    folder.mkdir()
    calls = max(1, round(rate * seconds))
    stats = folder / "stats.csv"
    answered_before = phones.answered()
    cpu_before = (cpu_seconds(asterisk_pid), cpu_seconds(controller_pid))
    sipp_before = phones.cpu() + children_cpu()
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            "sipp",
            f"127.0.0.1:{sip_port}",
            "-sf",
            str(scenario_file),
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port("udp")),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(free_port("udp", even=True)),
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
    if probe is not None:
        probe.stop.set()
    cpu_after = (cpu_seconds(asterisk_pid), cpu_seconds(controller_pid))
    sipp_after = phones.cpu() + children_cpu()  # the caller SIPp is reaped by now
    time.sleep(1.5)  # the phones' stats files catch up (written every second)
    row = last_stats(stats)
    ok = counter(row, "SuccessfulCall(C)")
    failed = max(counter(row, "FailedCall(C)"), calls - ok)
    bridged = phones.answered() - answered_before
    return Step(
        rate=rate,
        calls=calls,
        ok=ok,
        failed=failed,
        bridged=bridged,
        seconds=elapsed,
        asterisk_cpu=100 * (cpu_after[0] - cpu_before[0]) / elapsed,
        controller_cpu=(100 * (cpu_after[1] - cpu_before[1]) / elapsed) if controller_pid else None,
        sipp_cpu=100 * (sipp_after - sipp_before) / elapsed,
        errors=first_errors(folder / "errors.log"),
        loop_lag=probe.summary()["p99"] if probe is not None else None,
    )


def ramp(
    label: str,
    workdir: Path,
    scenario_file: Path,
    sip_port: int,
    rates: list[float],
    seconds: float,
    phones: Phones,
    asterisk_pid: int | None,
    controller_pid: int | None,
    deadline: float,
    health_url: str | None = None,
) -> list[Step]:
    steps: list[Step] = []
    for rate in rates:
        if time.monotonic() + seconds + 20 > deadline:
            say(f"{label}: time budget spent, not trying {rate:g} cps")
            break
        step = run_step(
            workdir,
            scenario_file,
            sip_port,
            rate,
            seconds,
            phones,
            asterisk_pid,
            controller_pid,
            health_url,
        )
        say(
            f"{label}: {rate:g} cps: {step.ok}/{step.calls} ok, {step.failed} failed, "
            f"{step.bridged} bridged, Asterisk {step.asterisk_cpu:.0f}% CPU"
        )
        steps.append(step)
        if not step.clean:
            break
        time.sleep(2)  # let the last calls' channels go before the next step
    return steps


# ---------------------------------------------------------------- the two systems


def rtp_range(size: int) -> int:
    """`size` consecutive free UDP ports on 127.0.0.1, below the ephemeral range (which
    other programs' sockets dot too densely for a wide range)."""
    for start in range(16000, 32000 - size, 1000):
        try:
            for port in range(start, start + size):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return start
    return free_range(size)


def bench_config(instance: str, phones: Phones, flows: Path) -> dict:
    config = test_config(instance)
    rtp = rtp_range(3000)  # ~400 concurrent calls x 2 legs x RTP+RTCP, with room
    config["asterisk"].update(rtp_start=rtp, rtp_end=rtp + 2999, agi_numbers={})
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
    config: dict
    proc: subprocess.Popen | None = None

    @property
    def instance_dir(self) -> Path:
        return HOME / ".hotline/asterisk-root/srv/hotline" / self.config["asterisk"]["instance"]

    def start(self, timeout: float = 180) -> None:
        config_file = self.workdir / "hotline.yaml"
        config_file.write_text(yaml.safe_dump(self.config))
        env = {
            **os.environ,
            "HOTLINE_STATE": str(self.workdir / "state"),
            "HOTLINE_HOME": str(HOME),
        }
        with (self.workdir / "hotline.log").open("wb") as out:
            self.proc = subprocess.Popen(
                [str(HOTLINE), "--config", str(config_file), "run"],
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


def appqueue_instance(name: str, phones: Phones, prompt: Path, workdir: Path) -> AppQueueInstance:
    config = bench_config(name, phones, HOME / "bench/flows")
    secrets = load_secrets(
        workdir / "appqueue-secrets.yaml", [a["endpoint"] for a in config["agents"]]
    )
    instance = AppQueueInstance(
        find_install(HOME / ".hotline"), name, HotlineConfig.model_validate(config), secrets, HOME
    )
    instance.prompt = prompt
    instance.members = [a["endpoint"] for a in config["agents"]]
    return instance


# ---------------------------------------------------------------- report


def best(steps: list[Step]) -> float:
    clean = [s.rate for s in steps if s.clean]
    return max(clean) if clean else 0.0


def table(label: str, steps: list[Step]) -> list[str]:
    lines = []
    for s in steps:
        controller = f"{s.controller_cpu:.0f}" if s.controller_cpu is not None else "-"
        lag = f"{s.loop_lag:.0f}" if s.loop_lag is not None else "-"
        lines.append(
            f"| {label} | {s.rate:g} | {s.calls} | {s.ok} | {s.failed} | {s.bridged} | "
            f"{s.asterisk_cpu:.0f} | {controller} | {lag} | {s.sipp_cpu:.0f} | {s.seconds:.0f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s per step, fewer steps")
    parser.add_argument("--agents", type=int, default=250)
    parser.add_argument("--step-seconds", type=float, default=None)
    parser.add_argument("--rates", default=None, help="comma-separated calls per second")
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
    args = parser.parse_args()
    seconds = args.step_seconds or (8.0 if args.quick else 20.0)
    rates = [
        float(r)
        for r in (args.rates or ("4,8,16,32" if args.quick else "4,8,16,24,32,48,64,96")).split(",")
    ]
    budget = 190.0 if args.quick else 520.0  # seconds, both systems
    command = " ".join(["python bench/bench_sipp_load.py", *sys.argv[1:]])

    workdir = Path(tempfile.mkdtemp(prefix="bench-sipp-"))
    tag = f"{os.getpid()}"
    phones = Phones(workdir / "phones", args.agents)
    hotline: Hotline | None = None
    appqueue: AppQueueInstance | None = None
    results: dict[str, list[Step]] = {}
    prompt_seconds = 0.0
    notes: list[str] = []
    postgres = contextlib.ExitStack()
    try:
        phones.start()
        flows = workdir / "flows"
        shutil.copytree(HOME / "bench/flows", flows)
        hotline = Hotline(workdir / "hotline", bench_config(f"bench-hl-{tag}", phones, flows))
        if args.database == "postgres":
            from tests.pg import private_postgres

            say("starting a private PostgreSQL")
            server = postgres.enter_context(private_postgres())
            hotline.config["database_url"] = server.create_database("hotline_bench")
        hotline.workdir.mkdir()
        say("starting hotline run")
        hotline.start()
        published = hotline.instance_dir / "sounds/en/welcome.wav"
        for _ in range(50):
            if published.exists():
                break
            time.sleep(0.2)
        prompt = workdir / "welcome.wav"
        shutil.copyfile(published, prompt)
        with wave.open(str(prompt)) as wav:
            prompt_seconds = wav.getnframes() / wav.getframerate()
        caller = caller_scenario(workdir / "hotline", prompt_seconds)
        time.sleep(2)  # agents' presence settles
        results["Hotline"] = ramp(
            "Hotline",
            workdir / "hotline",
            caller,
            hotline.config["asterisk"]["sip_port"],
            rates,
            seconds,
            phones,
            hotline.asterisk_pid(),
            hotline.proc.pid if hotline.proc else None,
            time.monotonic() + budget / 2,
            f"http://127.0.0.1:{hotline.config['web']['port']}/api/health",
        )
        say("stopping hotline")
        hotline.stop()
        hotline = None
        if not args.no_baseline:
            (workdir / "appqueue").mkdir()
            appqueue = appqueue_instance(f"bench-aq-{tag}", phones, prompt, workdir)
            say("starting the app_queue baseline")
            appqueue.start()
            caller = caller_scenario(workdir / "appqueue", prompt_seconds)
            time.sleep(1)
            results["app_queue"] = ramp(
                "app_queue",
                workdir / "appqueue",
                caller,
                appqueue.config.asterisk.sip_port,
                rates,
                seconds,
                phones,
                appqueue.pid(),
                None,
                time.monotonic() + budget / 2,
            )
    except Exception as error:  # report what was measured
        notes.append(f"Run stopped early: {type(error).__name__}: {str(error)[:300]}")
        say(f"error: {error}")
    finally:
        if hotline is not None:
            hotline.stop()
        postgres.close()
        if appqueue is not None:
            appqueue.stop()
            appqueue.remove()
        phones.stop()
        if args.keep:
            say(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    hl, aq = best(results.get("Hotline", [])), best(results.get("app_queue", []))
    print("## SIPp load: Hotline vs plain dialplan with app_queue\n")
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.system()}; SIPp callers and agents' "
        f"phones run on the same machine  "
    )
    print(
        f"Scenario: answer -> prompt ({prompt_seconds:.1f} s) "
        f"-> one key (RFC 2833) -> queue -> {args.agents} auto-answering agents (ring "
        f"{RING:g} s, talk {TALK:g} s, agent hangs up); Hotline's store: {args.database}. "
        f"Each step: a fixed rate for "
        f"{seconds:g} s, then the calls drain; the ramp stops at the first step with a "
        f"failed call. CPU: percent of one core over the step (SIPp: the callers and the "
        f"agents' phones, on the same 2 cores). Event-loop lag: the p99 round trip of "
        f"/api/health, probed twice a second during the step (served on the controller's "
        f"one event loop, with the calls).\n"
    )
    print(
        "| system | rate (cps) | calls | ok | failed | bridged to an agent "
        "| Asterisk CPU % | controller CPU % | event-loop lag p99 (ms) | SIPp CPU % | step (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, steps in results.items():
        for line in table(label, steps):
            print(line)
    print()
    limits = {}
    for system, steps in results.items():
        saturated = bool(steps) and not steps[-1].clean
        limits[system] = saturated
    hl_text, aq_text = (
        f"{'' if limits[name] else '>= '}{rate:g} cps" if name in limits else "not run"
        for name, rate in (("Hotline", hl), ("app_queue", aq))
    )
    print(f"Highest rate with 0 failed calls: Hotline **{hl_text}**, app_queue **{aq_text}** ")
    print("('>=': no failure up to the last rate tried, so the limit is higher).  ")
    if hl and aq:
        exact = limits.get("Hotline") and limits.get("app_queue")
        print(
            f"Ratio Hotline / app_queue (this run): **{hl / aq:.2f}**"
            + ("" if exact else " (a lower or unresolved bound: a ramp did not reach a failure)")
            + ".  "
        )
    else:
        print("Ratio Hotline / app_queue: not measured (a system had no clean step).  ")
    for system, steps in results.items():
        for s in steps:
            if not s.clean:
                errors = f": SIPp says {s.errors}" if s.errors else ""
                print(
                    f"{system} at {s.rate:g} cps: {s.failed} failed, "
                    f"{s.calls - s.bridged} not bridged{errors}.  "
                )
    for note in notes:
        print(f"{note}  ")
    print()
    return 0 if not notes else 1


if __name__ == "__main__":
    sys.exit(main())
