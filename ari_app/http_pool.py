"""A lean HTTP/1.1 client for ARI's REST calls: kept-alive connections, nothing else.

ARI's REST requests are small, on loopback, to one server: a request line, two headers
and at most a small JSON body; a response with a status, a Content-Length and at most
a small JSON body. aiohttp's client spent about 0.4 ms of CPU on each (URL objects,
request and response objects, a connector, header multidicts, a timer per request:
docs/benchmarks.md, "Session 8"), a fifth of the controller's CPU under load. This one
writes the request as bytes and reads the response in a `Protocol` with httptools'
parser (llhttp, Node.js's HTTP parser, as uvicorn uses it): a few tens of microseconds.

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

import httptools


class HttpError(Exception):
    """The server could not be reached, closed the connection, answered something
    that is not HTTP, or took longer than the timeout."""


class _Response(asyncio.Protocol):
    """One connection: sends a request, reads its response with httptools' parser."""

    def __init__(self, on_lost: Callable[[_Response], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.on_lost = on_lost
        self.closed = False
        self.used_at = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self._body = bytearray()
        self._framed = False  # a Content-Length or chunked body: its end is known
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._got_bytes = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream connection's transport (uvloop's are not asyncio.Transport subclasses).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        if self._waiter is None or self._waiter.done():
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.fail(HttpError(f"not a valid HTTP response: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reason = f": {exc}" if exc else ""
        self.fail(
            _Unanswered(f"connection closed before the response{reason}")
            if not self._got_bytes
            else HttpError(f"connection closed in the middle of a response{reason}")
        )
        self.on_lost(self)

    # httptools' callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if not self._framed and status not in (204, 304) and status >= 200:
            # Without a length the body runs to the close: this client never asks for that.
            self.fail(HttpError("response without Content-Length"))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            keep_alive = self._parser.should_keep_alive()  # valid only in this callback
            self._waiter.set_result((self._parser.get_status_code(), bytes(self._body), keep_alive))

    # the pool's side

    def fail(self, error: HttpError) -> None:
        """The request in flight fails with `error` (a bad answer, a close, the pool's timeout)."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send `request`; (status, body, whether the connection may be reused)."""
        if self.closed or self.transport is None:
            raise _Unanswered("connection already closed")
        self._got_bytes = False
        self._framed = False
        self._body.clear()
        self._parser = httptools.HttpResponseParser(self)
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()
            self.on_lost(self)  # counted out now, not when the transport is done


class _Unanswered(HttpError):
    """Closed before a byte of the response: the request may be sent again."""


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
