"""A real Hotline for end-to-end tests: `hotline run` with its own Asterisk on free ports.

The session starts one controller (which starts and later stops its managed Asterisk
instance), waits until ARI is connected, and on teardown checks that nothing is left:
no channels or bridges during the run, no Asterisk process and no instance folder after.

Its flows folder is a copy of ivr_flows/ plus the test flows in tests/e2e/flows/
(numbers 301..309), with schedules that are always open or never open, and ports
chosen for the SIPp phones transfers ring; tests may edit the copy (hot reload).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.ports import free_port, free_range

HOME = Path(__file__).resolve().parents[2]
HOTLINE = Path(sys.executable).with_name("hotline")

pytestmark = pytest.mark.e2e


@dataclass
class RunningHotline:
    home: Path
    workdir: Path
    state: Path
    config: dict
    proc: subprocess.Popen
    log: Path
    #: Ports of the SIPp phones the e2e_transfer flow rings, by behaviour, and of the
    #: test agents' phones (fixed contacts), by agent id.
    targets: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def flows_dir(self) -> Path:
        return Path(self.config["flows_dir"])

    @property
    def sip_port(self) -> int:
        return self.config["asterisk"]["sip_port"]

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.config['web']['port']}"

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.config['asterisk']['http_port']}/ari"

    @property
    def secrets(self) -> dict:
        return yaml.safe_load((self.state / "secrets.yaml").read_text())

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.state / 'hotline.db'}"

    def ari(self, path: str) -> object:
        """GET an ARI resource with the generated credentials."""
        secrets = self.secrets
        request = urllib.request.Request(f"{self.ari_url}/{path}")
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, self.ari_url, secrets["ari_user"], secrets["ari_password"])
        opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read())

    def api(self, path: str, token: str | None = None) -> tuple[int, object]:
        request = urllib.request.Request(f"{self.web_url}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def instance_dir(self) -> Path:
        root = HOME / ".hotline" / "asterisk-root"
        return root / "srv/hotline" / self.config["asterisk"]["instance"]


def test_config(instance: str) -> dict:
    """The project's config/hotline.yaml with every port moved to a free one."""
    config = yaml.safe_load((HOME / "config/hotline.yaml").read_text())
    rtp = free_range(200)
    config["asterisk"].update(
        instance=instance,
        sip_port=free_port("udp"),
        http_port=free_port(),
        ami_port=free_port(),
        rtp_start=rtp,
        rtp_end=rtp + 199,
        agi_port=free_port(),
    )
    config["web"]["port"] = free_port()
    crm = free_port()
    config["demo_crm"]["port"] = crm
    config["integrations"]["crm"]["url"] = f"http://127.0.0.1:{crm}"
    return config


#: Test flows' numbers (tests/e2e/flows/).
TEST_NUMBERS = {
    "301": "e2e_hours",
    "302": "e2e_voicemail",
    "303": "e2e_transfer",
    "309": "e2e_reload",
    "304": "e2e_queue",
    "308": "e2e_queue",
    "310": "e2e_queue",
    "305": "e2e_queue",
    "306": "e2e_queue",
    "307": "e2e_queue",
}


#: Test queues (numbers 304-307, flow e2e_queue) and the agents serving them, whose
#: phones are SIPp processes the tests start on fixed contacts.
TEST_QUEUES = {
    "e2e_fifo": {
        "ring_timeout": 5,
        "wrap_up": 0.5,
        "announcements": {
            "position_every": 4,
            "eta_every": 4,
            "periodic": ["queue_thanks"],
            "periodic_every": 2.5,
        },
    },
    "e2e_skip": {"ring_timeout": 3, "on_no_answer": "pause"},
    "e2e_slow": {"ring_timeout": 30, "leave_key": "*"},
    "e2e_rec": {"ring_timeout": 10, "recording": "on"},
    "e2e_soft": {"ring_timeout": 10, "wrap_up": 0.5},
}
TEST_QUEUE_AGENTS = {
    "carol": ("2001", ["e2e_fifo"]),
    "dave": ("2002", {"e2e_skip": 0}),
    "erin": ("2003", {"e2e_skip": 1}),
    "frank": ("2004", ["e2e_slow"]),
    "hank": ("2006", ["e2e_rec"]),
}
#: Test agents with no fixed contact: a real softphone registers for them (number 307
#: -> e2e_soft, served by gina).
TEST_SOFTPHONE_AGENTS = {
    "gina": ("2005", ["e2e_soft"]),
}

#: The same test flows over FastAGI.
TEST_AGI_NUMBERS = {"2302": "e2e_voicemail", "2303": "e2e_transfer", "2304": "e2e_queue"}


def with_test_flows(config: dict, workdir: Path) -> tuple[dict, dict[str, int]]:
    """The config with a flows folder of its own: ivr_flows/ and the test flows."""
    flows = workdir / "flows"
    flows.mkdir()
    for path in sorted((HOME / "ivr_flows").glob("*.yaml")):
        shutil.copyfile(path, flows / path.name)
    targets = {name: free_port("udp") for name in ("answer", "no_answer", "busy")}
    marks = {"@UAS_ANSWER@": "answer", "@UAS_SILENT@": "no_answer", "@UAS_BUSY@": "busy"}
    for path in sorted((HOME / "tests/e2e/flows").glob("*.yaml")):
        text = path.read_text()
        for mark, name in marks.items():
            text = text.replace(mark, str(targets[name]))
        (flows / path.name).write_text(text)
    config = {**config, "flows_dir": str(flows)}
    config["numbers"] = {**config["numbers"], **TEST_NUMBERS}
    config["asterisk"] = {
        **config["asterisk"],
        "agi_numbers": {**config["asterisk"].get("agi_numbers", {}), **TEST_AGI_NUMBERS},
    }
    config["schedules"] = {
        **config.get("schedules", {}),
        "e2e_always": {"weekly": {day: ["00:00-24:00"] for day in DAYS}},
        "e2e_never": {"weekly": {}},
    }
    phones = {agent: free_port("udp") for agent in TEST_QUEUE_AGENTS}
    config["queues"] = {**config.get("queues", {}), **TEST_QUEUES}
    config["agents"] = [
        *config.get("agents", []),
        *(
            {
                "id": agent,
                "name": agent.title(),
                "endpoint": endpoint,
                "contact": f"sip:{endpoint}@127.0.0.1:{phones[agent]}",
                "queues": queues,
            }
            for agent, (endpoint, queues) in TEST_QUEUE_AGENTS.items()
        ),
        *(
            {"id": agent, "name": agent.title(), "endpoint": endpoint, "queues": queues}
            for agent, (endpoint, queues) in TEST_SOFTPHONE_AGENTS.items()
        ),
    ]
    return config, {**targets, **phones}


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def wait_ready(hotline: RunningHotline, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hotline.proc.poll() is not None:
            raise RuntimeError(f"hotline run exited early:\n{hotline.log_tail()}")
        status, body = (0, None)
        with contextlib.suppress(OSError):
            status, body = hotline.api("/api/health")
        if status == 200 and isinstance(body, dict) and body.get("ari"):
            return
        time.sleep(0.3)
    raise RuntimeError(f"hotline did not become ready in {timeout}s:\n{hotline.log_tail()}")


@pytest.fixture(scope="session")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHotline]:
    workdir = tmp_path_factory.mktemp("hotline")
    instance = f"test-{os.getpid()}"
    config, targets = with_test_flows(test_config(instance), workdir)
    running = spawn(config, workdir, targets)
    proc = running.proc
    try:
        wait_ready(running)
        yield running
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pid_file = running.instance_dir() / "run/asterisk.pid"
        leftover = pid_file.exists() and _alive(int(pid_file.read_text() or 0))
        subprocess.run(["rm", "-rf", str(running.instance_dir())], check=False)
        assert proc.returncode == 0, f"hotline run exited {proc.returncode}:\n{running.log_tail()}"
        assert not leftover, "Asterisk was left running after hotline run stopped"


def spawn(config: dict, workdir: Path, targets: dict[str, int] | None = None) -> RunningHotline:
    """`hotline run` with this config and a private state folder in `workdir`."""
    config_file = workdir / "hotline.yaml"
    config_file.write_text(yaml.safe_dump(config))
    state, log = workdir / "state", workdir / "hotline.log"
    env = {**os.environ, "HOTLINE_STATE": str(state), "HOTLINE_HOME": str(HOME)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(HOTLINE), "--config", str(config_file), "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=HOME,
        )
    return RunningHotline(HOME, workdir, state, config, proc, log, targets or {})


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def no_leaks(hotline: RunningHotline) -> Iterator[None]:
    """After the test: no channel or bridge left in Asterisk."""
    yield
    deadline = time.monotonic() + 10
    channels: object = None
    bridges: object = None
    while time.monotonic() < deadline:
        channels, bridges = hotline.ari("channels"), hotline.ari("bridges")
        if channels == [] and bridges == []:
            return
        time.sleep(0.2)
    pytest.fail(f"left in Asterisk: channels={channels} bridges={bridges}")
