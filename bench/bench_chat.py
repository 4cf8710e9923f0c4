"""Chat: concurrent widget sessions and message throughput on one controller process.

    python bench/bench_chat.py [--quick] [--sessions 5000] [--rate 1000] [--seconds 10]

A server process runs the chat bridge as `hotline run` does (the widget's WebSocket
routes on aiohttp, the routing engine, an SQLite store with every message committed
before it is delivered) with a bench flow: a welcome, then a queue no agent serves, so
every chat stays open and waiting (position updates on). This process is the load:
  1. opens --sessions widget sessions (a WebSocket each, hello -> welcome, the flow's
     welcome message received), --concurrency at a time, and keeps them all open;
  2. picks --senders of them and opens a second socket on each (a second tab of the
     same chat), then sends --rate messages a second in total for --seconds; the
     delivery time of a message is from its send on the first socket to its arrival on
     the second, through the store (commit first, then delivery);
  3. checks every message arrived exactly once and is stored once.
Prints a Markdown section to stdout; progress goes to stderr. Target: 5,000 open
sessions and 1,000 messages/s with p99 delivery under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
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


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- the server (one process) -------------------------------------------------------


async def serve(port: int, folder: Path) -> None:
    from aiohttp import web

    from chat_bridge.attachments import Attachments
    from chat_bridge.bridge import BridgeDeps, ChatBridge
    from chat_bridge.web import add_chat_routes
    from hotline.acd.service import RoutingService
    from hotline.acd.settings import AgentRouting, QueueSettings, make_router
    from hotline.catalogue import Catalogue
    from hotline.chat_settings import ChatConfig
    from hotline.flows.loader import FlowSet, parse_flow
    from hotline.flows.services import DefaultServices
    from hotline.store import Store, sqlite_url

    store = await Store.connect(sqlite_url(str(folder / "bench.db")))
    await store.migrate()
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
    lags: list[float] = []

    async def sample() -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - asked - 0.01)

    async def lag(request: web.Request) -> web.Response:
        """The server loop's lag p99 (ms) since the last call."""
        ordered = sorted(lags)
        lags.clear()
        p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else 0.0
        return web.json_response({"p99": p99})

    sampler = asyncio.create_task(sample())
    app.router.add_get("/bench/lag", lag)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
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


async def load(args: argparse.Namespace, port: int) -> dict[str, Any]:
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
        seconds: dict[str, float] = {}
        arrived: dict[str, int] = {}
        latencies: list[float] = []

        async def watch(session: Session, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                frame = json.loads(msg.data)
                if frame.get("type") == "message" and frame.get("from") == "customer":
                    cid = frame["client_id"]
                    arrived[cid] = arrived.get(cid, 0) + 1
                    if cid in seconds:
                        latencies.append(time.perf_counter() - seconds[cid])

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
        start = time.perf_counter()
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

        async def sender(index: int, session: Session) -> None:
            nonlocal sent
            await asyncio.sleep(interval * index / len(senders))
            n = 0
            while time.perf_counter() - start < args.seconds:
                cid = f"b{index}-{n}"
                seconds[cid] = time.perf_counter()
                await session.ws.send_json({"type": "message", "id": cid, "text": f"load {n}"})
                sent += 1
                n += 1
                due = start + interval * (n + index / len(senders))
                await asyncio.sleep(max(0.0, due - time.perf_counter()))

        await asyncio.gather(*(sender(i, s) for i, s in enumerate(senders)))
        send_seconds = time.perf_counter() - start
        deadline = time.perf_counter() + 30
        while len(latencies) < sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        drained = time.perf_counter() - start
        async with http.get(lag_url) as response:
            server_lag = (await response.json())["p99"]
        for task in [*readers, *watchers, lagging]:
            task.cancel()
        for session in sessions:
            await session.ws.close()
    lost = sum(1 for cid in seconds if cid not in arrived)
    twice = sum(1 for count in arrived.values() if count > 1)
    ordered = sorted(latencies)
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
        "p50": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else float("nan"),
        "max": ordered[-1] * 1000 if ordered else float("nan"),
        "server_lag_p99": server_lag,
        "client_lag_p99": sorted(lags)[int(len(lags) * 0.99) - 1] * 1000 if lags else 0.0,
    }


def stored_messages(folder: Path) -> int:
    import sqlite3

    with sqlite3.connect(folder / "bench.db") as db:
        return db.execute("select count(*) from chat_messages where sender='customer'").fetchone()[
            0
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 sessions, 200 msg/s, 5 s")
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(int(args.serve[0]), Path(args.serve[1])))
        return 0
    if args.quick:
        args.sessions, args.rate, args.seconds, args.senders = 500, 200.0, 5.0, 50
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    from tests.e2e.ports import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        folder = Path(tmp)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), str(folder)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=HOME,
        )
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                raise RuntimeError("the chat server did not start")
            cpu_before = _cpu(server.pid)
            wall = time.perf_counter()
            result = asyncio.run(load(args, port))
            server_cpu = (_cpu(server.pid) - cpu_before) / (time.perf_counter() - wall) * 100
            rss = _rss_mb(server.pid)
            result["stored"] = stored_messages(folder)
        finally:
            server.terminate()
            server.wait(30)
    print_section(args, result, server_cpu, rss)
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 else 1


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def print_section(args: argparse.Namespace, r: dict[str, Any], cpu: float, rss: float) -> None:
    flags = f" --sessions {args.sessions} --rate {args.rate:g} --seconds {args.seconds:g}"
    print("## Chat: open widget sessions and message throughput")
    print()
    print(f"Command: `python bench/bench_chat.py{flags} --senders {args.senders}`  ")
    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}, Linux; the load (this script) runs on the same machine  "
    )
    print(
        "Server: one process (chat bridge, routing engine, SQLite store, every message "
        "committed before delivery). Delivery: send on one socket of a chat -> arrival on "
        "a second socket of the same chat. Target: 5,000 sessions, 1,000 msg/s, p99 < 50 ms."
    )
    print()
    print(
        "| sessions open | failed | open time (s) | messages sent | send rate (msg/s) "
        "| delivered (msg/s) | delivery p50 (ms) | p99 (ms) | max (ms) | lost | duplicated "
        "| stored | server CPU % | server RSS (MB) | server loop lag p99 (ms) "
        "| load's loop lag p99 (ms) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {r['sessions']:,} | {r['failed_sessions']} | {r['open_seconds']:.1f} | "
        f"{r['sent']:,} | {r['rate']:.0f} | {r['delivered_rate']:.0f} | {r['p50']:.1f} | "
        f"{r['p99']:.1f} | {r['max']:.1f} | {r['lost']} | {r['duplicated']} | "
        f"{r['stored']:,} | {cpu:.0f} | {rss:.0f} | {r['server_lag_p99']:.1f} | "
        f"{r['client_lag_p99']:.1f} |"
    )


if __name__ == "__main__":
    sys.exit(main())
