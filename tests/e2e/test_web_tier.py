"""The web tier (issue 20): two web processes (`hotline web`, no Asterisk) on their own
loopback addresses behind haproxy (`hotline haproxy run`), a routing leader
(`hotline routing`), a private PostgreSQL and nats-server; a customer's widget and
alice's desk in a headless Chromium.

- the widget lands on web process A (B is down when it connects: haproxy sends
  everything to A), alice's desk is on B (its own address): the chat is offered on
  B's desk, accepted, and messages go both ways, in order;
- kill -9 of A mid-chat: haproxy marks it down, the widget reconnects through haproxy
  to B, which takes the chat over (its claim freed with A's connection): the
  conversation goes on; counts of messages sent, delivered, lost and doubled;
- the wallboard of either process shows the same waiting and agents;
- a call on the worker, alice's desk on B: hold, resume, a consultation of bob
  (cancelled), monitoring, a blind transfer, click-to-call, the browser phone, the
  call's recording fetched through B (no Asterisk), all asked of B and done by the
  worker; a chat on B whose flow books a callback, dialed by the worker; the callbacks'
  REST API on B (a cancel done by the worker serving the callback);
- misconfiguration: `hotline web` on SQLite, without NATS, or without PostgreSQL exits
  at once with the reason.

    .venv/bin/pytest -s -p no:randomly -n 0 tests/e2e/test_web_tier.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from chat_bridge.claims import claim_key
from hotline.store import Store
from hotline.store.chats import ChatStore
from tests import pg
from tests.browser import login
from tests.e2e import conftest
from tests.e2e.conftest import (
    HOTLINE,
    TEST_PASSWORD,
    RunningHotline,
    give_test_passwords,
    spawn,
    wait_ready,
)
from tests.e2e.ports import free_port
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_cluster_worker import stop_worker
from tests.e2e.test_leader_failover import Candidate
from tests.nats import NatsServer, nats_binary

pg_server = pg.pg_server

pytestmark = [pytest.mark.e2e, pytest.mark.pg]

DOMAIN = "webtier"
A_ADDRESS, B_ADDRESS, EDGE_ADDRESS = "127.0.0.21", "127.0.0.22", "127.0.0.23"

CALLBACK_FLOW = """
name: web_chat_cb
start: book
nodes:
  book:
    type: callback
    queue: webcb
    on: {booked: end, invalid: end}
  end:
    type: hangup
"""

VOICE_FLOW = """
name: voice_q
start: to_queue
nodes:
  to_queue:
    type: queue
    queue: webq
    on: {answered: end, other: end}
  end:
    type: hangup
"""

FLOW = """
name: web_chat
start: to_queue
nodes:
  to_queue:
    type: queue
    queue: webq
    on: {answered: end, other: end}
  end:
    type: hangup
"""


class WebProcess:
    """One `hotline web` process, its output in a file."""

    def __init__(self, tier: Tier, name: str, address: str, port: int) -> None:
        self.tier, self.name, self.address, self.port = tier, name, address, port
        self.log = tier.workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def start(self) -> WebProcess:
        if self.proc is not None and self.proc.poll() is None:
            return self  # running already (an earlier test started it)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    *(str(HOTLINE), "--config", str(self.tier.config), "web"),
                    *("--bind", self.address, "--port", str(self.port), "--name", self.name),
                ],
                env=self.tier.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=conftest.HOME,
            )
        deadline = time.monotonic() + 60
        while "ready on" not in self.text():
            assert self.proc.poll() is None, f"{self.name} exited:\n{self.text()[-3000:]}"
            assert time.monotonic() < deadline, f"{self.name} not ready:\n{self.text()[-3000:]}"
            time.sleep(0.1)
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Tier:
    """The module's database, NATS, leader, config and haproxy."""

    def __init__(self, workdir: Path, url: str, nats: NatsServer, config: dict[str, Any]) -> None:
        self.workdir, self.url, self.nats = workdir, url, nats
        self.config = workdir / "hotline.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.settings = config
        state = workdir / "state"
        give_test_passwords(config, state)
        self.env = {**os.environ, "HOTLINE_STATE": str(state), "HOTLINE_HOME": str(conftest.HOME)}
        self.leader: Candidate | None = None
        self.haproxy: subprocess.Popen[bytes] | None = None
        self.haproxy_log = workdir / "haproxy.log"
        self.processes: list[WebProcess] = []
        self.worker: RunningHotline | None = None
        self.phone_port = 0
        self.phones: dict[str, int] = {}

    @property
    def edge_url(self) -> str:
        tier = self.settings["web_tier"]
        return f"http://{tier['listen']}:{tier['port']}"

    def web(self, name: str, address: str, port: int) -> WebProcess:
        self.processes.append(WebProcess(self, name, address, port))
        return self.processes[-1]

    def start_haproxy(self) -> None:
        with self.haproxy_log.open("ab") as out:
            self.haproxy = subprocess.Popen(
                [str(HOTLINE), "--config", str(self.config), "haproxy", "run"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=conftest.HOME,
            )

    def haproxy_says(self, words: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while words not in self.haproxy_log.read_text(errors="replace"):
            assert self.haproxy is not None and self.haproxy.poll() is None, self.haproxy_text()
            assert time.monotonic() < deadline, (
                f"haproxy never said {words!r}:\n{self.haproxy_text()}"
            )
            time.sleep(0.05)

    def haproxy_text(self) -> str:
        if not self.haproxy_log.exists():  # not started (one test run alone)
            return ""
        return self.haproxy_log.read_text(errors="replace")[-3000:]

    def logs(self) -> str:
        parts = [f"--- {p.name}\n{p.text()[-4000:]}" for p in self.processes]
        if self.leader is not None:
            parts.append(f"--- leader\n{self.leader.text()[-2000:]}")
        return "\n".join([*parts, f"--- haproxy\n{self.haproxy_text()}"])


def tier_config(
    workdir: Path,
    url: str,
    nats: str,
    edge_port: int,
    ports: list[int],
    phone_port: int,
    phones: dict[str, int],
) -> dict[str, Any]:
    """`phone_port`: alice's SIPp phone; `phones`: bob's, sue's (a supervisor) and the
    customer's (dialed by click-to-call, whatever the number)."""
    config = conftest.test_config(f"wt-{os.getpid()}")
    flows = workdir / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "web_chat.yaml").write_text(FLOW)
    (flows / "voice_q.yaml").write_text(VOICE_FLOW)
    (flows / "web_chat_cb.yaml").write_text(CALLBACK_FLOW)
    config.update(
        flows_dir=str(flows),
        numbers={"304": "voice_q"},
        database_url=url,
        queues={
            # Recorded: a call's recording is fetched through a web process (no Asterisk).
            "webq": {"ring_timeout": 20, "wrap_up": 0.5, "recording": "on"},
            "webq2": {"ring_timeout": 20, "wrap_up": 0.5},  # bob's: a call transferred
            # Bob's too: a chat's flow books a callback here (web_chat_cb).
            "webcb": {"ring_timeout": 20, "wrap_up": 0.5, "callback": {"min_talk_seconds": 0.5}},
        },
        agents=[
            {
                "id": "alice",
                "name": "Alice Agent",
                "endpoint": "2001",
                "contact": f"sip:2001@127.0.0.1:{phone_port}",
                "queues": ["webq"],
                "capacity": {"voice": 1, "chat": 2},
            },
            {  # a team lead: a supervisor who is an agent too, for chats (takes them over)
                "id": "tess",
                "name": "Tess Lead",
                "endpoint": "2061",
                "role": "supervisor",
                "queues": ["webq"],
                "capacity": {"voice": 0, "chat": 2},
                "callbacks": False,
            },
            {
                "id": "bob",
                "name": "Bob Agent",
                "endpoint": "2002",
                "contact": f"sip:2002@127.0.0.1:{phones['bob']}",
                "queues": ["webq2", "webcb"],
                "capacity": {"voice": 1},
            },
        ],
        users=[
            *config.get("users", []),
            {  # monitoring from a web process rings her phone (through the worker)
                "id": "sue",
                "name": "Sue Supervisor",
                "role": "supervisor",
                "endpoint": "2901",
                "contact": f"sip:2901@127.0.0.1:{phones['sue']}",
            },
        ],
        callbacks={
            "dial_template": f"PJSIP/anonymous/sip:{{number}}@127.0.0.1:{phones['customer']}",
            "caller_id": "5550100",
        },
        routing={"mode": "remote", "domain": DOMAIN, "nats_url": nats, "request_timeout": 10},
        web_tier={
            "listen": EDGE_ADDRESS,
            "port": edge_port,
            "processes": [f"{A_ADDRESS}:{ports[0]}", f"{B_ADDRESS}:{ports[1]}"],
            "check_interval": 0.5,
            "fall": 2,
            "rise": 1,
        },
    )
    # The call worker's web address: its recordings and its browser-phone relay.
    worker = f"{socket.gethostname()}/{config['asterisk']['instance']}"
    config["routing"]["nodes"] = {worker: f"http://127.0.0.1:{config['web']['port']}"}
    config["chat"]["flow"] = "web_chat"
    config["chat"]["entries"] = {"cb": "web_chat_cb"}
    config["asterisk"]["agi_numbers"] = {}
    config["demo_crm"]["enabled"] = False
    return config


@pytest.fixture(scope="module")
def tier(tmp_path_factory: pytest.TempPathFactory, pg_server: pg.PostgresServer) -> Iterator[Tier]:
    binary = nats_binary()
    if binary is None:
        pytest.fail("nats-server is not installed (scripts/setup.sh test)")
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.fail("haproxy is not installed (scripts/setup.sh test)")
    workdir = tmp_path_factory.mktemp("webtier")
    nats = NatsServer(binary, workdir / "nats.log").start()
    url = pg_server.create_database()
    ports = [free_port(seconds=900), free_port(seconds=900)]
    phone_port = free_port("udp", seconds=900)
    phones = {name: free_port("udp", seconds=900) for name in ("bob", "customer", "sue")}
    config = tier_config(workdir, url, nats.url, free_port(seconds=900), ports, phone_port, phones)
    tier = Tier(workdir, url, nats, config)
    tier.phone_port = phone_port
    tier.phones = phones
    tier.web("a", A_ADDRESS, ports[0])
    tier.web("b", B_ADDRESS, ports[1])
    try:
        yield tier
    finally:
        if tier.worker is not None:
            stop_worker(tier.worker)
        for process in tier.processes:
            process.stop()
        if tier.haproxy is not None and tier.haproxy.poll() is None:
            tier.haproxy.terminate()
            tier.haproxy.wait(10)
        if tier.leader is not None:
            tier.leader.end()
        nats.stop()


def read(url: str, query: Any) -> Any:
    async def run() -> Any:
        store = await Store.connect(url)
        try:
            return await query(store)
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps a loop running here
        return pool.submit(asyncio.run, run()).result()


def wallboard(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/api/wallboard", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def health_of(process: WebProcess, timeout: float = 10) -> dict[str, Any]:
    """The process's `/api/health` once it says ok (its last answer if it never does)."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{process.url}/api/health", timeout=5) as response:
            assert response.status == 200
            said: dict[str, Any] = json.loads(response.read())
        if said["ok"] or time.monotonic() > deadline:
            assert said["ok"] and said["role"] == "web" and said["ari"] is False, said
            return said
        time.sleep(0.2)


def type_in_widget(page: Any, text: str) -> None:
    page.locator("#hotline-chat .input").fill(text)
    page.locator("#hotline-chat .send").click()


def leader(tier: Tier) -> None:
    if tier.leader is None:
        # The product's lease (5 s), not the failover tests' 2 s: nothing here stands in
        # for a lost leader, and a loaded machine can stall one for 2 s.
        tier.leader = Candidate(tier.config, "lead", tier.workdir / "leader.log", "--lease", "5")
        tier.leader.wait_for("serving workers")


def test_a_chat_across_two_web_processes_survives_one_killed(tier: Tier, browser: Any) -> None:
    started = time.monotonic()
    a, b = tier.processes
    leader(tier)
    a.start()
    tier.start_haproxy()
    tier.haproxy_says("web2 is DOWN", 90)  # B not started yet: everything goes to A
    remote: Remote | None = None
    customer_context = browser.new_context()
    customer_context.set_default_timeout(20_000)
    desk_context = browser.new_context()
    desk_context.set_default_timeout(20_000)
    try:
        # The customer first, while B is down: the widget's socket and its chat are A's.
        customer = customer_context.new_page()
        customer.goto(f"{tier.edge_url}/chat/demo")  # through haproxy: to A, the one up
        customer.wait_for_selector("#hotline-chat[data-connected=true]", state="attached")
        customer.wait_for_selector("#hotline-chat[data-state=queued]", state="attached")
        b.start()
        desk = desk_context.new_page()
        login(desk, b.url, "alice", TEST_PASSWORD)  # alice's desk: on B
        desk.wait_for_selector("#connection[data-connected=true]")
        channel = desk.locator(".channel[data-channel=chat]")
        channel.wait_for()
        if channel.get_attribute("data-state") == "offline":
            channel.locator("button.login").click()
        tier.haproxy_says("web2 is UP")  # (the chat waiting is offered to alice at once)
        said = health_of(b)  # what haproxy checks: PostgreSQL, NATS, the leader, all fine
        assert said["database"] and said["nats"] and said["leader"]["name"] == "lead", said

        offer = desk.locator(".offer[data-channel=chat]")
        offer.wait_for()
        contact_id = offer.get_attribute("data-contact-id") or ""
        offer.locator("button.accept").click()
        pane = desk.locator(f".pane[data-contact-id='{contact_id}']")
        pane.wait_for()

        # Both B's and A's wallboards show alice talking in one chat.
        token = yaml.safe_load((tier.workdir / "state" / "secrets.yaml").read_text())["api_token"]
        boards = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            boards = {p.name: _alice(wallboard(p.url, token)) for p in (a, b)}
            chat = (boards["a"] or {}).get("chat")
            if boards["a"] == boards["b"] and chat and chat[1:] == [1, [contact_id]]:
                break
            time.sleep(0.25)
        assert boards["a"] == boards["b"], boards  # the same live state on either process
        assert boards["a"] and boards["a"]["chat"][1:] == [1, [contact_id]], boards

        customer_sent: list[str] = []
        agent_sent: list[str] = []

        def exchange(round_: str, count: int) -> None:
            for i in range(count):
                text = f"customer {round_} {i}"
                type_in_widget(customer, text)
                customer_sent.append(text)
                pane.locator(".msg.from-customer", has_text=text).wait_for()
                reply = f"agent {round_} {i}"
                pane.locator("textarea.input").fill(reply)
                pane.locator("button.send").click()
                agent_sent.append(reply)
                customer.locator("#hotline-chat .msg", has_text=reply).wait_for()

        exchange("before", 3)
        files = exchange_files(tier, a, b, customer, desk, pane, contact_id)
        remote = Remote()
        supervised = read_and_whisper(remote, b, customer, pane, contact_id, customer_sent)
        holder = a
        assert holder.proc is not None
        killed_at = time.monotonic()
        holder.kill()  # kill -9 of the process holding the widget's socket (and the chat)
        tier.haproxy_says("web1 is DOWN")
        marked_down = time.monotonic() - killed_at
        customer.wait_for_selector("#hotline-chat[data-connected=true]", state="attached")
        # The widget is back (through haproxy, on B): the conversation goes on.
        exchange("after", 3)
        resumed = time.monotonic() - killed_at

        # A started again; a socket of the same chat opens on A while B runs it: B hands
        # the chat over (its socket there closed, 4012: the widget reconnects through
        # haproxy, and takes it back if it lands on B). The conversation goes on.
        a.start()
        tier.haproxy_says("web1 is UP")
        session = customer.evaluate(
            "() => Object.values(localStorage).map(v => JSON.parse(v).session).find(Boolean)"
        )
        with ThreadPoolExecutor(1) as pool:
            other = pool.submit(asyncio.run, hello_on(a.url, session))
            frames, code = other.result(timeout=60)
        assert frames[0]["type"] == "welcome" and frames[0]["state"] == "agent", frames
        assert "handed over to another web process" in b.text(), tier.logs()
        customer.wait_for_selector("#hotline-chat[data-connected=true]", state="attached")
        exchange("moved", 2)
        # The database session holding the chat's claim ends (as when PostgreSQL restarts):
        # its process lets the chat go and claims again; the widget reconnects, the chat
        # is taken over from the store (by whichever process gets it), and goes on.
        ended = read(tier.url, lambda store: end_claim_session(store, frames[0]["session_id"]))
        assert ended == 1, ended
        customer.wait_for_selector("#hotline-chat[data-connected=false]", state="attached")
        customer.wait_for_selector("#hotline-chat[data-connected=true]", state="attached")
        exchange("reclaimed", 1)
        assert "chat claims lost: 1 chat(s) let go" in a.text() + b.text(), tier.logs()
        # The desk reloads: its tab comes back with the whole thread, from the process
        # running the chat (each process says what it has for alice on the bus).
        desk.reload()
        desk.wait_for_selector("#connection[data-connected=true]")
        pane = desk.locator(f".pane[data-contact-id='{contact_id}']")
        pane.locator(".msg.from-customer", has_text=customer_sent[-1]).wait_for()

        shown_desk = [t.strip() for t in pane.locator(".msg.from-customer .text").all_inner_texts()]
        # Tess takes the chat over from alice through the process NOT running it, and
        # closes it.
        taken = take_over_elsewhere(remote, tier, desk, contact_id)

        shown_widget = customer.locator("#hotline-chat .msg").all_inner_texts()
        stored = read(tier.url, lambda store: ChatStore(store).contact_messages(contact_id))
        by_customer = [m.text for m in stored if m.sender == "customer" and m.kind == "text"]
        by_agent = [m.text for m in stored if m.sender == "agent" and m.kind == "text"]
        sent_files = [(m.sender, m.text) for m in stored if m.kind == "attachment"]
        assert sent_files == [("customer", "note.txt"), ("agent", "big.pdf")], sent_files
        lost_customer = [t for t in customer_sent if t not in by_customer]
        lost_agent = [t for t in agent_sent if not any(t in s for s in shown_widget)]
        doubled = [t for t in {*by_customer, *by_agent} if [*by_customer, *by_agent].count(t) > 1]
        doubled += [t for t in agent_sent if sum(t in s for s in shown_widget) > 1]
        print(
            f"\nweb tier: customer sent {len(customer_sent)}, stored {len(by_customer)}; "
            f"agent sent {len(agent_sent)}, stored {len(by_agent)}, shown in the widget "
            f"{len(agent_sent) - len(lost_agent)}; lost {len(lost_customer) + len(lost_agent)}, "
            f"doubled {len(doubled)}; web1 marked down {marked_down:.1f} s after the kill, "
            f"the conversation went on {resumed:.1f} s after it; a second socket on a took "
            f"the chat over from b (then closed {code}: the widget took it back, or none); "
            f"files: {files}; {supervised}; {taken}; "
            f"test {time.monotonic() - started:.0f} s"
        )
        assert by_customer == customer_sent, tier.logs()  # in order, once each
        assert by_agent == agent_sent, tier.logs()
        assert not lost_customer and not lost_agent and not doubled, tier.logs()
        assert shown_desk == customer_sent  # the desk on B: each once, in order
        assert "taken over here" in b.text(), tier.logs()  # the chat ran on A, then on B
        events = read(tier.url, lambda store: store.events(contact_id))
        types = [e.type for e in events]
        # Answered once by alice (the take-over's transfer answers it once more, tess's).
        before = types[: types.index("chat.taken_over")]
        assert before.count("contact.answered") == 1 and types.count("contact.answered") == 2
        assert any(e.type == "chat.closed" and e.data.get("wrap_up") == "resolved" for e in events)
        (read_by,) = [e.data for e in events if e.type == "monitor.started"]
        assert read_by == {"supervisor": "sue", "agent": "alice", "mode": "read", "phone": ""}
        (note,) = [e.data for e in events if e.type == "chat.whisper"]
        assert note == {"supervisor": "sue", "agent": "alice", "text": NOTE}
        (ended,) = [e.data for e in events if e.type == "monitor.ended"]
        assert ended["supervisor"] == "sue" and ended["reason"] == "stopped", ended
        (took,) = [e.data for e in events if e.type == "chat.taken_over"]
        assert took == {"supervisor": "tess", "agent": "alice"}
        assert not any(NOTE in text for text in shown_widget)  # never the customer's
    except BaseException:
        print(tier.logs())  # what each process said, for the failure
        with contextlib.suppress(Exception):
            print(
                "desk:",
                desk.locator("#toast").inner_text(),
                desk.locator(".channel").all_inner_texts(),
            )
        raise
    finally:
        with contextlib.suppress(Exception):
            remote.close()
        customer_context.close()
        desk_context.close()


NOTE = "offer the 10% voucher, quietly"


class Remote:
    """An event loop in a thread, for aiohttp sessions and sockets that the (sync,
    Playwright) test drives step by step: a supervisor's REST calls and WebSockets."""

    def __init__(self) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.closing: list[Any] = []

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def user(self, base: str, name: str) -> Any:
        """A logged-in aiohttp session of `name` on the process at `base`."""
        import aiohttp

        from tests.e2e.test_chat_recovery import login as login_http

        async def open_session() -> Any:
            http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            self.closing.append(http)
            await login_http(http, base, name)
            return http

        return self.run(open_session())

    def call(self, http: Any, base: str, method: str, path: str, body: Any = None) -> Any:
        async def ask() -> tuple[int, Any]:
            async with http.request(
                method, f"{base}{path}", json=body, headers={"Origin": base}
            ) as response:
                return response.status, await response.json()

        return self.run(ask())

    def socket(self, http: Any, base: str, path: str) -> Any:
        from tests.e2e.test_chat_recovery import Socket

        async def connect() -> Socket:
            ws = await http.ws_connect(f"{base}{path}", headers={"Origin": base})
            socket = Socket(ws)
            self.closing.insert(0, socket)
            return socket

        return self.run(connect())

    def close(self) -> None:
        async def close_all() -> None:
            for thing in self.closing:
                with contextlib.suppress(Exception):
                    await thing.close()

        with contextlib.suppress(Exception):
            self.run(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def read_and_whisper(
    remote: Remote, b: WebProcess, customer: Any, pane: Any, contact_id: str, sent: list[str]
) -> str:
    """The chat runs on A, alice's desk is on B: sue, a supervisor logged in on B, reads
    it live (the thread, then a customer's message as it comes) and whispers a note to
    alice (on her desk on B, never to the customer); refusals come back from A with
    their status and words. What it took, for the print."""
    started = time.monotonic()
    path = f"/api/chats/{contact_id}"
    sue = remote.user(b.url, "sue")
    status, thread = remote.call(sue, b.url, "GET", f"{path}/monitor")
    assert status == 200 and thread["agent"] == "alice" and thread["server"] == "a", thread
    assert [m["text"] for m in thread["messages"] if m["from"] == "customer"][:1] == sent[:1]
    status, answer = remote.call(sue, b.url, "GET", "/api/chats/no-such-contact/monitor")
    assert status == 404 and "no live chat" in answer["error"], answer
    reader = remote.socket(sue, b.url, f"{path}/monitor/ws")
    first = remote.run(reader.wait(lambda f: f["type"] == "chat"))
    assert first["contact_id"] == contact_id and first["agent"] == "alice", first
    opened = time.monotonic() - started
    text = "customer watched"
    typed = time.monotonic()
    type_in_widget(customer, text)
    sent.append(text)
    remote.run(reader.wait(lambda f: f["type"] == "message" and f["message"]["text"] == text))
    live = time.monotonic() - typed
    pane.locator(".msg.from-customer", has_text=text).wait_for()
    status, answer = remote.call(sue, b.url, "POST", f"{path}/whisper", {"text": ""})
    assert status == 400 and '"text" must be a non-empty text' in answer["error"], answer
    status, answer = remote.call(sue, b.url, "POST", f"{path}/whisper", {"text": NOTE})
    assert status == 200 and answer["note"]["private"] is True, answer
    pane.locator(".msg.whisper", has_text=NOTE).wait_for()  # alice's desk, on B
    remote.run(reader.wait(lambda f: f["type"] == "note" and f["note"]["text"] == NOTE))
    remote.run(reader.close())  # the page closed: the reading stops (at A)
    ended = wait_event(b.tier.url, contact_id, "monitor.ended", supervisor="sue", timeout=15)
    assert ended["reason"] == "stopped", ended
    return (
        f"sue on b reading the chat run by a: its thread {opened:.1f} s, a customer's "
        f"message on her page {live:.2f} s after it was typed; whispered to alice on b"
    )


def take_over_elsewhere(remote: Remote, tier: Tier, desk: Any, contact_id: str) -> str:
    """Tess (a team lead) takes the chat over from alice on the web process that does
    not run it, gets it on her desk there with its thread and the note, and closes it."""
    started = time.monotonic()
    a, b = tier.processes
    path = f"/api/chats/{contact_id}"
    sue = remote.user(tier.edge_url, "sue")
    status, thread = remote.call(sue, tier.edge_url, "GET", f"{path}/monitor")
    assert status == 200, thread
    other = a if thread["server"] == "b" else b
    tess = remote.user(other.url, "tess")
    tess_desk = remote.socket(tess, other.url, "/desk/ws")
    remote.run(tess_desk.wait(lambda f: f["type"] == "hello"))
    remote.run(tess_desk.ws.send_json({"type": "presence", "action": "login", "channel": "chat"}))
    deadline = time.monotonic() + 10
    while True:  # until the leader's view says tess is available for chats
        status, answer = remote.call(tess, other.url, "POST", f"{path}/take_over")
        if status != 409 or time.monotonic() > deadline:
            break
        assert "cannot take the chat now" in answer["error"], answer
        time.sleep(0.3)
    assert status == 200, (answer, tier.logs())
    assert answer == {"contact_id": contact_id, "agent": "tess", "from_agent": "alice"}
    desk.wait_for_selector(f".pane[data-contact-id='{contact_id}']", state="detached")
    tab = remote.run(
        tess_desk.wait(lambda f: f["type"] == "chat" and f["contact_id"] == contact_id)
    )
    assert [n["text"] for n in tab["notes"]] == [NOTE], tab
    took = time.monotonic() - started
    remote.run(
        tess_desk.ws.send_json({"type": "close", "contact_id": contact_id, "wrap_up": "resolved"})
    )
    remote.run(
        tess_desk.wait(lambda f: f["type"] == "chat_closed" and f["contact_id"] == contact_id)
    )
    remote.run(tess_desk.ws.send_json({"type": "presence", "action": "logout", "channel": "chat"}))
    return (
        f"tess took it over on {other.name} (run by {thread['server']}) in {took:.1f} s, "
        "thread and note on her desk"
    )


def exchange_files(
    tier: Tier, a: WebProcess, b: WebProcess, customer: Any, desk: Any, pane: Any, contact_id: str
) -> str:
    """The chat runs on A, alice's desk is on B: the widget's file (sent to A) downloads
    from B's desk, and a 2 MB file sent from B's desk (over NATS: its hash only; its bytes
    in PostgreSQL) downloads from A by the customer. What it took, for the print."""
    started = time.monotonic()
    note = b"a file from the customer, sent on a\n" * 10
    customer.locator("#hotline-chat input.file").set_input_files(
        {"name": "note.txt", "mimeType": "text/plain", "buffer": note}
    )
    link = pane.locator(".msg.from-customer a", has_text="note.txt")
    link.wait_for()
    href = link.get_attribute("href") or ""
    got = desk.request.get(b.url + href)  # the desk's own login cookie, on B
    assert got.status == 200 and got.body() == note, (got.status, tier.logs())
    missing = desk.request.get(f"{b.url}/desk/attachments/{'0' * 36}")
    assert missing.status == 404, missing.status
    customer_seen = time.monotonic() - started

    big = b"%PDF-1.4\n" + os.urandom(2 * 1024 * 1024)  # above NATS's 1 MB messages
    sent = desk.request.post(
        f"{b.url}/desk/chats/{contact_id}/files",
        data=big,
        headers={"Content-Type": "application/pdf", "X-Filename": "big.pdf"},
    )
    assert sent.status == 200, (sent.status, sent.text(), tier.logs())
    link = customer.locator("#hotline-chat .msg a.attachment", has_text="big.pdf")
    link.wait_for()
    href = link.get_attribute("href") or ""
    path = href[href.index("/chat/attachments/") :]
    got = customer.request.get(a.url + path)  # the chat's session in the link, on A
    assert got.status == 200 and got.body() == big, (got.status, tier.logs())
    # A's kept file is not a file of another chat: a wrong session is refused.
    wrong = customer.request.get(a.url + path.split("?")[0] + "?session=nope")
    assert wrong.status == 404, wrong.status
    return (
        f"the widget's file on b's desk {customer_seen:.1f} s, 2 MB from b's desk to the "
        f"customer on a {time.monotonic() - started - customer_seen:.1f} s"
    )


async def end_claim_session(store: Store, session_id: str) -> int:
    """End the PostgreSQL session holding the chat's claim; how many were ended."""
    from sqlalchemy import text

    key = claim_key(session_id)
    high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    query = text(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
        "AND classid = :high AND objid = :low AND objsubid = 1 AND granted"
    )
    rows = await store.read(
        lambda conn: conn.execute(query, {"high": high, "low": low}), "end a claim"
    )
    return len(rows.fetchall())


async def hello_on(url: str, session: str) -> tuple[list[dict[str, Any]], int | None]:
    """A second socket of the chat `session`, on the process at `url`: its frames until
    its history is out and a few seconds more (or it is closed), and how it closed."""
    import aiohttp

    frames: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/chat/ws") as ws:
        await ws.send_json({"v": 1, "type": "hello", "session": session, "last_seq": 0})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        frames.append(json.loads(msg.data))
        return frames, ws.close_code


def _alice(board: dict[str, Any]) -> dict[str, Any] | None:
    """What a wallboard says of alice's channels: state, load, contacts."""
    for agent in board.get("agents", []):
        if agent.get("agent") == "alice":
            return {
                ch["channel"]: [ch["state"], ch["load"], ch["contacts"]] for ch in agent["channels"]
            }
    return None


def api(
    url: str, token: str, path: str, method: str = "POST", body: Any = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body or {}).encode() if method == "POST" else None
    request = urllib.request.Request(f"{url}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_a_desk_on_a_web_process_controls_a_call_on_a_worker(tier: Tier, browser: Any) -> None:
    """A caller on the worker's Asterisk is rung to alice; her desk is on web process b:
    the call shows there (from the event log), and hold and resume, asked of b, are done
    by the worker holding the call (over NATS, by the contact's asterisk_node); then
    alice transfers it (blind) to queue webq2, whose agent bob takes it. Then alice
    clicks to call a number on her desk on b: a call worker rings her phone, then the
    customer's."""
    started = time.monotonic()
    _a, b = tier.processes
    leader(tier)
    b.start()
    phones = tier.workdir / "phones"
    # Alice's phone takes two calls (the caller's, transferred away; her click-to-call),
    # each until Asterisk hangs it up; bob's takes the transferred caller.
    phone = TransferTarget(
        phones, "answer_until_hangup", tier.phone_port, ring=0.5, talk=30, calls=2
    ).start()
    # Bob's phone: first the consultation (until alice's side hangs it up), then, a
    # second SIPp on the same port, the transferred caller.
    bob = TransferTarget(phones, "answer_until_hangup", tier.phones["bob"], ring=0.3, talk=30)
    bob.start()
    customer = TransferTarget(phones, "answer", tier.phones["customer"], ring=1, talk=3).start()
    sue = TransferTarget(
        phones, "answer_until_hangup", tier.phones["sue"], ring=0.3, talk=30
    ).start()
    context = browser.new_context()
    context.set_default_timeout(20_000)
    caller = None
    try:
        tier.worker = spawn(tier.settings, tier.workdir, log_name="worker")
        wait_ready(tier.worker)
        token = yaml.safe_load((tier.workdir / "state" / "secrets.yaml").read_text())["api_token"]
        desk = context.new_page()
        login(desk, b.url, "alice", TEST_PASSWORD)
        desk.wait_for_selector("#connection[data-connected=true]")
        caller = SippCall(
            tier.workdir / "sipp", tier.worker.sip_port, "304", "5550177", [ExpectHangup(60)]
        ).start()
        contact_id = wait_connected(tier.url, "5550177")
        desk.wait_for_selector("#call[data-held=false]", state="attached")  # the panel, on b
        node = read(tier.url, lambda store: store.contact(contact_id)).asterisk_node

        status, answer = api(b.url, token, f"/api/calls/{contact_id}/hold")
        assert status == 200 and answer["state"]["held"] is True, (answer, tier.logs())
        desk.wait_for_selector("#call[data-held=true]", state="attached")
        status, answer = api(b.url, token, f"/api/calls/{contact_id}/resume")
        assert status == 200 and answer["state"]["held"] is False, answer
        # Refused by the worker, with its status and words; the call goes on.
        status, answer = api(b.url, token, f"/api/calls/{contact_id}/resume")
        assert status == 409, answer
        status, answer = api(b.url, token, "/api/calls/no-such-contact/hold")
        assert status == 404 and "no call on any call worker" in answer["error"], answer
        # (The worker may answer before its call.resumed is committed: a run read the log
        # between the two.)
        wait_event(tier.url, contact_id, "call.resumed", timeout=10)
        events = read(tier.url, lambda store: store.events(contact_id))
        held = [e.type for e in events if e.type in ("call.held", "call.resumed")]
        assert held == ["call.held", "call.resumed"], held

        # Sue, a supervisor logged in on b, listens: the worker rings her phone and
        # connects it; b lists it (asked of every worker) and stops it.
        sue_context = browser.new_context()  # her own cookies: alice's desk stays hers
        supervisor = sue_context.new_page()
        login(supervisor, b.url, "sue", TEST_PASSWORD)
        monitored = time.monotonic()
        path = f"{b.url}/api/calls/{contact_id}/monitor"
        said = supervisor.request.post(path, data={"mode": "listen"})
        assert said.status == 200, (said.status, said.text(), tier.logs())
        assert said.json()["monitor"]["agent"] == "alice", said.json()
        listing: list[dict[str, Any]] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            listing = supervisor.request.get(f"{b.url}/api/monitoring").json()["monitoring"]
            if listing and listing[0]["state"] == "connected":
                break
            time.sleep(0.3)
        assert [(m["supervisor"], m["state"]) for m in listing] == [("sue", "connected")]
        connected = time.monotonic() - monitored
        # She whispers to alice, then barges in, each asked of b and done by the worker
        # on its Asterisk (her phone staying up); then stops.
        switched = time.monotonic()
        for mode in ("whisper", "barge"):
            said = supervisor.request.post(path, data={"mode": mode})
            assert said.status == 200, (said.status, said.text(), tier.logs())
            assert said.json()["monitor"]["mode"] == mode, said.json()
        switched = time.monotonic() - switched
        said = supervisor.request.post(f"{path}/stop")
        assert said.status == 200 and said.json()["monitor"]["state"] == "ended", said.text()
        ended = wait_event(tier.url, contact_id, "monitor.ended", supervisor="sue")
        assert set(ended["modes"]) == {"listen", "whisper", "barge"}, ended
        events = read(tier.url, lambda store: store.events(contact_id))
        changed = [e.data for e in events if e.type == "monitor.changed"]
        changes = [(c["previous"], c["mode"]) for c in changed]
        assert changes == [("listen", "whisper"), ("whisper", "barge")], changes
        assert sue.wait_done(20).ok, sue.messages()
        sue_context.close()

        consulted = consult_bob(tier, b, token, contact_id, bob)
        # A blind transfer asked of b: the worker sends the caller to queue webq2, bob's.
        bob = TransferTarget(phones, "answer", tier.phones["bob"], ring=0.5, talk=2).start()
        moved = time.monotonic()
        status, answer = api(
            b.url, token, f"/api/calls/{contact_id}/transfer", body={"to": "queue:webq2"}
        )
        assert status == 200, (answer, tier.logs())
        bob_took = wait_event(tier.url, contact_id, "queue.connected", agent="bob")
        transferred = time.monotonic() - moved
        events = read(tier.url, lambda store: store.events(contact_id))
        assert "call.transferred" in [e.type for e in events], [e.type for e in events]
        result = caller.wait(40)
        assert result.ok, result.output
        assert bob.wait_done(30).ok, bob.messages()

        # Click-to-call on alice's desk on b: a call worker rings her phone, then the
        # customer (the dial template: the customer's SIPp phone, whatever the number).
        clicked = time.monotonic()
        desk.fill("#dial-number", "5557801")
        placed = desk_call(desk, tier)
        outbound = wait_event(tier.url, placed, "outbound.answered")
        rang = time.monotonic() - clicked
        assert customer.wait_done(30).ok, customer.messages()
        contact = wait_closed(tier.url, placed)
        assert contact.channel == "outbound" and contact.asterisk_node == node, contact
        assert contact.destination == "5557801", contact
        assert "INVITE sip:5557801@" in customer.messages()
        assert phone.wait_done(30).ok, phone.messages()
        assert phone.messages().count("INVITE sip:") == 2  # the caller's, then hers
        relayed = browser_phone_through(tier, b)
        fetched = recording_through(tier, b, token, contact_id)
        called_back = chat_callback_from(tier, b)
        managed = callbacks_api_through(tier, b, token)
        print(
            f"\nweb tier, calls: the call on worker {node} held and resumed from web process "
            f"b; sue's listening connected {connected:.1f} s after she asked b, whisper then "
            f"barge {switched:.1f} s; {consulted}; "
            f"transferred to bob (webq2) in {transferred:.1f} s ({bob_took}); "
            f"click-to-call from b: the customer answered {rang:.1f} s after the click "
            f"({outbound}); {relayed}; {fetched}; {called_back}; {managed}; "
            f"test {time.monotonic() - started:.0f} s"
        )
    except BaseException:
        print(tier.logs())
        if tier.worker is not None:
            print("--- worker\n" + tier.worker.log_tail(80))
        raise
    finally:
        if caller is not None and caller.proc is not None and caller.proc.poll() is None:
            caller.proc.kill()
            caller.proc.wait(10)
        for sipp in (phone, bob, customer, sue):
            sipp.stop()
        context.close()


def consult_bob(tier: Tier, b: WebProcess, token: str, contact_id: str, bob: Any) -> str:
    """Alice's call, asked of web process b: a consultation of bob (the worker holds the
    caller and rings bob's phone), then cancelled (bob's phone hung up, the caller back
    with alice); a bad target and a second cancel refused with their words, the call
    as it was. What it took, for the print."""
    path = f"/api/calls/{contact_id}"
    status, answer = api(b.url, token, f"{path}/consult", body={"to": "agent:nobody"})
    assert status == 404 and "nobody" in answer["error"], answer
    started = time.monotonic()
    status, answer = api(b.url, token, f"{path}/consult", body={"to": "agent:bob"})
    assert status == 200, (answer, tier.logs())
    assert answer["state"]["held"] is True, answer
    assert answer["state"]["consult"]["to"] == "agent:bob", answer
    deadline = time.monotonic() + 15
    while (answer["state"]["consult"] or {}).get("state") != "talking":
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)
        status, answer = api(b.url, token, path, method="GET")
        assert status == 200, answer
    talking = time.monotonic() - started
    status, answer = api(b.url, token, f"{path}/cancel")
    assert status == 200, (answer, tier.logs())
    assert answer["state"]["held"] is False and answer["state"]["consult"] is None, answer
    assert bob.wait_done(15).ok, bob.messages()  # hung up by the worker: the BYE came
    status, answer = api(b.url, token, f"{path}/cancel")
    assert status == 409 and "no consultation to cancel" in answer["error"], answer
    ended = wait_event(tier.url, contact_id, "call.consult_ended")
    assert ended["outcome"] == "cancelled", ended
    events = read(tier.url, lambda store: store.events(contact_id))
    kinds = [e.type for e in events if e.type.startswith("call.consult")]
    assert kinds == ["call.consult_started", "call.consult_answered", "call.consult_ended"]
    return f"bob consulted from b: talking {talking:.1f} s after it was asked, then cancelled"


def recording_through(tier: Tier, b: WebProcess, token: str, contact_id: str) -> str:
    """The call's recording, made on the worker's Asterisk, downloaded through web
    process b (no Asterisk, no recordings of its own: it fetches them from the worker
    named by the contact's `asterisk_node`): the bytes are the worker's file, the access
    logged once per request, by b's user; an unknown name is a 404, nothing logged."""
    saved = wait_event(tier.url, contact_id, "recording.saved")
    name, file = saved["name"], Path(saved["file"])
    on_worker = file.read_bytes()
    started = time.monotonic()
    status, body = fetch(f"{b.url}/api/recordings/{name}", token)
    took = time.monotonic() - started
    assert status == 200 and body == on_worker and len(body) > 44, (status, body[:200])
    status, body = fetch(f"{b.url}/api/contacts/{contact_id}/recordings/{name}", token)
    assert status == 200 and body == on_worker, (status, body[:200])
    status, body = fetch(f"{b.url}/api/recordings/no-such-recording.wav", token)
    assert status == 404, (status, body[:200])
    events = read(tier.url, lambda store: store.events(contact_id))
    logged = [e.data for e in events if e.type == "recording.accessed"]
    assert logged == [{"by": "api", "role": "admin", "recording": name}] * 2, logged
    return f"its recording ({len(on_worker)} bytes) through b in {took:.2f} s, bytes equal"


def chat_callback_from(tier: Tier, b: WebProcess) -> str:
    """A customer's chat on web process b (entry `cb`: its flow's callback node, queue
    webcb) gives a number the callback rules refuse, then a good one, and confirms: b
    books the callback, queues it at the leader and tells it, which hands it to the call
    worker at once (`booked by a web process`); the worker rings bob's phone, then the customer's
    (the dial template), who talk; the callback completed on its first attempt, handed
    once. What it took, for the print."""
    from tests.e2e.test_chat_recovery import Widget

    number = "5557802"
    phones = tier.workdir / "phones"
    bob = TransferTarget(phones, "answer_until_hangup", tier.phones["bob"], ring=0.3, talk=30)
    customer = TransferTarget(phones, "answer", tier.phones["customer"], ring=0.3, talk=1.5)
    bob.start(), customer.start()

    async def book() -> tuple[str, float]:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            widget = await Widget.open(http, b.url, session=None, last_seq=0, entry="cb")

            async def told(words: str, times: int = 1) -> None:
                def enough(_frame: Any) -> bool:
                    said = [f for f in widget.frames if f["type"] == "message"]
                    return sum(words in f["text"] for f in said) >= times

                await widget.wait(enough)

            try:
                await told("enter the number")
                await widget.ws.send_json({"type": "message", "id": "n1", "text": "12"})
                await told("cannot be called back")  # refused, asked again
                await told("enter the number", 2)
                await widget.ws.send_json({"type": "message", "id": "n2", "text": number})
                await told("To confirm, press 1")
                await widget.ws.send_json({"type": "message", "id": "n3", "text": "1"})
                await told("callback is booked")
                return widget.session_id, time.monotonic()
            finally:
                await widget.close()

    try:
        with ThreadPoolExecutor(1) as pool:
            _session, booked = pool.submit(asyncio.run, book()).result(timeout=60)

        async def the_callback(store: Store) -> str | None:
            for contact in await store.recent_contacts(20):
                if contact.channel == "chat":
                    for event in await store.events(contact.id):
                        if event.type == "flow.callback" and event.data.get("queue") == "webcb":
                            return str(event.data["callback"])
            return None

        callback = read(tier.url, the_callback)
        assert callback, tier.logs()
        handed = wait_event(tier.url, callback, "callback.handed", timeout=15)
        # Told by the web process: handed now, not after the leader's grace.
        assert handed["why"] == "booked by a web process" and handed["worker"].endswith(
            tier.settings["asterisk"]["instance"]
        ), handed
        done = wait_event(tier.url, callback, "callback.completed", timeout=30)
        took = time.monotonic() - booked
        assert customer.wait_done(20).ok, customer.messages()
        assert bob.wait_done(20).ok, bob.messages()
        assert f"INVITE sip:{number}@" in customer.messages()
        events = read(tier.url, lambda store: store.events(callback))
        attempts = [e.data for e in events if e.type == "callback.attempt"]
        # One attempt (its steps: whisper, dialing, answered...), handed once.
        assert [a["agent"] for a in attempts if a.get("event") == "dialing"] == ["bob"], attempts
        assert all(a.get("attempt", 1) == 1 for a in attempts), attempts
        assert [e.type for e in events].count("callback.handed") == 1
    finally:
        bob.stop()
        customer.stop()
    return (
        f"a chat's callback booked on b, handed to the worker ({handed['why']}), "
        f"completed {took:.1f} s after the booking ({done})"
    )


def callbacks_api_through(tier: Tier, b: WebProcess, token: str) -> str:
    """The callbacks' REST API on web process b: a bad number refused (422), nothing
    booked; a callback booked through b for later, listed by b, handed by the leader to
    the call worker, then cancelled through b by that worker (200, `callback.cancelled`
    once); cancelled again 409, an unknown one 404. What it took, for the print."""
    from datetime import UTC, datetime, timedelta

    path = "/api/callbacks"
    status, answer = api(b.url, token, path, body={"number": "12", "queue": "webcb"})
    assert status == 422 and answer["reason"] == "invalid", answer
    status, listed = api(b.url, token, f"{path}?queue=webcb", method="GET")
    assert status == 200 and listed["callbacks"] == [], listed
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    body = {"number": "5557803", "queue": "webcb", "scheduled_for": later}
    status, answer = api(b.url, token, path, body=body)
    assert status == 201 and answer["callback"]["state"] == "pending", answer
    callback = answer["callback"]["id"]
    status, listed = api(b.url, token, f"{path}?queue=webcb", method="GET")
    assert [(c["id"], c["number"]) for c in listed["callbacks"]] == [(callback, "5557803")]
    # Booked for later: the leader, told by b, hands it to the worker at once.
    handed = wait_event(tier.url, callback, "callback.handed", timeout=15)
    assert handed["why"] == "booked by a web process", handed
    started = time.monotonic()
    status, answer = api(b.url, token, f"{path}/{callback}", method="DELETE")
    took = time.monotonic() - started
    assert status == 200 and answer["callback"]["state"] == "cancelled", (answer, tier.logs())
    status, answer = api(b.url, token, f"{path}/{callback}", method="DELETE")
    assert status == 409 and "not open" in answer["error"], answer
    status, answer = api(b.url, token, f"{path}/no-such-callback", method="DELETE")
    assert status == 404 and "no callback 'no-such-callback'" in answer["error"], answer
    events = read(tier.url, lambda store: store.events(callback))
    cancelled = [e.data for e in events if e.type == "callback.cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["by"] == "api", cancelled
    status, listed = api(b.url, token, f"{path}?queue=webcb", method="GET")
    assert listed["callbacks"] == [], listed
    return f"a callback booked through b, cancelled through b by the worker in {took:.2f} s"


def fetch(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def browser_phone_through(tier: Tier, b: WebProcess) -> str:
    """Alice's browser phone, her desk logged in on b: its account from b, and its SIP
    over WebSocket relayed by b to the call worker's relay, then to its Asterisk: the
    REGISTER (digest-authenticated) is answered 200 and her `2001-web` endpoint is
    online there; the socket closed, it goes offline. (SIP spoken here as JsSIP would:
    the test's Chromium has no microphone, which the desk's phone needs first.)"""
    import hashlib
    import re
    import uuid

    assert tier.worker is not None
    remote = Remote()
    started = time.monotonic()
    try:
        alice = remote.user(b.url, "alice")
        status, account = remote.call(alice, b.url, "GET", "/api/phone/account")
        assert status == 200 and account["authorization_user"] == "2001", account
        user, password = account["authorization_user"], account["password"]
        uri, aor = "sip:127.0.0.1", "sip:2001-web@127.0.0.1"

        def register(cseq: int, authorization: str = "") -> str:
            tag = uuid.uuid4().hex[:8]
            lines = [
                f"REGISTER {uri} SIP/2.0",
                f"Via: SIP/2.0/WS test.invalid;branch=z9hG4bK{uuid.uuid4().hex[:12]}",
                "Max-Forwards: 70",
                f"To: <{aor}>",
                f"From: <{aor}>;tag={tag}",
                f"Call-ID: webtier-phone-{b.name}",
                f"CSeq: {cseq} REGISTER",
                "Contact: <sip:alice@test.invalid;transport=ws>;expires=120",
                *([authorization] if authorization else []),
                "Expires: 120",
                "Content-Length: 0",
            ]
            return "\r\n".join(lines) + "\r\n\r\n"

        async def sign_in() -> tuple[str, Any]:
            ws = await alice.ws_connect(
                f"{b.url}/desk/phone/ws", protocols=("sip",), headers={"Origin": b.url}
            )
            await ws.send_str(register(1))
            challenge = (await ws.receive(timeout=10)).data
            assert challenge.startswith("SIP/2.0 401"), challenge
            said = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            realm, nonce = said["realm"], said["nonce"]
            ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
            ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
            cnonce, nc = uuid.uuid4().hex[:8], "00000001"
            answer = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
            authorization = (
                f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                f'uri="{uri}", response="{answer}", algorithm=MD5, qop=auth, nc={nc}, '
                f'cnonce="{cnonce}"' + (f', opaque="{said["opaque"]}"' if "opaque" in said else "")
            )
            await ws.send_str(register(2, authorization))
            return (await ws.receive(timeout=10)).data, ws

        ok, ws = remote.run(sign_in())
        assert ok.startswith("SIP/2.0 200"), (ok, tier.logs())
        registered = time.monotonic() - started

        def state() -> str:
            assert tier.worker is not None
            endpoint = tier.worker.ari("endpoints/PJSIP/2001-web")
            assert isinstance(endpoint, dict)
            return str(endpoint["state"])

        deadline = time.monotonic() + 5  # Asterisk says the contact a moment after its 200
        while state() != "online":
            assert time.monotonic() < deadline, "alice's 200 OK, but 2001-web not online"
            time.sleep(0.1)
        assert "browser phone of alice: relayed to call worker" in b.text(), tier.logs()
        remote.run(ws.close())  # the tab closed: b's relay closes the worker's
        deadline = time.monotonic() + 15
        while state() == "online":
            assert time.monotonic() < deadline, "alice's browser phone still registered"
            time.sleep(0.2)
    finally:
        remote.close()
    return f"alice's browser phone registered through b in {registered:.1f} s"


def desk_call(desk: Any, tier: Tier, timeout: float = 20) -> str:
    """Click the desk's Call (the number typed), again while alice's wrap-up after the
    transfer lasts; the outbound contact placed."""
    deadline = time.monotonic() + timeout
    while True:
        with desk.expect_response(lambda r: r.url.endswith("/api/calls")) as said:
            desk.click("#dial .dial-call")
        response = said.value
        answer = response.json()
        if response.status == 201:
            return str(answer["contact_id"])
        assert response.status == 409 and "wrap_up" in answer["error"], (answer, tier.logs())
        assert time.monotonic() < deadline, answer
        time.sleep(0.3)


def wait_event(
    url: str, contact_id: str, kind: str, timeout: float = 30, **data: Any
) -> dict[str, Any]:
    """The first `kind` event of the contact (with `data` in its payload, or as its
    agent), once it is logged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in read(url, lambda store: store.events(contact_id)):
            if event.type != kind:
                continue
            payload = {"agent": event.agent, **event.data}
            if all(payload.get(k) == v for k, v in data.items()):
                return dict(event.data)
        time.sleep(0.2)
    raise AssertionError(f"no {kind} {data} for {contact_id}")


def wait_closed(url: str, contact_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        contact = read(url, lambda store: store.contact(contact_id))
        if contact is not None and contact.status != "active":
            return contact
        time.sleep(0.2)
    raise AssertionError(f"contact {contact_id} still active")


def wait_connected(url: str, number: str, timeout: float = 30) -> str:
    """The contact of the caller `number` once it is connected to an agent."""

    async def find(store: Store) -> str | None:
        for contact in await store.recent_contacts(50):
            if contact.source == number:
                events = await store.events(contact.id)
                if any(e.type == "queue.connected" for e in events):
                    return contact.id
        return None

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read(url, find)
        if found:
            return str(found)
        time.sleep(0.2)
    raise AssertionError(f"{number} never connected to an agent")


def start_web(tier: Tier, config: dict[str, Any], name: str) -> subprocess.Popen[str]:
    path = tier.workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        [str(HOTLINE), "--config", str(path), "web", "--bind", "127.0.0.24", "--port", "1"],
        env=tier.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=conftest.HOME,
    )


def test_a_web_process_without_its_services_exits_with_the_reason(tier: Tier) -> None:
    no_nats = {**tier.settings, "routing": {**tier.settings["routing"]}}
    no_nats["routing"]["nats_url"] = f"nats://127.0.0.1:{free_port()}"
    no_db = {**tier.settings, "database_url": f"postgresql+asyncpg://x@127.0.0.1:{free_port()}/x"}
    on_sqlite = {**tier.settings, "database_url": None, "routing": {"mode": "local"}}
    started = {  # at once: each waits for what it cannot reach
        "sqlite": start_web(tier, on_sqlite, "sqlite"),
        "nonats": start_web(tier, no_nats, "nonats"),
        "nodb": start_web(tier, no_db, "nodb"),
    }
    said = {}
    for name, proc in started.items():
        _out, err = proc.communicate(timeout=60)
        said[name] = (proc.returncode, err)
    assert said["sqlite"][0] == 2
    assert "hotline web needs database_url on PostgreSQL" in said["sqlite"][1]
    assert said["nonats"][0] == 2
    assert "cannot reach NATS at nats://127.0.0.1:" in said["nonats"][1]
    assert said["nodb"][0] == 2, said["nodb"]
    assert "cannot reach PostgreSQL at 127.0.0.1:" in said["nodb"][1]
