"""Hotline dropped into an existing Asterisk, for real: Debian's own sample
configuration (the package's samples, every module it autoloads), run as the
`asterisk` user as Debian runs it, with the site's own PJSIP endpoint; a site admin
turns on HTTP/ARI/AMI on their ports and adds a transport, runs `hotline asterisk
export` as root (told what to include), adds the `#include` lines and exports again.
The export makes the fragments readable by Asterisk, has it reload them and reports
what loaded; the site's endpoint is still there. Then a controller that does not
manage this Asterisk takes calls: an agent (baresip) registers, and a SIPp caller
walks into the queue and is answered, over ARI (Stasis) and over FastAGI from the
classic dialplan.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.asterisk import find_install
from controller.secrets import load_secrets
from tests.e2e.conftest import HOME, HOTLINE, RunningHotline, spawn, wait_ready
from tests.e2e.ports import free_port, free_range
from tests.e2e.sipp import HangUp, SippCall, Wait
from tests.e2e.test_ivr_call import contact_of, of_type
from tests.e2e.test_softphone import Baresip

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs Asterisk as its own user: needs root"),
    pytest.mark.skipif(not shutil.which("baresip"), reason="baresip is not installed"),
]

SAMPLES = "/usr/share/asterisk/conf/samples"
LEASE = 900.0
AGENT, ENDPOINT, QUEUE = "ana", "2501", "stock"
FLOW = """name: stock_queue
start: to_queue
nodes:
  to_queue:
    type: queue
    queue: stock
    on: {answered: end, other: end}
  end:
    type: hangup
"""


@dataclass
class Stock:
    """A stock Debian Asterisk in the chroot, as the site runs it."""

    root: Path  # the chroot, on this machine
    base: str  # its folder as Asterisk sees it
    etc: Path  # its configuration folder, on this machine
    ports: dict[str, int]
    console: list[str]

    def rx(self, command: str) -> str:
        done = subprocess.run(
            [*self.console, "-rx", command], capture_output=True, text=True, timeout=30
        )
        return done.stdout + done.stderr


def edit(path: Path, pattern: str, replacement: str) -> None:
    """One line of the site's config changed, as an admin would."""
    text = path.read_text()
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, f"{path.name}: no line matches {pattern!r}"
    path.write_text(new)


def site_config(stock: Stock, modules_dir: str, data_dir: str, rtp: int) -> None:
    """Debian's samples, with what a site changes to let Hotline in."""
    samples = stock.root / SAMPLES.lstrip("/")
    stock.etc.mkdir(parents=True)
    for sample in samples.glob("*.sample"):
        shutil.copyfile(sample, stock.etc / sample.name.removesuffix(".sample"))
    base, etc = stock.base, stock.etc
    for name, sub in [
        ("astetcdir", "etc"), ("astmoddir", None), ("astvarlibdir", "lib"), ("astdbdir", "lib"),
        ("astkeydir", "lib"), ("astdatadir", "data"), ("astspooldir", "spool"),
        ("astrundir", "run"), ("astlogdir", "log"), ("astcachedir", "cache"),
    ]:  # fmt: skip
        where = modules_dir if sub is None else f"{base}/{sub}"
        if sub == "data":
            where = data_dir
        edit(etc / "asterisk.conf", rf"^{name} => .*$", f"{name} => {where}")
    # The sample's folders are a template ("(!)"); this site keeps them elsewhere.
    edit(etc / "asterisk.conf", r"^\[directories\]\(!\)", "[directories]")
    edit(
        etc / "asterisk.conf",
        r"^\[options\]$",
        "[options]\nrunuser = asterisk\nrungroup = asterisk",
    )
    edit(
        etc / "http.conf",
        r"^\[general\]$",
        f"[general]\nenabled=yes\nbindport={stock.ports['http']}",
    )
    edit(etc / "manager.conf", r"^enabled = no$", "enabled = yes")
    edit(etc / "manager.conf", r"^port = 5038$", f"port = {stock.ports['ami']}")
    edit(etc / "manager.conf", r"^bindaddr = 0\.0\.0\.0$", "bindaddr = 127.0.0.1")
    edit(etc / "rtp.conf", r"^rtpstart=10000$", f"rtpstart={rtp}")
    edit(etc / "rtp.conf", r"^rtpend=20000$", f"rtpend={rtp + 199}")
    # The site's own SIP: a transport, a phone of its own, and a trunk for callers.
    with (etc / "pjsip.conf").open("a") as out:
        out.write(
            f"""
[global]
type = global
endpoint_identifier_order = username,ip,anonymous

[site-udp]
type = transport
protocol = udp
bind = 127.0.0.1:{stock.ports["sip"]}

[site-phone]
type = endpoint
context = default
disallow = all
allow = ulaw
aors = site-phone

[site-phone]
type = aor
max_contacts = 1

[site-trunk]
type = endpoint
context = hotline-public
disallow = all
allow = ulaw
direct_media = no

[site-trunk]
type = identify
endpoint = site-trunk
match = 127.0.0.1
"""
        )


def include_fragments(stock: Stock) -> None:
    """The site's step 2 in README: include the exported fragments."""
    for name in ("pjsip", "extensions", "ari", "manager"):
        with (stock.etc / f"{name}.conf").open("a") as out:
            out.write(f"\n#include hotline/{name}_hotline.conf\n")


@pytest.fixture(scope="module")
def stock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stock]:
    install = find_install(HOME / ".hotline")
    assert install.chrooted, "this test runs Debian's Asterisk in the sid chroot"
    root = install.root
    name = f"stock-{os.getpid()}"
    base = f"/srv/hotline/{name}"
    host = root / base.lstrip("/")
    ports = {
        "sip": free_port("udp", seconds=LEASE),
        "http": free_port(seconds=LEASE),
        "ami": free_port(seconds=LEASE),
    }
    conf = f"{base}/etc/asterisk.conf"
    stock = Stock(
        root, base, host / "etc", ports, ["chroot", str(root), install.binary, "-C", conf]
    )
    site_config(
        stock, install.modules_dir, install.data_dir, free_range(200, hold=False, seconds=LEASE)
    )
    owner = [line.split(":") for line in (root / "etc/passwd").read_text().splitlines()]
    uid, gid = next((int(f[2]), int(f[3])) for f in owner if f[0] == "asterisk")
    for sub in ("lib", "spool", "run", "log", "cache", "sounds"):
        (host / sub).mkdir(parents=True)
        os.chown(host / sub, uid, gid)
    log = (tmp_path_factory.mktemp("stock") / "asterisk.log").open("wb")
    proc = subprocess.Popen(
        [*stock.console, "-f", "-n"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while "Asterisk has fully booted" not in stock.rx("core waitfullybooted"):
            assert proc.poll() is None and time.monotonic() < deadline, "Asterisk did not boot"
            time.sleep(0.5)
        yield stock
    finally:
        stock.rx("core stop now")
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(host, ignore_errors=True)


def hotline_config(stock: Stock, workdir: Path) -> dict[str, Any]:
    flows = workdir / "flows"
    flows.mkdir()
    (flows / "stock_queue.yaml").write_text(FLOW)
    # The folder as Asterisk sees it; in the chroot this machine has no such path, so
    # Hotline copies no prompts there (this flow plays none; the queue's music is
    # Asterisk's own).
    sounds = f"{stock.base}/sounds"
    return {
        "numbers": {"7001": "stock_queue"},
        "flows_dir": str(flows),
        "asterisk": {
            "managed": False,
            "ari_url": f"http://127.0.0.1:{stock.ports['http']}",
            "ari_user": "hotline-ari",
            "ari_password": "ari-secret-for-the-stock-test",
            "ami_port": stock.ports["ami"],
            "ami_user": "hotline-ami",
            "ami_secret": "ami-secret-for-the-stock-test",
            "sounds_dir": sounds,
            "sip_port": stock.ports["sip"],
            "agi_port": free_port(seconds=LEASE),
            "agi_numbers": {"7002": "stock_queue"},
        },
        "web": {"port": free_port(seconds=LEASE)},
        "demo_crm": {"enabled": False},
        "queues": {QUEUE: {"ring_timeout": 10, "wrap_up": 0.5}},
        "agents": [{"id": AGENT, "name": "Ana", "endpoint": ENDPOINT, "queues": [QUEUE]}],
    }


def export(stock: Stock, config_file: Path, state: Path) -> subprocess.CompletedProcess[str]:
    console = " ".join(stock.console)
    return subprocess.run(
        [str(HOTLINE), "--config", str(config_file), "asterisk", "export",
         str(stock.etc / "hotline"), "--asterisk", console, "--root", str(stock.root)],
        env={**os.environ, "HOTLINE_STATE": str(state)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_export_into_a_stock_debian_asterisk_and_take_calls(stock: Stock, tmp_path: Path) -> None:
    config = hotline_config(stock, tmp_path)
    config_file = tmp_path / "hotline.yaml"
    config_file.write_text(yaml.safe_dump(config))
    state = tmp_path / "state"

    # Exported before the site includes the fragments: what to add is reported.
    done = export(stock, config_file, state)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"problem: PJSIP endpoint {ENDPOINT} is not loaded: is "
        "'#include hotline/pjsip_hotline.conf' in pjsip.conf"
    ) in done.stdout, done.stdout
    assert "add '#include hotline/extensions_hotline.conf' to extensions.conf" in done.stdout

    include_fragments(stock)
    done = export(stock, config_file, state)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for line in (
        f"loaded: PJSIP endpoint {ENDPOINT}",
        f"loaded: PJSIP endpoint {ENDPOINT}-web",
        "loaded: dialplan context hotline-public",
        "loaded: ARI user hotline-ari",
        "loaded: AMI user hotline-ami",
    ):
        assert line in out, out
    gid = int(
        next(
            line.split(":")[2]
            for line in (stock.root / "etc/group").read_text().splitlines()
            if line.startswith("asterisk:")
        )
    )
    for fragment in (stock.etc / "hotline").glob("*_hotline.conf"):
        info = fragment.stat()
        assert (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o640, 0, gid), fragment
    # The site's own endpoint is still there, next to Hotline's.
    endpoints = stock.rx("pjsip show endpoints")
    assert "site-phone" in endpoints and ENDPOINT in endpoints, endpoints

    secrets = load_secrets(state / "secrets.yaml", [ENDPOINT])
    running = spawn(config, tmp_path)
    agent = Baresip(
        tmp_path / "baresip",
        ENDPOINT,
        secrets.agent_passwords[ENDPOINT],
        stock.ports["sip"],
        ";answermode=auto",
    )
    try:
        wait_ready(running)
        deadline = time.monotonic() + 30
        while agent_state(running) != "reachable":
            assert time.monotonic() < deadline, agent.log.read_text()[-2000:]
            time.sleep(0.3)
        for number, caller in (("7001", "5552701"), ("7002", "5552702")):
            steps = [Wait(6), HangUp()]
            result = SippCall(tmp_path / "sipp", stock.ports["sip"], number, caller, steps).run(60)
            assert result.ok, f"{result.output}\n{running.log_tail()}"
            _, events = events_of(running, caller)
            (ended,) = of_type(events, "queue.call_ended")
            assert ended["agent"] == AGENT and ended["talk_seconds"] > 2, ended
            time.sleep(1)  # the agent's wrap-up
    finally:
        agent.stop()
        running.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            running.proc.wait(60)
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait()


def agent_state(hotline: RunningHotline) -> str:
    status, body = hotline.api("/api/status", token=hotline.secrets["api_token"])
    assert status == 200, body
    return body["agents"][AGENT]


def events_of(hotline: RunningHotline, caller: str) -> tuple[Any, list[Any]]:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(contact_of, hotline, caller).result(30)
