"""A real softphone (baresip) registers as an agent, calls the hotline and hears the menu.

This is what `make run` promises a person with a softphone on the same machine: the
printed account registers, dialing the hotline number plays the greeting, and the
audio that reaches the phone is speech, not silence.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.ports import free_port
from tests.e2e.test_ivr_call import contact_of, prompts

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("no_leaks"),
    pytest.mark.skipif(not shutil.which("baresip"), reason="baresip is not installed"),
]

MODULES = "/usr/lib/baresip/modules"


class Baresip:
    """baresip with no sound card: silence in, received audio dumped to WAV files."""

    def __init__(
        self, workdir: Path, user: str, password: str, sip_port: int, account_params: str = ""
    ) -> None:
        """`account_params`: more parameters of the account line (";answermode=auto")."""
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)
        self.control = free_port()
        silence = workdir / "silence.wav"
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(silence), "trim", "0", "60"],
            check=True,
        )
        (workdir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{free_port('sip')}",
                    "audio_player aubridge,nil",
                    f"audio_source aufile,{silence}",
                    "audio_alert aubridge,nil",
                    f"module_path {MODULES}",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module sndfile.so",
                    "module_app account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{self.control}",
                    f"snd_path {workdir}",
                    "",
                ]
            )
        )
        (workdir / "accounts").write_text(
            f"<sip:{user}@127.0.0.1:{sip_port};transport=udp>;auth_pass={password};regint=60"
            f"{account_params}\n"
        )
        self.log = workdir / "baresip.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["baresip", "-f", str(workdir)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def command(self, command: str, params: str = "") -> None:
        """Send a command over ctrl_tcp (JSON in a netstring)."""
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.control), timeout=2) as conn:
                    conn.sendall(f"{len(body)}:".encode() + body + b",")
                    conn.recv(4096)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def received_audio(self) -> list[Path]:
        return sorted(p for p in self.dir.glob("dump-*.wav") if "dec" in p.name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def softphone(hotline: RunningHotline, tmp_path: Path) -> Iterator[Baresip]:
    password = hotline.secrets["agent_passwords"]["1001"]
    phone = Baresip(tmp_path / "baresip", "1001", password, hotline.sip_port)
    try:
        yield phone
    finally:
        phone.stop()


def agent_state(hotline: RunningHotline, agent: str) -> str:
    status, body = hotline.api("/api/status", token=hotline.secrets["api_token"])
    assert status == 200
    return body["agents"][agent]


def rms(path: Path) -> float:
    """Root-mean-square amplitude (0..1) of a WAV file, as sox measures it."""
    stats = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True)
    for line in stats.stderr.splitlines():
        if line.startswith("RMS     amplitude"):
            return float(line.split(":")[1])
    raise AssertionError(f"sox could not measure {path}: {stats.stderr}")


def test_softphone_registers_calls_and_hears_the_menu(
    hotline: RunningHotline, softphone: Baresip
) -> None:
    deadline = time.monotonic() + 20
    while agent_state(hotline, "alice") != "reachable":
        assert time.monotonic() < deadline, softphone.log.read_text()[-2000:]
        time.sleep(0.3)

    softphone.command("dial", "100")
    time.sleep(6)  # the greeting (~1.6 s) and the language menu
    softphone.command("hangup")

    contact, events = contact_of(hotline, "1001")
    assert contact.destination == "100"
    played = prompts(events)
    assert played[0] == ("welcome", "done")
    assert [key for key, _ in played[1:3]] == ["lang_english", "lang_russian"]
    assert contact.status == "abandoned"  # the phone hung up during the menu

    dumps = softphone.received_audio()
    assert dumps, f"baresip dumped no audio:\n{softphone.log.read_text()[-2000:]}"
    # Speech from espeak-ng is far above the noise floor of silence (0.0).
    assert max(rms(p) for p in dumps) > 0.02
