"""CPU per ARI REST request on the controller's side: aiohttp's client against the lean
pool (ari_app/http_pool.py), on asyncio's loop and on uvloop.

    python bench/ari_client_cpu.py [--requests 3000] [--concurrency 8] [--rounds 3]

A small HTTP server in another process answers like ARI (a JSON body with a Content-Length,
kept alive); this process sends the requests (a mix of POSTs with a query, GETs, and
DELETEs, as a bench call does) `concurrency` at a time and reports its own CPU time per
request (`time.process_time`: the server's CPU is not counted). Each variant runs
`rounds` times, interleaved, so a busy machine weighs on all alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))

from ari_app.http_pool import HttpPool  # noqa: E402
from controller.event_loop import run  # noqa: E402

SERVER = """
import asyncio, sys
from aiohttp import web

async def answer(request):
    await request.read()
    if request.method == "DELETE":
        return web.Response(status=204)
    return web.json_response({"id": "1733500000.42", "name": "PJSIP/1001-00000042",
                              "state": "Up", "path": request.path})

app = web.Application()
app.router.add_route("*", "/{tail:.*}", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

#: One bench call's kinds of request, in proportion (answer, play, bridges, originate...).
MIX = [
    ("POST", "/ari/channels/c{n}/answer", None),
    ("POST", "/ari/channels/c{n}/play?media=sound:hello&lang=en&playbackId=p{n}", None),
    ("POST", "/ari/bridges?type=holding&bridgeId=hold-q-c{n}", None),
    ("POST", "/ari/channels/c{n}/variable?variable=CHANNEL(musicclass)&value=default", None),
    ("POST", "/ari/channels?endpoint=PJSIP/1001&app=hotline&channelId=a{n}", {"variables": {}}),
    ("DELETE", "/ari/bridges/hold-q-c{n}", None),
    ("GET", "/ari/channels/c{n}", None),
]

Sender = Callable[[str, str, dict[str, object] | None], Awaitable[object]]


async def measure(kind: str, port: int, requests: int, concurrency: int) -> float:
    """CPU-microseconds of this process per request."""
    base = f"http://127.0.0.1:{port}"
    if kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50))

        async def send(method: str, target: str, body: dict[str, object] | None) -> object:
            async with session.request(method, base + target, json=body) as resp:
                data = await resp.read()
                return json.loads(data) if data else None

        close: Callable[[], Awaitable[None]] = session.close
    else:
        import orjson

        pool = HttpPool(base, {"Authorization": "Basic dTpw"}, limit=50, timeout=10)

        async def send(method: str, target: str, body: dict[str, object] | None) -> object:
            sent = None if body is None else orjson.dumps(body)
            _, data = await pool.request(method, target, sent)
            return orjson.loads(data) if data else None

        close = pool.close

    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            n = queue.pop()
            method, target, body = MIX[n % len(MIX)]
            await send(method, target.format(n=n), body)

    await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm up: connections
    queue.extend(range(requests))
    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    spent = time.process_time() - started
    await close()
    return 1e6 * spent / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=18788)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.port)])
    try:
        time.sleep(1.5)
        results: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for kind in ("aiohttp", "pool"):
                for loop in ("asyncio", "uvloop"):
                    cost = run(measure(kind, args.port, args.requests, args.concurrency), loop)
                    results.setdefault(f"{kind} on {loop}", []).append(cost)
    finally:
        server.terminate()
        server.wait(10)
    print("| client | event loop | CPU per request (µs), each round | median |")
    print("|---|---|---|---:|")
    for name, costs in results.items():
        kind, _, loop = name.partition(" on ")
        rounds = ", ".join(f"{c:.0f}" for c in costs)
        print(f"| {kind} | {loop} | {rounds} | {statistics.median(costs):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
