"""A lean HTTP/1.1 client for ARI's REST calls: kept-alive connections, nothing else.

ARI's REST requests are small, on loopback, to one server: a request line, two headers
and at most a small JSON body; a response with a status, a Content-Length and at most
a small JSON body. aiohttp's client spent about 0.4 ms of CPU on each (URL objects,
request and response objects, a connector, header multidicts, a timer per request:
docs/benchmarks.md, "Session 8"), a fifth of the controller's CPU under load. This one
writes the request as bytes and parses the response in a `Protocol`: a few tens of
microseconds.

Connections are kept alive and reused (most recently used first), at most `limit` at
once (more requests wait for one), and dropped after `idle` seconds unused, before
Asterisk's own keep-alive (`session_keep_alive`, 15 s by default) closes them under a
request. A request that finds its reused connection closed before any byte of an
answer came back is sent once more on a new connection (the server never answered it:
Asterisk closes an idle connection only between requests).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

#: Response headers are read up to this size (ARI's are a few hundred bytes).
MAX_HEADER = 64 * 1024


class HttpError(Exception):
    """The server could not be reached, closed the connection, answered something
    that is not HTTP, or took longer than the timeout."""


class _Response(asyncio.Protocol):
    """One connection: sends a request, parses its response (Content-Length or chunked)."""

    def __init__(self, on_lost: Callable[[_Response], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.on_lost = on_lost
        self.closed = False
        self.used_at = time.monotonic()
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._got_bytes = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream connection's transport (uvloop's are not asyncio.Transport subclasses).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        try:
            parsed = _parse(self._buffer)
        except HttpError as error:
            self._waiter.set_exception(error)
            return
        if parsed is not None:
            self._buffer.clear()
            self._waiter.set_result(parsed)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            reason = f": {exc}" if exc else ""
            self._waiter.set_exception(
                _Unanswered(f"connection closed before the response{reason}")
                if not self._got_bytes
                else HttpError(f"connection closed in the middle of a response{reason}")
            )
        self.on_lost(self)

    # the pool's side

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send `request`; (status, body, whether the connection may be reused)."""
        if self.closed or self.transport is None:
            raise _Unanswered("connection already closed")
        self._got_bytes = False
        self._buffer.clear()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def fail(self, error: HttpError) -> None:
        """The request in flight fails with `error` (the pool's timeout)."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()
            self.on_lost(self)  # counted out now, not when the transport is done


class _Unanswered(HttpError):
    """Closed before a byte of the response: the request may be sent again."""


def _parse(buffer: bytearray) -> tuple[int, bytes, bool] | None:
    """(status, body, keep-alive) once `buffer` holds a whole response; None before."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEADER:
            raise HttpError("response headers too long")
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP response: {head[0][:80]!r}")
    status = int(parts[1])
    keep_alive = parts[0] == "HTTP/1.1"
    length: int | None = None
    chunked = False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise HttpError(f"bad Content-Length: {value.strip()!r}") from None
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            token = value.strip().lower()
            keep_alive = token == "keep-alive" or (keep_alive and token != "close")
    start = end + 4
    if chunked:
        return _chunked(buffer, start, status, keep_alive)
    if length is None:
        if status in (204, 304) or 100 <= status < 200:
            return status, b"", keep_alive
        # Without a length the body runs to the close: this client never asks for that.
        raise HttpError("response without Content-Length")
    if len(buffer) - start < length:
        return None
    return status, bytes(buffer[start : start + length]), keep_alive


def _chunked(
    buffer: bytearray, at: int, status: int, keep_alive: bool
) -> tuple[int, bytes, bool] | None:
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size_text = bytes(buffer[at:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError(f"bad chunk size: {size_text[:20]!r}") from None
        at = line_end + 2
        if size == 0:  # the last chunk; then trailers (none expected) and an empty line
            trailer_end = buffer.find(b"\r\n\r\n", at - 2)
            if trailer_end < 0:
                return None
            return status, bytes(body), keep_alive
        if len(buffer) < at + size + 2:
            return None
        body += buffer[at : at + size]
        at += size + 2


class HttpPool:
    """Kept-alive HTTP/1.1 connections to one server (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        limit: int,
        timeout: float,
        idle: float = 10.0,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if url.scheme == "https" else None
        )
        #: What every request target starts with (Asterisk's http.conf `prefix`).
        self.prefix = url.path.rstrip("/")
        host = url.netloc.rpartition("@")[2]
        self._fixed = "".join(
            f"{name}: {value}\r\n" for name, value in {"Host": host, **headers}.items()
        ).encode("latin-1")
        self.limit = limit
        self.timeout = timeout
        self.idle = idle
        self._slots = asyncio.Semaphore(limit)
        self._free: list[_Response] = []  # most recently used last
        self._all: set[_Response] = set()
        #: Requests in flight: their connection -> when they time out (monotonic).
        self._busy: dict[_Response, float] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._tick = min(1.0, timeout / 4)  # how late past its deadline a request fails

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._all)

    async def request(
        self, method: str, target: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of `method` on `target` (a path and query, after the prefix)."""
        head = f"{method} {self.prefix}{target} HTTP/1.1\r\n".encode("latin-1") + self._fixed
        if body is not None:
            data = b"%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
                head,
                len(body),
                body,
            )
        elif method in ("POST", "PUT", "PATCH", "DELETE"):
            data = head + b"Content-Length: 0\r\n\r\n"
        else:
            data = head + b"\r\n"
        async with self._slots:
            return await self._send(data)

    async def _send(self, data: bytes) -> tuple[int, bytes]:
        conn, reused = self._take()
        if conn is None:
            conn = await self._connect()
        try:
            status, body, keep = await self._exchange(conn, data)
        except _Unanswered:
            conn.close()
            if not reused:
                raise
            conn = await self._connect()  # once more, on a connection of our own
            try:
                status, body, keep = await self._exchange(conn, data)
            except BaseException:
                conn.close()
                raise
        except BaseException:  # a timeout or a bad response: the connection's state is unknown
            conn.close()
            raise
        if keep and not conn.closed:
            conn.used_at = time.monotonic()
            self._free.append(conn)
        else:
            conn.close()
        return status, body

    async def _exchange(self, conn: _Response, data: bytes) -> tuple[int, bytes, bool]:
        """`conn.exchange`, failed by the sweep once `timeout` has passed. One timer for
        every request in flight, not one each: a timer per request (asyncio.timeout) was
        a tenth of this client's CPU."""
        self._busy[conn] = time.monotonic() + self.timeout
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(self._tick, self._sweep)
        try:
            return await conn.exchange(data)
        finally:
            self._busy.pop(conn, None)

    def _sweep(self) -> None:
        """Fail the requests in flight past their deadline (their connections close)."""
        now = time.monotonic()
        for conn, deadline in list(self._busy.items()):
            if deadline <= now:
                del self._busy[conn]
                conn.fail(HttpError(f"no response within {self.timeout:g} s"))
                conn.close()
        self._sweeper = (
            asyncio.get_running_loop().call_later(self._tick, self._sweep) if self._busy else None
        )

    def _take(self) -> tuple[_Response | None, bool]:
        """A kept-alive connection to reuse (closing those idle too long), if any."""
        stale_before = time.monotonic() - self.idle
        while self._free:
            conn = self._free.pop()
            if conn.closed:
                continue
            if conn.used_at < stale_before:
                conn.close()
                continue
            return conn, True
        return None, False

    async def _connect(self) -> _Response:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):  # rare: connections are kept
                _, conn = await loop.create_connection(
                    lambda: _Response(self._lost), self.host, self.port, ssl=self.ssl
                )
        except TimeoutError:
            raise HttpError(
                f"cannot connect to {self.host}:{self.port} within {self.timeout:g} s"
            ) from None
        except OSError as error:
            raise HttpError(f"cannot connect to {self.host}:{self.port}: {error}") from error
        self._all.add(conn)
        return conn

    def _lost(self, conn: _Response) -> None:
        self._all.discard(conn)

    async def close(self) -> None:
        """Close every connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._all):
            conn.close()
        self._free.clear()
        await asyncio.sleep(0)  # let the transports finish closing
