"""Chat: concurrent widget sessions and message throughput on one controller process.

    python bench/bench_chat.py [--quick] [--sessions 5000] [--rate 1000] [--seconds 10]
                               [--baseline REV|none] [--no-write]

A server process runs the chat bridge as `hotline run` does (the widget's WebSocket
routes on aiohttp, the routing engine, an SQLite store with every message committed
before it is delivered, the garbage-collector freezer) with a bench flow: a welcome, then
a queue no agent serves, so every chat stays open and waiting (live position on). This
process is the load:
  1. opens --sessions widget sessions (a WebSocket each, hello -> welcome, the flow's
     welcome message received), --concurrency at a time, and keeps them all open;
  2. picks --senders of them and opens a second socket on each (a second tab of the
     same chat), then sends --rate messages a second in total for --seconds; the
     delivery time of a message is from its send on the first socket to its arrival on
     the second, through the store (commit first, then delivery);
  3. checks every message arrived exactly once and is stored once, and, for one
     message in ten, that its row is in the database when it arrives (read at once
     from another connection: "stored before delivered", checked, not assumed).

Where the time goes: the server notes when it took each message (after parsing), when
its commit began and when it was committed (time.perf_counter is the machine's
monotonic clock, the same in both processes); the load notes send and arrival.

--baseline REV runs the same load first against the code of git revision REV (exported
with `git archive` into a temporary folder; this file's server part runs on it), so the
two rows come from one run under the same machine load; by default the code before
issue 15's chat work (BASELINE), `--baseline none` skips it. The machine's load average
(/proc/loadavg) is printed beside each row: latency on a shared machine is noisy.

Prints the Markdown section and writes it into docs/benchmarks.md (between the
bench_chat markers; --no-write: print only). Target: 5,000 open sessions, 1,000
messages/s, delivery p99 < 50 ms with every message stored before delivery. Exit
status 1 if a message was lost, duplicated or seen before it was stored (the product is
broken); a missed latency target is reported as FAIL in the section, exit status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import queue
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

BENCH_FLOW = """
name: bench_chat
start: hello
nodes:
  hello: {type: play, prompts: chat_welcome, next: wait}
  wait: {type: queue, queue: bench, on: {other: end}}
  end: {type: hangup}
"""
TARGET_P99_MS = 50.0
#: The code before issue 15's chat work: the baseline run first by default.
BASELINE = "bfbe744"
BEGIN = "<!-- bench_chat: begin (written by python bench/bench_chat.py) -->"
END = "<!-- bench_chat: end -->"
#: One message in this many is looked up in the database as it arrives.
CHECK_EVERY = 10


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def loadavg() -> str:
    """The load average (1, 5, 15 min) and, where Linux reports it, the share of the
    last 10 s in which some task waited for a CPU (pressure stall information)."""
    text = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with contextlib.suppress(OSError, ValueError, IndexError):
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()[1]
        text += f" (CPU wait {float(some.split('=')[1]):.0f} %)"
    return text


# ---- the server (one process) -------------------------------------------------------


async def serve(port: int, folder: Path) -> None:
    from aiohttp import web
    from sqlalchemy import event

    from chat_bridge.attachments import Attachments
    from chat_bridge.bridge import BridgeDeps, ChatBridge
    from chat_bridge.web import WidgetConnection, add_chat_routes
    from hotline.acd.service import RoutingService
    from hotline.acd.settings import AgentRouting, QueueSettings, make_router
    from hotline.catalogue import Catalogue
    from hotline.chat_settings import ChatConfig
    from hotline.flows.loader import FlowSet, parse_flow
    from hotline.flows.services import DefaultServices
    from hotline.store import Store, group_commit, sqlite_url
    from hotline.store.chats import ChatStore

    url = sqlite_url(str(folder / "bench.db"))
    # The controller's commit delay, where the tree has one (hotline/store/group_commit.py).
    delay = getattr(group_commit, "COMMIT_DELAY", 0.0)
    store = await (Store.connect(url, commit_delay=delay) if delay else Store.connect(url))
    await store.migrate()
    commits = [0]  # the store's transactions (the writer's engine where there is one)

    @event.listens_for(getattr(store, "write_engine", store.engine).sync_engine, "commit")
    def _committed(_conn: object) -> None:
        commits[0] += 1

    router = make_router({"bench": QueueSettings()}, {"nobody": AgentRouting(queues=["bench"])})
    routing = RoutingService(router, store.append)
    await routing.start()
    flows = FlowSet.of(parse_flow(BENCH_FLOW, "bench_chat.yaml"))
    services = DefaultServices(hours_open=True)
    settings = ChatConfig(
        flow="bench_chat",
        rate=100,
        burst=100,
        reminder_after=3600,
        max_sessions=100_000,
    )
    bridge = ChatBridge(
        BridgeDeps(
            store=store,
            routing=routing,
            flows=lambda: flows,
            catalogue=Catalogue.load(HOME / "sounds" / "catalogue.yaml"),
            settings=settings,
            services_for=lambda contact_id: services,
        )
    )
    app = web.Application()
    attachments = Attachments(folder / "files", bridge.chats, 1000, ["text/plain"])
    add_chat_routes(app, bridge, attachments)

    # Where each message's time goes: taken (parsed), commit begun, committed.
    stages: dict[str, list[float]] = {}
    handle, add_message = WidgetConnection.handle, ChatStore.add_message

    async def timed_handle(self: Any, chat: Any, message: Any) -> None:
        if getattr(message, "type", None) == "message":
            stages[message.id] = [time.perf_counter()]
        await handle(self, chat, message)

    async def timed_add(self: Any, message: Any) -> Any:
        marks = stages.get(message.client_id) if message.client_id else None
        if marks is not None:
            marks.append(time.perf_counter())
        written = await add_message(self, message)  # (message, new) since d60006a
        if marks is not None:
            marks.append(time.perf_counter())
        return written

    WidgetConnection.handle = timed_handle  # type: ignore[method-assign]
    ChatStore.add_message = timed_add  # type: ignore[method-assign]

    lags: list[float] = []
    pauses: list[tuple[int, float]] = []  # (generation, seconds) of each collection
    started = [0.0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], time.perf_counter() - started[0]))

    gc.callbacks.append(collected)

    async def sample() -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - asked - 0.01)

    async def lag(request: web.Request) -> web.Response:
        """The server loop's lag p99 (ms) and its garbage collections since the last call."""
        ordered = sorted(lags)
        lags.clear()
        p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else 0.0
        full = [seconds for generation, seconds in pauses if generation == 2]
        longest = max((seconds for _, seconds in pauses), default=0.0)
        pauses.clear()
        done, commits[0] = commits[0], 0
        return web.json_response(
            {"p99": p99, "full_gcs": len(full), "gc_max": longest * 1000, "commits": done}
        )

    async def timings(request: web.Request) -> web.Response:
        return web.json_response(stages)

    sampler = asyncio.create_task(sample())
    app.router.add_get("/bench/lag", lag)
    app.router.add_get("/bench/stages", timings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    try:  # as `hotline run` starts it once it is up (not in revisions before it)
        from hotline.gc_pauses import GcPauses
    except ImportError:
        pass
    else:
        GcPauses().start()
    print("ready", flush=True)
    await asyncio.Event().wait()
    sampler.cancel()


# ---- the load (this process) --------------------------------------------------------


class Session:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, welcome: dict[str, Any]) -> None:
        self.ws = ws
        self.token = welcome["session"]
        self.id = welcome["session_id"]


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 60) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket ended: {msg.type}")
            frame = json.loads(msg.data)
            if frame["type"] == kind:
                return frame


async def open_session(http: aiohttp.ClientSession, url: str, n: int) -> Session:
    ws = await http.ws_connect(url, max_msg_size=0, heartbeat=None)
    await ws.send_json({"v": 1, "type": "hello", "visitor": f"bench-visitor-{n:06d}"})
    session = Session(ws, await receive(ws, "welcome"))
    await receive(ws, "message")  # the flow's welcome: the chat is running
    return session


async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Read and drop what an idle session is sent (position updates)."""
    async for _ in ws:
        pass


class StoredCheck:
    """Looks arriving messages up in the database from a thread of its own (the load's
    event loop never waits for it): each must be there already."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.todo: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self.checked = 0
        self.missing: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        db.execute("PRAGMA busy_timeout = 5000")
        query = "select 1 from chat_messages where session_id = ? and client_id = ?"
        while (item := self.todo.get()) is not None:
            if db.execute(query, item).fetchone() is None:
                self.missing.append(item[1])
            self.checked += 1
        db.close()

    def stop(self) -> None:
        self.todo.put(None)
        self.thread.join(60)


async def load(
    args: argparse.Namespace, port: int, database: Path, server_pid: int
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/chat/ws"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sessions: list[Session] = []
        readers: list[asyncio.Task[None]] = []
        gate = asyncio.Semaphore(args.concurrency)
        opened = time.perf_counter()
        failures = 0

        async def one(n: int) -> None:
            nonlocal failures
            async with gate:
                try:
                    session = await open_session(http, url, n)
                except (OSError, ConnectionError, TimeoutError, aiohttp.ClientError):
                    failures += 1
                    return
            sessions.append(session)
            readers.append(asyncio.create_task(drain(session.ws)))

        tasks = [asyncio.create_task(one(n)) for n in range(args.sessions)]
        while not all(t.done() for t in tasks):
            await asyncio.sleep(5)
            say(f"  {len(sessions)} sessions open ({failures} failed)")
        open_seconds = time.perf_counter() - opened
        say(f"{len(sessions)} sessions open in {open_seconds:.1f} s")

        # A second socket on each sender's chat: where delivery is timed.
        senders = sessions[: args.senders]
        sent_at: dict[str, float] = {}
        arrived_at: dict[str, float] = {}
        arrived: dict[str, int] = {}
        check = StoredCheck(database)

        async def watch(session: Session, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                frame = json.loads(msg.data)
                if frame.get("type") == "message" and frame.get("from") == "customer":
                    now = time.perf_counter()
                    cid = frame["client_id"]
                    arrived[cid] = arrived.get(cid, 0) + 1
                    if cid in sent_at and cid not in arrived_at:
                        arrived_at[cid] = now
                        if len(arrived_at) % CHECK_EVERY == 0:
                            check.todo.put((session.id, cid))

        watchers = []
        for session in senders:
            ws = await http.ws_connect(url, max_msg_size=0)
            await ws.send_json(
                {"v": 1, "type": "hello", "session": session.token, "last_seq": 10**6}
            )
            await receive(ws, "welcome")
            watchers.append(asyncio.create_task(watch(session, ws)))
        interval = len(senders) / args.rate
        sent = 0
        lags: list[float] = []

        async def lag() -> None:
            """This process's own event-loop lag (a late timer delays every reading)."""
            while True:
                asked = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - asked - 0.01)

        lagging = asyncio.create_task(lag())
        lag_url = f"http://127.0.0.1:{port}/bench/lag"
        async with http.get(lag_url) as response:
            await response.json()  # resets the server's samples
        load_before = loadavg()
        start = time.perf_counter()
        cpu = {pid: _cpu(pid) for pid in (server_pid, os.getpid())}

        async def sender(index: int, session: Session) -> None:
            nonlocal sent
            await asyncio.sleep(interval * index / len(senders))
            n = 0
            while time.perf_counter() - start < args.seconds:
                cid = f"b{index}-{n}"
                sent_at[cid] = time.perf_counter()
                await session.ws.send_json({"type": "message", "id": cid, "text": f"load {n}"})
                sent += 1
                n += 1
                due = start + interval * (n + index / len(senders))
                await asyncio.sleep(max(0.0, due - time.perf_counter()))

        await asyncio.gather(*(sender(i, s) for i, s in enumerate(senders)))
        send_seconds = time.perf_counter() - start
        deadline = time.perf_counter() + 30
        while len(arrived_at) < sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        drained = time.perf_counter() - start
        cpu = {pid: _cpu(pid) - used for pid, used in cpu.items()}  # CPU seconds
        load_after = loadavg()
        async with http.get(lag_url) as response:
            server = await response.json()
        async with http.get(f"http://127.0.0.1:{port}/bench/stages") as response:
            marks = await response.json()
        for task in [*readers, *watchers, lagging]:
            task.cancel()
        for session in sessions:
            await session.ws.close()
    await asyncio.to_thread(check.stop)
    lost = sum(1 for cid in sent_at if cid not in arrived)
    twice = sum(1 for count in arrived.values() if count > 1)
    latencies = sorted(arrived_at[c] - sent_at[c] for c in arrived_at)
    return {
        "sessions": len(sessions),
        "failed_sessions": failures,
        "open_seconds": open_seconds,
        "sent": sent,
        "send_seconds": send_seconds,
        "rate": sent / send_seconds if send_seconds else 0,
        "delivered_rate": len(latencies) / drained if drained else 0,
        "lost": lost,
        "duplicated": twice,
        "checked": check.checked,
        "unstored": len(check.missing),
        **{f"p{q}": percentile(latencies, q / 100) for q in (50, 95, 99)},
        "max": latencies[-1] * 1000 if latencies else float("nan"),
        "stages": stage_table(sent_at, arrived_at, marks),
        "server_lag_p99": server["p99"],
        "full_gcs": server["full_gcs"],
        "commits": server["commits"] / drained if drained else 0.0,
        "gc_max": server["gc_max"],
        "client_lag_p99": percentile(sorted(lags), 0.99),
        "load": f"{load_before} -> {load_after}",
        "cpu": cpu[server_pid] / drained * 100,
        "cpu_ms": cpu[server_pid] * 1000 / len(latencies) if latencies else float("nan"),
        "load_cpu": cpu[os.getpid()] / drained * 100,
    }


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted seconds, in ms (nan if none)."""
    if not ordered:
        return float("nan")
    return ordered[max(0, int(len(ordered) * q + 0.5) - 1)] * 1000


def stage_table(
    sent_at: dict[str, float], arrived_at: dict[str, float], marks: dict[str, list[float]]
) -> dict[str, tuple[float, float, float]]:
    """(p50, p99, max) ms of each stage of a message's way, over the messages timed whole."""
    names = [
        "send -> taken by the server",
        "taken -> commit begun",
        "commit begun -> committed",
        "committed -> arrival on the second socket",
    ]
    spans: list[list[float]] = [[] for _ in names]
    for cid, at in arrived_at.items():
        mark = marks.get(cid)
        if mark is None or len(mark) < 3:
            continue
        points = [sent_at[cid], *mark[:3], at]
        for i in range(len(names)):
            spans[i].append(points[i + 1] - points[i])
    table = {}
    for name, values in zip(names, spans, strict=True):
        values.sort()
        table[name] = (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1))
    return table


def stored_messages(folder: Path) -> int:
    with sqlite3.connect(folder / "bench.db") as db:
        query = "select count(*) from chat_messages where sender='customer'"
        return int(db.execute(query).fetchone()[0])


def export(revision: str, into: Path) -> Path:
    """The code of `revision` (git archive), for the baseline's server."""
    archive = subprocess.run(
        ["git", "-C", str(HOME), "archive", "--format=tar", revision],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_once(args: argparse.Namespace, code: Path | None) -> dict[str, Any]:
    """One server (this checkout's code, or `code`), one load against it."""
    from tests.e2e.ports import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        folder = Path(tmp)
        command = [sys.executable, __file__, "--serve", str(port), str(folder)]
        if code is not None:
            command += ["--code", str(code)]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=code or HOME)
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                raise RuntimeError("the chat server did not start")
            result = asyncio.run(load(args, port, folder / "bench.db", server.pid))
            result["rss"] = _rss_mb(server.pid)
            result["stored"] = stored_messages(folder)
        finally:
            server.terminate()
            server.wait(30)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 sessions, 200 msg/s, 5 s")
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--baseline",
        metavar="REV",
        default=BASELINE,
        help=f"run git revision REV first, same load (default {BASELINE}; 'none': skip)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if args.code:
            sys.path.insert(0, args.code)
        try:  # on the loop `hotline run` runs on (uvloop), where the revision has it
            from controller.event_loop import run as run_loop
        except ImportError:
            run_loop = asyncio.run
        run_loop(serve(int(args.serve[0]), Path(args.serve[1])))
        return 0
    if args.quick:
        args.sessions, args.rate, args.seconds, args.senders = 500, 200.0, 5.0, 50
    from bench.box_speed import line as box_speed_line

    args.box_speed = box_speed_line()  # before the servers and the load run
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows: list[tuple[str, dict[str, Any]]] = []
    if args.baseline == "none":
        args.baseline = None
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="bench-chat-baseline-") as tmp:
            say(f"baseline: {args.baseline}")
            code = export(args.baseline, Path(tmp))
            rows.append((f"baseline {args.baseline}", run_once(args, code)))
    say("this checkout")
    rows.append((f"this checkout ({_revision()})", run_once(args, None)))
    section = render(args, rows)
    print(section)
    if not args.no_write:
        write_section(HOME / "docs" / "benchmarks.md", section)
    broken = any(r["lost"] or r["duplicated"] or r["unstored"] for _, r in rows)
    return 1 if broken else 0


def _revision() -> str:
    done = subprocess.run(
        ["git", "-C", str(HOME), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def verdict(r: dict[str, Any]) -> str:
    """PASS only if the target is met and every message was delivered once, stored first."""
    problems = []
    if not r["p99"] < TARGET_P99_MS:
        problems.append(f"p99 {r['p99']:.1f} ms >= {TARGET_P99_MS:g}")
    for key, what in (("lost", "lost"), ("duplicated", "duplicated"), ("unstored", "unstored")):
        if r[key]:
            problems.append(f"{r[key]} {what}")
    if r["stored"] != r["sent"]:
        problems.append(f"{r['stored']} stored of {r['sent']} sent")
    if r["failed_sessions"]:
        problems.append(f"{r['failed_sessions']} sessions failed to open")
    return "PASS" if not problems else "FAIL (" + "; ".join(problems) + ")"


def render(args: argparse.Namespace, rows: list[tuple[str, dict[str, Any]]]) -> str:
    flags = f" --sessions {args.sessions} --rate {args.rate:g} --seconds {args.seconds:g}"
    flags += f" --senders {args.senders}"
    if args.baseline:
        flags += f" --baseline {args.baseline}"
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = [
        BEGIN,
        "## Chat: open widget sessions and message throughput",
        "",
        f"Command: `python bench/bench_chat.py{flags}` (also run by `make bench`); {now}  ",
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}, Linux; the load (this script) runs on the same "
        "machine. Load average (1, 5, 15 min) and CPU wait (Linux's pressure stall "
        "information: the share of the last 10 s in which some task waited for a CPU) at "
        "the start and end of the sending phase beside each row: other processes' work on "
        "a shared machine shows in the latency. Server CPU ms / message: the server's CPU "
        "time while sending over the messages delivered (the idle sessions' upkeep "
        "included), a cost that does not depend on what else runs.  ",
        f"{args.box_speed}  ",
        "Server: one process (chat bridge, routing engine, SQLite store with `synchronous = "
        "FULL`, every message committed with its `chat.message` event before it is "
        "delivered). Delivery: send on one socket of a chat -> arrival on a second socket "
        "of the same chat. Stored: one message in "
        f"{CHECK_EVERY} looked up in the database the moment it arrives (unstored: not "
        "there). Target: 5,000 sessions, 1,000 msg/s, delivery p99 < 50 ms.",
        "",
        "| code | sessions open (failed) | open time (s) | sent | send rate (msg/s) "
        "| delivered (msg/s) | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | lost | duplicated "
        "| stored | checked / unstored | server CPU % (sending) | server CPU ms / message "
        "| server RSS (MB) "
        "| server loop lag p99 (ms) | server full GCs / longest GC (ms) | commits/s "
        "| load's CPU % | load's loop lag p99 (ms) | load average | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
        "|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, r in rows:
        out.append(
            f"| {name} | {r['sessions']:,} ({r['failed_sessions']}) | {r['open_seconds']:.1f} "
            f"| {r['sent']:,} | {r['rate']:.0f} | {r['delivered_rate']:.0f} | {r['p50']:.1f} "
            f"| {r['p95']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | {r['lost']} "
            f"| {r['duplicated']} | {r['stored']:,} | {r['checked']} / {r['unstored']} "
            f"| {r['cpu']:.0f} | {r['cpu_ms']:.2f} | {r['rss']:.0f} | {r['server_lag_p99']:.1f} "
            f"| {r['full_gcs']} / {r['gc_max']:.0f} | {r['commits']:.0f} "
            f"| {r['load_cpu']:.0f} | {r['client_lag_p99']:.1f} | {r['load']} | {verdict(r)} |"
        )
    out += [
        "",
        "Where a message's time went (ms, p50 / p99 / max of each stage, each row's own "
        "messages; the stages of one message add up to its delivery time):",
        "",
        "| code | " + " | ".join(rows[0][1]["stages"]) + " |",
        "|---|" + "---:|" * len(rows[0][1]["stages"]),
    ]
    for name, r in rows:
        cells = [f"{a:.1f} / {b:.1f} / {c:.1f}" for a, b, c in r["stages"].values()]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += [
        "",
        "Reading the stages: 'commit begun -> committed' is the store's group commit (the "
        "message and its `chat.message` event in one transaction). In the baseline a "
        "transaction made about a dozen round trips between the event loop and "
        "aiosqlite's worker thread (BEGIN, each statement's cursor, execute and close, "
        "COMMIT, the pool's rollback), each waiting for the GIL and then for the busy "
        "loop; now the statements run on the loop and only COMMIT goes to the thread "
        "(hotline/store/inline_sqlite.py). 'Full GCs / longest GC': CPython's full "
        "collection scans every tracked object (about a million with 5,000 chats open) "
        "in one pause that stops every message in flight; the controller now freezes "
        "what survives a young collection every second (hotline/gc_pauses.py). What "
        "was measured before the change, and how: the notes under this section.",
        "",
        END,
    ]
    return "\n".join(out)


def write_section(path: Path, section: str) -> None:
    """Replace the section between the markers (or the old '## Chat: open widget' section
    up to the next '## ' heading) in `path`."""
    text = path.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:
        title = "## Chat: open widget sessions and message throughput"
        if title not in text:
            path.write_text(text.rstrip("\n") + "\n\n" + section + "\n")
            return
        head, rest = text.split(title, 1)
        at = rest.find("\n## ")
        tail = rest[at:] if at >= 0 else "\n"
    path.write_text(head + section + tail)
    say(f"wrote the chat section of {path.relative_to(HOME)}")


if __name__ == "__main__":
    sys.exit(main())
