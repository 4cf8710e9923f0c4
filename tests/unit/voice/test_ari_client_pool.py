"""The ARI client against a real HTTP server on loopback: it never holds more
connections than MAX_CONNECTIONS (below Asterisk's session limit: past it Asterisk
closes new connections, which would read as Asterisk being gone); the requests beyond
wait their turn and all succeed; the round trips are recorded for the admission."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ari_app.client import MAX_CONNECTIONS, AriClient, AriNotFound


async def test_requests_beyond_the_pool_wait_and_none_fails() -> None:
    open_now = most = 0
    peers: set[object] = set()

    async def slow(request: web.Request) -> web.Response:
        nonlocal open_now, most
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        open_now += 1
        most = max(most, open_now)
        try:
            await asyncio.sleep(0.05)
        finally:
            open_now -= 1
        if request.path.endswith("/gone"):
            return web.json_response({"message": "Channel not found"}, status=404)
        return web.json_response({"path": request.path, "q": request.query.get("q")})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # bound
    ari = AriClient(f"http://127.0.0.1:{port}", "u", "p", "hotline")
    try:
        many = range(2 * MAX_CONNECTIONS)
        answers = await asyncio.gather(
            *(ari.request("GET", f"channels/c{n}", params={"q": n}) for n in many)
        )
        assert most <= MAX_CONNECTIONS, f"{most} requests at once"
        assert len(peers) <= MAX_CONNECTIONS  # connections, reused
        assert answers[7] == {"path": "/ari/channels/c7", "q": "7"}
        assert len(ari.round_trips.seen) == 2 * MAX_CONNECTIONS
        try:
            await ari.request("DELETE", "channels/gone")
        except AriNotFound as error:
            assert "Channel not found" in str(error)
        else:
            raise AssertionError("a 404 is AriNotFound")
    finally:
        await ari.close()
        await runner.cleanup()
