"""ari_app/http_pool.py against a raw TCP server on loopback that answers with exactly
the bytes a test gives it: lengths, chunks, closes, stale kept-alive connections, bad
answers, timeouts; and the query strings ari_app/client.py builds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ari_app.client import AriClient, AriError, query
from ari_app.http_pool import HttpError, HttpPool
from controller.event_loop import run

Answer = Callable[[bytes], bytes | None]  # the request's head and body -> raw response
Serve = Callable[[Answer], Awaitable["RawServer"]]


class RawServer:
    """Reads a request (head and Content-Length body), writes `answer(request)`; None
    closes the connection without a byte. Counts connections and keeps the requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                response = self.answer(request)
                if response is None:
                    break
                writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def drop_all(self) -> None:
        """Close every connection, as Asterisk does to one idle too long."""
        for writer in self.writers:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.drop_all()
        self.server.close()
        await self.server.wait_closed()


def ok(body: bytes = b'{"id": "c1"}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[RawServer] = []

    async def start(answer: Answer) -> RawServer:
        server = RawServer(answer)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def pool_for(server: RawServer, **options: float) -> HttpPool:
    return HttpPool(
        f"http://127.0.0.1:{server.port}",
        {"Authorization": "Basic dTpw"},
        limit=int(options.pop("limit", 4)),
        timeout=options.pop("timeout", 2.0),
        **options,
    )


async def test_a_request_is_written_as_http_and_the_connection_is_reused(serve: Serve) -> None:
    server = await serve(lambda request: ok())
    pool = pool_for(server)
    try:
        assert await pool.request("GET", "/ari/channels/c1") == (200, b'{"id": "c1"}')
        assert await pool.request("POST", "/ari/channels", b'{"a": 1}') == (200, b'{"id": "c1"}')
        assert await pool.request("DELETE", "/ari/bridges/b") == (200, b'{"id": "c1"}')
    finally:
        await pool.close()
    assert server.connections == 1  # kept alive
    get, post, delete = server.requests
    host = f"127.0.0.1:{server.port}".encode()
    assert get == (
        b"GET /ari/channels/c1 HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic dTpw\r\n\r\n" % host
    )
    assert post.endswith(
        b"Content-Type: application/json\r\nContent-Length: 8\r\n\r\n" + b'{"a": 1}'
    )
    assert delete.endswith(b"Content-Length: 0\r\n\r\n")


async def test_a_chunked_response_and_one_in_many_pieces_are_read_whole(serve: Serve) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\n[1, 2\r\n3;ext=1\r\n, 3\r\n1\r\n]\r\n0\r\n\r\n"
    )
    server = await serve(lambda request: chunked)
    pool = pool_for(server)
    try:
        assert await pool.request("GET", "/ari/channels") == (200, b"[1, 2, 3]")
        assert await pool.request("GET", "/ari/channels") == (200, b"[1, 2, 3]")
    finally:
        await pool.close()
    assert server.connections == 1


async def test_connection_close_is_honoured(serve: Serve) -> None:
    server = await serve(lambda request: ok(b"{}", b"Connection: close\r\n"))
    pool = pool_for(server)
    try:
        for _ in range(3):
            assert await pool.request("GET", "/ari/asterisk/info") == (200, b"{}")
    finally:
        await pool.close()
    assert server.connections == 3  # a new one each time, none reused after "close"


async def test_a_kept_alive_connection_the_server_closed_is_replaced_once(serve: Serve) -> None:
    server = await serve(lambda request: ok())
    pool = pool_for(server)
    try:
        await pool.request("GET", "/ari/channels/c1")
        server.drop_all()  # the server's keep-alive ran out between requests
        await asyncio.sleep(0.05)
        assert await pool.request("POST", "/ari/channels/c1/answer") == (200, b'{"id": "c1"}')
    finally:
        await pool.close()
    assert server.connections == 2
    assert len(server.requests) == 2  # the answer was sent once: never twice


async def test_a_connection_closed_under_a_request_is_sent_again_once_if_it_was_reused(
    serve: Serve,
) -> None:
    answers = iter([ok(), None, ok(b"[]")])  # the 2nd request finds its connection closing
    server = await serve(lambda request: next(answers))
    pool = pool_for(server)
    try:
        await pool.request("GET", "/ari/channels/c1")
        assert await pool.request("GET", "/ari/channels") == (200, b"[]")
    finally:
        await pool.close()
    assert [r.split(b" ")[1] for r in server.requests] == [
        b"/ari/channels/c1",
        b"/ari/channels",
        b"/ari/channels",
    ]


async def test_a_new_connection_closed_without_an_answer_fails(serve: Serve) -> None:
    server = await serve(lambda request: None)
    pool = pool_for(server)
    try:
        with pytest.raises(HttpError, match="connection closed before the response"):
            await pool.request("POST", "/ari/channels/c1/answer")
    finally:
        await pool.close()
    assert len(server.requests) == 1  # not sent again: the connection was not a reused one


async def test_idle_connections_are_dropped_before_the_server_drops_them(serve: Serve) -> None:
    server = await serve(lambda request: ok())
    pool = pool_for(server, idle=0.05)
    try:
        await pool.request("GET", "/ari/channels/c1")
        await asyncio.sleep(0.1)
        await pool.request("GET", "/ari/channels/c1")
    finally:
        await pool.close()
    assert server.connections == 2


async def test_bad_responses_are_errors_and_the_connection_is_not_reused(serve: Serve) -> None:
    answers = iter(
        [
            b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            ok(),
        ]
    )
    server = await serve(lambda request: next(answers))
    pool = pool_for(server)
    try:
        for problem in (
            "not a valid HTTP response: Expected HTTP/, RTSP/ or ICE/",
            "not a valid HTTP response: Invalid character in Content-Length",
            "response without Content-Length",
            "not a valid HTTP response: Invalid character in chunk size",
        ):
            with pytest.raises(HttpError) as raised:
                await pool.request("GET", "/ari/channels")
            assert str(raised.value) == problem
        assert await pool.request("GET", "/ari/channels") == (200, b'{"id": "c1"}')
    finally:
        await pool.close()
    assert server.connections == 5


async def test_no_answer_within_the_timeout_is_an_error(serve: Serve) -> None:
    server = await serve(lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{")
    pool = pool_for(server, timeout=0.2)
    try:
        with pytest.raises(HttpError, match=r"no response within 0.2 s"):
            await pool.request("GET", "/ari/channels")
        assert pool.connections == 0  # the half-read connection is closed, not reused
    finally:
        await pool.close()


async def test_a_server_that_is_not_there_is_unreachable_for_the_ari_client(serve: Serve) -> None:
    server = await serve(lambda request: ok())
    port = server.port
    await server.stop()
    ari = AriClient(f"http://127.0.0.1:{port}", "u", "p", "hotline")
    try:
        with pytest.raises(AriError) as raised:
            await ari.answer("c1")
        assert raised.value.unreachable
        assert f"cannot reach ARI at http://127.0.0.1:{port}: cannot connect" in str(raised.value)
    finally:
        await ari.close()


async def test_the_ari_client_reads_errors_and_json_and_sends_a_json_body(serve: Serve) -> None:
    def answer(request: bytes) -> bytes:
        if b"/gone" in request:
            gone = b'{"message": "Channel not found"}\n'
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 33\r\n\r\n" + gone
        if b"/bad" in request:
            return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nno json"
        if request.startswith(b"DELETE"):
            return b"HTTP/1.1 204 No Content\r\n\r\n"
        return ok(b'{"variables": {"A": "1"}}')

    server = await serve(answer)
    ari = AriClient(f"http://127.0.0.1:{server.port}/", "u", "p", "hotline")
    try:
        made = await ari.request(
            "POST", "channels", params={"endpoint": "PJSIP/1001"}, body={"variables": {"A": "1"}}
        )
        assert made == {"variables": {"A": "1"}}
        assert await ari.request("DELETE", "bridges/b1") is None
        with pytest.raises(AriError, match="ARI 404: Channel not found"):
            await ari.request("GET", "channels/gone")
        with pytest.raises(AriError, match="ARI 400: no json") as raised:
            await ari.request("GET", "channels/bad")
        assert not raised.value.unreachable
    finally:
        await ari.close()
    assert server.requests[0].startswith(b"POST /ari/channels?endpoint=PJSIP/1001 HTTP/1.1\r\n")
    assert server.requests[0].endswith(b'\r\n\r\n{"variables":{"A":"1"}}')
    assert len(ari.round_trips.seen) == 4


def test_query_strings_percent_encode_what_is_not_plain() -> None:
    assert query({"media": "sound:hello-world", "lang": "en"}) == "media=sound:hello-world&lang=en"
    assert query([("media", "sound:a"), ("media", "tone:ring;tonezone=fr")]) == (
        "media=sound:a&media=tone:ring%3Btonezone%3Dfr"
    )
    assert query({"variable": "CHANNEL(musicclass)", "value": "a b+c&d"}) == (
        "variable=CHANNEL(musicclass)&value=a%20b%2Bc%26d"
    )
    assert query({"timeout": 25, "beep": True, "channel": "c1,c2"}) == (
        "timeout=25&beep=true&channel=c1,c2"
    )
    assert query({"callerId": '"Вера" <100>'}) == (
        "callerId=%22%D0%92%D0%B5%D1%80%D0%B0%22%20%3C100%3E"
    )


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not an http\(s\) URL: 'ws://127.0.0.1:8088'"):
        HttpPool("ws://127.0.0.1:8088", {}, limit=1, timeout=1)


def test_the_pool_runs_on_uvloop_too() -> None:
    """`hotline run` runs on uvloop, whose transports are not asyncio's classes."""

    async def exchange() -> tuple[int, bytes]:
        server = RawServer(lambda request: ok(b"[]"))
        await server.start()
        pool = pool_for(server)
        try:
            await pool.request("GET", "/ari/channels")
            return await pool.request("GET", "/ari/channels")
        finally:
            await pool.close()
            await server.stop()

    assert run(exchange(), "uvloop") == (200, b"[]")
