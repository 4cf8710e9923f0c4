"""Monitoring: what listening on N calls at once costs Asterisk and the controller.

    python bench/bench_monitoring.py [--calls 20] [--window 15]

A `hotline run` with its own Asterisk on free loopback ports (bench_soak.py's harness):
--calls SIPp callers reach --calls auto-answering SIPp agents and talk; --calls
supervisors (users with a phone of their own, answered by one more SIPp process) each
log in and listen to one call through the REST API (`POST /api/calls/{id}/monitor`).
The controller's and Asterisk's CPU are measured over --window seconds with the calls
alone, then again with every call monitored (a snoop channel and a bridge per
supervisor). Also: the time from the request to the monitoring connected (the
supervisor's phone rung and answered, the snoop in its bridge), and, after the callers
hang up, that every monitoring ended with its call and nothing is left in Asterisk.
Prints a Markdown section to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

import bench.bench_sipp_load as sipp_load  # noqa: E402
from bench.bench_sipp_load import (  # noqa: E402
    AGENTS_PER_PHONE,
    Hotline,
    Phones,
    bench_config,
    cpu_seconds,
    stop_process,
)
from bench.bench_soak import RING, LoadedHotline, hold_callers, say  # noqa: E402
from hotline.web.auth import PasswordFile, hash_password  # noqa: E402

PASSWORD = "bench-monitoring-password"


ACK = '<recv request="ACK" crlf="true"/>\n'
TONE = ("synth", "3", "sine", "440", "vol", "0.5")


class TalkingPhones(Phones):
    """The bench agents' phones, talking: from the answer on, each streams a tone
    (SIPp's rtp_stream, looped), so the conversations carry audio to mix and to snoop."""

    def start(self) -> TalkingPhones:
        self.workdir.mkdir(parents=True, exist_ok=True)
        audio = self.workdir / "talk.wav"
        subprocess.run(
            [*("sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(audio)), *TONE],
            check=True,
        )
        stream = f'  <nop><action><exec rtp_stream="{audio},-1,0"/></action></nop>\n'
        plain = sipp_load.instrument_agent  # type: ignore[attr-defined]  # its import

        def talking(text: str) -> str:
            return plain(text).replace(ACK, ACK + stream, 1)

        # Phones.start builds its scenario with this function: the same phone, talking.
        with mock.patch.object(sipp_load, "instrument_agent", talking):
            super().start()
        return self


class MonitoredHotline(LoadedHotline):
    """The soak's bench Hotline, with `supervisors` users whose phones answer."""

    supervisors: Phones | None = None

    def start(self) -> MonitoredHotline:
        self.phones = TalkingPhones(
            self.workdir / "phones", self.agents, ring=RING, talk=self.talk
        ).start()
        self.supervisors = Phones(self.workdir / "sups", self.agents, ring=RING, talk=self.talk)
        self.supervisors.start()
        flows = self.workdir / "flows"
        shutil.copytree(HOME / "bench/flows", flows)
        config = bench_config(f"mon-{os.getpid()}", self.phones, flows)
        config["queues"] = {"bench": {**config["queues"]["bench"], **self.queue}}
        config["users"] = [
            {
                "id": f"sup{i:02d}",
                "name": f"Supervisor {i:02d}",
                "role": "supervisor",
                "endpoint": f"{4900 + i}",
                "contact": f"sip:{4900 + i}@127.0.0.1:"
                f"{self.supervisors.ports[i // AGENTS_PER_PHONE]}",
            }
            for i in range(self.agents)
        ]
        (self.workdir / "hotline").mkdir()
        passwords = PasswordFile(self.workdir / "hotline/state/passwords.yaml")
        hashed = hash_password(PASSWORD)
        passwords.save({u["id"]: hashed for u in config["users"]})
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
    def web(self) -> str:
        return f"http://127.0.0.1:{self.config['web']['port']}"

    def stop(self) -> None:
        if self.supervisors is not None:
            self.supervisors.stop()
        super().stop()


@dataclass
class Result:
    calls: int
    talking: int
    monitored: int
    connect: list[float]
    base: tuple[float, float]  # controller, Asterisk CPU % with the calls alone
    watched: tuple[float, float]  # the same with every call monitored
    ended_with_call: int
    channels_left: int
    bridges_left: int
    window: float


def cpu_percent(pids: tuple[int | None, int | None], window: float) -> tuple[float, float]:
    before = [cpu_seconds(p) for p in pids]
    start = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - start
    after = [cpu_seconds(p) for p in pids]
    return (100 * (after[0] - before[0]) / elapsed, 100 * (after[1] - before[1]) / elapsed)


async def talking_calls(load: MonitoredHotline, token: str) -> list[str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{load.web}/api/wallboard", headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        view = await response.json()
    return [
        c["contact_id"]
        for c in view.get("contacts", [])
        if c["channel"] == "voice" and c["state"] == "talking"
    ]


async def monitor_all(load: MonitoredHotline, contacts: list[str]) -> list[float]:
    """Each supervisor listens to one call; seconds from the request to connected."""

    async def one(i: int, contact: str) -> float:
        jar = aiohttp.CookieJar(unsafe=True)
        headers = {"Origin": load.web}
        async with aiohttp.ClientSession(cookie_jar=jar, headers=headers) as http:
            login = {"user": f"sup{i:02d}", "password": PASSWORD}
            async with http.post(f"{load.web}/login", json=login) as response:
                assert response.status == 200, await response.text()
            started = time.monotonic()
            url = f"{load.web}/api/calls/{contact}/monitor"
            async with http.post(url, json={"mode": "listen"}) as response:
                assert response.status == 200, await response.text()
            while time.monotonic() - started < 60:
                async with http.get(url) as response:
                    answer: dict[str, Any] = await response.json()
                if response.status == 200 and answer["monitor"]["state"] == "connected":
                    return time.monotonic() - started
                if response.status == 404:
                    raise RuntimeError(f"sup{i:02d}'s monitoring of {contact} ended")
                await asyncio.sleep(0.05)
            raise RuntimeError(f"sup{i:02d} never connected to {contact}")

    return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(contacts))))


def ended_with_call(load: MonitoredHotline) -> int:
    import sqlite3

    db = sqlite3.connect(load.workdir / "hotline/state/hotline.db")
    try:
        rows = db.execute("SELECT data FROM contact_events WHERE type = 'monitor.ended'").fetchall()
    finally:
        db.close()
    return sum(1 for (data,) in rows if '"call_ended"' in str(data))


def run(workdir: Path, calls: int, window: float) -> Result:
    talk = 3 * window + 90  # the agents stay on the line; the callers hang up first
    hold = 2 * window + 60
    load = MonitoredHotline(workdir, agents=calls, talk=talk, queue={"strategy": "longest_idle"})
    try:
        load.start()
        import yaml

        token = yaml.safe_load((workdir / "hotline/state/secrets.yaml").read_text())["api_token"]
        pids = (load.controller_pid, load.asterisk_pid)
        sipp = load.callers(hold_callers(load, hold), rate=5, limit=calls, calls=calls)
        contacts: list[str] = []
        deadline = time.monotonic() + 90
        while len(contacts) < calls and time.monotonic() < deadline:
            time.sleep(1)
            contacts = asyncio.run(talking_calls(load, token))
        say(f"{len(contacts)} calls talking; measuring {window:g} s with no monitoring")
        time.sleep(3)
        base = cpu_percent(pids, window)
        say(f"{len(contacts)} supervisors listening")
        connect = asyncio.run(monitor_all(load, contacts))
        time.sleep(3)
        watched = cpu_percent(pids, window)
        say("waiting for the callers to hang up")
        try:
            sipp.wait(hold + 120)
        except Exception:
            stop_process(sipp)
        time.sleep(3)
        channels, bridges = load.drained()
        return Result(
            calls=calls,
            talking=len(contacts),
            monitored=len(connect),
            connect=connect,
            base=base,
            watched=watched,
            ended_with_call=ended_with_call(load),
            channels_left=channels,
            bridges_left=bridges,
            window=window,
        )
    finally:
        load.stop()


def report(result: Result, command: str) -> str:
    per = [
        (w - b) / max(result.monitored, 1) for w, b in zip(result.watched, result.base, strict=True)
    ]
    connect = sorted(result.connect)
    p50 = statistics.median(connect) if connect else 0.0
    lines = [
        f"## Monitoring: {result.calls} calls listened to at once",
        "",
        f"`{command}` ({platform.machine()}, {os.cpu_count()} CPUs; load average "
        f"{os.getloadavg()[0]:.1f} at the end: a shared machine)",
        "",
        f"{result.talking} calls talking (a SIPp caller; a SIPp agent streaming a tone all "
        "along, so the conversation's bridge mixes audio), then "
        f"{result.monitored} supervisors each listening to one of them on their own "
        "phone (SIPp), through the REST API. CPU over "
        f"{result.window:g} s each (100% = one core):",
        "",
        "| | controller CPU | Asterisk CPU |",
        "|---|---|---|",
        f"| calls alone | {result.base[0]:.1f}% | {result.base[1]:.1f}% |",
        f"| every call monitored | {result.watched[0]:.1f}% | {result.watched[1]:.1f}% |",
        f"| added per monitored call | {per[0]:.2f}% | {per[1]:.2f}% |",
        "",
        f"Request to connected (the supervisor's phone rung and answered after "
        f"{RING:g} s, the snoop in its bridge): p50 {p50:.2f} s, max "
        f"{max(connect, default=0.0):.2f} s. After the callers hung up: "
        f"{result.ended_with_call} of {result.monitored} monitorings ended with their call "
        f"(`monitor.ended` call_ended), {result.channels_left} channels and "
        f"{result.bridges_left} bridges left in Asterisk.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--window", type=float, default=15)
    parser.add_argument("--quick", action="store_true", help="10 calls, 10 s windows")
    args = parser.parse_args()
    calls, window = (10, 10.0) if args.quick else (args.calls, args.window)
    command = " ".join(["python bench/bench_monitoring.py", *sys.argv[1:]])
    workdir = Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    try:
        result = run(workdir, calls, window)
    except Exception:
        log = workdir / "hotline/hotline.log"
        if log.exists():
            say("\n".join(log.read_text(errors="replace").splitlines()[-60:]))
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(report(result, command))
    ok = (
        result.monitored == result.talking == calls
        and result.ended_with_call == result.monitored
        and result.channels_left == 0
        and result.bridges_left == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
