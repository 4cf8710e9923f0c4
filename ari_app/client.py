"""A small typed ARI client on aiohttp: REST calls and the events WebSocket.

ARI is plain REST plus one WebSocket per application. The WebSocket registers the
Stasis application, so reconnecting it after an Asterisk restart re-registers the app.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from ari_app.http_pool import HttpError, HttpPool
from hotline.web.metrics import ARI_LATENCY

log = logging.getLogger(__name__)

#: ARI requests in flight at once, at most (more wait for a connection in the client).
#: Below Asterisk's HTTP session limit (`sessionlimit`, 100 by default), which counts
#: the events WebSocket and any other client too: past it Asterisk closes new
#: connections, which would read as Asterisk being gone.
MAX_CONNECTIONS = 50
#: How long a computed percentile of the ARI round trips stands (seconds).
REFRESH = 0.25
INF = float("inf")
#: The events WebSocket's receive buffer (bytes; the kernel caps it at net.core.rmem_max).
#: Asterisk writes an app's events from one thread, the app's task processor: while the
#: controller's loop is late reading (a collection, a burst, a CPU taken by another
#: process) a full window blocks that writer, the task processor's queue passes its
#: high-water mark and res_pjsip ignores new SIP requests until it drains. A few
#: seconds of events fit in this buffer, so a late read costs the events' latency only.
EVENTS_RCVBUF = 4 * 1024 * 1024

AriEvent = dict[str, Any]
CONNECTED = "HotlineConnected"


class AriError(Exception):
    """ARI answered with an error status (or could not be reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"ARI {status}: {message}")
        self.status = status

    @property
    def unreachable(self) -> bool:
        """Asterisk could not be reached at all (down or restarting)."""
        return self.status == 0


class AriNotFound(AriError):
    """The channel, bridge or playback is gone (usually: the caller hung up)."""


class RoundTrips:
    """The ARI round trips of the last `window` seconds: their 90th percentile.

    Fewer than `least` requests in the window say nothing (0): one slow request on an
    idle system is no overload."""

    def __init__(
        self,
        window: float = 3.0,
        least: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.least = least
        self.clock = clock
        self.seen: deque[tuple[float, float]] = deque()  # (when, seconds)
        self._at = -INF  # when _p90 was computed
        self._p90 = 0.0

    def observe(self, seconds: float) -> None:
        now = self.clock()
        self.seen.append((now, seconds))
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self.seen and self.seen[0][0] < now - self.window:
            self.seen.popleft()

    def p90_ms(self) -> float:
        """Recomputed at most every `REFRESH` seconds: a burst of new calls sorts the
        window once, not once each."""
        now = self.clock()
        if now - self._at < REFRESH:
            return self._p90
        self._trim(now)
        self._at = now
        if len(self.seen) < self.least:
            self._p90 = 0.0
        else:
            ordered = sorted(seconds for _, seconds in self.seen)
            self._p90 = 1000 * ordered[int(0.9 * (len(ordered) - 1))]
        return self._p90


class AriClient:
    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        timeout: float = 10.0,
        event_types: Collection[str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        #: The only event types the app is sent (None: all of them).
        self.event_types = event_types
        # The header once, not encoded again for every request.
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._total = timeout
        self._session: aiohttp.ClientSession | None = None
        self._pool: HttpPool | None = None
        #: The recent round trips (the overload admission reads their percentile).
        self.round_trips = RoundTrips()
        self._histograms: dict[str, Any] = {}  # method -> its ARI_LATENCY child

    @property
    def session(self) -> aiohttp.ClientSession:
        """The events WebSocket's session (REST requests go through `pool`)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    @property
    def pool(self) -> HttpPool:
        """The REST requests' kept-alive connections (made in the running loop)."""
        if self._pool is None:
            self._pool = HttpPool(
                self.base_url, self._headers, limit=MAX_CONNECTIONS, timeout=self._total
            )
        return self._pool

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | Sequence[tuple[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        target = f"/ari/{path.lstrip('/')}"
        if params:
            target += "?" + query(params)
        started = time.perf_counter()
        try:
            status, data = await self.pool.request(
                method, target, None if body is None else orjson.dumps(body)
            )
        except HttpError as error:
            raise AriError(0, f"cannot reach ARI at {self.base_url}: {error}") from error
        finally:
            elapsed = time.perf_counter() - started
            self.round_trips.observe(elapsed)
            histogram = self._histograms.get(method)
            if histogram is None:  # a label lookup once per method, not per request
                histogram = self._histograms[method] = ARI_LATENCY.labels(method=method)
            histogram.observe(elapsed)
        if status == 404:
            raise AriNotFound(404, _message(data.decode(errors="replace")))
        if status >= 400:
            raise AriError(status, _message(data.decode(errors="replace")))
        return orjson.loads(data) if data else None

    # Channels

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"channels/{channel_id}", params={"reason": reason})

    async def play(
        self, channel_id: str, media: Sequence[str], *, lang: str, playback_id: str
    ) -> None:
        params = [("media", m) for m in media] + [("lang", lang), ("playbackId", playback_id)]
        await self.request("POST", f"channels/{channel_id}/play", params=params)

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"playbacks/{playback_id}")

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        params = {"variable": name, "value": value}
        await self.request("POST", f"channels/{channel_id}/variable", params=params)

    async def channels(self) -> list[AriEvent]:
        channels: list[AriEvent] = await self.request("GET", "channels")
        return channels

    async def bridges(self) -> list[AriEvent]:
        bridges: list[AriEvent] = await self.request("GET", "bridges")
        return bridges

    async def info(self) -> AriEvent:
        info: AriEvent = await self.request("GET", "asterisk/info")
        return info

    # Events

    async def events(self) -> AsyncIterator[AriEvent]:
        """The application's events until the WebSocket closes (raises AriError)."""
        ws_url = self.base_url.replace("http", "ws", 1) + "/ari/events"
        params = {"app": self.app, "subscribeAll": "false"}
        try:
            async with self.session.ws_connect(
                ws_url, params=params, heartbeat=15, timeout=aiohttp.ClientWSTimeout(ws_close=5)
            ) as ws:
                _widen_receive_buffer(ws)
                # The app exists once its WebSocket is open (again, after a restart of
                # Asterisk): only then can its filter be set.
                await self._filter_events()
                # Not an ARI event: tells the reader the app is (re-)registered.
                yield {"type": CONNECTED}
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        yield orjson.loads(message.data)
                    elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                        break
        except aiohttp.WSServerHandshakeError as error:
            raise AriError(error.status, _handshake_message(error)) from error
        except aiohttp.ClientError as error:
            raise AriError(0, f"cannot reach ARI at {self.base_url}: {error}") from error
        raise AriError(0, "the ARI events WebSocket closed")

    async def _filter_events(self) -> None:
        """Have Asterisk send the app only the event types it acts on. Events sent
        before the filter is in place are only more of what the app ignores; an
        Asterisk that refuses the filter (older than 16) sends everything, as before."""
        if self.event_types is None:
            return
        allowed = [{"type": kind} for kind in sorted(self.event_types)]
        try:
            await self.request(
                "PUT", f"applications/{self.app}/eventFilter", body={"allowed": allowed}
            )
        except AriError as error:
            if error.unreachable:
                raise
            log.warning("ARI refused the event filter (%s): the app gets every event", error)


def _widen_receive_buffer(ws: aiohttp.ClientWebSocketResponse) -> None:
    sock = ws.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, EVENTS_RCVBUF)


async def run_events(
    client: AriClient,
    handle: Callable[[AriEvent], Awaitable[None]],
    *,
    on_connect: Callable[[], Awaitable[None]] | None = None,
    on_disconnect: Callable[[str], Awaitable[None]] | None = None,
    max_delay: float = 10.0,
) -> None:
    """Feed events to `handle` forever, reconnecting with back-off and jitter.

    One log line per change of state (connected, lost, still failing) rather than a
    traceback per attempt.
    """
    delay = 0.5
    last_problem: str | None = None
    while True:
        connected = False
        try:
            async for event in client.events():
                if event["type"] == CONNECTED:
                    connected, delay, last_problem = True, 0.5, None
                    log.info("ARI connected: %s (app %r)", client.base_url, client.app)
                    if on_connect:
                        await on_connect()
                    continue
                await handle(event)
        except AriError as error:
            problem = str(error)
            if connected and on_disconnect:
                await on_disconnect(problem)
            if problem != last_problem:
                log.warning("%s; retrying with back-off (at most every %.0fs)", problem, max_delay)
                last_problem = problem
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        delay = min(delay * 2, max_delay)


def query(params: dict[str, Any] | Sequence[tuple[str, Any]]) -> str:
    """A query string, each name and value percent-encoded (a space as %20, never '+':
    Asterisk's HTTP server reads '+' as itself in some versions)."""
    pairs = params.items() if isinstance(params, dict) else params
    return "&".join(f"{_quoted(str(name))}={_quoted(_text(value))}" for name, value in pairs)


#: Characters left as they are in a query's names and values (as yarl, which aiohttp
#: used, leaves them): the rest is percent-encoded.
SAFE = "/:,()@*"
#: A text of nothing but characters `quote` leaves as they are (most ids and names).
_PLAIN = re.compile(r"[A-Za-z0-9_.~/:,()@*-]*")


def _quoted(text: str) -> str:
    return text if _PLAIN.fullmatch(text) else quote(text, safe=SAFE)


def _text(value: Any) -> str:
    if isinstance(value, bool):  # not "True": ARI's booleans are "true" / "false"
        return "true" if value else "false"
    return str(value)


def _message(text: str) -> str:
    try:
        return str(json.loads(text).get("message", text))
    except (ValueError, AttributeError):
        return text.strip() or "no message"


def _handshake_message(error: aiohttp.WSServerHandshakeError) -> str:
    if error.status == 401:
        return "ARI refused the credentials (check ari_user/ari_password)"
    return f"ARI WebSocket handshake failed: {error.message}"
